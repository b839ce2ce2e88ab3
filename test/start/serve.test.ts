/**
 * The whole product as `railgate serve` wires it: worker-thread model, persistent example cache,
 * decision log, metrics and the rails watcher, against YAML rails in a temporary folder.
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { main } from '../../src/cli/main.js';
import { DecisionReader } from '../../src/decisions/reader.js';
import { parseSettings } from '../../src/settings.js';
import { startRailgate, type Railgate } from '../../src/start.js';
import { captureIO } from '../helpers/cli-io.js';
import { captureLog } from '../helpers/log-capture.js';
import { SUPPORT_RAIL as RAIL } from './support-rail.js';

const NEW_INTENT = `  - id: opening_hours
    action: respond
    response: We are open 9 to 5.
    examples: [what are your opening hours, when are you open, what time do you close]
`;

let dir: string;
let railFile: string;
let railgate: Railgate;
let url: string;
let logLines: string[] = [];

/** The sets GET /v1/rails lists, by name and hash. */
async function loadedSets(): Promise<{ name: string; hash: string }[]> {
  return ((await (await fetch(`${url}/v1/rails`)).json()) as { data: { name: string; hash: string }[] }).data;
}

async function railsHash(): Promise<string> {
  return (await loadedSets()).find((s) => s.name === 'support')!.hash;
}

async function until(predicate: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'railgate-serve-'));
  mkdirSync(path.join(dir, 'rails', 'support'), { recursive: true });
  railFile = path.join(dir, 'rails', 'support', 'rail.yml');
  writeFileSync(railFile, RAIL);
  const settings = parseSettings({
    port: 0,
    rails: 'rails',
    db: 'data/railgate.db',
    embedding: { cacheDb: 'data/embeddings.db' },
    logLevel: 'info',
  });
  const log = captureLog();
  logLines = log.lines;
  railgate = await startRailgate(settings, { cwd: dir, logger: { level: 'info', stream: log.stream } });
  url = await railgate.app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await railgate?.close();
});

