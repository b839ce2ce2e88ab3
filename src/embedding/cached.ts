/**
 * Message embeddings cached in a bounded LRU: a repeated question costs no model call. Keyed by
 * the exact text (a digest of it, for long ones); the cache belongs to one embedder, so vectors of
 * different models never mix.
 */
import { createHash } from 'node:crypto';
import type { Embedder } from './embedder.js';
import { LruCache } from './lru.js';

/** Texts longer than this are keyed by their SHA-256. */
const KEPT_WHOLE = 128;

/**
 * The cache key of a text. The cache is bounded in entries, so a long text kept as its own key would
 * let 10,000 long pastes hold a gigabyte; a digest holds each entry to about its vector's size.
 */
function keyOf(text: string): string {
  return text.length <= KEPT_WHOLE ? `t${text}` : `h${createHash('sha256').update(text).digest('base64')}`;
}

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
    const keys = texts.map(keyOf);
    const out: (Float32Array | undefined)[] = keys.map((key) => this.#cache.get(key));
    const missing = new Map<string, string>();
    let misses = 0;
    texts.forEach((text, i) => {
      if (out[i] !== undefined) return;
      misses++;
      missing.set(keys[i]!, text);
    });
    this.observer.onLookup?.(texts.length - misses, missing.size);
    if (missing.size > 0) {
      const vectors = await this.base.embed([...missing.values()], signal);
      const fresh = new Map([...missing.keys()].map((key, i) => [key, vectors[i]!]));
      // A vector that is a view of its batch's buffer (from a model worker) would keep the whole batch
      // alive as long as it is cached: the cache keeps its own copy.
      for (const [key, vector] of fresh)
        this.#cache.set(key, vector.byteLength === vector.buffer.byteLength ? vector : vector.slice());
      keys.forEach((key, i) => (out[i] ??= fresh.get(key)));
    }
    return out as Float32Array[];
  }

  close(): Promise<void> {
    this.#cache.clear();
    return this.base.close();
  }
}
