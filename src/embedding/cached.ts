/**
 * Message embeddings cached in a bounded LRU: a repeated question costs no model call. Keyed by
 * the exact text; the cache belongs to one embedder, so vectors of different models never mix.
 */
import type { Embedder } from './embedder.js';
import { LruCache } from './lru.js';

export interface CacheObserver {
  onLookup?(hits: number, misses: number): void;
}

export class CachingEmbedder implements Embedder {
  readonly #cache: LruCache<string, Float32Array>;

  constructor(
    private readonly base: Embedder,
    capacity: number,
    private readonly observer: CacheObserver = {},
  ) {
    this.#cache = new LruCache(capacity);
  }

  get modelId(): string {
    return this.base.modelId;
  }

  get dimension(): number {
    return this.base.dimension;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const out: (Float32Array | undefined)[] = texts.map((t) => this.#cache.get(t));
    const misses = texts.filter((_, i) => out[i] === undefined);
    const missing = [...new Set(misses)];
    this.observer.onLookup?.(texts.length - misses.length, missing.length);
    if (missing.length > 0) {
      const vectors = await this.base.embed(missing, signal);
      const fresh = new Map(missing.map((t, i) => [t, vectors[i]!]));
      // A vector that is a view of its batch's buffer (from a model worker) would keep the whole batch
      // alive as long as it is cached: the cache keeps its own copy.
      for (const [text, vector] of fresh)
        this.#cache.set(text, vector.byteLength === vector.buffer.byteLength ? vector : vector.slice());
      texts.forEach((t, i) => (out[i] ??= fresh.get(t)));
    }
    return out as Float32Array[];
  }

  close(): Promise<void> {
    this.#cache.clear();
    return this.base.close();
  }
}