describe('railgate serve wiring', () => {
  it('answers /healthz at once and /readyz once the model (in a worker) and rails are loaded', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await railgate.guard;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', default_rails: 'support' });
    // Probes are not request-logged at info: they would drown the log.
    expect(logLines.filter((line) => /"url":"\/(healthz|readyz)"/.test(line))).toEqual([]);
    // First start: the examples were embedded (and cached), with progress in the log.
    expect(logLines.some((l) => l.includes('embedding rail examples 100%'))).toBe(true);
  });

  it('serves decisions through the official SDK and counts them in /metrics', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'client-key' });
    const completion = await client.chat.completions.create({
      model: 'any',
      messages: [{ role: 'user', content: 'I forgot my password again' }],
    });
    expect(completion.choices[0]!.message.content).toBe('Use the reset link on the sign-in page.');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      /railgate_requests_total\{rail_set="support",decision="respond",intent="password_reset",endpoint="chat"\} 1/,
    );
    expect(metrics).toMatch(/railgate_stage_duration_seconds_count\{stage="embed"\} 1/);
    expect(metrics).toContain('railgate_embed_batch_size_bucket');
    // Series an alert names exist before their first event.
    expect(metrics).toMatch(/^railgate_errors_total\{code="RG_ERR_UPSTREAM_TIMEOUT"\} 0$/m);
    expect(metrics).toMatch(/^railgate_rails_reloads_total\{result="failed"\} 0$/m);
    expect(metrics).toContain('railgate_process_resident_memory_bytes');
    // The decision log's health: the row was queued or written, nothing lost.
    const logged = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    expect(logged('railgate_decision_log_written_total') + logged('railgate_decision_log_pending')).toBe(1);
    expect(logged('railgate_decision_log_dropped_total')).toBe(0);
    expect(logged('railgate_decision_log_failed_writes_total')).toBe(0);
    expect(metrics).toContain('# TYPE railgate_decision_log_written_total counter');
  });

  it('hot-reloads a valid edit: the new intent serves without a restart and the hash changes', async () => {
    const before = await railsHash();
    const asked = { model: 'any', messages: [{ role: 'user', content: 'when do you open?' }] };
    const ask = async () =>
      (await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(asked),
      }).then((r) => r.headers.get('x-railgate-intent'))) ?? '';
    expect(await ask()).toBe('none');
    writeFileSync(railFile, RAIL + NEW_INTENT);
    await until(async () => (await railsHash()) !== before);
    expect(await ask()).toBe('opening_hours');
  });

  it('keeps reloading a file that editors replace by a rename, and notices set folders come and go', async () => {
    // Editors, `sed -i` and `git checkout` write a new file and rename it over the old one.
    const replace = (text: string) => {
      writeFileSync(`${railFile}.tmp`, text);
      renameSync(`${railFile}.tmp`, railFile);
    };
    for (const hours of ['8 to 6', '9 to 6']) {
      const before = await railsHash();
      replace(RAIL + NEW_INTENT.replace('9 to 5', hours));
      await until(async () => (await railsHash()) !== before);
    }
    const before = await railsHash();
    appendFileSync(railFile, '# edited in place after the renames\n');
    await until(async () => (await railsHash()) !== before);

    const names = async () =>
      ((await (await fetch(`${url}/v1/rails`)).json()) as { data: { name: string }[] }).data.map((s) => s.name);
    const extra = path.join(dir, 'rails', 'extra');
    mkdirSync(extra);
    writeFileSync(path.join(extra, 'rail.yml'), RAIL.replace('name: support', 'name: extra'));
    await until(async () => (await names()).includes('extra'));
    rmSync(extra, { recursive: true });
    await until(async () => !(await names()).includes('extra'));
  });

  it('keeps the old rails serving after an invalid edit and logs the file:line error', async () => {
    const before = await railsHash();
    writeFileSync(railFile, readFileSync(railFile, 'utf8').replace('action: respond', 'action: reply'));
    await until(async () => logLines.some((l) => l.includes('rails not reloaded')));
    const error = logLines.find((l) => l.includes('rails not reloaded'))!;
    expect(error).toMatch(/rail\.yml:6:13: .*action/);
    expect(await railsHash()).toBe(before);
    // Monitoring sees it too: a failed reload, and the hash still serving.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^railgate_rails_reloads_total\{result="failed"\} [1-9]/m);
    expect(metrics).toMatch(/^railgate_rails_reloads_total\{result="ok"\} [1-9]/m);
    expect(metrics).toContain(`railgate_rails_loaded_info{rail_set="support",hash="${before}"} 1`);
    const hello = await fetch(`${url}/v1/guard`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'hello there' }),
    });
    expect(((await hello.json()) as { railgate: { intent: string } }).railgate.intent).toBe('greeting');
  });

  it("serves another set's valid change while the broken set keeps its previous version", async () => {
    const before = await railsHash();
    const extra = path.join(dir, 'rails', 'extra');
    mkdirSync(extra);
    writeFileSync(path.join(extra, 'rail.yml'), RAIL.replace('name: support', 'name: extra'));
    await until(async () => (await loadedSets()).some((s) => s.name === 'extra'));
    // support's file still holds the invalid edit of the test before: its old version serves on.
    expect(await railsHash()).toBe(before);
    expect(
      logLines.some((l) =>
        /rail set support not reloaded \(its previous version keeps serving\): .*rail\.yml:6:13/.test(l),
      ),
    ).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^railgate_rails_reloads_total\{result="partial"\} [1-9]/m);
    rmSync(extra, { recursive: true });
    await until(async () => !(await loadedSets()).some((s) => s.name === 'extra'));
  });

  it('keeps the previous version of a set that asks for an embeddings server none is configured for', async () => {
    const extra = path.join(dir, 'rails', 'extra2');
    const third = path.join(dir, 'rails', 'extra3');
    try {
      mkdirSync(extra);
      writeFileSync(path.join(extra, 'rail.yml'), RAIL.replace('name: support', 'name: extra2'));
      await until(async () => (await loadedSets()).some((s) => s.name === 'extra2'));
      const extraHash = async () => (await loadedSets()).find((s) => s.name === 'extra2')?.hash;
      const before = await extraHash();
      writeFileSync(path.join(extra, 'model.yml'), 'embedding:\n  provider: openai\n  model: text-embedding-3-small\n');
      // Another set's edit in the same reload goes live; extra2 keeps serving as it was, and says where.
      mkdirSync(third);
      writeFileSync(path.join(third, 'rail.yml'), RAIL.replace('name: support', 'name: extra3'));
      await until(async () => (await loadedSets()).some((s) => s.name === 'extra3'));
      expect(await extraHash()).toBe(before);
      expect(
        logLines.some((l) =>
          /rail set extra2 not reloaded \(its previous version keeps serving\): .*model\.yml:1:1: embedding provider \\"openai\\" needs the embeddings server URL/.test(
            l,
          ),
        ),
      ).toBe(true);
    } finally {
      rmSync(extra, { recursive: true, force: true });
      rmSync(third, { recursive: true, force: true });
    }
    await until(async () => !(await loadedSets()).some((s) => s.name === 'extra2' || s.name === 'extra3'));
  });

  it('flushes every decision to SQLite on close, tagged with the rails hash that decided', async () => {
    const hash = await railsHash();
    await railgate.close();
    const reader = DecisionReader.openReadOnly(path.join(dir, 'data', 'railgate.db'));
    const rows = reader.query({ limit: 100 });
    expect(rows.length).toBe(4);
    expect(rows[0]).toMatchObject({ endpoint: 'guard', decision: { railsHash: hash, intent: 'greeting' } });
    reader.close();
  });
});

