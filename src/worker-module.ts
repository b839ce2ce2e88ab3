/**
 * Starting one of railgate's own modules in a worker thread, from the compiled output or, when
 * running from the TypeScript sources (vitest, tsx), from those.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A worker running `entry`, a module beside `base` (the caller's `import.meta.url`): the compiled
 * .js in production; from the sources, a tiny bootstrap that registers tsx's loader inside the worker
 * first.
 */
export function startWorkerModule(base: string, entry: string, workerData?: unknown): Worker {
  const js = new URL(`./${entry}.js`, base);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const ts = new URL(`./${entry}.ts`, base).href;
  // tsx is found from this file, not from the working directory (a process may run from anywhere);
  // under vitest, which has no import.meta.resolve, the working directory is the repository.
  const tsx = typeof import.meta.resolve === 'function' ? import.meta.resolve('tsx/esm/api') : 'tsx/esm/api';
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
