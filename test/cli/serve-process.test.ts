/**
 * `railgate serve` as an operator runs it: a real child process, signals and ports. What is checked
 * is what the process does (its exit, its answers), not what the code means to do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The child runs in a folder of its own, so tsx is named by its file, not resolved from there.
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const RAIL = `name: orders
match: { threshold: 0.5 }
intents:
  - id: order_status
    action: forward
    prompt: [{ role: system, content: Say where the order is. }]
    examples: [where is my order, has my parcel shipped, track my package]
`;

let dir: string;
let upstream: FakeUpstream;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'railgate-process-'));
  mkdirSync(path.join(dir, 'rails', 'orders'), { recursive: true });
  writeFileSync(path.join(dir, 'rails', 'orders', 'rail.yml'), RAIL);
  upstream = await startFakeUpstream();
});
afterAll(() => upstream.close());

async function freePort(): Promise<{ port: number; holder: Server }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { port: (holder.address() as { port: number }).port, holder };
}

/**
 * `railgate serve` on `port`, from the sources. `inTerminal`: run by `script` (util-linux), which gives
 * it a terminal and exits with its status; `child` is then `script`, railgate its child.
 */
function serve(
  port: number,
  env: Record<string, string> = {},
  inTerminal = false,
): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }> } {
  const args = ['--import', TSX, path.join(ROOT, 'src/cli/bin.ts'), 'serve'];
  const options = {
    cwd: dir,
    env: {
      ...process.env,
      PORT: String(port),
      RAILGATE_RAILS: 'rails',
      RAILGATE_DB: path.join(dir, `decisions-${port}.db`),
      RAILGATE_EMBED_CACHE_DB: path.join(dir, 'embeddings.db'),
      RAILGATE_UPSTREAM_URL: upstream.url,
      RAILGATE_LOG_LEVEL: 'warn',
      ...env,
    },
  };
  // `script` runs the command with $SHELL -c; dash (Debian's sh) stays as its parent unless told to
  // `exec`, and a SIGHUP meant for railgate would end the shell instead.
  const command = `exec ${[process.execPath, ...args].map((part) => `'${part}'`).join(' ')}`;
  const child = inTerminal
    ? spawn('script', ['-qfec', command, '/dev/null'], {
        ...options,
        env: { ...options.env, SHELL: '/bin/sh' },
        stdio: 'ignore',
      })
    : spawn(process.execPath, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited };
}

/** A port nothing listens on now, for a server of the test's own. */
async function unusedPort(): Promise<number> {
  const { port, holder } = await freePort();
  await new Promise((resolve) => holder.close(resolve));
  return port;
}

/** How the process exited, or 'still running' when it has not within 30 s. */
function exitWithin30s(exited: Promise<{ code: number | null; signal: string | null }>) {
  return Promise.race([
    exited,
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
  ]);
}

async function ready(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('railgate serve never became ready');
}

