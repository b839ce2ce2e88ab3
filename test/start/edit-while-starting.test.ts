/**
 * An edit made while railgate starts, after it read the rails and before its watch began (a large
 * set compiles for seconds), is heard: the watch compares the rails on disk with those serving.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { watchRails, type RailsWatcher } from '../../src/reload.js';
import { PROXY_RAILS, sharedEmbedder } from '../helpers/build-app.js';

let dir: string | undefined;
let runtime: RailsRuntime | undefined;
let watcher: RailsWatcher | undefined;
afterEach(async () => {
  watcher?.close();
  await runtime?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the rails watch, as it starts', () => {
  it('reloads rails edited between reading them and watching them, and only then', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'railgate-start-edit-'));
    await cp(PROXY_RAILS, dir, { recursive: true });
    const embedder = await sharedEmbedder();
    runtime = await createGuard({ sets: await loadRails(dir), embedderFor: async () => embedder });
    const reloads: string[] = [];
    const logger = Fastify({ logger: false }).log;

    // Nothing changed since the rails were read: no reload.
    watcher = watchRails(dir, runtime, logger, { onReload: (result) => reloads.push(result) });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reloads).toEqual([]);
    watcher.close();

    // Edited before the watch began: reloaded as it begins, with no file event after it.
    const file = path.join(dir, 'shop', 'rail.yml');
    const before = runtime.list().find((set) => set.name === 'shop')!.hash;
    await writeFile(file, (await readFile(file, 'utf8')).replace('- id: order_status', '- id: delivery_status'));
    watcher = watchRails(dir, runtime, logger, { onReload: (result) => reloads.push(result) });
    await until(() => reloads.length > 0);
    expect(reloads).toEqual(['ok']);
    expect(runtime.list().find((set) => set.name === 'shop')!.hash).not.toBe(before);
  });
});
