import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/embedding/batcher.js';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { CachingEmbedder } from '../../src/embedding/cached.js';
import { WorkerEmbedder } from '../../src/embedding/worker-host.js';
import { WorkerPool } from '../../src/embedding/worker-pool.js';
import { parseSettings } from '../../src/settings.js';
import { WrappedModel } from '../helpers/wrapped-model.js';

/** Observes the real model: calls and how many ran at once. */
class Observed extends WrappedModel {
  calls = 0;
  running = 0;
  maxRunning = 0;
  override async embed(texts: readonly string[]) {
    this.calls++;
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    try {
      return await this.inner.embed(texts);
    } finally {
      this.running--;
    }
  }
}

const questions = Array.from({ length: 12 }, (_, i) => `question number ${i} about my savings account`);
let local: BundledEmbedder;
let workers: Observed[];
let pool: WorkerPool;

beforeAll(async () => {
  local = await BundledEmbedder.load();
  const settings = parseSettings({}).embedding;
  const bundled = { provider: 'bundled', model: undefined, quantized: false } as const;
  workers = (await Promise.all([WorkerEmbedder.start(bundled, settings), WorkerEmbedder.start(bundled, settings)])).map(
    (w) => new Observed(w),
  );
  pool = new WorkerPool(workers);
});
afterAll(async () => {
  await pool.close();
  await local.close();
});

describe('model worker pool', () => {
  it('spreads concurrent batches over the workers, with the same vectors as the model in-process', async () => {
    const batcher = new MicroBatcher(pool, { windowMs: 1, maxBatch: 4, maxQueue: 100, concurrency: pool.size });
    const vectors = await Promise.all(questions.map((q) => batcher.embed([q])));
    expect(workers.every((w) => w.calls > 0)).toBe(true);
    const expected = await local.embed(questions);
    vectors.forEach(([v], i) => {
      const drift = Math.max(...Array.from(v!, (x, j) => Math.abs(x - expected[i]![j]!)));
      expect(drift).toBeLessThan(1e-5);
    });
  });

  it('keeps at most `concurrency` model calls in flight', async () => {
    for (const concurrency of [1, 2]) {
      const model = new Observed(local);
      const batcher = new MicroBatcher(model, { windowMs: 1, maxBatch: 2, maxQueue: 100, concurrency });
      await Promise.all(questions.map((q) => batcher.embed([q])));
      expect(model.maxRunning).toBe(concurrency);
    }
  });

  it('replaces a model worker that died: its calls fail, the next ones are embedded', async () => {
    const worker = await WorkerEmbedder.start(
      { provider: 'bundled', model: undefined, quantized: false },
      parseSettings({}).embedding,
    );
    try {
      const [before] = await worker.embed([questions[0]!]);
      // What a crash or an out-of-memory kill does to the thread.
      const thread = (worker as unknown as { worker: Worker }).worker;
      const inFlight = worker.embed(questions);
      await thread.terminate();
      await expect(inFlight).rejects.toMatchObject({ code: 'RG_ERR_EMBEDDING_FAILED' });
      const [after] = await worker.embed([questions[0]!]);
      expect(Math.max(...Array.from(after!, (x, j) => Math.abs(x - before![j]!)))).toBeLessThan(1e-6);
      expect(worker.restarts).toBe(1);
    } finally {
      await worker.close();
    }
  });

  it("caches a worker's vectors without the rest of the batch they came in (one buffer per batch)", async () => {
    const cached = new CachingEmbedder(workers[0]!, 100);
    const vectors = await cached.embed(questions);
    // From the worker, each vector is a view of the batch's one buffer; the cache keeps its own bytes.
    for (const [i, vector] of (await cached.embed(questions)).entries()) {
      expect(vector.buffer.byteLength).toBe(vector.byteLength);
      expect([...vector]).toEqual([...vectors[i]!]);
    }
  });
});
