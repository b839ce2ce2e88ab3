/**
 * Chooses a rail set's index (exact scan or HNSW graph) and keeps HNSW graphs on disk, so that a
 * restart or a reload of a large rail set whose examples did not change reads its graph (seconds)
 * instead of rebuilding it (minutes at 100,000 examples).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
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

/**
 * Exact search below `exactBelow` vectors; above, an HNSW graph, read from `graphDir` when a file
 * for these very vectors is there, otherwise built and then written there (replacing the set's
 * older graph files). A damaged or unreadable file is rebuilt, never trusted.
 */
export async function buildIndex(
  name: string,
  vectors: readonly Float32Array[],
  dimension: number,
  options: IndexOptions = {},
): Promise<VectorIndex> {
  if (vectors.length < (options.exactBelow ?? DEFAULT_EXACT_BELOW)) return new ExactIndex(vectors, dimension);
  if (!options.graphDir) return HnswIndex.build(vectors, dimension, options);

  const hash = graphHash(vectors, options);
  const file = path.join(options.graphDir, storedFileName(name, hash, 'hnsw'));
  const stored = await HnswIndex.read(file, vectors.length, dimension, options);
  if (stored) return stored;

  const built = HnswIndex.build(vectors, dimension, options);
  await replaceStoredFile(options.graphDir, name, hash, 'hnsw', (partial) => built.write(partial));
  return built;
}
