import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import type { Embedder } from '../../src/embedding/embedder.js';
import { OpenAIEmbedder } from '../../src/embedding/openai.js';
import { createEmbedder } from '../../src/embedding/providers.js';
import { TransformersEmbedder } from '../../src/embedding/transformers.js';
import type { EmbeddingConfig } from '../../src/rails/types.js';
import { parseSettings, type SettingsInput } from '../../src/settings.js';
import { startFakeEmbeddingsServer, type FakeEmbeddingsServer } from '../helpers/fake-embeddings-server.js';
import { failure } from '../helpers/failure.js';

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
const scratch = mkdtempSync(path.join(tmpdir(), 'railgate-providers-'));

function embeddingSettings(embedding: SettingsInput['embedding'] = {}) {
  return parseSettings({ embedding }).embedding;
}

function config(provider: EmbeddingConfig['provider'], model?: string, quantized = false): EmbeddingConfig {
  return { provider, model, quantized };
}

let server: FakeEmbeddingsServer;
const opened: Embedder[] = [];

beforeAll(async () => {
  server = await startFakeEmbeddingsServer({ dimension: 24 });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.close()));
  server.behave({ kind: 'ok' });
});

afterAll(async () => {
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function create(...args: Parameters<typeof createEmbedder>): Promise<Embedder> {
  const embedder = await createEmbedder(...args);
  opened.push(embedder);
  return embedder;
}

describe('createEmbedder', () => {
  it('loads the bundled model for provider bundled', async () => {
    const embedder = await create(config('bundled'), embeddingSettings());
    expect(embedder).toBeInstanceOf(BundledEmbedder);
    expect(embedder.dimension).toBe(512);
  });

  it('loads a local transformers model, resolving a relative folder against baseDir, quantized when asked', async () => {
    const embedder = await create(config('transformers', 'tiny-bert', true), embeddingSettings(), {
      baseDir: FIXTURES,
    });
    expect(embedder).toBeInstanceOf(TransformersEmbedder);
    expect(embedder.modelId).toBe(`transformers/${path.join(FIXTURES, 'tiny-bert')}:q8`);
    expect(embedder.dimension).toBe(32);
  });

  it('passes the model cache folder and the no-download setting to the transformers provider', async () => {
    const cacheDir = path.join(scratch, 'cache');
    const error = await failure(
      create(
        config('transformers', 'railgate-test/not-cached'),
        embeddingSettings({ cacheDir, allowRemoteModels: false }),
      ),
    );
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
    expect(error.message).toContain(cacheDir);
  });

  it('talks to the configured OpenAI-compatible server with its key and timeout', async () => {
    const before = server.requests.length;
    const embedder = await create(
      config('openai', 'nomic-embed-text'),
      embeddingSettings({ openaiUrl: server.baseURL, openaiApiKey: 'sk-provider-test', timeoutMs: 200 }),
    );
    expect(embedder).toBeInstanceOf(OpenAIEmbedder);
    expect(embedder.modelId).toBe(`openai/nomic-embed-text@${server.baseURL.replace('http://', '')}`);
    expect(embedder.dimension).toBe(24);
    expect(server.requests[before]!.headers.authorization).toBe('Bearer sk-provider-test');
    server.behave({ kind: 'slow', delayMs: 3_000 });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('RG_ERR_EMBEDDING_TIMEOUT');
  });

  it.each([
    ['transformers', undefined, {}, /provider "transformers" needs a model/],
    ['openai', '  ', { openaiUrl: 'http://127.0.0.1:9/v1' }, /provider "openai" needs a model/],
    ['openai', 'text-embedding-3-small', {}, /RAILGATE_EMBEDDINGS_URL/],
  ] as const)('rejects provider %s with model %j and settings %j as RG_ERR_CONFIG_INVALID', async (p, m, s, msg) => {
    const error = await failure(create(config(p, m), embeddingSettings(s)));
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
    expect(error.message).toMatch(msg);
  });
});
