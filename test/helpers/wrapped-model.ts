/** The real model behind a test's observer or gate: what a wrapper does not override goes straight to it. */
import type { Embedder } from '../../src/embedding/embedder.js';

export class WrappedModel implements Embedder {
  constructor(protected readonly inner: Embedder) {}
  get modelId() {
    return this.inner.modelId;
  }
  get dimension() {
    return this.inner.dimension;
  }
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    return this.inner.embed(texts, signal);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
