/**
 * Micro-batching for the message path: texts that arrive within `windowMs` of each other go to the
 * model in one call (at most `maxBatch` texts), at most `concurrency` calls at a time (one per model
 * worker, each call taking an even share of the work; see #share and #holding). Texts that arrive
 * while every model is busy form the next batch, taken a text from each
 * waiting call in turn (so a long message's chunks cannot hold the model for everyone queued behind
 * them). Results are the model's own, so a batch gives the same vectors as one-by-one. When more than
 * `maxQueue` texts are waiting, new ones are refused with RG_ERR_OVERLOADED (503 + Retry-After)
 * instead of queueing without bound.
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
  /**
   * What waits for the model, one group per `embed` call (a message's chunks), oldest first. Batches
   * take one text of each group in turn: a long message's chunks share the model with the messages
   * behind it instead of holding it for all of them first.
   */
  readonly #groups: Pending[][] = [];
  #waiting = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  /** Texts in the calls in flight. */
  #inFlightTexts = 0;
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
    return this.#waiting;
  }

  /**
   * `signal`: the caller no longer wants the vectors (its client left). Its texts still waiting are
   * taken out of the queue, so a burst of abandoned long messages does not hold the model for the
   * clients behind them; a batch already with the model finishes.
   */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (this.#closed) return Promise.reject(new RailgateError('RG_ERR_NOT_READY', 'the embedder is shutting down'));
    if (signal?.aborted) return Promise.reject(abandoned());
    if (texts.length === 0) return Promise.resolve([]);
    if (this.#waiting + texts.length > this.options.maxQueue && this.#waiting > 0) {
      return Promise.reject(
        new RailgateError('RG_ERR_OVERLOADED', `embedding queue is full (${this.#waiting} waiting); retry shortly`),
      );
    }
    const mine: Pending[] = [];
    const results = texts.map(
      (text) => new Promise<Float32Array>((resolve, reject) => mine.push({ text, resolve, reject })),
    );
    const group = [...mine];
    this.#groups.push(group);
    this.#waiting += group.length;
    this.observer.onQueueDepth?.(this.#waiting);
    this.#schedule();
    if (!signal) return Promise.all(results);
    const withdraw = () => this.#withdraw(group, mine);
    signal.addEventListener('abort', withdraw, { once: true });
    return Promise.all(results).finally(() => signal.removeEventListener('abort', withdraw));
  }

  /** Takes what is left of `group` out of the queue and fails the call's texts (`all`). */
  #withdraw(group: Pending[], all: readonly Pending[]): void {
    const at = this.#groups.indexOf(group);
    if (at < 0) return; // every text is with the model already
    this.#groups.splice(at, 1);
    this.#waiting -= group.length;
    this.observer.onQueueDepth?.(this.#waiting);
    const error = abandoned();
    for (const p of all) p.reject(error);
  }

  /** The next batch: one text of each waiting group in turn, oldest group first, up to `size`. */
  #takeBatch(size: number): Pending[] {
    const batch: Pending[] = [];
    while (batch.length < size && this.#groups.length > 0) {
      for (let g = 0; g < this.#groups.length && batch.length < size;) {
        const group = this.#groups[g]!;
        batch.push(group.shift()!);
        if (group.length === 0) this.#groups.splice(g, 1);
        else g++;
      }
    }
    this.#waiting -= batch.length;
    return batch;
  }

  get #slots(): number {
    return this.#concurrency - this.#inFlight;
  }

  get #concurrency(): number {
    return Math.max(1, this.options.concurrency ?? 1);
  }

  /**
   * How many texts the next call takes: an even share of the texts waiting and being embedded, over
   * the model workers. With one worker that is everything waiting; with several, 13 texts waiting for
   * two idle workers go as 7 and 6 rather than all to one while the other idles.
   */
  get #share(): number {
    return Math.min(this.options.maxBatch, Math.ceil((this.#waiting + this.#inFlightTexts) / this.#concurrency));
  }

  /**
   * A free worker holds off while what waits is under half its share and another call is running:
   * otherwise, under load, it takes each text as it arrives, one at a time, and single-text calls
   * (the model's fixed cost paid per text) crowd out the batches: measured with two workers and 16
   * connections, 2 of 3 calls were of one text, at nearly twice the cost per text of a batch of 8.
   * The held texts go when enough arrive or when a call ends, whichever is first; they never wait for
   * more than the calls already running, as they would with one worker.
   */
  get #holding(): boolean {
    return this.#inFlight > 0 && this.#waiting * 2 < this.#share;
  }

  #schedule(): void {
    if (this.#slots <= 0 || this.#waiting === 0 || this.#holding) return;
    if (this.#waiting >= this.options.maxBatch || this.options.windowMs <= 0) {
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

  /** Starts batches while there is work, a free model slot, and no reason to hold. */
  #pump(): void {
    while (this.#waiting > 0 && this.#slots > 0 && !this.#holding) {
      const batch = this.#takeBatch(this.#share);
      this.observer.onQueueDepth?.(this.#waiting);
      this.#inFlight++;
      this.#inFlightTexts += batch.length;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#inFlightTexts -= batch.length;
        // What queued up meanwhile has waited at least one model call: send it now (unless it is
        // held for company beside a call still running; see #holding).
        if (this.#waiting > 0) {
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
    if (this.#waiting === 0 && this.#inFlight === 0) return Promise.resolve();
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
