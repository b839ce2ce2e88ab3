/**
 * The transformers models of a process in one worker thread, off the event loop (onnx-host.ts), with
 * the committed fixture model. This file never loads onnxruntime-node on its own thread: two threads
 * running it abort the process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { onnxHost } from '../../src/embedding/onnx-host.js';
import { createEmbedder } from '../../src/embedding/providers.js';
import { parseSettings } from '../../src/settings.js';

const FIXTURES = fileURLToPath(new URL('../fixtures', import.meta.url));
const settings = parseSettings({ embedding: { allowRemoteModels: false } }).embedding;
const host = onnxHost();
// The last test closes it; a failure before must not leave the worker running.
afterAll(() => host.close());

const norm = (v: Float32Array) => Math.hypot(...v);

describe('the transformers model worker', () => {
  it('runs every model in one worker thread, not the event loop, and gives them back vectors', async () => {
    const fp32 = await host.load(
      { provider: 'transformers', model: './tiny-bert', quantized: false },
      settings,
      FIXTURES,
    );
    const q8 = await host.load({ provider: 'transformers', model: './tiny-bert', quantized: true }, settings, FIXTURES);
    expect(fp32.threadId).not.toBe(threadId);
    expect(q8.threadId).toBe(fp32.threadId);
    expect(fp32.modelId).toBe(`transformers/${path.join(FIXTURES, 'tiny-bert')}`);
    expect(q8.modelId).not.toBe(fp32.modelId);

    const texts = ['how do I reset my password', 'my card was stolen', 'how do I reset my password'];
    const batch = await fp32.embed(texts);
    expect(batch).toHaveLength(3);
    for (const v of batch) {
      expect(v).toHaveLength(fp32.dimension);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    expect([...batch[2]!]).toEqual([...batch[0]!]);
    expect([...batch[1]!]).not.toEqual([...batch[0]!]);
    // A batch gives each text the vector it gets alone.
    const [alone] = await fp32.embed([texts[1]!]);
    for (const [i, x] of alone!.entries()) expect(x).toBeCloseTo(batch[1]![i]!, 5);
    // The quantized weights give other (close) vectors: another model, not the same one twice.
    const [quantized] = await q8.embed([texts[0]!]);
    expect([...quantized!]).not.toEqual([...batch[0]!]);
  });

  it('unloads and loads models again in the same worker (a reload), and keeps serving after a failed load', async () => {
    const first = await host.load(
      { provider: 'transformers', model: './tiny-bert', quantized: false },
      settings,
      FIXTURES,
    );
    await first.close();
    await expect(first.embed(['hello'])).rejects.toThrow(/not loaded/);
    // The provider's own error, code and param, as it would be on the main thread.
    await expect(
      host.load({ provider: 'transformers', model: './no-such-model', quantized: false }, settings, FIXTURES),
    ).rejects.toMatchObject({ code: 'RG_ERR_CONFIG_INVALID', param: 'embedding.model', message: /no-such-model/ });
    const again = await host.load(
      { provider: 'transformers', model: './tiny-bert', quantized: false },
      settings,
      FIXTURES,
    );
    expect(again.threadId).toBe(first.threadId);
    expect(await again.embed(['hello'])).toHaveLength(1);
  });

  it('refuses to run transformers on the main thread too: a second thread running onnxruntime-node aborts the process', async () => {
    await expect(
      createEmbedder({ provider: 'transformers', model: './tiny-bert', quantized: false }, settings, {
        baseDir: FIXTURES,
      }),
    ).rejects.toMatchObject({ code: 'RG_ERR_CONFIG_INVALID', message: /already run in this process's model worker/ });
  });

  it('fails the calls still waiting when it closes, and every later one', async () => {
    const model = await host.load(
      { provider: 'transformers', model: './tiny-bert', quantized: false },
      settings,
      FIXTURES,
    );
    const waiting = model.embed(Array.from({ length: 64 }, (_, i) => `message number ${i}`)).then(
      () => 'answered',
      (error: unknown) => error,
    );
    await host.close();
    expect(await waiting).toMatchObject({ code: 'RG_ERR_NOT_READY' });
    await expect(model.embed(['hello'])).rejects.toMatchObject({ code: 'RG_ERR_NOT_READY' });
  });
});