describe('load shedding', () => {
  it('answers 503 RG_ERR_OVERLOADED with Retry-After when the embedding queue is full, and serves the rest', async () => {
    const settings = parseSettings({
      rails: 'rails',
      db: ':memory:',
      watch: false,
      embedding: { cacheDb: ':memory:', maxQueue: 1, batchWindowMs: 100 },
    });
    writeFileSync(railFile, RAIL); // the previous test left an invalid edit behind
    const shedding = await startRailgate(settings, { cwd: dir });
    try {
      await shedding.guard;
      const base = await shedding.app.listen({ host: '127.0.0.1', port: 0 });
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          fetch(`${base}/v1/guard`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ input: `distinct question number ${i} about my password` }),
          }),
        ),
      );
      const shed = responses.filter((r) => r.status === 503);
      expect(shed.length).toBeGreaterThan(0);
      expect(responses.some((r) => r.status === 200)).toBe(true);
      expect(shed[0]!.headers.get('retry-after')).toBe('1');
      expect(await shed[0]!.json()).toMatchObject({
        error: { code: 'RG_ERR_OVERLOADED', type: 'service_unavailable' },
      });
    } finally {
      await shedding.close();
    }
  });
});

describe('secrets', () => {
  it('never writes the upstream key or the client credentials to the log, even at trace level', async () => {
    writeFileSync(railFile, RAIL);
    const { lines, stream } = captureLog();
    const settings = parseSettings({
      rails: 'rails',
      db: ':memory:',
      watch: false,
      embedding: { cacheDb: ':memory:' },
      // A closed port: the forward fails with 502, which is logged with its cause.
      upstreams: { default: { url: 'http://127.0.0.1:9/v1', apiKey: 'sk-upstream-secret-123' } },
    });
    const secretive = await startRailgate(settings, { cwd: dir, logger: { level: 'trace', stream } });
    try {
      await secretive.guard;
      const base = await secretive.app.listen({ host: '127.0.0.1', port: 0 });
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer sk-client-secret-456',
          'x-api-key': 'sk-client-secret-789',
        },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'can I speak to a human agent?' }] }),
      });
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({ error: { code: 'RG_ERR_UPSTREAM_UNREACHABLE' } });
      // Some clients put their key in the query string (`?key=`, Gemini style): no route reads it.
      await fetch(`${base}/v1/rails?key=sk-query-secret-1&api_key=sk-query-secret-2&sk-query-secret-3`);
    } finally {
      await secretive.close();
    }
    const log = lines.join('');
    expect(log).toContain('RG_ERR_UPSTREAM_UNREACHABLE');
    expect(log).toContain('"/v1/rails?key=[redacted]&api_key=[redacted]&[redacted]"');
    expect(log).not.toMatch(/sk-upstream-secret-123|sk-client-secret-456|sk-client-secret-789|sk-query-secret/);
  });
});