describe('railgate serve, the process', () => {
  it('exits 1 when its port is taken, instead of loading on for nothing', async () => {
    const { port, holder } = await freePort();
    try {
      const { child, exited } = serve(port);
      let stderr = '';
      child.stderr!.on('data', (piece: Buffer) => (stderr += piece.toString()));
      const result = await exitWithin30s(exited);
      if (result === 'still running') child.kill('SIGKILL');
      expect(result).toEqual({ code: 1, signal: null });
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      holder.close();
    }
  }, 40_000);

  it('exits 1 on rails that do not load, printing each issue as file:line:column, as check does', async () => {
    mkdirSync(path.join(dir, 'broken', 'desk'), { recursive: true });
    writeFileSync(
      path.join(dir, 'broken', 'desk', 'rail.yml'),
      RAIL.replace('intents:', 'upstream: nowhere\nintents:'),
    );
    const { child, exited } = serve(await unusedPort(), { RAILGATE_RAILS: 'broken' });
    let stderr = '';
    child.stderr!.on('data', (piece: Buffer) => (stderr += piece.toString()));
    const result = await exitWithin30s(exited);
    if (result === 'still running') child.kill('SIGKILL');
    expect(result).toEqual({ code: 1, signal: null });
    expect(stderr.split('\n')).toContainEqual(
      expect.stringMatching(/^broken\/desk\/rail\.yml:\d+:1: upstream "nowhere" is not configured/),
    );
  }, 40_000);

  it('lets a request in flight finish when SIGTERM comes twice', async () => {
    const port = await unusedPort();
    const { child, exited } = serve(port);
    try {
      await ready(port);
      upstream.behave({ headersDelayMs: 1_500 });
      const answer = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'where is my order' }] }),
      });
      await upstream.waitUntil(() => upstream.requests.length > 0);
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill('SIGTERM');
      expect((await answer).status).toBe(200);
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      upstream.reset();
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('reloads its rails on SIGHUP, also with the watcher off, and keeps serving', async () => {
    mkdirSync(path.join(dir, 'hup', 'orders'), { recursive: true });
    const railFile = path.join(dir, 'hup', 'orders', 'rail.yml');
    writeFileSync(railFile, RAIL);
    const port = await unusedPort();
    const { child, exited } = serve(port, { RAILGATE_RAILS: 'hup', RAILGATE_WATCH: 'false' });
    const hash = async () =>
      ((await (await fetch(`http://127.0.0.1:${port}/v1/rails`)).json()) as { data: { hash: string }[] }).data[0]!.hash;
    try {
      await ready(port);
      const before = await hash();
      writeFileSync(railFile, `${RAIL}    # edited, then signalled\n`);
      child.kill('SIGHUP');
      for (let i = 0; i < 300 && (await hash()) === before; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await hash()).not.toBe(before);
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  // `script` (util-linux) gives the process a terminal, where SIGHUP means the terminal closed.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)(
    'shuts down gracefully on SIGHUP when it runs in a terminal',
    async () => {
      const port = await unusedPort();
      const { child: terminal, exited } = serve(port, {}, true);
      let railgate = 0;
      try {
        await ready(port);
        // railgate is the terminal's child; `script -e` exits with its status.
        railgate = Number(spawnSync('pgrep', ['-P', String(terminal.pid)], { encoding: 'utf8' }).stdout.trim());
        const commandLine = spawnSync('ps', ['-o', 'args=', '-p', String(railgate)], { encoding: 'utf8' }).stdout;
        expect(commandLine).toContain('src/cli/bin.ts');
        process.kill(railgate, 'SIGHUP');
        expect(await exitWithin30s(exited)).toEqual({ code: 0, signal: null });
      } finally {
        if (railgate) spawnSync('kill', ['-KILL', String(railgate)]);
        terminal.kill('SIGKILL');
      }
    },
    60_000,
  );

  it('exits 1 when a rail set cannot load, though another set had loaded its model, saying why at any log level', async () => {
    // The bundled model loads for `orders`; `remote` then fails: its embeddings server is down.
    mkdirSync(path.join(dir, 'rails', 'remote'), { recursive: true });
    writeFileSync(
      path.join(dir, 'rails', 'remote', 'rail.yml'),
      RAIL.replace('name: orders', 'name: remote\nembedding: { provider: openai, model: m }'),
    );
    const port = await unusedPort();
    // Silent logs: the process must still say why it stops.
    const { child, exited } = serve(port, {
      RAILGATE_EMBEDDINGS_URL: 'http://127.0.0.1:9/v1',
      RAILGATE_LOG_LEVEL: 'silent',
    });
    let stderr = '';
    child.stderr!.on('data', (piece: Buffer) => (stderr += piece.toString()));
    try {
      const result = await exitWithin30s(exited);
      expect(result).toEqual({ code: 1, signal: null });
      expect(stderr).toMatch(/^railgate: .*embeddings/m);
    } finally {
      child.kill('SIGKILL');
      rmSync(path.join(dir, 'rails', 'remote'), { recursive: true });
    }
  }, 40_000);

  it('keeps serving after an upstream answers a stream with JSON (the unread body is discarded safely)', async () => {
    const port = await unusedPort();
    const { child, exited } = serve(port);
    try {
      await ready(port);
      upstream.behave({ streamAnswer: 'json' });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'm',
            stream: true,
            messages: [{ role: 'user', content: 'where is my order' }],
          }),
        }).catch(() => undefined);
        statuses.push(response?.status ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      expect(statuses).toEqual([502, 502, 502]);
      expect(child.exitCode).toBeNull();
    } finally {
      upstream.reset();
      child.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});
