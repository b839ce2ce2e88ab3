import { describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex, buildIndex } from '../../src/matching/vector-index.js';
import { normalizeInPlace } from '../../src/embedding/embedder.js';

function seededVectors(count: number, dim: number, seed = 1): Float32Array[] {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
  return Array.from({ length: count }, () => normalizeInPlace(Float32Array.from({ length: dim }, random)));
}

describe('vector index', () => {
  it('exact search returns the k most similar vectors, best first, with cosine scores', () => {
    const vectors = seededVectors(500, 32);
    const index = new ExactIndex(vectors, 32);
    const hits = index.search(vectors[17]!, 5);
    expect(hits).toHaveLength(5);
    expect(hits[0]).toEqual({ id: 17, score: expect.closeTo(1, 5) });
    for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
  });

  it('hnsw agrees with exact search (recall@10 ≥ 0.99) and reports the same similarities', () => {
    const vectors = seededVectors(3_000, 48, 7);
    const queries = seededVectors(100, 48, 99);
    const exact = new ExactIndex(vectors, 48);
    const hnsw = new HnswIndex(vectors, 48);
    let found = 0;
    for (const q of queries) {
      const truth = new Set(exact.search(q, 10).map((h) => h.id));
      const approx = hnsw.search(q, 10);
      found += approx.filter((h) => truth.has(h.id)).length;
      expect(approx[0]!.score).toBeCloseTo(exact.search(q, 1)[0]!.score, 4);
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.99);
  });

  it('picks exact below the size threshold and hnsw above it; k larger than the index is capped', () => {
    const vectors = seededVectors(50, 8);
    expect(buildIndex(vectors, 8).kind).toBe('exact');
    expect(buildIndex(vectors, 8, { exactBelow: 10 }).kind).toBe('hnsw');
    expect(buildIndex(vectors, 8, { exactBelow: 10 }).search(vectors[0]!, 500)).toHaveLength(50);
    expect(new ExactIndex([], 8).search(vectors[0]!, 3)).toEqual([]);
  });
});
