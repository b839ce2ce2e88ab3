/**
 * Runs an embedder in a worker thread, so that the CPU-heavy model call never blocks the event loop:
 * health checks, streaming relays and cached requests stay fast while a batch is being embedded.
 */
import type { Worker } from 'node:worker_threads';
import { RailgateError } from '../errors.js';
import { startWorkerModule } from '../worker-module.js';
import type { Embedder } from './embedder.js';
import type { EmbeddingConfig } from '../rails/types.js';
import type { Settings } from '../settings.js';
import { receivedError, unpackVectors, type PackedVectors, type WorkerError } from './worker-messages.js';

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
  | ({ readonly id: number; readonly kind: 'vectors' } & PackedVectors)
  | ({ readonly id: number; readonly kind: 'error' } & WorkerError)
  | { readonly id: number; readonly kind: 'closed' };

export interface WorkerData {
  readonly config: EmbeddingConfig;
  readonly settings: Settings['embedding'];
}

type Ready = Extract<WorkerResponse, { kind: 'ready' }>;

/** Starts a worker and waits for its model to load. */
function spawnWorker(data: WorkerData): Promise<{ worker: Worker; ready: Ready }> {
  const worker = startWorkerModule(import.meta.url, 'worker-entry', data);
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`embedding worker exited with code ${code} while loading`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (message: WorkerResponse) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      if (message.kind === 'ready') resolve({ worker, ready: message });
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

/**
 * One model in one worker thread. A worker that dies (a crash, memory) fails the calls it had, and a
 * new one is started for the next call: one broken worker must not fail every later message.
 */
export class WorkerEmbedder implements Embedder {
  readonly #pending = new Map<number, { resolve(v: Float32Array[]): void; reject(e: unknown): void }>();
  #nextId = 1;
  /** The current thread (replaced when one dies). */
  private worker!: Worker;
  /** Why the current worker is gone; the next call starts another. */
  #lost: Error | undefined;
  #restarting: Promise<void> | undefined;
  #closed = false;
  #restarts = 0;

  private constructor(
    worker: Worker,
    private readonly data: WorkerData,
    readonly modelId: string,
    readonly dimension: number,
    /** Threads the model computes with inside the worker (embedding.threads, bundled model). */
    readonly threads: number,
  ) {
    this.#attach(worker);
  }

  static async start(config: EmbeddingConfig, settings: Settings['embedding']): Promise<WorkerEmbedder> {
    const data = { config, settings };
    const { worker, ready } = await spawnWorker(data);
    return new WorkerEmbedder(worker, data, ready.modelId, ready.dimension, ready.threads);
  }

  /** Workers started to replace one that died. */
  get restarts(): number {
    return this.#restarts;
  }

  #attach(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (message: WorkerResponse) => this.#onMessage(message));
    worker.on('error', (error) => this.#onLost(worker, error));
    worker.on('exit', (code) => this.#onLost(worker, new Error(`embedding worker exited with code ${code}`)));
  }

  #onLost(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    for (const { reject } of this.#pending.values())
      reject(new RailgateError('RG_ERR_EMBEDDING_FAILED', error.message));
    this.#pending.clear();
    if (this.#closed || this.#lost) return;
    this.#lost = error;
    process.emitWarning(`${error.message}; a new one starts with the next message`, { code: 'RG_EMBEDDING_WORKER' });
  }

  async #restart(): Promise<void> {
    try {
      const { worker } = await spawnWorker(this.data);
      if (this.#closed) {
        await worker.terminate();
        return;
      }
      this.#lost = undefined;
      this.#restarts++;
      this.#attach(worker);
    } finally {
      this.#restarting = undefined;
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#lost && !this.#closed) await (this.#restarting ??= this.#restart());
    if (this.#closed) throw new RailgateError('RG_ERR_NOT_READY', 'the embedding worker is closed');
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
    if (message.kind === 'vectors') pending.resolve(unpackVectors(message, this.dimension));
    else if (message.kind === 'error') pending.reject(receivedError(message));
    else pending.resolve([]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#restarting?.catch(() => undefined);
    this.#closed = true;
    if (this.#lost) return;
    const id = this.#nextId++;
    await new Promise<void>((resolve) => {
      this.#pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
      this.worker.postMessage({ id, kind: 'close' } satisfies WorkerRequest);
    });
    await this.worker.terminate();
  }
}
