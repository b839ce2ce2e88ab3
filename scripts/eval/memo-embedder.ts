/**
 * The bundled model behind a memo, so an evaluation embeds each distinct text once (in batches) and
 * then decides it under many rail-set variants through the serving code (`RailsRuntime.decide`).
 * Vectors are also kept on disk under node_modules/.cache, keyed by model and text, so a rerun skips
 * the model entirely; `--no-cache` turns that off.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Embedder } from '../../src/embedding/embedder.js';
import { REPO_ROOT } from './data.js';

export const EMBED_BATCH = 100;

function key(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

export class MemoEmbedder implements Embedder {
  readonly modelId: string;
  readonly dimension: number;
  readonly #memo = new Map<string, Float32Array>();
  readonly #file: string | undefined;
  #dirty = false;
  /** Texts that went to the model (the rest came from the memo). */
  embedded = 0;

  constructor(
    private readonly inner: Embedder,
    useDiskCache: boolean,
  ) {
    this.modelId = inner.modelId;
    this.dimension = inner.dimension;
    this.#file = useDiskCache
      ? path.join(REPO_ROOT, 'node_modules/.cache/railgate-eval', `${key(inner.modelId)}-${inner.dimension}.bin`)
      : undefined;
  }

  /** Loads the disk cache: records of a 22-byte key followed by `dimension` float32s. */
  async open(): Promise<this> {
    if (!this.#file) return this;
    const bytes = await readFile(this.#file).catch(() => undefined);
    if (!bytes) return this;
    const record = 22 + this.dimension * 4;
    for (let at = 0; at + record <= bytes.length; at += record) {
      const vector = new Float32Array(this.dimension);
      new Uint8Array(vector.buffer).set(bytes.subarray(at + 22, at + record));
      this.#memo.set(bytes.toString('latin1', at, at + 22), vector);
    }
    return this;
  }

  async save(): Promise<void> {
    if (!this.#file || !this.#dirty) return;
    const record = 22 + this.dimension * 4;
    const out = Buffer.alloc(this.#memo.size * record);
    let at = 0;
    for (const [k, vector] of this.#memo) {
      out.write(k, at, 'latin1');
      out.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), at + 22);
      at += record;
    }
    await mkdir(path.dirname(this.#file), { recursive: true });
    await writeFile(this.#file, out);
    this.#dirty = false;
  }

  /** Embeds every text not yet known, in batches; `onProgress` gets (done, total) of those. */
  async prime(texts: readonly string[], onProgress?: (done: number, total: number) => void): Promise<void> {
    const missing = [...new Set(texts)].filter((t) => !this.#memo.has(key(t)));
    for (let start = 0; start < missing.length; start += EMBED_BATCH) {
      const batch = missing.slice(start, start + EMBED_BATCH);
      const vectors = await this.inner.embed(batch);
      batch.forEach((t, i) => this.#memo.set(key(t), vectors[i]!));
      this.embedded += batch.length;
      this.#dirty = true;
      onProgress?.(Math.min(start + EMBED_BATCH, missing.length), missing.length);
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    await this.prime(texts);
    return texts.map((t) => this.#memo.get(key(t))!);
  }

  async close(): Promise<void> {
    await this.save();
    await this.inner.close();
  }
}
