import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/embedding/batcher.js';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { CachingEmbedder } from '../../src/embedding/cached.js';
import { ExampleCache, WHOLE_LIST_MIN } from '../../src/embedding/example-cache.js';
import { EmbeddingStack } from '../../src/embedding/stack.js';
import { LoadCancelled } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { parseSettings } from '../../src/settings.js';
import { GatedModel, HeldModel } from '../helpers/held-model.js';
import { WrappedModel } from '../helpers/wrapped-model.js';

/** Counts the model calls that reach the real embedder (an observer, not a stand-in). */
class CountingEmbedder extends WrappedModel {
  calls: number[] = [];
  /** The texts of each call. */
  texts: string[][] = [];
  override embed(texts: readonly string[]) {
    this.calls.push(texts.length);
    this.texts.push([...texts]);
    return this.inner.embed(texts);
  }
  override close() {
    return Promise.resolve();
  }
}

const questions = [
  'How do I reset my password?',
  'What are your opening hours?',
  'I lost my debit card',
  'Can I increase my credit limit?',
  'Where is the nearest branch?',
  'How long does a transfer take?',
];

let model: BundledEmbedder;
beforeAll(async () => {
  model = await BundledEmbedder.load();
});
afterAll(() => model.close());

describe('micro-batching', () => {
  it('embeds concurrent requests in one model call with the same vectors as one-by-one', async () => {
    const counting = new CountingEmbedder(model);
    const batcher = new MicroBatcher(counting, { windowMs: 20, maxBatch: 64, maxQueue: 100 });
    const together = await Promise.all(questions.map((q) => batcher.embed([q])));
    expect(counting.calls).toEqual([questions.length]);
    for (const [i, q] of questions.entries()) {
      const [alone] = await model.embed([q]);
      // Same model call per text; only float rounding of the batched matrix kernels may differ.
      const drift = Math.max(...Array.from(alone!, (v, j) => Math.abs(v - together[i]![0]![j]!)));
      expect(drift).toBeLessThan(1e-5);
    }
  });

  it('with no window (the default), sends a message to an idle model at once and batches what arrives meanwhile', async () => {
    const counting = new CountingEmbedder(model);
    const windowMs = parseSettings({}).embedding.batchWindowMs;
    expect(windowMs).toBe(0);
    const batcher = new MicroBatcher(counting, { windowMs, maxBatch: 64, maxQueue: 100 });
    const first = batcher.embed([questions[0]!]);
    expect(counting.calls).toEqual([1]);
    const rest = questions.slice(1).map((q) => batcher.embed([q]));
    await Promise.all([first, ...rest]);
    expect(counting.calls).toEqual([1, questions.length - 1]);
  });

  it('never sends more than maxBatch texts per call', async () => {
    const counting = new CountingEmbedder(model);
    const batcher = new MicroBatcher(counting, { windowMs: 5, maxBatch: 4, maxQueue: 100 });
    await Promise.all([...questions, ...questions].map((q) => batcher.embed([q])));
    expect(Math.max(...counting.calls)).toBeLessThanOrEqual(4);
    expect(counting.calls.reduce((a, b) => a + b, 0)).toBe(12);
  });

  it("takes a text of each waiting call in turn: a long message's chunks do not hold back a short one", async () => {
    const counting = new CountingEmbedder(model);
    const batcher = new MicroBatcher(counting, { windowMs: 0, maxBatch: 4, maxQueue: 100 });
    const chunks = questions.slice(0, 5).map((q) => `${q} (part of a long paste)`);
    const first = batcher.embed([questions[5]!]);
    const long = batcher.embed(chunks);
    const short = batcher.embed(['Is the branch open on Sunday?']);
    const [, longVectors, shortVectors] = await Promise.all([first, long, short]);
    expect(counting.texts).toEqual([
      [questions[5]],
      [chunks[0], 'Is the branch open on Sunday?', chunks[1], chunks[2]],
      [chunks[3], chunks[4]],
    ]);
    // Each caller still gets its own vectors, in its own order.
    const alone = await model.embed([...chunks, 'Is the branch open on Sunday?']);
    for (const [i, vector] of [...longVectors!, ...shortVectors!].entries()) {
      const drift = Math.max(...Array.from(vector, (v, j) => Math.abs(v - alone[i]![j]!)));
      expect(drift).toBeLessThan(1e-5);
    }
  });

  it('drops the waiting texts of a caller that gives up, and embeds everyone else', async () => {
    const counting = new CountingEmbedder(model);
    // The first batch is held with the model while the others queue behind it.
    const held = new HeldModel(counting);
    const arrived = held.holdNext();
    const batcher = new MicroBatcher(held, { windowMs: 0, maxBatch: 64, maxQueue: 100 });
    const first = batcher.embed([questions[0]!]);
    const release = await arrived;
    const leaving = new AbortController();
    const abandoned = batcher.embed([questions[1]!, questions[2]!], leaving.signal);
    const staying = batcher.embed([questions[3]!]);
    expect(batcher.queueDepth).toBe(3);
    leaving.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'RG_ERR_CLIENT_CLOSED' });
    expect(batcher.queueDepth).toBe(1);
    release();
    await Promise.all([first, staying]);
    expect(counting.texts).toEqual([[questions[0]], [questions[3]]]);
    // Already abandoned: nothing is queued at all.
    await expect(batcher.embed([questions[4]!], leaving.signal)).rejects.toMatchObject({
      code: 'RG_ERR_CLIENT_CLOSED',
    });
    expect(counting.calls).toHaveLength(2);
  });

  it('drops the rest of a long message whose first chunks are already with the model', async () => {
    const counting = new CountingEmbedder(model);
    const batcher = new MicroBatcher(counting, { windowMs: 0, maxBatch: 2, maxQueue: 100 });
    const leaving = new AbortController();
    const abandoned = batcher.embed(questions.slice(0, 5), leaving.signal);
    expect(counting.calls).toEqual([2]);
    expect(batcher.queueDepth).toBe(3);
    leaving.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'RG_ERR_CLIENT_CLOSED' });
    expect(batcher.queueDepth).toBe(0);
    // The batch already sent finishes; nothing more goes to the model, and the batcher still works.
    await expect(batcher.embed([questions[5]!])).resolves.toHaveLength(1);
    expect(counting.texts).toEqual([questions.slice(0, 2), [questions[5]]]);
  });

  it('with several model workers, gives each idle one an even share of what waits', async () => {
    const counting = new CountingEmbedder(model);
    const batcher = new MicroBatcher(counting, { windowMs: 1, maxBatch: 64, maxQueue: 100, concurrency: 2 });
    const twelve = [...questions, ...questions.map((q) => `${q} Thanks.`)];
    await Promise.all(twelve.map((q) => batcher.embed([q])));
    // Not all twelve to one worker while the other idles.
    expect(counting.calls).toEqual([6, 6]);
  });

  it('a free worker waits for a fair share while another call runs, and never longer than that call', async () => {
    const gated = new GatedModel(model);
    const batcher = new MicroBatcher(gated, { windowMs: 0, maxBatch: 64, maxQueue: 100, concurrency: 2 });
    const long = batcher.embed(questions.slice(0, 4).flatMap((q) => [q, `${q} Thanks.`]));
    expect(gated.calls.map((c) => c.texts.length)).toEqual([4, 4]);
    await gated.calls[1]!.release();
    // One worker is free and one call of 4 runs: a lone text is not worth a model call of its own yet.
    const a = batcher.embed(['Is the branch open on Sunday?']);
    expect(gated.calls).toHaveLength(2);
    expect(batcher.queueDepth).toBe(1);
    const b = batcher.embed(['Can I pay a cheque in at the post office?']);
    expect(gated.calls[2]!.texts).toEqual([
      'Is the branch open on Sunday?',
      'Can I pay a cheque in at the post office?',
    ]);
    const c = batcher.embed(['What is my account number?']);
    await gated.calls[2]!.release();
    expect(gated.calls).toHaveLength(3);
    // It goes once the call it waited beside ends.
    await gated.calls[0]!.release();
    expect(gated.calls[3]!.texts).toEqual(['What is my account number?']);
    await gated.calls[3]!.release();
    const [[va], [vc]] = await Promise.all([a, c, b, long]);
    const alone = await model.embed(['Is the branch open on Sunday?', 'What is my account number?']);
    for (const [vector, expected] of [
      [va!, alone[0]!],
      [vc!, alone[1]!],
    ] as const) {
      const drift = Math.max(...Array.from(vector, (v, j) => Math.abs(v - expected[j]!)));
      expect(drift).toBeLessThan(1e-5);
    }
  });

  it('sheds load with RG_ERR_OVERLOADED (503) when the queue is full, and recovers', async () => {
    const batcher = new MicroBatcher(model, { windowMs: 50, maxBatch: 64, maxQueue: 3 });
    const results = await Promise.allSettled(questions.map((q) => batcher.embed([q])));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBe(3);
    expect((rejected[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'RG_ERR_OVERLOADED', statusCode: 503 });
    await expect(batcher.embed(['hello again'])).resolves.toHaveLength(1);
  });
});

