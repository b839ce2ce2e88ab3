/**
 * Several model workers behind one Embedder: each call goes to the worker with the least work in
 * flight. The bundled model computes on one core per worker unless `embedding.threads` gives it more,
 * so on a machine with cores to spare, two or more workers embed that many batches at once.
 */
import type { Embedder } from './embedder.js';

export class WorkerPool implements Embedder {
  readonly #busy: number[];

  constructor(private readonly workers: readonly Embedder[]) {
    if (workers.length === 0) throw new Error('a worker pool needs at least one worker');
    this.#busy = workers.map(() => 0);
  }

  get modelId(): string {
    return this.workers[0]!.modelId;
  }

  get dimension(): number {
    return this.workers[0]!.dimension;
  }

  get size(): number {
    return this.workers.length;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const index = this.#busy.indexOf(Math.min(...this.#busy));
    this.#busy[index]! += texts.length;
    try {
      return await this.workers[index]!.embed(texts);
    } finally {
      this.#busy[index]! -= texts.length;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
