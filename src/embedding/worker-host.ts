/**
 * Runs an embedder in a worker thread, so that the CPU-heavy model call never blocks the event loop:
 * health checks, streaming relays and cached requests stay fast while a batch is being embedded.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, RailgateError, type ErrorCode } from '../errors.js';
import type { Embedder } from './embedder.js';
import type { EmbeddingConfig } from '../rails/types.js';
import type { Settings } from '../settings.js';

export type WorkerRequest =
  | { readonly id: number; readonly kind: 'embed'; readonly texts: readonly string[] }
  | { readonly id: number; readonly kind: 'close' };

export type WorkerResponse =
  | {
      readonly id: 0;
      readonly kind: 'ready';
      readonly modelId: string;
      readonly dimension: number;
      readonly threads: number;
    }
  | { readonly id: 0; readonly kind: 'failed'; readonly message: string }
  | { readonly id: number; readonly kind: 'vectors'; readonly buffer: ArrayBuffer; readonly count: number }
  | { readonly id: number; readonly kind: 'error'; readonly message: string; readonly code?: string }
  | { readonly id: number; readonly kind: 'closed' };

export interface WorkerData {
  readonly config: EmbeddingConfig;
  readonly settings: Settings['embedding'];
}

/**
 * The worker's entry: the compiled .js in production; when running from the TypeScript sources
 * (vitest, tsx), a tiny bootstrap that registers tsx's loader inside the worker first.
 */
function startWorker(workerData: WorkerData): Worker {
  const js = new URL('./worker-entry.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const ts = new URL('./worker-entry.ts', import.meta.url).href;
  // tsx is found from this file, not from the working directory (a process may run from anywhere);
  // under vitest, which has no import.meta.resolve, the working directory is the repository.
  const tsx = typeof import.meta.resolve === 'function' ? import.meta.resolve('tsx/esm/api') : 'tsx/esm/api';
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class WorkerEmbedder implements Embedder {
  readonly #pending = new Map<number, { resolve(v: Float32Array[]): void; reject(e: unknown): void }>();
  #nextId = 1;
  #exited: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly modelId: string,
    readonly dimension: number,
    /** Threads the model computes with inside the worker (embedding.threads, bundled model). */
    readonly threads: number,
  ) {
    worker.on('message', (message: WorkerResponse) => this.#onMessage(message));
    worker.on('error', (error) => this.#failAll(error));
    worker.on('exit', (code) => this.#failAll(new Error(`embedding worker exited with code ${code}`)));
  }

  static start(config: EmbeddingConfig, settings: Settings['embedding']): Promise<WorkerEmbedder> {
    const worker = startWorker({ config, settings });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`embedding worker exited with code ${code} while loading`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (message: WorkerResponse) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (message.kind === 'ready')
          resolve(new WorkerEmbedder(worker, message.modelId, message.dimension, message.threads));
        else {
          void worker.terminate();
          reject(
            new RailgateError(
              'RG_ERR_EMBEDDING_FAILED',
              message.kind === 'failed' ? message.message : 'bad worker start',
            ),
          );
        }
      });
    });
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#exited) return Promise.reject(new RailgateError('RG_ERR_EMBEDDING_FAILED', this.#exited.message));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, kind: 'embed', texts } satisfies WorkerRequest);
    });
  }

  #onMessage(message: WorkerResponse): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (message.kind === 'vectors') {
      const all = new Float32Array(message.buffer);
      const dim = this.dimension;
      pending.resolve(Array.from({ length: message.count }, (_, i) => all.subarray(i * dim, (i + 1) * dim)));
    } else if (message.kind === 'error') {
      // Keep the provider's own code (a timeout stays a 504) across the thread boundary.
      const code =
        message.code && message.code in ERROR_CODES ? (message.code as ErrorCode) : 'RG_ERR_EMBEDDING_FAILED';
      pending.reject(new RailgateError(code, message.message));
    } else pending.resolve([]);
  }

  #failAll(error: Error): void {
    this.#exited ??= error;
    for (const { reject } of this.#pending.values())
      reject(new RailgateError('RG_ERR_EMBEDDING_FAILED', error.message));
    this.#pending.clear();
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const id = this.#nextId++;
    await new Promise<void>((resolve) => {
      this.#pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
      this.worker.postMessage({ id, kind: 'close' } satisfies WorkerRequest);
    });
    this.#exited = new Error('embedding worker closed');
    await this.worker.terminate();
  }
}