describe('message cache', () => {
  it('answers a repeated message without a model call', async () => {
    const counting = new CountingEmbedder(model);
    const metrics = createMetrics({ defaultMetrics: false });
    const cached = new CachingEmbedder(counting, 100, {
      onLookup: (hits, misses) => {
        metrics.embedCacheLookups.inc({ result: 'hit' }, hits);
        metrics.embedCacheLookups.inc({ result: 'miss' }, misses);
      },
    });
    const [first] = await cached.embed(['I lost my debit card']);
    const [second] = await cached.embed(['I lost my debit card']);
    expect(counting.calls).toEqual([1]);
    expect(second).toBe(first);
    const text = await metrics.registry.metrics();
    expect(text).toContain('railgate_embed_cache_lookups_total{result="hit"} 1');
    expect(text).toContain('railgate_embed_cache_lookups_total{result="miss"} 1');
  });

  it('caches long texts too, by digest, never taking one for another that differs at its end', async () => {
    const counting = new CountingEmbedder(model);
    const cached = new CachingEmbedder(counting, 10);
    const long = 'I lost my debit card on the train this morning. '.repeat(20);
    const [first] = await cached.embed([long]);
    const [again] = await cached.embed([long, `${long}!`]);
    expect(again).toBe(first);
    // The second is a miss of its own: the model is asked for it, and only for it.
    expect(counting.texts).toEqual([[long], [`${long}!`]]);
  });

  it('evicts the least recently used entry beyond its capacity', async () => {
    const counting = new CountingEmbedder(model);
    const cached = new CachingEmbedder(counting, 2);
    await cached.embed(['a']);
    await cached.embed(['b']);
    await cached.embed(['a']);
    await cached.embed(['c']); // evicts b
    await cached.embed(['a']);
    await cached.embed(['b']);
    expect(counting.calls).toEqual([1, 1, 1, 1]);
  });
});

