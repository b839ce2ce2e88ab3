/**
 * Chooses a rail set's index (exact scan or HNSW graph) and keeps HNSW graphs on disk, so that a
 * restart or a reload of a large rail set whose examples did not change reads its graph (seconds)
 * instead of rebuilding it (minutes at 100,000 examples).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildCheckedGraph, recallCheckOf, type RecallCheck, type RecallVerdict } from './index-recall.js';
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

const CHECK_METHOD = 'held-out examples, ties count';

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
  return verdict.efSearch === null ? ExactIndex.create(vectors, dimension, verdict) : graph.checked(verdict);
}

/**
 * Exact search below `exactBelow` vectors; above, an HNSW graph, read from `graphDir` when a file
 * for these very vectors is there, otherwise built and then written there (replacing the set's
 * older graph files). A damaged or unreadable file is rebuilt, never trusted. A graph's recall on
 * the set's own vectors is checked as it is built (index-recall.ts) and the verdict kept beside the
 * graph: a graph that cannot reach `minRecall` is not used, the set is searched exactly. A stored
 * graph without a verdict for these check settings is rebuilt: a graph can only be checked fairly
 * while some of its vectors are still left out of it.
 */
export async function buildIndex(
  name: string,
  vectors: readonly Float32Array[],
  dimension: number,
  options: IndexOptions = {},
): Promise<VectorIndex> {
  if (vectors.length < (options.exactBelow ?? DEFAULT_EXACT_BELOW)) return ExactIndex.create(vectors, dimension);
  const checkedFor: CheckedFor = { method: CHECK_METHOD, ...recallCheckOf(options) };
  if (!options.graphDir) {
    const { graph, verdict } = await buildCheckedGraph(vectors, dimension, options);
    return settle(graph, vectors, dimension, verdict);
  }

  const hash = graphHash(vectors, options);
  const file = path.join(options.graphDir, storedFileName(name, hash, 'hnsw'));
  const verdictFile = path.join(options.graphDir, storedFileName(name, hash, 'recall'));
  const wantsCheck = checkedFor.minRecall > 0;
  const known = wantsCheck ? await readVerdict(verdictFile, checkedFor) : undefined;
  // A set no graph serves well is searched exactly: its stored graph is not even read.
  if (known?.efSearch === null) return ExactIndex.create(vectors, dimension, known);
  if (known || !wantsCheck) {
    const stored = await HnswIndex.read(file, vectors.length, dimension, options);
    if (stored) return settle(stored, vectors, dimension, known);
  }

  const { graph, verdict } = await buildCheckedGraph(vectors, dimension, options);
  await replaceStoredFile(options.graphDir, name, hash, 'hnsw', (partial) => graph.write(partial));
  if (verdict) {
    await replaceStoredFile(options.graphDir, name, hash, 'recall', (partial) =>
      writeFile(partial, JSON.stringify({ ...verdict, for: checkedFor } satisfies StoredVerdict)),
    );
  }
  return settle(graph, vectors, dimension, verdict);
}
