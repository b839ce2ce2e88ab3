/**
 * What every embedding provider offers. Vectors are unit length, so a dot product is the cosine
 * similarity. Providers are injected wherever embeddings are needed; nothing imports a singleton.
 */
export interface Embedder {
  /** Identifies the model and its settings; caches and indexes are keyed by `${modelId}:${dimension}`. */
  readonly modelId: string;
  readonly dimension: number;
  /**
   * Texts → one unit-length vector each, in order; or the zero vector for a text the model reads
   * nothing of (`readNothing`), which no example may be and no message matches. `signal`: the
   * caller no longer wants them; a provider may then drop work not yet started (RG_ERR_CLIENT_CLOSED).
   */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
  /**
   * Bulk, repeatable work (rail examples at load): skips the message cache and batch window and may
   * use a persistent cache. Optional; callers fall back to `embed`.
   */
  embedBulk?(texts: readonly string[], options?: BulkOptions): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export interface BulkOptions {
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
  /** Stops between batches (what is embedded by then stays cached): a shutdown during start-up. */
  readonly signal?: AbortSignal | undefined;
  /**
   * What the texts are, e.g. a rail set's name: a persistent cache may keep a large list whole under
   * it (one list per name), to read it back at once next time.
   */
  readonly list?: string | undefined;
}

/** A model lent to someone who will close it (a runtime, an app): their close leaves it open for its owner. */
export function borrowed(model: Embedder): Embedder {
  return {
    get modelId() {
      return model.modelId;
    },
    get dimension() {
      return model.dimension;
    },
    embed: (texts, signal) => model.embed(texts, signal),
    ...(model.embedBulk ? { embedBulk: model.embedBulk.bind(model) } : {}),
    close: async () => undefined,
  };
}

export function normalizeInPlace(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i]! /= norm;
  return vector;
}

/**
 * The zero vector: what a model returns for a text it reads nothing of (the bundled model, for text
 * made only of characters outside its vocabulary).
 */
export function readNothing(vector: Float32Array): boolean {
  return vector.every((x) => x === 0);
}

export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
