import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExampleCache } from '../../src/embedding/example-cache.js';
import { embeddedTexts } from '../../src/matching/compile.js';
import { loadRailSet } from '../../src/rails/load.js';
import { railgate, workspace } from './helpers.js';

interface PruneJson {
  dry_run: boolean;
  sets: string[];
  examples: { kept: number; removed: number };
  files_removed: string[];
  file_bytes: { before: number; after: number };
  log_pending: boolean;
}

/** Every report's keys, in order: an in-memory cache's empty report has them too. */
const REPORT_KEYS = [
  'cache_db',
  'dry_run',
  'sets',
  'examples',
  'lists_removed',
  'unfinished_list_parts',
  'vector_bytes_removed',
  'files_removed',
  'file_bytes',
  'log_pending',
];

let ws: Awaited<ReturnType<typeof workspace>>;
let railFile: string;
beforeEach(async () => {
  ws = await workspace();
  railFile = path.join(ws.rails, 'support', 'support.yml');
});
afterEach(() => ws.cleanup());

const cacheDb = () => path.join(ws.dir, 'data', 'embeddings.db');

async function prune(args: string[] = []): Promise<{ code: number; report: PruneJson; stderr: string }> {
  const run = await railgate(ws.dir, ['cache', 'prune', '--json', ...args]);
  return { code: run.code, report: JSON.parse(run.stdout) as PruneJson, stderr: run.stderr };
}

/** Compiles the support set as the proxy would, filling the example cache. */
async function compile(): Promise<void> {
  const run = await railgate(ws.dir, ['explain', 'hello', '--rails-dir', 'rails']);
  expect(run.code, run.stderr).toBe(0);
}

/** Whether the cache holds a vector for every text the set on disk embeds. */
async function holdsEverySupportText(): Promise<boolean> {
  const set = await loadRailSet(path.join(ws.rails, 'support'));
  const cache = ExampleCache.open(cacheDb());
  const vectors = await cache.lookup('bundled/universal-sentence-encoder-lite:512', embeddedTexts(set), 512);
  cache.close();
  return vectors.every((v) => v !== undefined);
}

