/**
 * hnswlib's exact scan filled in one native read instead of vector by vector. `addPoint` takes a
 * JavaScript array and reads it element by element through N-API: ~110 µs per 512-d vector, 1.1 s of
 * the event loop for a 10,000-example rail set at every start and reload. `readIndex` copies a file
 * in, off the event loop; so the vectors are written, in the layout hnswlib's BruteforceSearch saves
 * (bruteforce.h, `saveIndex`), to a temporary file that is read back and removed (~20 ms for 10,000).
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import { dot } from '../embedding/embedder.js';

/**
 * hnswlib's `size_t`: its counts and labels, written 64-bit little-endian as on x64 and arm64;
 * elsewhere the read-back check fails and the scan is filled vector by vector.
 */
const SIZE_T = 8;
/** Vectors per write: ~2 MB at 512 dims. */
const VECTORS_PER_WRITE = 1024;

/**
 * The layout: capacity, bytes per vector and count (each a size_t), then each vector's float32 values
 * followed by its label (a size_t; here its position in `vectors`).
 */
async function writeScanFile(file: string, vectors: readonly Float32Array[], dimension: number): Promise<void> {
  const perVector = dimension * 4 + SIZE_T;
  // A short vector would take the next one's values (vector by vector, hnswlib refuses it).
  if (vectors.some((vector) => vector.length !== dimension)) throw new RangeError('a vector of another dimension');
  const handle = await open(file, 'w');
  // One write may take less than it is given: hnswlib would read what is missing as garbage.
  const writeAll = async (bytes: Buffer) => {
    for (let at = 0; at < bytes.length;) at += (await handle.write(bytes, at)).bytesWritten;
  };
  try {
    const header = Buffer.alloc(3 * SIZE_T);
    header.writeBigUInt64LE(BigInt(vectors.length), 0);
    header.writeBigUInt64LE(BigInt(perVector), SIZE_T);
    header.writeBigUInt64LE(BigInt(vectors.length), 2 * SIZE_T);
    await writeAll(header);
    for (let from = 0; from < vectors.length; from += VECTORS_PER_WRITE) {
      const batch = vectors.slice(from, from + VECTORS_PER_WRITE);
      const bytes = Buffer.alloc(batch.length * perVector);
      batch.forEach((vector, i) => {
        bytes.set(new Uint8Array(vector.buffer, vector.byteOffset, dimension * 4), i * perVector);
        bytes.writeBigUInt64LE(BigInt(from + i), i * perVector + dimension * 4);
      });
      await writeAll(bytes);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Whether the scan holds exactly `vectors`, each under its own position: a few of them are searched
 * for, and each must come back with its own similarity, under a label whose vector gives that
 * similarity (a duplicate may answer for it). A layout hnswlib read otherwise fails this.
 */
function holds(scan: hnswlib.BruteforceSearch, vectors: readonly Float32Array[]): boolean {
  if (scan.getCurrentCount() !== vectors.length) return false;
  const probes = [0, vectors.length >> 1, vectors.length - 1];
  return probes.every((p) => {
    const query = vectors[p]!;
    const { neighbors, distances } = scan.searchKnn(Array.from(query), 1);
    const [id, distance] = [neighbors[0], distances[0]];
    if (id === undefined || distance === undefined || !(id >= 0 && id < vectors.length)) return false;
    const self = dot(query, query);
    const tolerance = 1e-4 * Math.max(1, Math.abs(self));
    return Math.abs(1 - distance - self) < tolerance && Math.abs(dot(vectors[id]!, query) - self) < tolerance;
  });
}

/**
 * An 'ip' exact scan holding `vectors` (labels 0 … n − 1), read from a temporary file; undefined when
 * that cannot be done here (no writable temporary folder, a layout this hnswlib does not read): the
 * caller then adds the vectors one by one. The file is as large as the vectors (~200 MB for
 * 100,000 of 512 dims) for as long as it is read. hnswlib keeps no label map for a scan it reads:
 * search it, never remove or replace points in it.
 */
export async function scanFromFile(
  vectors: readonly Float32Array[],
  dimension: number,
): Promise<hnswlib.BruteforceSearch | undefined> {
  let dir: string | undefined;
  try {
    dir = await mkdtemp(path.join(tmpdir(), 'railgate-scan-'));
    const file = path.join(dir, 'scan.bin');
    await writeScanFile(file, vectors, dimension);
    const scan = new hnswlib.BruteforceSearch('ip', dimension);
    if (!(await scan.readIndex(file))) return undefined;
    return holds(scan, vectors) ? scan : undefined;
  } catch {
    return undefined;
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
