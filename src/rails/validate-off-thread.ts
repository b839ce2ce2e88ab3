/**
 * `validateRails` in a worker thread, for hot reloads. Reading a rail set is mostly its YAML parse,
 * one synchronous call per file: ~0.4 s for a 10,000-line file here, during which the proxy's event
 * loop, and every request and stream in flight, would wait. The sets come back as plain data and are
 * frozen again here, as `validateRails` leaves them.
 */
import { startWorkerModule } from '../worker-module.js';
import { deepFreeze } from '../deep-freeze.js';
import type { LoadOptions } from './merge.js';
import type { RailIssue, RailSet } from './types.js';

export interface Validated {
  readonly sets: RailSet[];
  readonly issues: RailIssue[];
}

export function validateRailsOffThread(root: string, options: LoadOptions = {}): Promise<Validated> {
  return new Promise((resolve, reject) => {
    const worker = startWorkerModule(import.meta.url, 'validate-worker', { root, options });
    // A shutdown does not wait for a reload's reading to finish.
    worker.unref();
    worker.once('message', ({ sets, issues }: Validated) => resolve({ sets: sets.map(deepFreeze), issues }));
    worker.once('error', reject);
    // Settled already when it answered; otherwise it died without a word (out of memory, terminated).
    worker.once('exit', (code) => reject(new Error(`the rails validation worker stopped (exit code ${code})`)));
  });
}
