import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExactIndex, HnswIndex, type VectorIndex } from '../../src/matching/vector-index.js';
import { buildIndex } from '../../src/matching/index-store.js';
import { normalizeInPlace } from '../../src/embedding/embedder.js';

function seededVectors(count: number, dim: number, seed = 1): Float32Array[] {
  // xorshift32 (an LCG computed in doubles, as this once was, lost precision and repeated vectors).
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
  return Array.from({ length: count }, () => normalizeInPlace(Float32Array.from({ length: dim }, random)));
}

/** The k most similar vectors by a plain JavaScript scan: what an exact index must answer. */
function scanned(vectors: readonly Float32Array[], query: Float32Array, k: number) {
  const dot = (v: Float32Array) => v.reduce((sum, x, i) => sum + x * query[i]!, 0);
  return vectors
    .map((v, id) => ({ id, score: dot(v) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

/** The graph files (and, with `all`, the recall verdicts beside them) in a graph folder, sorted. */
const graphFiles = async (graphDir: string, all = false) =>
  (await readdir(graphDir)).filter((f) => all || f.endsWith('.hnsw')).sort();

describe('vector index', () => {
  it('exact search returns the k most similar vectors, best first, with cosine scores', async () => {
    const vectors = seededVectors(500, 32);
    const index = await ExactIndex.create(vectors, 32);
    const hits = index.search(vectors[17]!, 5);
    expect(hits).toHaveLength(5);
    expect(hits[0]).toEqual({ id: 17, score: expect.closeTo(1, 5) });
    for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
  });

  it('exact search answers as a plain scan does, also where no temporary file can be written', async () => {
    // A large exact index is filled from a temporary file in hnswlib's layout (scan-file.ts); where
    // the temporary folder cannot be written, vector by vector: the same answers either way.
    const vectors = seededVectors(1_000, 64, 3);
    const fromFile = await ExactIndex.create(vectors, 64);
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = path.join(tmpdir(), 'railgate-no-such-folder', 'deeper');
    const byVector = await ExactIndex.create(vectors, 64).finally(() => {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
    });
    for (const query of seededVectors(20, 64, 4)) {
      const truth = scanned(vectors, query, 10);
      for (const index of [fromFile, byVector]) {
        const hits = index.search(query, 10);
        expect(hits.map((h) => h.id)).toEqual(truth.map((h) => h.id));
        hits.forEach((hit, i) => expect(hit.score).toBeCloseTo(truth[i]!.score, 5));
      }
    }
  });

  it('refuses a vector of another dimension rather than reading its neighbour into it', async () => {
    const vectors = seededVectors(300, 64, 5);
    const shared = new Float32Array(300 * 64);
    vectors.forEach((v, i) => shared.set(v, i * 64));
    // A view one value short: the file's layout would take its missing value from the next vector.
    const views = vectors.map((_, i) => shared.subarray(i * 64, i * 64 + (i === 10 ? 63 : 64)));
    await expect(ExactIndex.create(views, 64)).rejects.toThrow();
  });

  it('hnsw agrees with exact search (recall@10 ≥ 0.99) and reports the same similarities', async () => {
    const vectors = seededVectors(3_000, 48, 7);
    const queries = seededVectors(100, 48, 99);
    const exact = await ExactIndex.create(vectors, 48);
    const hnsw = await HnswIndex.create(vectors, 48, { efSearch: 128 });
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
    expect((await ExactIndex.create([], 8)).search(vectors[0]!, 3)).toEqual([]);
  });
});

describe('building an index while the proxy serves', () => {
  it('lets timers and requests run between slices of the build, exact or graph', async () => {
    // A hot reload builds a changed set's index in the proxy's process: 10,000 vectors take about a
    // second to add to hnswlib, a graph of 100,000 minutes. A timer due now must not wait for that.
    const vectors = seededVectors(4_000, 512, 5);
    for (const options of [{}, { exactBelow: 1_000, efConstruction: 32 }]) {
      const order: string[] = [];
      const timer = new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('timer')), 1));
      const built = buildIndex('s', vectors, 512, options).then((index) => order.push(`built ${index.kind}`));
      await Promise.all([timer, built]);
      expect(order[0]).toBe('timer');
      expect(order[1]).toMatch(/^built (exact|hnsw)$/);
    }
  });
});

describe('stored HNSW graphs', () => {
  let dir: string | undefined;
  afterEach(() => dir && rm(dir, { recursive: true, force: true }));

  const options = (graphDir: string) => ({ exactBelow: 100, graphDir });

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

describe("an HNSW graph's recall check", () => {
  let dir: string | undefined;
  afterEach(() => dir && rm(dir, { recursive: true, force: true }));

  /** Recall@10 of `index` against the exact scan, on queries it was not checked with. */
  async function recallOn(index: VectorIndex, vectors: Float32Array[], dim: number): Promise<number> {
    const exact = await ExactIndex.create(vectors, dim);
    const queries = seededVectors(100, dim, 1234);
    let found = 0;
    for (const q of queries) {
      const truth = new Set(exact.search(q, 10).map((h) => h.id));
      found += index.search(q, 10).filter((h) => truth.has(h.id)).length;
    }
    return found / (queries.length * 10);
  }

  it('widens a search too narrow to find the true neighbours until recall@10 reaches minRecall', async () => {
    const vectors = seededVectors(3_000, 16, 7);
    const narrow = { exactBelow: 100, m: 8, efSearch: 1 };
    // Unchecked, the narrow search misses many true neighbours.
    expect(await recallOn(await buildIndex('s', vectors, 16, { ...narrow, minRecall: 0 }), vectors, 16)).toBeLessThan(
      0.9,
    );

    const index = await buildIndex('s', vectors, 16, narrow);
    expect(index.kind).toBe('hnsw');
    expect(index.hnswCheck).toEqual({ efSearch: expect.any(Number), recall: expect.any(Number) });
    expect(index.hnswCheck!.efSearch).toBeGreaterThan(1);
    expect(index.hnswCheck!.recall).toBeGreaterThanOrEqual(0.99);
    expect(await recallOn(index, vectors, 16)).toBeGreaterThanOrEqual(0.97);
  });

  it('is measured with queries the graph has not seen: a graph that finds too few of their neighbours is not served', async () => {
    // 10,000 evenly spread 48-d vectors: at breadth 64 the graph finds ~92% of a new query's true
    // neighbours, 96% at 104 (the widest that still costs less than the exact scan). Checked with
    // queries between vectors already in the graph, it found 99.8% at 64, and was served there.
    const vectors = seededVectors(10_000, 48, 7);
    const index = await buildIndex('s', vectors, 48, { exactBelow: 100 });
    expect(await recallOn(index, vectors, 48)).toBeGreaterThanOrEqual(0.99);
    expect(index.kind).toBe('exact');
    expect(index.hnswCheck!.recall).toBeLessThan(0.99);
  });

  it('sets aside a graph no allowed breadth makes good enough: the set is searched exactly', async () => {
    const vectors = seededVectors(3_000, 48, 8);
    const poor = { exactBelow: 100, m: 2, efConstruction: 4, efSearch: 2, maxEfSearch: 8 };
    const index = await buildIndex('s', vectors, 48, poor);
    expect(index.kind).toBe('exact');
    expect(index.hnswCheck!.efSearch).toBeNull();
    expect(index.hnswCheck!.recall).toBeLessThan(0.99);
    expect(await recallOn(index, vectors, 48)).toBe(1);
  });

  it('does not widen a search past what the exact scan costs: such a set is searched exactly', async () => {
    // 3,000 evenly spread 48-d vectors: searched 4 wide, the graph needs a search wider than
    // 3,000 / (6 × 16) = 31 candidates for recall 0.99, which would cost more than comparing with all.
    const vectors = seededVectors(3_000, 48, 7);
    const index = await buildIndex('s', vectors, 48, { exactBelow: 100, efSearch: 4 });
    expect(index.kind).toBe('exact');
    expect(index.hnswCheck).toEqual({ efSearch: null, recall: expect.any(Number) });
    // Told to search that wide, the graph gets there (the configured breadth is the operator's call).
    const costly = await buildIndex('s', vectors, 48, { exactBelow: 100, efSearch: 1_024 });
    expect(costly.kind).toBe('hnsw');
  });

  it('counts a duplicate of a true neighbour as found: a set whose vectors repeat keeps its graph', async () => {
    // The same example in two intents, or texts that embed alike: which copy the graph finds does not matter.
    const once = seededVectors(1_000, 16, 21);
    const index = await buildIndex('s', [...once, ...once, ...once], 16, { exactBelow: 100 });
    expect(index).toMatchObject({ kind: 'hnsw', hnswCheck: { efSearch: 64 } });
    expect(index.hnswCheck!.recall).toBeGreaterThanOrEqual(0.99);
  });

  it('is measured once: a restart reuses the stored verdict, and does not even read a set-aside graph', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'railgate-graphs-'));
    const vectors = seededVectors(2_000, 32, 9);
    const poor = { exactBelow: 100, m: 2, efConstruction: 4, efSearch: 2, maxEfSearch: 8, graphDir: dir };
    const first = await buildIndex('bank', vectors, 32, poor);
    expect(first.kind).toBe('exact');
    expect(await graphFiles(dir, true)).toEqual([
      expect.stringMatching(/^bank\.[0-9a-f]{32}\.hnsw$/),
      expect.stringMatching(/^bank\.[0-9a-f]{32}\.recall$/),
    ]);
    const graphFile = path.join(dir, (await graphFiles(dir))[0]!);
    await writeFile(graphFile, 'not a graph');

    const second = await buildIndex('bank', vectors, 32, poor);
    expect(second.kind).toBe('exact');
    expect(second.hnswCheck).toEqual(first.hnswCheck);
    expect(await readFile(graphFile, 'utf8')).toBe('not a graph');

    // The verdict holds for the settings it was measured with only: without a check, the graph serves
    // (rebuilt, as its file is damaged).
    const unchecked = await buildIndex('bank', vectors, 32, { ...poor, minRecall: 0 });
    expect(unchecked).toMatchObject({ kind: 'hnsw', fromDisk: false, hnswCheck: undefined });
    expect((await readFile(graphFile)).length).toBeGreaterThan(2_000 * 32 * 4);
  });
});
