/**
 * The `transformers` provider: a Hugging Face sentence-embedding model in ONNX form (e.g.
 * `Xenova/all-MiniLM-L6-v2`, NeMo Guardrails' default) run by @huggingface/transformers on onnxruntime-node,
 * with mean pooling over the attention mask and L2 normalisation — what sentence-transformers does for these
 * models.
 *
 * `model` is a hub id or a local folder (config.json, tokenizer.json, tokenizer_config.json,
 * onnx/model.onnx and/or onnx/model_quantized.onnx). A local folder never touches the network.
 *
 * transformers.js keeps its settings in a process-wide `env` object. Loading with different settings side by
 * side (two rail sets, tests) would race on it, so nothing here writes `env`: the cache folder and "no remote
 * downloads" are passed per load as `cache_dir` and `local_files_only`, which transformers.js applies to
 * every file of that load.
 *
 * Threads: onnxruntime-node 1.21's native binding is not safe across isolates. Two threads (main + worker,
 * or two workers) running sessions at once abort the process ("Entering the V8 API without proper locking"),
 * and a second worker loading it after the first exited fails with "Module did not self-register" unless
 * the main thread imported `onnxruntime-node` first. So all TransformersEmbedders of a process must live in
 * one thread: the main thread (the authoring commands), or one long-lived worker (`serve`: onnx-host.ts).
 */
import path from 'node:path';
import { pipeline, type FeatureExtractionPipeline, type PretrainedModelOptions } from '@huggingface/transformers';
import { RailgateError } from '../errors.js';
import { normalizeInPlace, type Embedder } from './embedder.js';
import { lengthGroups } from './length-groups.js';
import { HUB_ID, isDirectory, missingModelFolder } from './model-location.js';

export interface TransformersEmbedderOptions {
  /** Hub id (`owner/name`) or a local model folder (absolute, or relative to `baseDir`). */
  model: string;
  /** Load `onnx/model_quantized.onnx` (int8, dtype `q8`) instead of `onnx/model.onnx` (fp32). */
  quantized?: boolean;
  /** Where hub models are cached, and looked up first; transformers.js's own default when unset. */
  cacheDir?: string;
  /** `false`: never contact the hub; a hub id must already be in `cacheDir` (or `localModelPath`). */
  allowRemoteModels?: boolean;
  /** A folder of pre-downloaded models: hub id `owner/name` is looked for in `<localModelPath>/owner/name`. */
  localModelPath?: string;
  /** What relative local paths are resolved against; defaults to the working directory. */
  baseDir?: string;
}

export const PROBE_TEXT = 'dimension probe';

/** The shape of a model as its config.json names it (BERT's names, DistilBERT's, T5's). */
interface ModelShape {
  num_hidden_layers?: unknown;
  n_layers?: unknown;
  num_layers?: unknown;
  hidden_size?: unknown;
  dim?: unknown;
  d_model?: unknown;
  max_position_embeddings?: unknown;
}

const positive = (...values: unknown[]) => values.find((v): v is number => typeof v === 'number' && v > 0);

/**
 * A model call's fixed cost in padded token positions (for length-groups.ts). Measured here with a
 * MiniLM-L6-sized model (6 layers, 384 wide; onnxruntime on 2 cores): ~2.4 ms a call (tokenizer,
 * session, pooling), ~0.16 ms a padded position, so ~15 positions (quantized: ~1.3 ms and ~0.065 ms,
 * ~20: close enough to share the figure). A position's cost grows with
 * layers × width², the call's hardly: other sizes scale from there (a 12 × 768 model: ~2; a tiny
 * test model: 4096, so only a very uneven batch is split). Unknown shapes keep MiniLM's figure.
 */
function callCostPositions(config: ModelShape): number {
  const layers = positive(config.num_hidden_layers, config.n_layers, config.num_layers);
  const width = positive(config.hidden_size, config.dim, config.d_model);
  if (layers === undefined || width === undefined) return MINILM_CALL_COST;
  return Math.min(4096, Math.max(1, (MINILM_CALL_COST * 6 * 384 ** 2) / (layers * width ** 2)));
}
const MINILM_CALL_COST = 15;
/** English text in WordPiece tokens, roughly; [CLS] and [SEP] are added to each text's estimate. */
const CHARS_PER_TOKEN = 4;

/** `pipeline` narrowed to the one task used: its full overload union is too large for the type checker. */
const loadFeatureExtraction = pipeline as (
  task: 'feature-extraction',
  model: string,
  options: PretrainedModelOptions,
) => Promise<FeatureExtractionPipeline>;

