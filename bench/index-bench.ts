/**
 * Index benchmark: build time (and, for hnsw, reading the stored graph back), search p50/p99 and recall@10 of the hnsw path against the exact scan,
 * at 1k / 10k / 100k random unit vectors of the bundled model's dimension (512).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normalizeInPlace } from '../src/embedding/embedder.js';
import { checkHeldOut, heldOutSample } from '../src/matching/index-recall.js';
import { DEFAULT_EF_SEARCH, ExactIndex, HnswIndex, type VectorIndex } from '../src/matching/vector-index.js';
import { benchRuns, fmt, median, percentile, seededRandom } from './stats.js';

const DIM = 512;
const QUERIES = 200;
/**
 * Wider searches measured on 100k uniform vectors, where the default breadth falls short; the widest
 * is the first where the hnsw path reaches recall 0.99 there (measured: 0.978 at 8,192).
 */
const WIDER_EF = [512, 2_048, 8_192, 16_384];

export type Distribution = 'uniform' | 'clustered';

/**
 * `uniform`: random directions on the sphere (the protocol; the hardest case for any graph
 * index, since in 512 dims all points are almost equally far apart). `clustered`: points around 1,000
 * random centres, closer to how sentence embeddings of rail examples are spread.
 */
function randomUnitVectors(count: number, seed: number, distribution: Distribution = 'uniform'): Float32Array[] {
  const random = seededRandom(seed);
  // Sum of uniforms ≈ gaussian.
  const gaussian = () => random() + random() + random() - 1.5;
  if (distribution === 'uniform') {
    return Array.from({ length: count }, () => normalizeInPlace(Float32Array.from({ length: DIM }, gaussian)));
  }
  const centreRandom = seededRandom(12_345);
  const centres = Array.from({ length: 1_000 }, () =>
    normalizeInPlace(Float32Array.from({ length: DIM }, () => centreRandom() + centreRandom() + centreRandom() - 1.5)),
  );
  return Array.from({ length: count }, () => {
    const centre = centres[Math.floor(random() * centres.length)]!;
    return normalizeInPlace(Float32Array.from(centre, (c) => c + 0.04 * gaussian()));
  });
}

/** Timed passes over the queries; p50 and p99 are the medians of the passes' (as the other figures are). */
const PASSES = benchRuns();

function timeSearches(
  index: VectorIndex,
  queries: readonly Float32Array[],
): { p50: number; p99: number; hits: number[][] } {
  const hits: number[][] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  // One untimed pass first: the timed ones then measure searching, not first-touch page faults and JIT.
  for (const q of queries) index.search(q, 10);
  for (let pass = 0; pass < PASSES; pass++) {
    const times: number[] = [];
    for (const q of queries) {
      const start = performance.now();
      const result = index.search(q, 10);
      times.push(performance.now() - start);
      if (pass === 0) hits.push(result.map((h) => h.id));
    }
    p50s.push(percentile(times, 50));
    p99s.push(percentile(times, 99));
  }
  return { p50: median(p50s), p99: median(p99s), hits };
}

export interface IndexRow {
  distribution: Distribution;
  size: number;
  /** `served`: what railgate searches with after the graph's recall check (index-recall.ts). */
  kind: 'exact' | 'hnsw' | 'served';
  /** served: the index the check chose. */
  served?: 'exact' | 'hnsw';
  buildMs: number;
  /** served: the recall check's own time (once per set and settings; stored beside the graph). */
  checkMs?: number;
  /** hnsw: reading the stored graph back (what a restart with unchanged examples costs instead). */
  readMs?: number;
  /** hnsw: the search breadth (`index.efSearch`). */
  efSearch?: number;
  p50: number;
  p99: number;
  recall: number;
}

