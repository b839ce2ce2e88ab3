/**
 * The embedder a rail set actually uses: message path = LRU cache → micro-batcher → model (in a
 * worker thread for local models); example path (`embedBulk`) = persistent cache → model, in
 * batches, with progress.
 */
import { MicroBatcher } from './batcher.js';
import { CachingEmbedder } from './cached.js';
import type { BulkOptions, Embedder } from './embedder.js';
import { WHOLE_LIST_MIN, type ExampleCache } from './example-cache.js';
import { WorkerPool } from './worker-pool.js';
import type { Metrics } from '../metrics.js';
import type { Settings } from '../settings.js';

export interface StackOptions {
  readonly settings: Settings['embedding'];
  readonly exampleCache?: ExampleCache | undefined;
  readonly metrics?: Metrics | undefined;
}

/** How many examples go to the model per call when embedding a rail set. */
const BULK_BATCH = 64;

export class EmbeddingStack implements Embedder {
  readonly batcher: MicroBatcher;
  readonly #messages: CachingEmbedder;

  constructor(
    private readonly base: Embedder,
    private readonly options: StackOptions,
  ) {
    const { settings, metrics } = options;
    this.batcher = new MicroBatcher(
      base,
      {
        windowMs: settings.batchWindowMs,
        maxBatch: settings.maxBatch,
        maxQueue: settings.maxQueue,
        concurrency: base instanceof WorkerPool ? base.size : 1,
      },
      {
        onBatch: (size) => metrics?.embedBatchSize.observe(size),
        onQueueDepth: (depth) => metrics?.embedQueueDepth.set(depth),
      },
    );
    this.#messages = new CachingEmbedder(this.batcher, settings.cacheSize, {
      onLookup: (hits, misses) => {
        if (hits) metrics?.embedCacheLookups.inc({ result: 'hit' }, hits);
        if (misses) metrics?.embedCacheLookups.inc({ result: 'miss' }, misses);
      },
    });
  }

  get modelId(): string {
    return this.base.modelId;
  }

  get dimension(): number {
    return this.base.dimension;
  }

  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    return this.#messages.embed(texts, signal);
  }

  embedBulk(texts: readonly string[], options?: BulkOptions): Promise<Float32Array[]> {
    return embedExamples(this.base, this.options.exampleCache, texts, options);
  }

  close(): Promise<void> {
    return this.#messages.close();
  }
}

/**
 * Rail examples through the persistent cache: a large named list as it was stored whole, else only
 * texts it lacks go to the model, in batches (one lane per model worker), and are stored for the
 * next start.
 */
export async function embedExamples(
  model: Embedder,
  cache: ExampleCache | undefined,
  texts: readonly string[],
  { onProgress, signal, list }: BulkOptions = {},
): Promise<Float32Array[]> {
  const modelKey = exampleCacheKey(model);
  // A large named list is also kept whole.
  const whole = cache && list !== undefined && texts.length >= WHOLE_LIST_MIN ? { cache, list } : undefined;
  const stored = await whole?.cache.lookupList(modelKey, whole.list, texts, model.dimension);
  if (stored) {
    onProgress?.(0, 0);
    return stored;
  }
  const out = cache ? await cache.lookup(modelKey, texts, model.dimension) : texts.map(() => undefined);
  const missing = [...new Set(texts.filter((_, i) => out[i] === undefined))];
  const fresh = new Map<string, Float32Array>();
  onProgress?.(0, missing.length);
  let next = 0;
  let done = 0;
  const lanes = model instanceof WorkerPool ? model.size : 1;
  const lane = async () => {
    for (let start = next; start < missing.length; start = next) {
      signal?.throwIfAborted();
      next += BULK_BATCH;
      const chunk = missing.slice(start, start + BULK_BATCH);
      const vectors = await model.embed(chunk);
      const entries = chunk.map((text, i) => [text, vectors[i]!] as const);
      for (const [text, vector] of entries) fresh.set(text, vector);
      cache?.store(modelKey, entries);
      done += chunk.length;
      onProgress?.(done, missing.length);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const vectors = texts.map((text, i) => out[i] ?? fresh.get(text)!);
  await whole?.cache.storeList(modelKey, whole.list, texts, vectors, signal);
  return vectors;
}

/** Vectors of different models or dimensions never share a cache key. */
function exampleCacheKey(model: Embedder): string {
  return `${model.modelId}:${model.dimension}`;
}

/**
 * A model whose rail examples go through the persistent cache and whose other texts go straight to
 * it: the authoring commands' embedder (one process, one caller; no batching or message cache needed).
 */
export class ExampleCachedEmbedder implements Embedder {
  constructor(
    private readonly model: Embedder,
    private readonly cache: ExampleCache,
  ) {}

  get modelId(): string {
    return this.model.modelId;
  }

  get dimension(): number {
    return this.model.dimension;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return this.model.embed(texts);
  }

  embedBulk(texts: readonly string[], options?: BulkOptions): Promise<Float32Array[]> {
    return embedExamples(this.model, this.cache, texts, options);
  }

  close(): Promise<void> {
    return this.model.close();
  }
}