describe('persistent example cache', () => {
  const settings = parseSettings({}).embedding;

  it('a restart does not re-embed examples; another model never reads them', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rg-cache-')), 'embeddings.db');
    const firstModel = new CountingEmbedder(model);
    const first = new EmbeddingStack(firstModel, { settings, exampleCache: ExampleCache.open(file) });
    const progress: [number, number][] = [];
    const vectors = await first.embedBulk(questions, { onProgress: (done, total) => progress.push([done, total]) });
    expect(progress.at(-1)).toEqual([questions.length, questions.length]);
    expect(firstModel.calls.reduce((a, b) => a + b, 0)).toBe(questions.length);

    const secondModel = new CountingEmbedder(model);
    const cache = ExampleCache.open(file);
    const second = new EmbeddingStack(secondModel, { settings, exampleCache: cache });
    const again = await second.embedBulk(questions);
    expect(secondModel.calls).toEqual([]);
    expect(again.map((v) => Array.from(v))).toEqual(vectors.map((v) => Array.from(v)));

    expect((await cache.lookup('other-model:512', questions, 512)).every((v) => v === undefined)).toBe(true);
    expect((await cache.lookup(`${model.modelId}:512`, questions, 384)).every((v) => v === undefined)).toBe(true);
    cache.close();
  });

  // Above WHOLE_LIST_MIN a set's list is also stored whole: what a restart reads must be the same vectors.
  // Short, to keep the model's work small.
  const manyQuestions = Array.from({ length: WHOLE_LIST_MIN + 50 }, (_, i) => `card ${i}`);

  it('a large set restarts from its whole stored list; an edited one embeds only the edited example', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rg-cache-')), 'embeddings.db');
    const key = `${model.modelId}:512`;
    const first = new EmbeddingStack(model, { settings, exampleCache: ExampleCache.open(file) });
    const vectors = await first.embedBulk(manyQuestions, { list: 'big' });

    const cache = ExampleCache.open(file);
    const whole = await cache.lookupList(key, 'big', manyQuestions, 512);
    expect(whole?.map((v) => Array.from(v))).toEqual(vectors.map((v) => Array.from(v)));
    const restarted = new CountingEmbedder(model);
    const stack = () => new EmbeddingStack(restarted, { settings, exampleCache: cache });
    const again = await stack().embedBulk(manyQuestions, { list: 'big' });
    expect(restarted.calls).toEqual([]);
    expect(again.map((v) => Array.from(v))).toEqual(vectors.map((v) => Array.from(v)));

    const edited = manyQuestions.with(7, 'Is there a fee for paying abroad?');
    expect(await cache.lookupList(key, 'big', edited, 512)).toBeUndefined();
    const editedVectors = await stack().embedBulk(edited, { list: 'big' });
    expect(restarted.texts).toEqual([['Is there a fee for paying abroad?']]);
    expect(Array.from(editedVectors[7]!)).toEqual(Array.from((await model.embed([edited[7]!]))[0]!));
    expect(Array.from(editedVectors[8]!)).toEqual(Array.from(vectors[8]!));
    // The edited list replaces the old one, for the next restart.
    expect(await cache.lookupList(key, 'big', edited, 512)).toHaveLength(edited.length);
    expect(await cache.lookupList(key, 'big', manyQuestions, 512)).toBeUndefined();
    cache.close();
  });
});