describe('railgate cache prune', () => {
  it("removes an edited example's old vector and keeps every vector the rails embed", async () => {
    await compile();
    expect(await holdsEverySupportText()).toBe(true);
    const first = await prune(['--dry-run']);
    expect(first.code).toBe(0);
    expect(first.report).toMatchObject({ dry_run: true, sets: ['support'], examples: { removed: 0 } });
    const kept = first.report.examples.kept;

    await writeFile(railFile, (await readFile(railFile, 'utf8')).replace('Hi there', 'Hey there'));
    await compile();
    const dry = await prune(['--dry-run']);
    expect(dry.report.examples).toEqual({ kept, removed: 1 });
    // A dry run changes nothing.
    expect((await prune(['--dry-run'])).report.examples).toEqual({ kept, removed: 1 });

    const done = await prune();
    expect(done.code).toBe(0);
    expect(done.report).toMatchObject({ dry_run: false, examples: { kept, removed: 1 } });
    expect(await holdsEverySupportText()).toBe(true);
    expect((await prune()).report.examples).toEqual({ kept, removed: 0 });
  });

  it('removes the stored graphs of sets that are gone, and partial writes left over by processes that ended', async () => {
    await compile();
    const graphs = path.join(ws.dir, 'data', 'hnsw');
    await mkdir(graphs, { recursive: true });
    const hash = 'a'.repeat(32);
    const files = {
      current: `support.${hash}.hnsw`,
      gone: `retired.${hash}.hnsw`,
      // A process id far above any pid_max: no such process; last written two hours ago.
      deadPartial: `support.${hash}.hnsw.99999999.partial`,
      // No such process either, but written a minute ago: maybe a proxy in another container.
      recentPartial: `support.${hash}.hnsw.99999998.partial`,
      livePartial: `support.${hash}.hnsw.${process.pid}.partial`,
      foreign: 'README.txt',
    };
    for (const file of Object.values(files)) await writeFile(path.join(graphs, file), 'x');
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000);
    await utimes(path.join(graphs, files.deadPartial), hoursAgo(2), hoursAgo(2));
    await utimes(path.join(graphs, files.recentPartial), hoursAgo(1 / 60), hoursAgo(1 / 60));

    const dry = await prune(['--dry-run']);
    const removed = [files.gone, files.deadPartial].map((f) => path.join('data', 'hnsw', f)).sort();
    expect(dry.report.files_removed.toSorted()).toEqual(removed);
    expect((await readdir(graphs)).length).toBe(6);

    const done = await prune();
    expect(done.report.files_removed.toSorted()).toEqual(removed);
    expect(Object.keys(done.report)).toEqual(REPORT_KEYS);
    expect((await readdir(graphs)).sort()).toEqual(
      [files.current, files.livePartial, files.recentPartial, files.foreign].sort(),
    );
  });

  it('keeps the vectors of every rails folder given, and removes those of a folder left out', async () => {
    await compile();
    const other = path.join(ws.dir, 'other', 'faq');
    await mkdir(other, { recursive: true });
    await writeFile(
      path.join(other, 'faq.yml'),
      'name: faq\nintents:\n  - id: hours\n    action: respond\n    response: 9 to 5.\n    examples: [When are you open?]\n',
    );
    const explained = await railgate(ws.dir, ['explain', 'open?', '--rails-dir', 'other']);
    expect(explained.code, explained.stderr).toBe(0);

    const both = await prune(['--dry-run', '--rails', 'rails', '--rails', 'other']);
    expect(both.report.sets).toEqual(['support', 'faq']);
    expect(both.report.examples.removed).toBe(0);
    expect((await prune(['--dry-run'])).report.examples.removed).toBe(1);
  });

  it('compacts beside a process reading the cache, and says its write-ahead log empties later', async () => {
    await compile();
    await writeFile(railFile, (await readFile(railFile, 'utf8')).replace('Hi there', 'Hey there'));
    await compile();
    // Another connection in the middle of a read, as a proxy reading its examples at a reload.
    const reader = new Database(cacheDb());
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM example_embeddings').get();
    // It waits for the reader a while (busy_timeout), then leaves the log to a later checkpoint.
    const beside = await railgate(ws.dir, ['cache', 'prune']);
    expect(beside.code).toBe(0);
    expect(beside.stdout).toMatch(/example vectors: \d+ kept, 1 removed/);
    expect(beside.stdout).toContain('which another process (a running proxy) was reading');
    reader.exec('COMMIT');
    reader.close();
    expect((await prune()).report).toMatchObject({ examples: { removed: 0 }, log_pending: false });
    expect(await holdsEverySupportText()).toBe(true);
  });

  it('refuses to prune against rails with issues, and changes nothing', async () => {
    await compile();
    await writeFile(railFile, (await readFile(railFile, 'utf8')).replace('Hi there', 'Hey there'));
    await compile();
    await writeFile(path.join(ws.rails, 'support', 'broken.yml'), 'intents: [');
    const run = await railgate(ws.dir, ['cache', 'prune']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/broken\.yml:\d+:\d+/);
    expect(run.stderr).toContain('cannot load the rails');
    await rm(path.join(ws.rails, 'support', 'broken.yml'));
    expect((await prune(['--dry-run'])).report.examples.removed).toBe(1);
  });

  it('says where it looked when there is no cache, and what it takes', async () => {
    const missing = await railgate(ws.dir, ['cache', 'prune']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no example cache at data/embeddings.db');
    expect(await readdir(ws.dir)).not.toContain('data');
    // The decision log given for the cache: named, and left as it was.
    await mkdir(path.join(ws.dir, 'data'));
    new Database(path.join(ws.dir, 'data', 'railgate.db')).exec('CREATE TABLE decisions (id INTEGER)');
    const notCache = await railgate(ws.dir, ['cache', 'prune', '--dry-run'], {
      RAILGATE_EMBED_CACHE_DB: 'data/railgate.db',
    });
    expect(notCache.code).toBe(1);
    expect(notCache.stderr).toContain('is not an example cache (no example_embeddings table)');
    // An in-memory cache has nothing to prune: the same report, empty, for a script reading JSON.
    const inMemory = await railgate(ws.dir, ['cache', 'prune', '--json'], { RAILGATE_EMBED_CACHE_DB: ':memory:' });
    expect(inMemory.code).toBe(0);
    const empty = JSON.parse(inMemory.stdout) as PruneJson;
    expect(empty).toMatchObject({ sets: ['support'], examples: { kept: 0, removed: 0 }, files_removed: [] });
    expect(Object.keys(empty)).toEqual(REPORT_KEYS);
    const noAction = await railgate(ws.dir, ['cache']);
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toContain('usage: railgate cache prune');
    expect((await railgate(ws.dir, ['cache', 'clear'])).stderr).toContain('unknown action "clear"; try prune');
  });
});
