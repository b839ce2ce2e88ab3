import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  compactExampleCache,
  NotAnExampleCache,
  openForPrune,
  pruneExampleCache,
} from '../../src/embedding/cache-prune.js';
import { ExampleCache } from '../../src/embedding/example-cache.js';
import { embedExamples } from '../../src/embedding/stack.js';
import type { Embedder } from '../../src/embedding/embedder.js';

const unit = (seed: number, dimension = 8) => {
  const v = Float32Array.from({ length: dimension }, (_, i) => Math.sin(seed * 7 + i));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
};
const listOf = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} ${i}`);
const vectorsOf = (texts: readonly string[]) => texts.map((_, i) => unit(i));
const asArrays = (vectors: readonly Float32Array[] | undefined) => vectors?.map((v) => Array.from(v));
const tempFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'rg-upkeep-')), 'e.db');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A model whose vectors follow from the text: enough to see what the cache stores and returns. */
const textModel: Embedder = {
  modelId: 'text-model',
  dimension: 8,
  embed: (texts) => Promise.resolve(texts.map((t) => unit(t.length))),
  close: () => Promise.resolve(),
};

describe('pruning the example cache', () => {
  it("keeps the rails' texts and lists, and removes every other row, list and unfinished part", async () => {
    const file = tempFile();
    const cache = ExampleCache.open(file);
    const kept = listOf('kept', 1000);
    const edited = kept.with(3, 'edited');
    const gone = listOf('gone', 1000);
    for (const [model, texts] of [
      ['m:8', kept],
      ['m:8', edited],
      ['m:8', gone],
      ['other:8', kept],
    ] as const) {
      cache.store(
        model,
        texts.map((text, i) => [text, unit(i)] as const),
      );
    }
    await cache.storeList('m:8', 'kept', kept, vectorsOf(kept));
    await cache.storeList('other:8', 'kept', edited, vectorsOf(edited));
    await cache.storeList('m:8', 'gone', gone, vectorsOf(gone));
    // A write cut short by a shutdown: its parts, no list.
    await cache.storeList('m:8', 'half', gone, vectorsOf(gone), AbortSignal.abort());
    const keep = {
      hashes: new Set(kept.map(ExampleCache.hash)),
      lists: new Map([['kept', new Set([ExampleCache.listHash(kept)])]]),
    };

    const before = sha(file);
    const dryRun = openForPrune(file, true);
    const dry = pruneExampleCache(dryRun, keep, true);
    expect(dry).toMatchObject({
      // kept's texts under both models; "edited" and every gone text removed.
      rows: { kept: 2000, removed: 1001 },
      lists: [
        { model: 'm:8', name: 'gone' },
        { model: 'other:8', name: 'kept' },
      ],
      unfinishedListParts: 1,
    });
    expect(pruneExampleCache(dryRun, keep, true)).toEqual(dry);
    dryRun.close();
    expect(sha(file)).toBe(before);

    const db = openForPrune(file, false);
    expect(pruneExampleCache(db, keep, false)).toEqual(dry);
    expect(compactExampleCache(db)).toBe(true);
    expect(pruneExampleCache(db, keep, false)).toMatchObject({
      rows: { kept: 2000, removed: 0 },
      lists: [],
      unfinishedListParts: 0,
    });
    db.close();
    expect(asArrays(await cache.lookupList('m:8', 'kept', kept, 8))).toEqual(asArrays(vectorsOf(kept)));
    expect(await cache.lookupList('m:8', 'gone', gone, 8)).toBeUndefined();
    expect((await cache.lookup('other:8', kept, 8)).every((v) => v !== undefined)).toBe(true);
    expect((await cache.lookup('m:8', ['edited', ...gone], 8)).every((v) => v === undefined)).toBe(true);
    cache.close();
  });

  it('a dry run leaves a cache of the first layout as it is; a real run prunes it', () => {
    // Before whole lists were kept: one table, rollback journal.
    const file = tempFile();
    const old = new Database(file);
    old.exec(`CREATE TABLE example_embeddings (
      model TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, text_hash)
    ) WITHOUT ROWID`);
    const put = old.prepare('INSERT INTO example_embeddings VALUES (?, ?, ?)');
    for (const text of ['a', 'b']) put.run('m:8', ExampleCache.hash(text), Buffer.from(unit(1).buffer));
    old.close();
    const keep = { hashes: new Set([ExampleCache.hash('a')]), lists: new Map() };
    const before = sha(file);
    const dryRun = openForPrune(file, true);
    expect(pruneExampleCache(dryRun, keep, true)).toMatchObject({ rows: { kept: 1, removed: 1 }, lists: [] });
    dryRun.close();
    expect(sha(file)).toBe(before);
    const db = openForPrune(file, false);
    expect(pruneExampleCache(db, keep, false).rows).toEqual({ kept: 1, removed: 1 });
    expect(compactExampleCache(db)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    db.close();
  });

  it('refuses a file that is not an example cache, and creates none', () => {
    const log = tempFile();
    new Database(log).exec('CREATE TABLE decisions (id INTEGER PRIMARY KEY)');
    expect(() => openForPrune(log, false)).toThrow(NotAnExampleCache);
    expect(() => openForPrune(log, true)).toThrow(/is not an example cache \(no example_embeddings table\)/);
    expect(() => openForPrune(path.join(path.dirname(log), 'missing.db'), true)).toThrow();
  });
});

describe('a cache that refuses writes', () => {
  it('costs the vectors their caching, not the start: one warning, right vectors, cached once it can', async () => {
    const file = tempFile();
    const errors: Error[] = [];
    const cache = ExampleCache.open(file, { busyTimeoutMs: 50, onWriteError: (error) => errors.push(error) });
    // Another process holds the write lock past busy_timeout (as compacting a large cache can).
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    const texts = listOf('t', 70);
    const vectors = await embedExamples(textModel, cache, texts);
    expect(asArrays(vectors)).toEqual(asArrays(await textModel.embed(texts)));
    // Two batches failed: one warning.
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['SQLITE_BUSY']);
    other.exec('COMMIT');
    other.close();
    expect((await cache.lookup('text-model:8', texts, 8)).every((v) => v === undefined)).toBe(true);
    await embedExamples(textModel, cache, texts);
    expect((await cache.lookup('text-model:8', texts, 8)).every((v) => v !== undefined)).toBe(true);
    cache.close();
  });
});
