/**
 * Nearest-neighbour search over unit vectors by cosine similarity: an exact native scan for rail sets
 * up to tens of thousands of examples (always exact, nothing to build), hnswlib's HNSW graph above.
 */
import hnswlib from 'hnswlib-node';
import type { RecallVerdict } from './index-recall.js';
import { scanFromFile } from './scan-file.js';
import { inSlices } from '../in-slices.js';

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
  /** True when the index was read from a stored file rather than built at load. */
  readonly fromDisk: boolean;
  /**
   * The HNSW graph's recall check (index-recall.ts), where one was built: the breadth it searches
   * with and its measured recall@10; on an exact index, why the graph was not used.
   */
  readonly hnswCheck?: RecallVerdict | undefined;
  /** The k most similar vectors, best first. */
  search(query: Float32Array, k: number): SearchHit[];
}

export interface IndexOptions {
  /** Use the exact scan below this many vectors. */
  readonly exactBelow?: number;
  /** HNSW graph degree and build/search breadth. */
  readonly m?: number;
  /**
   * Recall@10 an HNSW graph must reach on the set's own vectors (0: no check), searching at most
   * `maxEfSearch` wide; a graph that cannot is set aside for the exact scan.
   */
  readonly minRecall?: number;
  readonly maxEfSearch?: number;
  readonly efConstruction?: number;
  readonly efSearch?: number;
  /**
   * Where HNSW graphs are kept across restarts (one file per rail set, named by a hash of its vectors
   * and the graph settings); without it every start rebuilds the graph.
   */
  readonly graphDir?: string;
}

/**
 * Below this many vectors the native exact scan is fast enough (about 1 ms per 10,000 at 512 dims on
 * one core) and needs no graph build at start-up; above it, HNSW.
 */
export const DEFAULT_EXACT_BELOW = 20_000;

/**
 * HNSW graph defaults: links per node, build breadth, and search breadth (`index.*` settings). The
 * search breadth is where the recall check (index-recall.ts) starts, widening as a set needs: 64 found
 * all true neighbours (recall@10 1.000) of fresh queries on 100,000 clustered vectors of three
 * spreads, at about two thirds of the time of 128 (BENCHMARKS.md, index section).
 */
export const DEFAULT_M = 16;
export const DEFAULT_EF_CONSTRUCTION = 200;
export const DEFAULT_EF_SEARCH = 64;
export const DEFAULT_MIN_RECALL = 0.99;

/**
 * hnswlib-node takes a query as a plain array: one per length, refilled for each search (searches are
 * synchronous), rather than a new one. A new 512-element array per search left more garbage to
 * collect in the search's tail: p99 over 100k clustered vectors 0.87-1.05 ms refilled against
 * 0.97-1.34 ms new, four runs each (p50 alike).
 */
const queryArrays = new Map<number, number[]>();

function asQueryArray(query: Float32Array): number[] {
  let array = queryArrays.get(query.length);
  if (!array) queryArrays.set(query.length, (array = new Array<number>(query.length).fill(0)));
  for (let i = 0; i < query.length; i++) array[i] = query[i]!;
  return array;
}

/** The k best hits of an hnswlib 'ip' index, best first, as cosine similarities. */
function searchInnerProduct(
  index: hnswlib.BruteforceSearch | hnswlib.HierarchicalNSW,
  size: number,
  query: Float32Array,
  k: number,
): SearchHit[] {
  const n = Math.min(k, size);
  if (n <= 0) return [];
  const { neighbors, distances } = index.searchKnn(asQueryArray(query), n);
  // 'ip' distance is 1 − dot product, i.e. 1 − cosine on unit vectors.
  return neighbors.map((id, i) => ({ id, score: 1 - distances[i]! })).sort((a, b) => b.score - a.score);
}

/**
 * From this many vectors on, an exact scan is filled from a file (scan-file.ts, ~20 ms for 10,000)
 * rather than vector by vector (~110 µs each).
 */
const FILL_FROM_FILE_FROM = 256;

