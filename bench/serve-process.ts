/**
 * `railgate serve` as its own process, as it runs in production: what the start-up and end-to-end
 * benchmarks measure, apart from the load generator and the fake upstream in the bench's process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface ServeProcess {
  /** e.g. `http://127.0.0.1:23456` */
  readonly origin: string;
  /** Milliseconds from spawn to /readyz answering 200. */
  readonly readyMs: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  readonly railsDir: string;
  readonly dataDir: string;
  /** More RAILGATE_* variables (upstream, model workers…). */
  readonly env?: Readonly<Record<string, string>>;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** A port nothing listens on now, from the OS (a random pick could land on a leftover server). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startServeProcess(options: ServeOptions): Promise<ServeProcess> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/bin.js'), 'serve'], {
    // Outside the repo: its railgate.config.json names the example rails' default set.
    cwd: path.dirname(options.railsDir),
    env: {
      ...process.env,
      PORT: String(port),
      RAILGATE_RAILS: options.railsDir,
      RAILGATE_DB: path.join(options.dataDir, 'railgate.db'),
      RAILGATE_EMBED_CACHE_DB: path.join(options.dataDir, 'embeddings.db'),
      RAILGATE_LOG_LEVEL: 'warn',
      RAILGATE_WATCH: 'false',
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`railgate exited with ${child.exitCode}`);
      const ok = await fetch(`${origin}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await sleep(20);
    }
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { origin, readyMs: performance.now() - started, close: () => stop(child) };
}