/** A proxy on `rails` (a folder or a link) under `root`, watching it; the hash of its one set. */
async function serving(root: string, rails: string) {
  const started = await startRailgate(
    parseSettings({ rails, db: ':memory:', embedding: { cacheDb: ':memory:' }, logLevel: 'silent' }),
    { cwd: root },
  );
  const hash = async () => (await started.guard).list()[0]!.hash;
  await hash();
  return { started, hash };
}

describe('a rail set mounted from a Kubernetes ConfigMap', () => {
  it('loads through the links and reloads when the kubelet swaps `..data`', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-configmap-'));
    const set = path.join(root, 'rails', 'support');
    // The kubelet's layout: files are links through `..data` to a dated folder, swapped by a rename.
    const publish = (version: string, text: string) => {
      mkdirSync(path.join(set, version), { recursive: true });
      writeFileSync(path.join(set, version, 'rail.yml'), text);
      symlinkSync(version, path.join(set, '..data_tmp'));
      renameSync(path.join(set, '..data_tmp'), path.join(set, '..data'));
    };
    publish('..2026_11_28_v1', RAIL);
    symlinkSync('..data/rail.yml', path.join(set, 'rail.yml'));
    const { started: mounted, hash } = await serving(root, 'rails');
    try {
      const first = await hash();
      publish('..2026_11_28_v2', RAIL + NEW_INTENT);
      await until(async () => (await hash()) !== first);
      expect((await (await mounted.guard).decide('when are you open?')).decision.intent).toBe('opening_hours');
      // Once: the folder's watch heard the swap, and the poll of the linked file must not hear it again.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const reloads = (await mounted.metrics.railsReloads.get()).values.find((v) => v.labels.result === 'ok');
      expect(reloads?.value).toBe(1);
    } finally {
      await mounted.close();
    }
  });
});

describe('a rail file that is a link to a file outside the rails', () => {
  it('reloads on any change behind the link: the file edited, its folder or a link on the way swapped, the file re-created', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-linked-file-'));
    const shared = path.join(root, 'shared');
    const set = path.join(root, 'rails', 'support');
    mkdirSync(shared);
    mkdirSync(set, { recursive: true });
    // rails/support/rail.yml -> shared/current.yml -> shared/v1.yml
    writeFileSync(path.join(shared, 'v1.yml'), RAIL);
    symlinkSync('v1.yml', path.join(shared, 'current.yml'));
    symlinkSync(path.join(shared, 'current.yml'), path.join(set, 'rail.yml'));
    const { started, hash } = await serving(root, 'rails');
    const changes = async (change: () => void) => {
      const before = await hash();
      change();
      await until(async () => (await hash()) !== before);
    };
    try {
      // The file behind the links saved as editors and `sed -i` do: a new file renamed over it.
      await changes(() => {
        writeFileSync(path.join(shared, 'v1.yml.tmp'), RAIL + NEW_INTENT);
        renameSync(path.join(shared, 'v1.yml.tmp'), path.join(shared, 'v1.yml'));
      });
      expect((await (await started.guard).decide('when are you open?')).decision.intent).toBe('opening_hours');
      // The link in the middle re-pointed (`ln -sfn`: a new link renamed over it).
      writeFileSync(path.join(shared, 'v2.yml'), RAIL);
      await changes(() => {
        symlinkSync('v2.yml', path.join(shared, 'next.yml'));
        renameSync(path.join(shared, 'next.yml'), path.join(shared, 'current.yml'));
      });
      // The whole folder replaced by a rename, as a deploy does.
      cpSync(shared, `${shared}.new`, { recursive: true, verbatimSymlinks: true });
      appendFileSync(path.join(`${shared}.new`, 'v2.yml'), NEW_INTENT);
      await changes(() => {
        renameSync(shared, `${shared}.old`);
        renameSync(`${shared}.new`, shared);
      });
      // The file deleted (the set keeps its previous version meanwhile), then written again.
      rmSync(path.join(shared, 'v2.yml'));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await changes(() => writeFileSync(path.join(shared, 'v2.yml'), RAIL));
      // Edited in place to the same length, its mtime as before (a file system's coarse mtime tick).
      const target = path.join(shared, 'v2.yml');
      const { mtimeNs } = statSync(target, { bigint: true });
      const stamp = `@${mtimeNs / 1_000_000_000n}.${String(mtimeNs % 1_000_000_000n).padStart(9, '0')}`;
      await changes(() => {
        writeFileSync(target, RAIL.replace('Hello from support!', 'Hullo from support!'));
        execFileSync('touch', ['-m', '-d', stamp, target]);
      });
    } finally {
      await started.close();
    }
  });
});

