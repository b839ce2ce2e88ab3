/**
 * How well an HNSW graph finds a rail set's true nearest examples, measured on the set's own vectors
 * when the graph is built: a graph whose recall is below `index.minRecall` at the configured search
 * breadth gets a wider one, and a set whose vectors no affordable breadth serves (vectors spread
 * evenly in many dimensions defeat any graph) is searched exactly instead of approximately.
 */
import { normalizeInPlace } from '../embedding/embedder.js';
import { DEFAULT_EF_SEARCH, DEFAULT_M, DEFAULT_MIN_RECALL, type IndexOptions } from './vector-index.js';

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
 * Queries for the check: for evenly spread examples (the same every time), the normalised midpoint of
 * the example and one of its near neighbours, found through the graph. Like a real message, such a
 * query lies among examples without being one (an example itself would flatter the graph, which links
 * each vector to its neighbours); its other true neighbours are wherever the data puts them.
 */
function sampleQueries(graph: TunableIndex, vectors: readonly Float32Array[], efSearch: number): Float32Array[] {
  const size = vectors.length;
  const count = Math.min(RECALL_SAMPLE, size);
  graph.setEfSearch(Math.max(efSearch, 64));
  return Array.from({ length: count }, (_, i) => {
    const id = Math.floor((i * size) / count);
    const a = vectors[id]!;
    const near = graph.search(a, RECALL_K + 1).filter((hit) => hit.id !== id);
    const b = vectors[near.at(-1)?.id ?? id]!;
    return normalizeInPlace(a.map((x, d) => x + b[d]!));
  });
}

/** The `k` vectors most similar to `query`, by a plain scan: their ids, and the k-th best score. */
function exactNeighbours(
  vectors: readonly Float32Array[],
  query: Float32Array,
  k: number,
): { ids: Set<number>; kth: number } {
  const best: { id: number; score: number }[] = [];
  for (let id = 0; id < vectors.length; id++) {
    const v = vectors[id]!;
    let score = 0;
    for (let d = 0; d < query.length; d++) score += query[d]! * v[d]!;
    if (best.length === k && score <= best[k - 1]!.score) continue;
    let at = best.length < k ? best.length : k - 1;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { id, score });
    if (best.length > k) best.pop();
  }
  return { ids: new Set(best.map((hit) => hit.id)), kth: best.at(-1)!.score };
}

/** Scores equal to the k-th best up to float rounding (the graph computes them in another order). */
const TIE = 1e-5;

/**
 * The narrowest breadth, from `efSearch` doubling up to `maxEfSearch`, at which the graph finds at
 * least `minRecall` of the true 10 nearest neighbours of the sample queries. Leaves the graph
 * searching at the breadth it returns.
 */
export function tuneSearchBreadth(
  graph: TunableIndex,
  vectors: readonly Float32Array[],
  breadth: { readonly efSearch: number; readonly maxEfSearch: number; readonly minRecall: number },
): RecallVerdict {
  const { efSearch, maxEfSearch, minRecall } = breadth;
  const k = Math.min(RECALL_K, vectors.length);
  if (k === 0) return { efSearch, recall: 1 };
  const queries = sampleQueries(graph, vectors, efSearch);
  const truths = queries.map((query) => exactNeighbours(vectors, query, k));
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
 * The recall check of a graph built with `options` over `vectors`, searching at most as wide as
 * still beats the exact scan; undefined when `minRecall` is 0 (no check).
 */
export function checkGraph(
  graph: TunableIndex,
  vectors: readonly Float32Array[],
  options: IndexOptions,
): RecallVerdict | undefined {
  const check = recallCheckOf(options);
  if (check.minRecall <= 0) return undefined;
  const widest = affordableEfSearch(vectors.length, options.m ?? DEFAULT_M, check.efSearch, check.maxEfSearch);
  return tuneSearchBreadth(graph, vectors, { ...check, maxEfSearch: widest });
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
