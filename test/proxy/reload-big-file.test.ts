/**
 * A hot reload reads the rails off the proxy's event loop: while it parses a big rail file (an edit
 * to a generated set of tens of thousands of lines takes seconds to parse), requests are answered.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { watchRails, type ReloadResult } from '../../src/reload.js';
import { buildTestApp, PROXY_RAILS, sharedEmbedder, type TestApp } from '../helpers/build-app.js';

let dir: string;
let runtime: RailsRuntime;
let railgate: TestApp;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'railgate-big-reload-'));
  await cp(PROXY_RAILS, dir, { recursive: true });
  const embedder = await sharedEmbedder();
  runtime = await createGuard({ sets: await loadRails(dir), embedderFor: async () => embedder });
  railgate = await buildTestApp({ guard: Promise.resolve(runtime) });
});
afterAll(async () => {
  await railgate.close();
  await runtime.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a reload that reads a big rail file', () => {
  it('lets the proxy answer requests meanwhile', async () => {
    // A new set of 60,000 examples in one file, with a key misspelt at its end: the whole file is
    // parsed before the mistake is found, and nothing is embedded. Parsed on the event loop, it
    // held every request for the seconds the parse takes.
    const examples = Array.from({ length: 60_000 }, (_, i) => `      - how do I do thing number ${i}`);
    const yaml = ['name: big', 'intents:', '  - id: things', '    action: respond', '    response: Sure.'];
    await mkdir(path.join(dir, 'big'));
    await writeFile(
      path.join(dir, 'big', 'rail.yml'),
      [...yaml, '    examples:', ...examples, '    respnse: typo', ''].join('\n'),
    );
    const results: ReloadResult[] = [];
    const watcher = watchRails(dir, runtime, Fastify({ logger: false }).log, {
      watch: false,
      onReload: (result) => results.push(result),
    });

    let reloading = true;
    const reload = watcher.reload().finally(() => (reloading = false));
    let answered = 0;
    while (reloading) {
      const response = await railgate.app.inject({ method: 'GET', url: '/healthz' });
      if (response.statusCode === 200) answered++;
      await sleep(10);
    }
    await reload;
    watcher.close();

    expect(results).toEqual(['failed']);
    expect(runtime.list().map((set) => set.name)).not.toContain('big');
    // Seconds of parsing at one request every ~10 ms: well over 10 answers, against one or two.
    expect(answered).toBeGreaterThanOrEqual(10);
  });
});
