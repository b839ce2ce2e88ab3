/**
 * How well an HNSW graph finds a rail set's true nearest examples, measured on the set's own vectors
 * as the graph is built: a graph whose recall is below `index.minRecall` at the configured search
 * breadth gets a wider one, and a set whose vectors no affordable breadth serves (vectors spread
 * evenly in many dimensions defeat any graph) is searched exactly instead of approximately.
 */
import { dot } from '../embedding/embedder.js';
import { inSlices } from '../in-slices.js';
import { DEFAULT_EF_SEARCH, DEFAULT_M, DEFAULT_MIN_RECALL, HnswIndex, type IndexOptions } from './vector-index.js';

/** Queries the check runs: 50 × 10 neighbours resolve recall to about ±0.005 near 0.99. */
const RECALL_SAMPLE = 50;
const RECALL_K = 10;
/** The widest search breadth the check tries by default (`index.maxEfSearch`). */
export const DEFAULT_MAX_EF_SEARCH = 1_024;

/**
 * The widest breadth at which the graph still beats the exact scan. A search compares the query with
 * about 2·m neighbours of each of roughly 2·ef candidates it expands, in scattered memory (about 1.5×
 * the cost per vector of the scan's sequential reads): 6·m·ef vectors' worth, against the scan's
 * `size`. Measured here at 512 dims, m 16, 100,000 uniform vectors: the graph matches the scan near
 * ef 1,200; the estimate says 1,040. The configured `efSearch` is always allowed.
 */
function affordableEfSearch(size: number, m: number, efSearch: number, maxEfSearch: number): number {
  return Math.max(efSearch, Math.min(maxEfSearch, Math.floor(size / (6 * m))));
}

/** What the check needs of a graph: searching at a given breadth. */
export interface TunableIndex {
  setEfSearch(ef: number): void;
  search(query: Float32Array, k: number): readonly { id: number; score: number }[];
}

export interface RecallVerdict {
  /** The breadth that reached `minRecall`, or null when none up to `maxEfSearch` did. */
  readonly efSearch: number | null;
  /** Recall@10 at that breadth (or at the widest one tried). */
  readonly recall: number;
}

/**
 * The vectors the check holds out of the graph while it is built, to query it with: evenly spread
 * over the set (the same every time), at most half of it. A held-out example is to the graph what a
 * new message is: a point from the set's own distribution that no link leads to. Querying with
 * points already in the graph, or with midpoints of linked neighbours, flatters it: on 20,000 evenly
 * spread 32-d vectors, midpoints found 99% of their true neighbours at a breadth where new points
 * found 94%; held-out vectors found 93%.
 */
export function heldOutSample(size: number): number[] {
  const count = Math.min(RECALL_SAMPLE, Math.floor(size / 2));
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * size) / count));
}

/**
 * The `k` vectors most similar to `query` but those in `skip`, by a plain scan (in slices: at 100,000
 * vectors each query is some 50 million multiplications): their ids, and the k-th best score.
 */
async function exactNeighbours(
  vectors: readonly Float32Array[],
  skip: ReadonlySet<number>,
  query: Float32Array,
  k: number,
): Promise<{ ids: Set<number>; kth: number }> {
  const best: { id: number; score: number }[] = [];
  await inSlices(vectors.length, (id) => {
    if (skip.has(id)) return;
    const score = dot(query, vectors[id]!);
    if (best.length === k && score <= best[k - 1]!.score) return;
    let at = best.length < k ? best.length : k - 1;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { id, score });
    if (best.length > k) best.pop();
  });
  return { ids: new Set(best.map((hit) => hit.id)), kth: best.at(-1)!.score };
}

/** Scores equal to the k-th best up to float rounding (the graph computes them in another order). */
const TIE = 1e-5;

/**
 * The narrowest breadth, from `efSearch` doubling up to `maxEfSearch`, at which the graph finds at
 * least `minRecall` of the true 10 nearest neighbours of the `heldOut` vectors, which the graph must
 * not hold (heldOutSample). Leaves the graph searching at the breadth it returns.
 */