export async function runIndexBench(
  sizes = [1_000, 10_000, 100_000],
  distribution: Distribution = 'uniform',
  efSearch?: number,
): Promise<IndexRow[]> {
  const rows: IndexRow[] = [];
  const queries = randomUnitVectors(QUERIES, 4242, distribution);
  for (const size of sizes) {
    const vectors = randomUnitVectors(size, size, distribution);
    let start = performance.now();
    const exact = await ExactIndex.create(vectors, DIM);
    const exactBuild = performance.now() - start;
    const exactRun = timeSearches(exact, queries);
    rows.push({
      distribution,
      size,
      kind: 'exact',
      buildMs: exactBuild,
      p50: exactRun.p50,
      p99: exactRun.p99,
      recall: 1,
    });
    // Built as railgate builds it: the recall check's held-out vectors go in after the check.
    const options = efSearch ? { efSearch } : {};
    const heldOut = heldOutSample(size);
    start = performance.now();
    const hnsw = await HnswIndex.create(vectors, DIM, options, new Set(heldOut));
    let hnswBuild = performance.now() - start;
    start = performance.now();
    const verdict = await checkHeldOut(hnsw, vectors, heldOut, options);
    const checkMs = performance.now() - start;
    start = performance.now();
    await hnsw.add(vectors, heldOut);
    hnswBuild += performance.now() - start;
    const graphFile = path.join(await mkdtemp(path.join(tmpdir(), 'railgate-bench-')), 'graph.hnsw');
    await hnsw.write(graphFile);
    start = performance.now();
    await HnswIndex.read(graphFile, size, DIM);
    const hnswRead = performance.now() - start;
    const recallOf = (hits: number[][]) =>
      hits.reduce((found, ids, i) => found + ids.filter((id) => exactRun.hits[i]!.includes(id)).length, 0) /
      (QUERIES * 10);
    const ef = efSearch ?? DEFAULT_EF_SEARCH;
    hnsw.setEfSearch(ef);
    const hnswRun = timeSearches(hnsw, queries);
    rows.push({
      distribution,
      size,
      kind: 'hnsw',
      buildMs: hnswBuild,
      readMs: hnswRead,
      efSearch: ef,
      p50: hnswRun.p50,
      p99: hnswRun.p99,
      recall: recallOf(hnswRun.hits),
    });
    // What railgate serves: the recall check widens the search, or sets the graph aside.
    if (verdict.efSearch !== null) hnsw.setEfSearch(verdict.efSearch);
    const servedRun = verdict.efSearch === null ? exactRun : timeSearches(hnsw, queries);
    rows.push({
      distribution,
      size,
      kind: 'served',
      served: verdict.efSearch === null ? 'exact' : 'hnsw',
      buildMs: verdict.efSearch === null ? exactBuild : hnswBuild,
      checkMs,
      ...(verdict.efSearch === null ? {} : { efSearch: verdict.efSearch }),
      p50: servedRun.p50,
      p99: servedRun.p99,
      recall: recallOf(servedRun.hits),
    });
    // Where the default breadth falls short of recall 0.99 (uniform vectors), what a wider search
    // reaches, and what it costs next to the exact scan.
    if (distribution === 'uniform' && size >= 100_000 && efSearch === undefined) {
      for (const wider of WIDER_EF) {
        const graph = (await HnswIndex.read(graphFile, size, DIM, { efSearch: wider }))!;
        const { p50, p99, hits } = timeSearches(graph, queries);
        rows.push({
          distribution,
          size,
          kind: 'hnsw',
          buildMs: hnswBuild,
          efSearch: wider,
          p50,
          p99,
          recall: recallOf(hits),
        });
      }
    }
    await rm(path.dirname(graphFile), { recursive: true, force: true });
    process.stderr.write(`index ${distribution} ${size}: done\n`);
  }
  return rows;
}

export function indexTable(rows: readonly IndexRow[]): string {
  const lines = [
    '| vectors | examples | index | efSearch | build (ms) | read stored (ms) | recall check (ms) | search p50 (ms) | search p99 (ms) | recall@10 |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const kind = (r: IndexRow) => (r.kind === 'served' ? `**served: ${r.served}**` : r.kind);
  const ms = (value: number | undefined) => (value === undefined ? '—' : fmt(value, 0));
  for (const r of rows)
    lines.push(
      `| ${r.distribution} | ${r.size} | ${kind(r)} | ${r.efSearch ?? (r.kind === 'hnsw' ? DEFAULT_EF_SEARCH : '—')} | ${fmt(r.buildMs, 0)} | ${ms(r.readMs)} | ${ms(r.checkMs)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.recall, 3)} |`,
    );
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const distribution = process.argv.includes('clustered') ? 'clustered' : 'uniform';
  const sizes = process.argv.slice(2).map(Number).filter(Boolean);
  console.log(indexTable(await runIndexBench(sizes.length ? sizes : undefined, distribution)));
}