describe('rails replaced whole, as release deploys do', () => {
  it('keeps watching a set folder replaced by a rename', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-set-swap-'));
    const set = path.join(root, 'rails', 'support');
    mkdirSync(set, { recursive: true });
    writeFileSync(path.join(set, 'rail.yml'), RAIL);
    const { started, hash } = await serving(root, 'rails');
    try {
      const first = await hash();
      mkdirSync(`${set}.new`);
      writeFileSync(path.join(`${set}.new`, 'rail.yml'), RAIL + NEW_INTENT);
      renameSync(set, `${set}.old`);
      renameSync(`${set}.new`, set);
      await until(async () => (await hash()) !== first);
      // The new folder's own edits are heard, not the old one's.
      const second = await hash();
      appendFileSync(path.join(set, 'rail.yml'), '# edited in the new folder\n');
      await until(async () => (await hash()) !== second);
    } finally {
      await started.close();
    }
  });

  it('follows the rails root when its link is swapped to another release', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-root-swap-'));
    const release = (name: string, text: string) => {
      mkdirSync(path.join(root, name, 'support'), { recursive: true });
      writeFileSync(path.join(root, name, 'support', 'rail.yml'), text);
    };
    release('release-1', RAIL);
    symlinkSync('release-1', path.join(root, 'current'));
    const { started, hash } = await serving(root, 'current');
    try {
      const first = await hash();
      release('release-2', RAIL + NEW_INTENT);
      symlinkSync('release-2', path.join(root, 'current.tmp'));
      renameSync(path.join(root, 'current.tmp'), path.join(root, 'current'));
      await until(async () => (await hash()) !== first);
      expect((await (await started.guard).decide('when are you open?')).decision.intent).toBe('opening_hours');
      const second = await hash();
      appendFileSync(path.join(root, 'release-2', 'support', 'rail.yml'), '# edited after the swap\n');
      await until(async () => (await hash()) !== second);
    } finally {
      await started.close();
    }
  });
});

describe('a reload that removes the pinned default set', () => {
  it('keeps the old rails serving and says why in one line, without a stack trace', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-default-gone-'));
    for (const name of ['support', 'extra']) {
      mkdirSync(path.join(root, 'rails', name), { recursive: true });
      writeFileSync(path.join(root, 'rails', name, 'rail.yml'), RAIL.replace('name: support', `name: ${name}`));
    }
    const log = captureLog();
    const started = await startRailgate(
      parseSettings({
        rails: 'rails',
        defaultRailSet: 'support',
        db: ':memory:',
        embedding: { cacheDb: ':memory:' },
        logLevel: 'warn',
      }),
      { cwd: root, logger: { level: 'warn', stream: log.stream } },
    );
    try {
      await started.guard;
      rmSync(path.join(root, 'rails', 'support'), { recursive: true });
      await until(async () => log.lines.some((line) => line.includes('rails not reloaded')));
      const line = log.lines.find((l) => l.includes('rails not reloaded'))!;
      // (JSON escapes the quotes around the set's name.)
      expect(line).toMatch(/rails not reloaded: default rail set \\"support\\" .* is not loaded/);
      expect(line).not.toContain('stack');
      expect(
        (await started.guard)
          .list()
          .map((s) => s.name)
          .sort(),
      ).toEqual(['extra', 'support']);
    } finally {
      await started.close();
    }
  });
});

