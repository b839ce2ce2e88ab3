/**
 * Chooses a rail set's index (exact scan or HNSW graph) and keeps HNSW graphs on disk, so that a
 * restart or a reload of a large rail set whose examples did not change reads its graph (seconds)
 * instead of rebuilding it (minutes at 100,000 examples).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkGraph, recallCheckOf, type RecallCheck, type RecallVerdict } from './index-recall.js';
import { replaceStoredFile, storedFileName } from './stored-files.js';
import { DEFAULT_EXACT_BELOW, ExactIndex, HnswIndex, type IndexOptions, type VectorIndex } from './vector-index.js';

/** Bump when the file layout or the way graphs are built changes, so old files are never read. */
const GRAPH_FORMAT = 'railgate-hnsw-1';

/** A hash of everything the graph depends on: every vector, in order, and the build settings. */
function graphHash(vectors: readonly Float32Array[], options: IndexOptions): string {
  const hash = createHash('sha256').update(
    JSON.stringify([GRAPH_FORMAT, vectors.length, vectors[0]?.length ?? 0, options.m, options.efConstruction]),
  );
  for (const v of vectors) hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return hash.digest('hex').slice(0, 32);
}

const CHECK_METHOD = 'near-midpoints, ties count';

/** The check's settings, stored with its verdict: a verdict is reused only for the same ones. */
interface CheckedFor extends RecallCheck {
  /** How the check measures (its queries, how it counts a hit): a verdict measured otherwise is redone. */
  readonly method: typeof CHECK_METHOD;
}

type StoredVerdict = RecallVerdict & { readonly for: CheckedFor };

async function readVerdict(file: string, wanted: CheckedFor): Promise<RecallVerdict | undefined> {
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as Partial<StoredVerdict>;
    const same =
      stored.for?.method === wanted.method &&
      stored.for.efSearch === wanted.efSearch &&
      stored.for.maxEfSearch === wanted.maxEfSearch &&
      stored.for.minRecall === wanted.minRecall;
    const ef = stored.efSearch;
    if (!same || typeof stored.recall !== 'number' || !(ef === null || typeof ef === 'number')) return undefined;
    return { efSearch: ef, recall: stored.recall };
  } catch {
    return undefined; // missing or damaged: measured again
  }
}

/** The graph, at the breadth its recall check chose, or the exact scan when no breadth served. */
function settle(graph: HnswIndex, vectors: readonly Float32Array[], dimension: number, verdict?: RecallVerdict) {
  if (!verdict) return graph;
  return verdict.efSearch === null ? new ExactIndex(vectors, dimension, verdict) : graph.checked(verdict);
}

/**
 * Exact search below `exactBelow` vectors; above, an HNSW graph, read from `graphDir` when a file
 * for these very vectors is there, otherwise built and then written there (replacing the set's
 * older graph files). A damaged or unreadable file is rebuilt, never trusted. A graph's recall on
 * the set's own vectors is checked once (index-recall.ts) and the verdict kept beside the graph: a
 * graph that cannot reach `minRecall` is not used, the set is searched exactly.
 */
export async function buildIndex(
  name: string,
  vectors: readonly Float32Array[],
  dimension: number,
  options: IndexOptions = {},
): Promise<VectorIndex> {
  if (vectors.length < (options.exactBelow ?? DEFAULT_EXACT_BELOW)) return new ExactIndex(vectors, dimension);
  const checkedFor: CheckedFor = { method: CHECK_METHOD, ...recallCheckOf(options) };
  const check = (graph: HnswIndex) => checkGraph(graph, vectors, options);
  if (!options.graphDir) {
    const graph = HnswIndex.build(vectors, dimension, options);
    return settle(graph, vectors, dimension, check(graph));
  }

  const hash = graphHash(vectors, options);
  const file = path.join(options.graphDir, storedFileName(name, hash, 'hnsw'));
  const verdictFile = path.join(options.graphDir, storedFileName(name, hash, 'recall'));
  const keepVerdict = (verdict: RecallVerdict) =>
    replaceStoredFile(options.graphDir!, name, hash, 'recall', (partial) =>
      writeFile(partial, JSON.stringify({ ...verdict, for: checkedFor } satisfies StoredVerdict)),
    );
  const known = checkedFor.minRecall > 0 ? await readVerdict(verdictFile, checkedFor) : undefined;
  // A set no graph serves well is searched exactly: its stored graph is not even read.
  if (known?.efSearch === null) return new ExactIndex(vectors, dimension, known);

  const stored = await HnswIndex.read(file, vectors.length, dimension, options);
  const graph = stored ?? HnswIndex.build(vectors, dimension, options);
  if (!stored) await replaceStoredFile(options.graphDir, name, hash, 'hnsw', (partial) => graph.write(partial));
  if (known) return settle(graph, vectors, dimension, known);
  const verdict = check(graph);
  if (verdict) await keepVerdict(verdict);
  return settle(graph, vectors, dimension, verdict);
}
