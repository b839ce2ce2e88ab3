/**
 * Chooses a rail set's index (exact scan or HNSW graph) and keeps HNSW graphs on disk, so that a
 * restart or a reload of a large rail set whose examples did not change reads its graph (seconds)
 * instead of rebuilding it (minutes at 100,000 examples).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_EXACT_BELOW, ExactIndex, HnswIndex, type IndexOptions, type VectorIndex } from './vector-index.js';

/** Bump when the file layout or the way graphs are built changes, so old files are never read. */
const GRAPH_FORMAT = 'railgate-hnsw-1';

/**
 * The graph file of a rail set: its name, then a hash of everything the graph depends on (every
 * vector, in order, and the build settings), so a file is only ever read for the vectors it was
 * built from.
 */
export function graphFileName(name: string, vectors: readonly Float32Array[], options: IndexOptions): string {
  const hash = createHash('sha256').update(
    JSON.stringify([GRAPH_FORMAT, vectors.length, vectors[0]?.length ?? 0, options.m, options.efConstruction]),
  );
  for (const v of vectors) hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return `${fileSafe(name)}.${hash.digest('hex').slice(0, 32)}.hnsw`;
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
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

  const fileName = graphFileName(name, vectors, options);
  const file = path.join(options.graphDir, fileName);
  const stored = await HnswIndex.read(file, vectors.length, dimension, options);
  if (stored) return stored;

  const built = HnswIndex.build(vectors, dimension, options);
  await mkdir(options.graphDir, { recursive: true });
  // Written aside and renamed, so a crash mid-write never leaves a truncated file under the real name.
  const partial = `${file}.${process.pid}.partial`;
  await built.write(partial);
  await rename(partial, file);
  await removeOlderGraphs(options.graphDir, name, fileName);
  return built;
}

async function removeOlderGraphs(dir: string, name: string, keep: string): Promise<void> {
  const prefix = `${fileSafe(name)}.`;
  const files = await readdir(dir);
  await Promise.all(
    files
      .filter((f) => f !== keep && f.startsWith(prefix) && /^[0-9a-f]{32}\.hnsw$/.test(f.slice(prefix.length)))
      .map((f) => rm(path.join(dir, f), { force: true })),
  );
}
