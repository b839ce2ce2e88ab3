import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dot } from '../../src/embedding/embedder.js';
import { TransformersEmbedder } from '../../src/embedding/transformers.js';
import { failure } from '../helpers/failure.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/tiny-bert', import.meta.url));
const HUB_ID = 'railgate-test/tiny-bert';

/**
 * A stand-in for the Hugging Face hub on 127.0.0.1 serving the fixture as `railgate-test/tiny-bert`; every
 * request is counted, so a test can prove a load did not touch "the network". transformers.js is pointed at
 * it through its process-wide `env.remoteHost` (this test file runs in its own process).
 */
let hub: Server;
const hubRequests: string[] = [];
const scratch = mkdtempSync(path.join(tmpdir(), 'railgate-transformers-'));
const originalRemoteHost = env.remoteHost;

let fp32: TransformersEmbedder;

beforeAll(async () => {
  hub = createServer((req, res) => {
    hubRequests.push(req.url ?? '');
    const match = /^\/railgate-test\/tiny-bert\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    try {
      if (!match || match[1]!.includes('..')) throw new Error('not found');
      res.writeHead(200).end(readFileSync(path.join(FIXTURE, match[1]!)));
    } catch {
      res.writeHead(404).end('Entry not found');
    }
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  env.remoteHost = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/`;
  fp32 = await TransformersEmbedder.load({ model: FIXTURE, allowRemoteModels: false });
});

afterAll(async () => {
  await fp32?.close();
  env.remoteHost = originalRemoteHost;
  hub.closeAllConnections();
  await new Promise<void>((resolve) => hub.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

describe('transformers provider with a local model folder', () => {
  it('loads from a local folder without contacting the hub and reads the dimension from the model', () => {
    expect(fp32.dimension).toBe(32);
    expect(fp32.modelId).toBe(`transformers/${FIXTURE}`);
    expect(hubRequests).toEqual([]);
  });

  it('returns one unit vector of the model dimension per text, in order', async () => {
    const texts = ['How do I reset my password?', 'what is the weather tomorrow', ''];
    const vectors = await fp32.embed(texts);
    expect(vectors).toHaveLength(3);
    for (const vector of vectors) {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(32);
      expect(dot(vector, vector)).toBeCloseTo(1, 5);
    }
    expect(dot(vectors[0]!, vectors[1]!)).toBeLessThan(0.9999);
  });

  it('gives the same vectors in a padded batch as one by one, and identical text identical vectors', async () => {
    const texts = ['hello', 'please cancel my subscription and refund the last payment', 'track my order'];
    const batch = await fp32.embed(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await fp32.embed([text]);
      Array.from(alone!).forEach((x, d) => expect(batch[i]![d]).toBeCloseTo(x, 5));
    }
    const [again] = await fp32.embed(['hello']);
    expect(Array.from(again!)).toEqual(Array.from(batch[0]!));
  });

  it('gives each text of a batch of very different lengths its own vector, as if embedded alone', async () => {
    // Run as separate calls (the short texts apart from the long one; for a model this small only a
    // batch this uneven is worth a second call): each vector must come back in its text's place.
    const long = Array.from({ length: 100 }, () => 'please cancel my subscription').join(' and ');
    const short = ['hi', 'track my order', 'hello', 'ok', 'reset my password'];
    const texts = [...Array.from({ length: 60 }, (_, i) => `${short[i % 5]} ${i}`).slice(0, 30), long];
    texts.push(...Array.from({ length: 30 }, (_, i) => `${short[i % 5]} ${i + 30}`));
    const batch = await fp32.embed(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await fp32.embed([text]);
      Array.from(alone!).forEach((x, d) => expect(batch[i]![d]).toBeCloseTo(x, 5));
    }
  });

  it('truncates a text longer than the model accepts instead of failing', async () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const [vector] = await fp32.embed([long]);
    expect(dot(vector!, vector!)).toBeCloseTo(1, 5);
  });

  it('resolves a relative folder against baseDir', async () => {
    const embedder = await TransformersEmbedder.load({
      model: 'tiny-bert',
      baseDir: path.dirname(FIXTURE),
      allowRemoteModels: false,
    });
    try {
      // Named by its absolute folder: the same relative name elsewhere is another model.
      expect(embedder.modelId).toBe(`transformers/${FIXTURE}`);
      const [a] = await embedder.embed(['hello']);
      const [b] = await fp32.embed(['hello']);
      expect(Array.from(a!)).toEqual(Array.from(b!));
    } finally {
      await embedder.close();
    }
  });

  it('loads the quantized weights with quantized: true, close to but not the same as fp32', async () => {
    const q8 = await TransformersEmbedder.load({ model: FIXTURE, quantized: true, allowRemoteModels: false });
    try {
      expect(q8.modelId).toBe(`transformers/${FIXTURE}:q8`);
      expect(q8.dimension).toBe(32);
      const text = 'I forgot my password, please help';
      const [quantized] = await q8.embed([text]);
      const [full] = await fp32.embed([text]);
      expect(dot(quantized!, quantized!)).toBeCloseTo(1, 5);
      expect(dot(quantized!, full!)).toBeGreaterThan(0.99);
      expect(Array.from(quantized!)).not.toEqual(Array.from(full!));
    } finally {
      await q8.close();
    }
    expect(hubRequests).toEqual([]);
  });

  it('names the missing file when a folder lacks the quantized weights', async () => {
    const partial = path.join(scratch, 'fp32-only');
    mkdirSync(path.join(partial, 'onnx'), { recursive: true });
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      copyFileSync(path.join(FIXTURE, file), path.join(partial, file));
    }
    const error = await failure(TransformersEmbedder.load({ model: partial, quantized: true }));
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
    expect(error.message).toContain('model_quantized.onnx');
    expect(hubRequests).toEqual([]);
  });

  it('rejects a folder that does not exist as a configuration error', async () => {
    const error = await failure(
      TransformersEmbedder.load({ model: path.join(scratch, 'nope'), allowRemoteModels: true }),
    );
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
    expect(error.message).toContain('not found');
    expect(hubRequests).toEqual([]);
  });
});

describe('transformers provider with a hub id', () => {
  it('fails clearly, without any request, when remote models are disabled and nothing is cached', async () => {
    const cacheDir = path.join(scratch, 'empty-cache');
    const error = await failure(TransformersEmbedder.load({ model: HUB_ID, cacheDir, allowRemoteModels: false }));
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
    expect(error.message).toContain(HUB_ID);
    expect(error.message).toContain('remote model downloads are disabled');
    expect(error.message).toContain(cacheDir);
    expect(hubRequests).toEqual([]);
  });

  it('downloads into cacheDir when allowed, then loads from that cache with downloads disabled', async () => {
    const cacheDir = path.join(scratch, 'cache');
    const downloaded = await TransformersEmbedder.load({ model: HUB_ID, cacheDir, allowRemoteModels: true });
    const [online] = await downloaded.embed(['hello']);
    await downloaded.close();
    expect(hubRequests.some((url) => url.endsWith('/onnx/model.onnx'))).toBe(true);

    hubRequests.length = 0;
    const cached = await TransformersEmbedder.load({ model: HUB_ID, cacheDir, allowRemoteModels: false });
    try {
      expect(cached.modelId).toBe(`transformers/${HUB_ID}`);
      const [offline] = await cached.embed(['hello']);
      expect(Array.from(offline!)).toEqual(Array.from(online!));
      expect(hubRequests).toEqual([]);
    } finally {
      await cached.close();
    }
  });
});