describe('whole stored lists', () => {
  const unit = (seed: number, dimension = 8) => {
    const v = Float32Array.from({ length: dimension }, (_, i) => Math.sin(seed * 7 + i));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const listOf = (tag: string, n = 5000) => Array.from({ length: n }, (_, i) => `${tag} ${i}`);
  const vectorsOf = (texts: readonly string[], dimension = 8) => texts.map((_, i) => unit(i, dimension));
  const asArrays = (vectors: readonly Float32Array[] | undefined) => vectors?.map((v) => Array.from(v));
  const tempFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'rg-lists-')), 'e.db');

  it('reads back exactly what was stored, and nothing for other texts, name, model or dimension', async () => {
    const cache = ExampleCache.open(tempFile());
    const texts = listOf('a');
    const vectors = vectorsOf(texts);
    await cache.storeList('m:8', 'bank', texts, vectors);
    expect(asArrays(await cache.lookupList('m:8', 'bank', texts, 8))).toEqual(asArrays(vectors));
    expect(await cache.lookupList('m:8', 'bank', texts.toReversed(), 8)).toBeUndefined();
    expect(await cache.lookupList('m:8', 'bank', texts.slice(1), 8)).toBeUndefined();
    expect(await cache.lookupList('m:8', 'shop', texts, 8)).toBeUndefined();
    expect(await cache.lookupList('other:8', 'bank', texts, 8)).toBeUndefined();
    expect(await cache.lookupList('m:8', 'bank', texts, 16)).toBeUndefined();
    cache.close();
  });

  it("keeps one list per set: a set's edits replace its list, and the file does not grow with them", async () => {
    const file = tempFile();
    const cache = ExampleCache.open(file);
    const shop = listOf('shop', 1000);
    await cache.storeList('m:512', 'shop', shop, vectorsOf(shop, 512));
    const size = () =>
      ['', '-wal'].reduce((sum, end) => sum + (statSync(file + end, { throwIfNoEntry: false })?.size ?? 0), 0);
    let afterFirst = 0;
    for (let edit = 0; edit < 10; edit++) {
      const bank = listOf(`bank v${edit}`, 1000);
      await cache.storeList('m:512', 'bank', bank, vectorsOf(bank, 512));
      afterFirst ||= size();
      expect(await cache.lookupList('m:512', 'bank', bank, 512)).toHaveLength(1000);
    }
    expect(await cache.lookupList('m:512', 'bank', listOf('bank v0', 1000), 512)).toBeUndefined();
    expect(await cache.lookupList('m:512', 'shop', shop, 512)).toHaveLength(1000);
    // Each list is 2 MB; ten kept would be 20 MB more.
    expect(size()).toBeLessThan(afterFirst + 4_000_000);
    cache.close();
  });

  it('reads a large cache in slices, so that a reload lets the proxy answer meanwhile', async () => {
    const file = tempFile();
    const texts = listOf('c', 3000);
    const vectors = vectorsOf(texts);
    const writer = ExampleCache.open(file);
    writer.store(
      'm:8',
      texts.map((text, i) => [text, vectors[i]!] as const),
    );
    await writer.storeList('m:8', 'c', texts, vectors);
    writer.close();
    const reads = {
      rows: (cache: ExampleCache) => cache.lookup('m:8', texts, 8),
      whole: (cache: ExampleCache) => cache.lookupList('m:8', 'c', texts, 8),
    };
    for (const [name, read] of Object.entries(reads)) {
      const cache = ExampleCache.open(file);
      // Other work, as a request would be: it runs between the slices, not after the whole read.
      let ran = 0;
      let reading = true;
      const other = () => {
        if (!reading) return;
        ran++;
        setImmediate(other);
      };
      setImmediate(other);
      const got = await read(cache);
      reading = false;
      expect(asArrays(got as Float32Array[]), name).toEqual(asArrays(vectors));
      expect(ran, name).toBeGreaterThan(1);
      // A shutdown closing the cache during such a read ends it as a cancelled load, not a database error.
      const interrupted = read(cache);
      cache.close();
      await expect(interrupted, name).rejects.toThrow(LoadCancelled);
    }
  });

  it('never reads a list whose writing did not finish', async () => {
    const file = tempFile();
    const cache = ExampleCache.open(file);
    const texts = listOf('b');
    const storing = cache.storeList('m:8', 'b', texts, vectorsOf(texts));
    cache.close(); // as a shutdown during a reload does, between two parts
    await storing;
    const reopened = ExampleCache.open(file);
    expect(await reopened.lookupList('m:8', 'b', texts, 8)).toBeUndefined();
    reopened.close();
  });
});
