/**
 * Files that keep what a rail set compiles to (HNSW graphs, fitted classifiers) across restarts: one
 * per set and kind, named `<set>.<hash>.<kind>` where the hash covers everything the content depends
 * on, so a file is only ever read for the inputs it was made from.
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
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

/** `<set>.<hash>.<kind>`, and `<set>.<hash>.<kind>.<pid>.partial` while a process writes it. */
const STORED = /^(.+)\.[0-9a-f]{32}\.[a-z]+(?:\.(\d+)\.partial)?$/;

/**
 * A partial file is left over when its process is not running and it was last written this long ago:
 * a process id says nothing of a proxy in another container sharing the folder, and no graph takes
 * this long to write.
 */
const PARTIAL_ABANDONED_MS = 60 * 60 * 1000;

/**
 * Files under `dir` that no set in `names` will read: those of sets removed or renamed, and partial
 * writes left over by processes that ended. Files of another shape are not railgate's and are left.
 */
export async function staleStoredFiles(dir: string, names: readonly string[], now = Date.now()): Promise<string[]> {
  const kept = new Set(names.map(fileSafe));
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const stale = await Promise.all(
    files.map(async (file) => {
      const shape = STORED.exec(file);
      if (!shape) return false;
      const [, set, pid] = shape;
      if (!kept.has(set!)) return true;
      if (pid === undefined || isRunning(Number(pid))) return false;
      const written = await stat(path.join(dir, file)).then(
        (s) => s.mtimeMs,
        () => now,
      );
      return now - written > PARTIAL_ABANDONED_MS;
    }),
  );
  return files
    .filter((_, i) => stale[i])
    .sort()
    .map((file) => path.join(dir, file));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: running, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
