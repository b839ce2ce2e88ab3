/**
 * The `transformers` models of a process, run in one long-lived worker thread (`onnxHost()`), off the event loop:
 * onnxruntime-node runs an inference synchronously, and would hold health checks, streams and cached
 * requests for its duration. One thread for all of them, for the process's life, because
 * onnxruntime-node 1.21 aborts when two threads run sessions and cannot be loaded again by a second
 * worker (see transformers.ts): models come and go (a reload) inside the one worker, which is never
 * restarted. Should it die, transformers embedding fails with RG_ERR_EMBEDDING_FAILED until railgate
 * restarts (the log says so).
 */
import type { Worker } from 'node:worker_threads';
import { RailgateError } from '../errors.js';
import type { EmbeddingConfig } from '../rails/types.js';
import type { Settings } from '../settings.js';
import type { Embedder } from './embedder.js';
import { claimOnnxRuntime } from './onnx-thread.js';
import { startWorkerModule } from '../worker-module.js';
import { receivedError, unpackVectors, type PackedVectors, type WorkerError } from './worker-messages.js';

export type OnnxRequest =
  | {
      readonly id: number;
      readonly kind: 'load';
      readonly config: EmbeddingConfig;
      readonly settings: Settings['embedding'];
      readonly baseDir: string;
    }
  | { readonly id: number; readonly kind: 'embed'; readonly handle: number; readonly texts: readonly string[] }
  | { readonly id: number; readonly kind: 'unload'; readonly handle: number };

export type OnnxResponse =
  | {
      readonly id: number;
      readonly kind: 'loaded';
      readonly handle: number;
      readonly modelId: string;
      readonly dimension: number;
      readonly threadId: number;
    }
  | ({ readonly id: number; readonly kind: 'vectors' } & PackedVectors)
  | { readonly id: number; readonly kind: 'done' }
  | ({ readonly id: number; readonly kind: 'error' } & WorkerError);

type Pending = { resolve(response: OnnxResponse): void; reject(error: unknown): void };

let shared: OnnxHost | undefined;

/**
 * The process's one model worker host: a second worker running onnxruntime-node beside the first
 * would abort the process, so every railgate of a process (tests start several) shares it.
 */
export function onnxHost(): OnnxHost {
  return (shared ??= new OnnxHost());
}

export class OnnxHost {
  #worker: Worker | undefined;
  #lost: Error | undefined;
  #closed = false;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  /** Loads a model in the worker (started with the first); its vectors are those of TransformersEmbedder. */
  async load(config: EmbeddingConfig, settings: Settings['embedding'], baseDir: string): Promise<HostedModel> {
    const reply = await this.#call({ id: 0, kind: 'load', config, settings, baseDir });
    if (reply.kind !== 'loaded') throw new RailgateError('RG_ERR_EMBEDDING_FAILED', 'the model worker did not load');
    return new HostedModel(this, reply.handle, reply.modelId, reply.dimension, reply.threadId);
  }

  async embed(handle: number, texts: readonly string[], dimension: number): Promise<Float32Array[]> {
    const reply = await this.#call({ id: 0, kind: 'embed', handle, texts });
    if (reply.kind !== 'vectors') return [];
    return unpackVectors(reply, dimension);
  }

  async unload(handle: number): Promise<void> {
    // A model of a worker gone, or of a host closed, is gone with it.
    if (this.#lost || this.#closed) return;
    await this.#call({ id: 0, kind: 'unload', handle });
  }

  /** Stops the worker; onnxruntime-node cannot be loaded by another one in this process after it. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const { reject } of this.#pending.values())
      reject(new RailgateError('RG_ERR_NOT_READY', 'the model worker is closed'));
    this.#pending.clear();
    await this.#worker?.terminate();
  }

  #call(request: OnnxRequest): Promise<OnnxResponse> {
    if (this.#closed) return Promise.reject(new RailgateError('RG_ERR_NOT_READY', 'the model worker is closed'));
    if (this.#lost)
      return Promise.reject(
        new RailgateError(
          'RG_ERR_EMBEDDING_FAILED',
          `the transformers model worker stopped (${this.#lost.message}); restart railgate`,
        ),
      );
    const worker = (this.#worker ??= this.#start());
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  #start(): Worker {
    claimOnnxRuntime('model worker');
    const worker = startWorkerModule(import.meta.url, 'onnx-worker-entry');
    worker.on('message', (response: OnnxResponse) => this.#answer(response));
    const lost = (error: Error) => {
      if (this.#lost || this.#closed) return;
      this.#lost = error;
      for (const { reject } of this.#pending.values())
        reject(new RailgateError('RG_ERR_EMBEDDING_FAILED', `the transformers model worker stopped: ${error.message}`));
      this.#pending.clear();
      process.emitWarning(`the transformers model worker stopped: ${error.message}; restart railgate`, {
        code: 'RG_EMBEDDING_WORKER',
      });
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`exited with code ${code}`)));
    // It lives as long as the process, idle between models: it must not keep a finished process alive.
    worker.unref();
    return worker;
  }

  #answer(response: OnnxResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    if (response.kind !== 'error') return pending.resolve(response);
    // The provider's own code and param (a missing model folder stays a config error on embedding.model).
    pending.reject(receivedError(response));
  }
}

/** One model in the host's worker. */
export class HostedModel implements Embedder {
  constructor(
    private readonly host: OnnxHost,
    private readonly handle: number,
    readonly modelId: string,
    readonly dimension: number,
    /** The worker thread the model runs in (never the main thread's 0). */
    readonly threadId: number,
  ) {}

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    return this.host.embed(this.handle, texts, this.dimension);
  }

  close(): Promise<void> {
    return this.host.unload(this.handle);
  }
}