/** Where the model comes from: a folder on disk, or the hub (through the cache). */
function locateModel(
  options: TransformersEmbedderOptions,
): { kind: 'local'; dir: string } | { kind: 'hub'; id: string } {
  const { model } = options;
  const resolved = path.resolve(options.baseDir ?? process.cwd(), model);
  if (isDirectory(resolved)) return { kind: 'local', dir: resolved };
  if (options.localModelPath && HUB_ID.test(model)) {
    const inLocalModels = path.resolve(options.localModelPath, model);
    if (isDirectory(inLocalModels)) return { kind: 'local', dir: inLocalModels };
  }
  const missing = missingModelFolder(model, options.baseDir ?? process.cwd());
  if (missing) throw new RailgateError('RG_ERR_CONFIG_INVALID', missing, { param: 'embedding.model' });
  return { kind: 'hub', id: model };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class TransformersEmbedder implements Embedder {
  /** For length-groups.ts: what a model call costs beyond its padded positions. */
  private readonly callCost: number;
  /** The most tokens the model reads of a text: longer ones are cut to it, so they pad no further. */
  private readonly maxTokens: number;

  private constructor(
    readonly modelId: string,
    readonly dimension: number,
    private readonly extractor: FeatureExtractionPipeline,
  ) {
    const shape = extractor.model.config as ModelShape;
    this.callCost = callCostPositions(shape);
    this.maxTokens = positive(shape.max_position_embeddings) ?? 512;
  }

  static async load(options: TransformersEmbedderOptions): Promise<TransformersEmbedder> {
    const source = locateModel(options);
    const allowRemote = options.allowRemoteModels ?? true;
    const dtype = options.quantized ? 'q8' : 'fp32';
    let extractor: FeatureExtractionPipeline;
    try {
      extractor = await loadFeatureExtraction('feature-extraction', source.kind === 'local' ? source.dir : source.id, {
        dtype,
        device: 'cpu',
        // A local folder never needs the hub; a hub id may use it only when allowed.
        local_files_only: source.kind === 'local' || !allowRemote,
        ...(options.cacheDir ? { cache_dir: options.cacheDir } : {}),
      });
    } catch (error) {
      throw loadError(options, source, allowRemote, error);
    }
    // A local model is named by its absolute folder: two folders given as the same relative path
    // (from different places) are different models, and cached example vectors are keyed by this id.
    const name = source.kind === 'local' ? source.dir : source.id;
    const modelId = `transformers/${name}${options.quantized ? ':q8' : ''}`;
    try {
      // The dimension is whatever the model produces, read from a real forward pass rather than config.json.
      const [probe] = await runExtractor(extractor, [PROBE_TEXT]);
      if (!probe || probe.length === 0) throw new Error('the model produced an empty embedding');
      return new TransformersEmbedder(modelId, probe.length, extractor);
    } catch (error) {
      await extractor.dispose();
      throw new RailgateError(
        'RG_ERR_EMBEDDING_FAILED',
        `model ${options.model} loaded but cannot embed: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    try {
      if (texts.length === 1) return await runExtractor(this.extractor, texts);
      // A batch is padded to its longest text, and a BERT-style model computes every padded position:
      // texts of very different lengths go to the model in separate calls (see length-groups.ts).
      // Lengths in characters, ~4 to a token: tokenizing each text twice to count would cost 3-20% of
      // the embedding time, and the split only needs to tell short from long.
      const lengths = texts.map((text) => Math.min(Math.ceil(text.length / CHARS_PER_TOKEN) + 2, this.maxTokens));
      const vectors = new Array<Float32Array>(texts.length);
      for (const group of lengthGroups(lengths, this.callCost)) {
        const output = await runExtractor(
          this.extractor,
          group.map((row) => texts[row]!),
        );
        group.forEach((row, i) => (vectors[row] = output[i]!));
      }
      return vectors;
    } catch (error) {
      throw new RailgateError('RG_ERR_EMBEDDING_FAILED', `${this.modelId} failed to embed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    await this.extractor.dispose();
  }
}

async function runExtractor(extractor: FeatureExtractionPipeline, texts: readonly string[]): Promise<Float32Array[]> {
  const output = await extractor([...texts], { pooling: 'mean', normalize: true });
  const [rows, dimension] = output.dims as [number, number];
  if (rows !== texts.length || !(output.data instanceof Float32Array)) {
    throw new Error(`unexpected model output: dims [${output.dims.join(', ')}], ${output.type}`);
  }
  const data = output.data;
  // Copies, so callers may keep the vectors after the output tensor is released; normalised again because
  // some models output fp16/quantised values whose norm drifts slightly from 1.
  const vectors = Array.from({ length: rows }, (_, row) =>
    normalizeInPlace(data.slice(row * dimension, (row + 1) * dimension)),
  );
  output.dispose();
  return vectors;
}

function loadError(
  options: TransformersEmbedderOptions,
  source: { kind: 'local'; dir: string } | { kind: 'hub'; id: string },
  allowRemote: boolean,
  error: unknown,
): RailgateError {
  const variant = options.quantized ? 'onnx/model_quantized.onnx (quantized: true)' : 'onnx/model.onnx';
  const detail = messageOf(error);
  if (source.kind === 'local') {
    return new RailgateError(
      'RG_ERR_CONFIG_INVALID',
      `cannot load embedding model from ${source.dir} (needs config.json, tokenizer.json, tokenizer_config.json and ${variant}): ${detail}`,
      { param: 'embedding.model', cause: error },
    );
  }
  if (!allowRemote) {
    const where = options.cacheDir ? `the model cache ${options.cacheDir}` : 'the model cache';
    return new RailgateError(
      'RG_ERR_CONFIG_INVALID',
      `embedding model ${source.id} is not in ${where} and remote model downloads are disabled ` +
        `(allowRemoteModels: false / RAILGATE_ALLOW_REMOTE_MODELS=false); download it on a connected host, ` +
        `or point embedding.model at a local folder: ${detail}`,
      { param: 'embedding.model', cause: error },
    );
  }
  return new RailgateError(
    'RG_ERR_EMBEDDING_FAILED',
    `cannot load embedding model ${source.id} (${variant}) from the Hugging Face hub: ${detail}`,
    { param: 'embedding.model', cause: error },
  );
}
