/**
 * Reading the evaluation data sets. They live outside the repository, in `../shared/datasets/`
 * relative to the repository root, and are never copied in: the scripts only read them.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCsv } from '../../src/authoring/csv.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DATASETS_DIR = path.resolve(REPO_ROOT, '../shared/datasets');

/** A data set's CSV, read with the project's own CSV reader, as rows keyed by the header's names. */
export async function readCsv(...parts: string[]): Promise<Record<string, string>[]> {
  const [header, ...rows] = parseCsv(await readFile(path.join(DATASETS_DIR, ...parts), 'utf8'));
  if (!header) return [];
  return rows.map((row) => Object.fromEntries(header.fields.map((name, i) => [name, row.fields[i] ?? ''])));
}

/** mulberry32: a small seeded PRNG, so every split is the same on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Fisher–Yates on a copy. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