export async function tuneSearchBreadth(
  graph: TunableIndex,
  vectors: readonly Float32Array[],
  heldOut: readonly number[],
  breadth: { readonly efSearch: number; readonly maxEfSearch: number; readonly minRecall: number },
): Promise<RecallVerdict> {
  const { efSearch, maxEfSearch, minRecall } = breadth;
  const skip = new Set(heldOut);
  const k = Math.min(RECALL_K, vectors.length - skip.size);
  if (k <= 0 || heldOut.length === 0) return { efSearch, recall: 1 };
  const queries = heldOut.map((id) => vectors[id]!);
  const truths: { ids: Set<number>; kth: number }[] = [];
  for (const query of queries) truths.push(await exactNeighbours(vectors, skip, query, k));
  let ef = efSearch;
  for (;;) {
    graph.setEfSearch(ef);
    let found = 0;
    queries.forEach((query, i) => {
      // A hit counts when it is a true neighbour, or scores as high as one: among duplicate vectors
      // (the same example in two intents, texts that embed alike), which copy is found does not matter.
      const truth = truths[i]!;
      found += graph.search(query, k).filter((hit) => truth.ids.has(hit.id) || hit.score >= truth.kth - TIE).length;
    });
    const recall = found / (queries.length * k);
    if (recall >= minRecall) return { efSearch: ef, recall };
    if (ef >= maxEfSearch) return { efSearch: null, recall };
    ef = Math.min(maxEfSearch, ef * 2);
  }
}

/** The settings a graph's recall check runs with: an index's options, defaults filled in. */
export interface RecallCheck {
  readonly efSearch: number;
  readonly maxEfSearch: number;
  readonly minRecall: number;
}

export function recallCheckOf(options: IndexOptions): RecallCheck {
  return {
    efSearch: options.efSearch ?? DEFAULT_EF_SEARCH,
    maxEfSearch: options.maxEfSearch ?? DEFAULT_MAX_EF_SEARCH,
    minRecall: options.minRecall ?? DEFAULT_MIN_RECALL,
  };
}

/**
 * An HNSW graph over `vectors` and, unless `minRecall` is 0, its recall check: the graph is built
 * without the check's held-out vectors, checked with them as queries (searching at most as wide as
 * still beats the exact scan), and then given them, so the graph served holds every vector.
 */
export async function buildCheckedGraph(
  vectors: readonly Float32Array[],
  dimension: number,
  options: IndexOptions,
): Promise<{ graph: HnswIndex; verdict?: RecallVerdict }> {
  const check = recallCheckOf(options);
  if (check.minRecall <= 0) return { graph: await HnswIndex.create(vectors, dimension, options) };
  const heldOut = heldOutSample(vectors.length);
  const graph = await HnswIndex.create(vectors, dimension, options, new Set(heldOut));
  const verdict = await checkHeldOut(graph, vectors, heldOut, options);
  await graph.add(vectors, heldOut);
  return { graph, verdict };
}

/**
 * The recall check of a graph built with `options` over `vectors` but the `heldOut` ones, searching
 * at most as wide as still beats the exact scan.
 */
export async function checkHeldOut(
  graph: TunableIndex,
  vectors: readonly Float32Array[],
  heldOut: readonly number[],
  options: IndexOptions,
): Promise<RecallVerdict> {
  const check = recallCheckOf(options);
  const widest = affordableEfSearch(vectors.length, options.m ?? DEFAULT_M, check.efSearch, check.maxEfSearch);
  return tuneSearchBreadth(graph, vectors, heldOut, { ...check, maxEfSearch: widest });
}

/**
 * Warns of each rail set whose graph was set aside for the exact scan: it still answers right, but
 * every search scans all its vectors, which an operator sizing the machine needs to know.
 */
export function warnOfExactFallbacks(
  sets: readonly {
    readonly name: string;
    readonly index: { readonly vectors: number; readonly hnswCheck?: RecallVerdict | undefined };
  }[],
  log: { warn(fields: object, message: string): void },
): void {
  for (const set of sets) {
    const check = set.index.hnswCheck;
    if (!check || check.efSearch !== null) continue;
    log.warn(
      { railSet: set.name, hnswCheck: check },
      `rail set ${set.name}: its HNSW graph finds at most ${check.recall.toFixed(3)} of the true 10 nearest ` +
        `examples (searching as wide as still costs less than the exact scan, at most index.maxEfSearch), ` +
        `below index.minRecall; its ${set.index.vectors} ` +
        'vectors are searched exactly instead',
    );
  }
}
