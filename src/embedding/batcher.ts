/**
 * Micro-batching for the message path: texts that arrive within `windowMs` of each other go to the
 * model in one call (at most `maxBatch` texts), at most `concurrency` calls at a time (one per model
 * worker). Texts that arrive while every model is busy form the next batch. Results are the model's own,
 * so a batch gives the same vectors as one-by-one. When more than `maxQueue` texts are waiting, new
 * ones are refused with RG_ERR_OVERLOADED (503 + Retry-After) instead of queueing without bound.
 */
import { RailgateError } from '../errors.js';
import type { Embedder } from './embedder.js';

export interface BatcherOptions {
  readonly windowMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  /** Model calls in flight at once; default 1. */
  readonly concurrency?: number;
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

function abandoned(): RailgateError {
  return new RailgateError('RG_ERR_CLIENT_CLOSED', 'the client left before its message was embedded');
}

export class MicroBatcher implements Embedder {
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  readonly #idle = new Set<() => void>();
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

  /**
   * `signal`: the caller no longer wants the vectors (its client left). Its texts still waiting are
   * taken out of the queue, so a burst of abandoned long messages does not hold the model for the
   * clients behind them; a batch already with the model finishes.
   */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(new RailgateError('RG_ERR_NOT_READY', 'the embedder is shutting down'));
    if (signal?.aborted) return Promise.reject(abandoned());
    if (this.#queue.length + texts.length > this.options.maxQueue && this.#queue.length > 0) {
      return Promise.reject(
        new RailgateError(
          'RG_ERR_OVERLOADED',
          `embedding queue is full (${this.#queue.length} waiting); retry shortly`,
        ),
      );
    }
    const mine: Pending[] = [];
    const results = texts.map(
      (text) =>
        new Promise<Float32Array>((resolve, reject) => {
          const pending = { text, resolve, reject };
          mine.push(pending);
          this.#queue.push(pending);
        }),
    );
    this.observer.onQueueDepth?.(this.#queue.length);
    this.#schedule();
    if (!signal) return Promise.all(results);
    const withdraw = () => this.#withdraw(mine);
    signal.addEventListener('abort', withdraw, { once: true });
    return Promise.all(results).finally(() => signal.removeEventListener('abort', withdraw));
  }

  /** Takes `pending` texts out of the queue (those not yet in a batch) and fails them. */
  #withdraw(pending: readonly Pending[]): void {
    const leaving = new Set(pending);
    const kept = this.#queue.filter((p) => !leaving.has(p));
    if (kept.length === this.#queue.length) return;
    this.#queue.splice(0, this.#queue.length, ...kept);
    this.observer.onQueueDepth?.(this.#queue.length);
    const error = abandoned();
    for (const p of pending) p.reject(error);
  }

  get #slots(): number {
    return Math.max(1, this.options.concurrency ?? 1) - this.#inFlight;
  }

  #schedule(): void {
    if (this.#slots <= 0 || this.#queue.length === 0) return;
    if (this.#queue.length >= this.options.maxBatch || this.options.windowMs <= 0) {
      this.#clearTimer();
      this.#pump();
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, this.options.windowMs);
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Starts batches while there is work and a free model slot. */
  #pump(): void {
    while (this.#queue.length > 0 && this.#slots > 0) {
      const batch = this.#queue.splice(0, this.options.maxBatch);
      this.observer.onQueueDepth?.(this.#queue.length);
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        // What queued up meanwhile has waited at least one model call: send it now.
        if (this.#queue.length > 0) {
          this.#clearTimer();
          this.#pump();
        } else if (this.#inFlight === 0) for (const done of this.#idle) done();
      });
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      const vectors = await this.base.embed(batch.map((p) => p.text));
      batch.forEach((p, i) => p.resolve(vectors[i]!));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
    this.observer.onBatch?.(batch.length, performance.now() - started);
  }

  /** Resolves once nothing is queued or in flight. */
  #drained(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#idle.delete(done);
        resolve();
      };
      this.#idle.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#clearTimer();
    this.#pump();
    await this.#drained();
    await this.base.close();
  }
}
