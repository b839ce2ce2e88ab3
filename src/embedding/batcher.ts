/**
 * Micro-batching for the message path: texts that arrive within `windowMs` of each other go to the
 * model in one call (at most `maxBatch` texts), one call at a time. Results are the model's own,
 * so a batch gives the same vectors as one-by-one. When more than `maxQueue` texts are waiting, new
 * ones are refused with RG_ERR_OVERLOADED (503 + Retry-After) instead of queueing without bound.
 */
import { RailgateError } from '../errors.js';
import type { Embedder } from './embedder.js';

export interface BatcherOptions {
  readonly windowMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
}

export interface BatcherObserver {
  onBatch?(size: number, ms: number): void;
  onQueueDepth?(depth: number): void;
}

interface Pending {
  readonly text: string;
  resolve(vector: Float32Array): void;
  reject(error: unknown): void;
}

export class MicroBatcher implements Embedder {
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;

  constructor(
    private readonly base: Embedder,
    private readonly options: BatcherOptions,
    private readonly observer: BatcherObserver = {},
  ) {}

  get modelId(): string {
    return this.base.modelId;
  }

  get dimension(): number {
    return this.base.dimension;
  }

  /** Texts waiting for the model (not counting the batch being embedded). */
  get queueDepth(): number {
    return this.#queue.length;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(new RailgateError('RG_ERR_NOT_READY', 'the embedder is shutting down'));
    if (this.#queue.length + texts.length > this.options.maxQueue && this.#queue.length > 0) {
      return Promise.reject(
        new RailgateError(
          'RG_ERR_OVERLOADED',
          `embedding queue is full (${this.#queue.length} waiting); retry shortly`,
        ),
      );
    }
    const results = texts.map(
      (text) => new Promise<Float32Array>((resolve, reject) => this.#queue.push({ text, resolve, reject })),
    );
    this.observer.onQueueDepth?.(this.#queue.length);
    this.#schedule();
    return Promise.all(results);
  }

  #schedule(): void {
    if (this.#running || this.#queue.length === 0) return;
    if (this.#queue.length >= this.options.maxBatch || this.options.windowMs <= 0) {
      this.#clearTimer();
      void this.#drain();
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.#drain();
      }, this.options.windowMs);
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.options.maxBatch);
        this.observer.onQueueDepth?.(this.#queue.length);
        const started = performance.now();
        try {
          const vectors = await this.base.embed(batch.map((p) => p.text));
          batch.forEach((p, i) => p.resolve(vectors[i]!));
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
        this.observer.onBatch?.(batch.length, performance.now() - started);
      }
    } finally {
      this.#running = false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    await this.#drain();
    await this.base.close();
  }
}
