/**
 * The `openai` provider: any server with an OpenAI-compatible `POST {baseURL}/embeddings` — OpenAI itself,
 * Hugging Face Text Embeddings Inference, vLLM, Ollama, LiteLLM…
 *
 * Large inputs are split into batches of at most `batchSize` texts, sent `concurrency` at a time over one
 * keep-alive pool; each response is put back in order by `index` and every vector is L2-normalised, because
 * not every server returns unit vectors and the rest of railgate treats a dot product as the cosine.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RailgateError } from '../errors.js';
import type { Embedder } from './embedder.js';
import {
  DEFAULT_CONCURRENCY,
  displayUrl,
  EmbeddingsClient,
  isTransient,
  positiveInteger,
  type OpenAIEmbedderOptions,
} from './openai-client.js';

export type { OpenAIEmbedderOptions } from './openai-client.js';

const DEFAULT_BATCH_SIZE = 32;
const PROBE_TEXT = 'dimension probe';
const PROBE_RETRIES = 4;
const PROBE_BACKOFF_MS = 500;

export class OpenAIEmbedder implements Embedder {
  readonly modelId: string;

  private constructor(
    private readonly client: EmbeddingsClient,
    model: string,
    readonly dimension: number,
    private readonly batchSize: number,
    private readonly concurrency: number,
  ) {
    // The server is part of the model's identity: the same model name elsewhere may embed differently,
    // and cached example vectors are keyed by this id.
    this.modelId = `openai/${model}@${displayUrl(client.url)
      .replace(/^https?:\/\//, '')
      .replace(/\/embeddings$/, '')}`;
  }

  /** Validates the options and, unless `dimensions` is given, makes one probe request to learn the size. */
  static async create(options: OpenAIEmbedderOptions): Promise<OpenAIEmbedder> {
    if (!options.model) {
      throw new RailgateError('RG_ERR_CONFIG_INVALID', 'the openai embedding provider needs a model name', {
        param: 'embedding.model',
      });
    }
    const batchSize = positiveInteger(options.batchSize, DEFAULT_BATCH_SIZE, 'embedding batchSize');
    const concurrency = positiveInteger(options.concurrency, DEFAULT_CONCURRENCY, 'embedding concurrency');
    if (options.dimensions !== undefined) positiveInteger(options.dimensions, 1, 'embedding dimensions');
    const client = new EmbeddingsClient(options);
    let dimension = options.dimensions;
    if (dimension === undefined) {
      const retries = options.probeRetries ?? PROBE_RETRIES;
      const { signal } = options;
      for (let attempt = 0; dimension === undefined; attempt++) {
        try {
          const [probe] = await client.post([PROBE_TEXT], undefined);
          dimension = probe!.length;
        } catch (error) {
          const again = isTransient(error) && attempt < retries;
          // Closing while waiting: no more tries, and the close's own reason, not the server's failure.
          const wait = again
            ? sleep((options.probeBackoffMs ?? PROBE_BACKOFF_MS) * 2 ** attempt, undefined, { signal }).then(
                () => true,
                () => false,
              )
            : Promise.resolve(false);
          if (await wait) continue;
          await client.close();
          if (signal?.aborted) throw signal.reason;
          throw attempt === 0
            ? error
            : new RailgateError(
                error instanceof RailgateError ? error.code : 'RG_ERR_EMBEDDING_FAILED',
                `${(error as Error).message} (after ${attempt + 1} tries)`,
                { cause: (error as Error).cause ?? error },
              );
        }
      }
    }
    return new OpenAIEmbedder(client, options.model, dimension, batchSize, concurrency);
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const batches: string[][] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      batches.push(texts.slice(start, start + this.batchSize));
    }
    const results: Float32Array[][] = new Array<Float32Array[]>(batches.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < batches.length) {
        const index = next++;
        try {
          results[index] = await this.client.post(batches[index]!, this.dimension);
        } catch (error) {
          failed = true; // the other workers stop taking batches; the first error is the one reported
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    return results.flat();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