describe('an example cache another process holds', () => {
  it('reloads an edit all the same, with a warning, and caches its examples once it can', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-cache-held-'));
    const file = path.join(root, 'rails', 'support', 'rail.yml');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, RAIL);
    const log = captureLog();
    const started = await startRailgate(
      parseSettings({ rails: 'rails', db: ':memory:', embedding: { cacheDb: 'data/embeddings.db' }, logLevel: 'warn' }),
      { cwd: root, logger: { level: 'warn', stream: log.stream } },
    );
    const hashOf = async () => (await started.guard).list().find((s) => s.name === 'support')!.hash;
    // As `railgate cache prune` compacting a large cache does: the write lock, past busy_timeout (5 s).
    const other = new Database(path.join(root, 'data', 'embeddings.db'));
    try {
      const before = await hashOf();
      other.exec('BEGIN EXCLUSIVE');
      writeFileSync(file, RAIL + NEW_INTENT);
      await until(async () => (await hashOf()) !== before, 30_000);
      expect(
        log.lines.some((l) => l.includes('example vectors not cached (they are embedded again at the next start)')),
      ).toBe(true);
      other.exec('COMMIT');
      const cached = () => other.prepare('SELECT count(*) AS n FROM example_embeddings').get() as { n: number };
      const rows = cached().n;
      writeFileSync(file, RAIL + NEW_INTENT.replace('9 to 5', '8 to 6'));
      // The reload after embeds the new intent's examples again, and keeps them this time.
      await until(async () => cached().n > rows, 30_000);
    } finally {
      other.close();
      await started.close();
    }
  });
});

describe('a transformers model folder given relative to its rail set', () => {
  it('resolves against the set folder, as the authoring commands do, whatever the working directory', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-local-model-'));
    const set = path.join(root, 'rails', 'local');
    mkdirSync(set, { recursive: true });
    cpSync(fileURLToPath(new URL('../fixtures/tiny-bert', import.meta.url)), path.join(set, 'tiny'), {
      recursive: true,
    });
    writeFileSync(
      path.join(set, 'rail.yml'),
      RAIL.replace('name: support', 'name: local\nembedding: { provider: transformers, model: ./tiny }'),
    );
    const railgate = await startRailgate(
      parseSettings({
        rails: 'rails',
        db: ':memory:',
        embedding: { cacheDb: ':memory:', allowRemoteModels: false },
        logLevel: 'silent',
      }),
      { cwd: root },
    );
    try {
      const [loaded] = (await railgate.guard).list();
      expect(loaded!.embeddingModel).toBe(`transformers/${path.join(set, 'tiny')}`);
    } finally {
      await railgate.close();
    }
  });
});

describe('railgate serve arguments', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--port', 'abc'], /--port must be a port number \(0 to 65535\), got "abc"/],
    [['--port', '99999'], /--port must be a port number \(0 to 65535\), got "99999"/],
    [['--port', '99999999999999999999'], /--port must be a port number \(0 to 65535\), got "99999999999999999999"/],
    [['extra'], /unexpected argument "extra"/],
  ])('%j is a usage error: exit 2 with the help, nothing started', async (args, message) => {
    const io = captureIO(tmpdir());
    expect(await main(['serve', ...args], io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).toContain('usage: railgate serve');
  });

  it('refuses to start with a misspelt setting, naming the one meant (a client key one letter short ran unguarded)', async () => {
    const io = captureIO(tmpdir(), {
      RAILGATE_CLIENT_API_KEY: 'client-key-0123456789abcdef',
      RAILGATE_SOMETHING_ELSE: 'x',
    });
    expect(await main(['serve', '--port', '0', '--rails', 'nowhere'], io)).toBe(2);
    expect(io.err()).toContain(
      'railgate: RAILGATE_CLIENT_API_KEY is not a railgate setting; did you mean RAILGATE_CLIENT_API_KEYS?',
    );
    expect(io.err()).toContain('not started');
    // A name like no setting's is some other tool's variable: it does not stop railgate.
    expect(io.err()).not.toContain('RAILGATE_SOMETHING_ELSE');
  });

  it('exits 1 before opening its port when the rails folder does not exist, naming the setting', async () => {
    const io = captureIO(tmpdir());
    expect(await main(['serve', '--port', '0', '--rails', 'no-such-rails'], io)).toBe(1);
    expect(io.err()).toMatch(
      /railgate: the rails folder .*no-such-rails \(RAILGATE_RAILS, --rails or "rails"\) does not exist/,
    );
    expect(io.out()).toBe('');
  });
});
