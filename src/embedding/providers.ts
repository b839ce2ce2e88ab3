/**
 * One place that turns a rail set's `embedding:` block plus the process settings into an Embedder.
 * Which provider a set uses is the set's choice; where models are cached, whether the hub may be contacted
 * and which embeddings server to call are the operator's (settings / environment).
 */
import { RailgateError } from '../errors.js';
import { claimOnnxRuntime } from './onnx-thread.js';
import type { EmbeddingConfig } from '../rails/types.js';
import type { Settings } from '../settings.js';
import type { Embedder } from './embedder.js';

export interface CreateEmbedderOptions {
  /** What a relative local model folder is resolved against (e.g. the rail set's folder); default: cwd. */
  baseDir?: string;
  /** Stops a provider that waits at start (the openai probe's retries) when railgate closes. */
  signal?: AbortSignal;
}

function requireModel(config: EmbeddingConfig, example: string): string {
  if (config.model && config.model.trim() !== '') return config.model.trim();
  throw new RailgateError(
    'RG_ERR_CONFIG_INVALID',
    `embedding provider "${config.provider}" needs a model, e.g. embedding: { provider: ${config.provider}, model: ${example} }`,
    { param: 'embedding.model' },
  );
}

export async function createEmbedder(
  config: EmbeddingConfig,
  settings: Settings['embedding'],
  options: CreateEmbedderOptions = {},
): Promise<Embedder> {
  switch (config.provider) {
    case 'bundled':
      // Providers load on demand: a bundled-only deployment never loads onnxruntime-node, and the
      // embedding worker stays free of it (onnxruntime-node must live in one thread only).
      return (await import('./bundled.js')).BundledEmbedder.load({ threads: settings.threads });
    case 'transformers':
      claimOnnxRuntime('main thread');
      return (await import('./transformers.js')).TransformersEmbedder.load({
        model: requireModel(config, 'Xenova/all-MiniLM-L6-v2'),
        quantized: config.quantized,
        allowRemoteModels: settings.allowRemoteModels,
        ...(settings.cacheDir ? { cacheDir: settings.cacheDir } : {}),
        ...(options.baseDir ? { baseDir: options.baseDir } : {}),
      });
    case 'openai': {
      const model = requireModel(config, 'text-embedding-3-small');
      if (!settings.openaiUrl) {
        throw new RailgateError(
          'RG_ERR_CONFIG_INVALID',
          'embedding provider "openai" needs the embeddings server URL: set RAILGATE_EMBEDDINGS_URL ' +
            '(or embedding.openaiUrl in the config file), e.g. https://api.openai.com/v1',
          { param: 'embedding.openaiUrl' },
        );
      }
      return (await import('./openai.js')).OpenAIEmbedder.create({
        baseURL: settings.openaiUrl,
        model,
        timeoutMs: settings.timeoutMs,
        ...(settings.openaiApiKey ? { apiKey: settings.openaiApiKey } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    default: {
      const provider: never = config.provider;
      throw new RailgateError('RG_ERR_CONFIG_INVALID', `unknown embedding provider "${String(provider)}"`, {
        param: 'embedding.provider',
      });
    }
  }
}
