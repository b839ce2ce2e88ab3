/**
 * Files that keep what a rail set compiles to (HNSW graphs, fitted classifiers) across restarts: one
 * per set and kind, named `<set>.<hash>.<kind>` where the hash covers everything the content depends
 * on, so a file is only ever read for the inputs it was made from.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function storedFileName(name: string, hash: string, kind: string): string {
  return `${fileSafe(name)}.${hash}.${kind}`;
}

/**
 * Writes `file` through `write` under a temporary name, then renames it, so a crash mid-write never
 * leaves a truncated file under the real name; then removes the set's older files of that kind.
 */
export async function replaceStoredFile(
  dir: string,
  name: string,
  hash: string,
  kind: string,
  write: (partial: string) => Promise<void>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const fileName = storedFileName(name, hash, kind);
  const partial = path.join(dir, `${fileName}.${process.pid}.partial`);
  await write(partial);
  await rename(partial, path.join(dir, fileName));
  const prefix = `${fileSafe(name)}.`;
  const older = new RegExp(`^[0-9a-f]{32}\\.${kind}$`);
  const files = await readdir(dir);
  await Promise.all(
    files
      .filter((f) => f !== fileName && f.startsWith(prefix) && older.test(f.slice(prefix.length)))
      .map((f) => rm(path.join(dir, f), { force: true })),
  );
}
