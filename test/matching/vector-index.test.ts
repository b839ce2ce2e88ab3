import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex } from '../../src/matching/vector-index.js';
import { buildIndex } from '../../src/matching/index-store.js';
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
    const hnsw = HnswIndex.build(vectors, 48);
    let found = 0;
    for (const q of queries) {
      const truth = new Set(exact.search(q, 10).map((h) => h.id));
      const approx = hnsw.search(q, 10);
      found += approx.filter((h) => truth.has(h.id)).length;
      expect(approx[0]!.score).toBeCloseTo(exact.search(q, 1)[0]!.score, 4);
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.99);
  });

  it('picks exact below the size threshold and hnsw above it; k larger than the index is capped', async () => {
    const vectors = seededVectors(50, 8);
    expect((await buildIndex('s', vectors, 8)).kind).toBe('exact');
    const hnsw = await buildIndex('s', vectors, 8, { exactBelow: 10 });
    expect(hnsw.kind).toBe('hnsw');
    expect(hnsw.search(vectors[0]!, 500)).toHaveLength(50);
    expect(new ExactIndex([], 8).search(vectors[0]!, 3)).toEqual([]);
  });
});

describe('stored HNSW graphs', () => {
  let dir: string | undefined;
  afterEach(() => dir && rm(dir, { recursive: true, force: true }));

  const options = (graphDir: string) => ({ exactBelow: 100, graphDir });
  const graphFiles = async (graphDir: string) => (await readdir(graphDir)).sort();

  it('a restart with the same vectors reads the graph instead of rebuilding it, and answers the same', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'railgate-graphs-'));
    const vectors = seededVectors(1_000, 32, 3);
    const first = await buildIndex('bank', vectors, 32, options(dir));
    expect(first.fromDisk).toBe(false);
    const files = await graphFiles(dir);
    expect(files).toEqual([expect.stringMatching(/^bank\.[0-9a-f]{32}\.hnsw$/)]);
    const written = await stat(path.join(dir, files[0]!));

    const second = await buildIndex('bank', vectors, 32, options(dir));
    expect(second.fromDisk).toBe(true);
    expect(second.size).toBe(1_000);
    for (const q of seededVectors(20, 32, 11)) expect(second.search(q, 10)).toEqual(first.search(q, 10));
    expect((await stat(path.join(dir, files[0]!))).mtimeMs).toBe(written.mtimeMs);
  });

  it("changed vectors get a new graph that replaces the set's old one; other sets keep theirs", async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'railgate-graphs-'));
    await buildIndex('bank', seededVectors(200, 16, 1), 16, options(dir));
    await buildIndex('bank-eu', seededVectors(200, 16, 2), 16, options(dir));
    const [bankBefore] = (await graphFiles(dir)).filter((f) => f.startsWith('bank.'));

    const edited = seededVectors(201, 16, 1);
    const rebuilt = await buildIndex('bank', edited, 16, options(dir));
    expect(rebuilt.fromDisk).toBe(false);
    expect(rebuilt.search(edited[200]!, 1)[0]!.id).toBe(200);
    const after = await graphFiles(dir);
    expect(after).toHaveLength(2);
    expect(after).not.toContain(bankBefore);
    expect(after.filter((f) => f.startsWith('bank-eu.'))).toHaveLength(1);
  });

  it('a damaged graph file is rebuilt, never trusted', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'railgate-graphs-'));
    const vectors = seededVectors(300, 16, 5);
    await buildIndex('bank', vectors, 16, options(dir));
    const [file] = await graphFiles(dir);
    await writeFile(path.join(dir, file!), 'not a graph');

    const index = await buildIndex('bank', vectors, 16, options(dir));
    expect(index.fromDisk).toBe(false);
    expect(index.search(vectors[42]!, 1)[0]!.id).toBe(42);
    expect((await stat(path.join(dir, file!))).size).toBeGreaterThan(300 * 16 * 4);
  });
});
