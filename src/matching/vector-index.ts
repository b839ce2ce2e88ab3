/**
 * Nearest-neighbour search over unit vectors by cosine similarity. Below a few thousand vectors an
 * exact scan is faster than a graph walk (and always exact); above it, hnswlib's HNSW graph.
 */
import hnswlib from 'hnswlib-node';

export interface SearchHit {
  /** Position of the vector in the array the index was built from. */
  readonly id: number;
  /** Cosine similarity. */
  readonly score: number;
}

export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly size: number;
  readonly dimension: number;
  /** The k most similar vectors, best first. */
  search(query: Float32Array, k: number): SearchHit[];
}

export interface IndexOptions {
  /** Use the exact scan below this many vectors. */
  readonly exactBelow?: number;
  /** HNSW graph degree and build/search breadth. */
  readonly m?: number;
  readonly efConstruction?: number;
  readonly efSearch?: number;
}

export const DEFAULT_EXACT_BELOW = 5_000;

export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  readonly size: number;
  private readonly matrix: Float32Array;

  constructor(
    vectors: readonly Float32Array[],
    readonly dimension: number,
  ) {
    this.size = vectors.length;
    this.matrix = new Float32Array(vectors.length * dimension);
    vectors.forEach((v, i) => this.matrix.set(v, i * dimension));
  }

  search(query: Float32Array, k: number): SearchHit[] {
    const n = Math.min(k, this.size);
    if (n <= 0) return [];
    // Keep the running top-n sorted ascending by score; n is small (k ≈ 10), so insertion is cheapest.
    const topScores: number[] = [];
    const topIds: number[] = [];
    const dim = this.dimension;
    for (let row = 0; row < this.size; row++) {
      let score = 0;
      const offset = row * dim;
      for (let i = 0; i < dim; i++) score += this.matrix[offset + i]! * query[i]!;
      if (topScores.length === n && score <= topScores[0]!) continue;
      let pos = 0;
      while (pos < topScores.length && topScores[pos]! < score) pos++;
      topScores.splice(pos, 0, score);
      topIds.splice(pos, 0, row);
      if (topScores.length > n) {
        topScores.shift();
        topIds.shift();
      }
    }
    const hits: SearchHit[] = [];
    for (let i = topScores.length - 1; i >= 0; i--) hits.push({ id: topIds[i]!, score: topScores[i]! });
    return hits;
  }
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  readonly size: number;
  private readonly graph: hnswlib.HierarchicalNSW;

  constructor(
    vectors: readonly Float32Array[],
    readonly dimension: number,
    options: IndexOptions = {},
  ) {
    this.size = vectors.length;
    // Inner product on unit vectors is cosine similarity, without hnswlib re-normalising every vector.
    this.graph = new hnswlib.HierarchicalNSW('ip', dimension);
    this.graph.initIndex(Math.max(1, vectors.length), options.m ?? 16, options.efConstruction ?? 200, 42);
    vectors.forEach((v, i) => this.graph.addPoint(Array.from(v), i));
    this.graph.setEf(options.efSearch ?? 128);
  }

  search(query: Float32Array, k: number): SearchHit[] {
    const n = Math.min(k, this.size);
    if (n <= 0) return [];
    const { neighbors, distances } = this.graph.searchKnn(Array.from(query), n);
    // hnswlib's 'ip' distance is 1 − dot; results come nearest first.
    return neighbors.map((id, i) => ({ id, score: 1 - distances[i]! }));
  }
}

export function buildIndex(
  vectors: readonly Float32Array[],
  dimension: number,
  options: IndexOptions = {},
): VectorIndex {
  return vectors.length < (options.exactBelow ?? DEFAULT_EXACT_BELOW)
    ? new ExactIndex(vectors, dimension)
    : new HnswIndex(vectors, dimension, options);
}