/** Exact search: hnswlib's native brute-force scan (SIMD), about 9× faster than a JavaScript loop. */
export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  readonly fromDisk = false;

  private constructor(
    private readonly scan: hnswlib.BruteforceSearch,
    readonly size: number,
    readonly dimension: number,
    readonly hnswCheck?: RecallVerdict,
  ) {}

  /** Filled from a file, or else vector by vector in slices between which the event loop runs (inSlices). */
  static async create(
    vectors: readonly Float32Array[],
    dimension: number,
    hnswCheck?: RecallVerdict,
  ): Promise<ExactIndex> {
    const read = vectors.length >= FILL_FROM_FILE_FROM ? await scanFromFile(vectors, dimension) : undefined;
    if (read) return new ExactIndex(read, vectors.length, dimension, hnswCheck);
    const scan = new hnswlib.BruteforceSearch('ip', dimension);
    scan.initIndex(Math.max(1, vectors.length));
    await inSlices(vectors.length, (i) => scan.addPoint(Array.from(vectors[i]!), i));
    return new ExactIndex(scan, vectors.length, dimension, hnswCheck);
  }

  search(query: Float32Array, k: number): SearchHit[] {
    return searchInnerProduct(this.scan, this.size, query, k);
  }
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  #check: RecallVerdict | undefined;

  private constructor(
    private readonly graph: hnswlib.HierarchicalNSW,
    readonly size: number,
    readonly dimension: number,
    readonly fromDisk: boolean,
  ) {}

  /**
   * A graph with room for all `vectors`, holding all but those in `except` (the recall check's
   * held-out ones, index-recall.ts), which `add` puts in after; built in slices between which the
   * event loop runs (inSlices).
   */
  static async create(
    vectors: readonly Float32Array[],
    dimension: number,
    options: IndexOptions = {},
    except: ReadonlySet<number> = new Set(),
  ): Promise<HnswIndex> {
    // Inner product on unit vectors is cosine similarity, without hnswlib re-normalising every vector.
    const graph = new hnswlib.HierarchicalNSW('ip', dimension);
    graph.initIndex(
      Math.max(1, vectors.length),
      options.m ?? DEFAULT_M,
      options.efConstruction ?? DEFAULT_EF_CONSTRUCTION,
      42,
    );
    graph.setEf(options.efSearch ?? DEFAULT_EF_SEARCH);
    await inSlices(vectors.length, (i) => except.has(i) || graph.addPoint(Array.from(vectors[i]!), i));
    return new HnswIndex(graph, vectors.length, dimension, false);
  }

  /** Puts the vectors `create` left out into the graph, in slices. */
  async add(vectors: readonly Float32Array[], ids: readonly number[]): Promise<void> {
    await inSlices(ids.length, (i) => this.graph.addPoint(Array.from(vectors[ids[i]!]!), ids[i]!));
  }

  /**
   * A graph written by `write`, or undefined when the file is missing, unreadable or holds another
   * number of vectors than expected. Reading runs off the event loop.
   */
  static async read(
    file: string,
    size: number,
    dimension: number,
    options: IndexOptions = {},
  ): Promise<HnswIndex | undefined> {
    const graph = new hnswlib.HierarchicalNSW('ip', dimension);
    const ok = await graph.readIndex(file).catch(() => false);
    if (!ok || graph.getCurrentCount() !== size) return undefined;
    graph.setEf(options.efSearch ?? DEFAULT_EF_SEARCH);
    return new HnswIndex(graph, size, dimension, true);
  }

  get hnswCheck(): RecallVerdict | undefined {
    return this.#check;
  }

  /** How many candidates a search keeps (hnswlib's ef); wider finds more true neighbours, slower. */
  setEfSearch(ef: number): void {
    this.graph.setEf(ef);
  }

  /** Keeps the recall check's verdict and searches at the breadth it found. */
  checked(verdict: RecallVerdict): this {
    this.#check = verdict;
    if (verdict.efSearch !== null) this.setEfSearch(verdict.efSearch);
    return this;
  }

  /** Writes the graph (off the event loop) so a restart can `read` it instead of rebuilding. */
  async write(file: string): Promise<void> {
    if (!(await this.graph.writeIndex(file))) throw new Error(`could not write the HNSW graph to ${file}`);
  }

  search(query: Float32Array, k: number): SearchHit[] {
    return searchInnerProduct(this.graph, this.size, query, k);
  }
}
