/**
 * `match.lexical_weight` and `match.centroid_weight` with the real bundled model, through the Guard
 * that serves traffic, and as written in a rail file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { dot } from '../../src/embedding/embedder.js';
import { LexicalIndex } from '../../src/matching/lexical.js';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRailSet } from '../../src/rails/load.js';
import type { Intent, MatchConfig, RailSet } from '../../src/rails/types.js';
import { makeIntent, makeRailSet } from '../helpers/rail-set.js';
import { writeTree } from '../rails/helpers.js';

const intent = (id: string, examples: string[]): Intent => makeIntent(id, 'passthrough', examples);

const INTENTS = [
  intent('chargeback', [
    'I want to dispute a card payment',
    'how do I raise a chargeback',
    'the merchant never delivered, can I get my money back',
  ]),
  intent('refund', [
    'my refund has not arrived',
    'when will the shop refund me',
    'the refund is missing from my statement',
  ]),
  intent('wire_transfer', [
    'how long does an international wire take',
    'my wire from abroad has not arrived',
    'can I send an international wire',
  ]),
  intent('password', ['I forgot my password', 'reset my password', 'change my password']),
  intent('passcode', ['I forgot my app passcode', 'reset the passcode for the app', 'change my app passcode']),
];

const railSet = (name: string, match: Partial<MatchConfig>): RailSet => makeRailSet(name, INTENTS, { match });

let embedder: BundledEmbedder;
let guard: RailsRuntime;

beforeAll(async () => {
  embedder = await BundledEmbedder.load();
  guard = await createGuard({
    sets: [
      railSet('plain', {}),
      railSet('lexical', { lexicalWeight: 0.3 }),
      railSet('centroid', { centroidWeight: 0.5 }),
    ],
    embedderFor: async () => embedder,
  });
});
afterAll(() => guard.close());

describe('lexical_weight: character n-grams blended into the similarity', () => {
  it('ranks the intent of a misspelt keyword first where the sentence model alone goes astray', async () => {
    const message = 'chargebak please';
    expect((await guard.decide(message, 'plain')).decision.candidate).not.toBe('chargeback');
    expect((await guard.decide(message, 'lexical')).decision.candidate).toBe('chargeback');
  });

  it('lifts a typo-ridden paraphrase above the threshold that embeddings alone miss', async () => {
    const message = 'pasword reset not working';
    expect((await guard.decide(message, 'plain')).decision).toMatchObject({
      intent: null,
      reason: 'below_threshold',
      candidate: 'password',
    });
    expect((await guard.decide(message, 'lexical')).decision).toMatchObject({ intent: 'password' });
  });

  it('shows both similarities on every neighbour, and the score is their weighted blend', async () => {
    const { decision } = await guard.decide('how do I get a chargeback for a payment', 'lexical');
    expect(decision.neighbours.length).toBeGreaterThan(0);
    for (const n of decision.neighbours) {
      expect(n.embedding).toBeTypeOf('number');
      expect(n.lexical).toBeGreaterThanOrEqual(0);
      expect(n.score).toBeCloseTo(0.7 * n.embedding! + 0.3 * n.lexical!, 6);
    }
    const best = decision.neighbours.filter((n) => n.intent === 'chargeback')[0]!;
    expect(decision.score).toBeCloseTo(best.score, 6);
    // Without the option, neighbours carry the plain cosine only.
    const plain = (await guard.decide('how do I get a chargeback for a payment', 'plain')).decision;
    expect(plain.neighbours[0]!.lexical).toBeUndefined();
  });
});

describe('centroid_weight: the similarity to the mean of an intent’s examples blended into its score', () => {
  it('scores an intent as (1 − c) · best example + c · centroid similarity', async () => {
    const message = 'my money back from the shop has still not come';
    const { decision } = await guard.decide(message, 'centroid');
    const candidate = INTENTS.find((i) => i.id === decision.candidate)!;
    const [query, ...examples] = await embedder.embed([message, ...candidate.examples]);
    const mean = new Float32Array(query!.length);
    for (const v of examples) v.forEach((x, i) => (mean[i]! += x));
    const centroid = dot(query!, mean) / Math.sqrt(dot(mean, mean));
    const best = Math.max(...examples.map((v) => dot(query!, v)));
    expect(decision.score).toBeCloseTo(0.5 * best + 0.5 * centroid, 4);
  });
});

describe('the options in a rail file', () => {
  it('reads lexical_weight, centroid_weight and chunk_words and serves with them', async () => {
    const setDir = writeTree({
      'rail.yml': [
        'name: support',
        'match: { threshold: 0.4, lexical_weight: 0.3, centroid_weight: 0.5, chunk_words: 40 }',
        'on_no_match: refuse',
        'intents:',
        '  - id: chargeback',
        '    action: respond',
        '    response: We can dispute it for you.',
        '    examples: [I want to dispute a card payment, how do I raise a chargeback]',
        '  - id: refund',
        '    action: respond',
        '    response: Refunds take 5 days.',
        '    examples: [my refund has not arrived, when will the shop refund me]',
      ],
    });
    const set = await loadRailSet(setDir);
    expect(set.match).toMatchObject({ lexicalWeight: 0.3, centroidWeight: 0.5, chunkWords: 40 });
    const fromFile = await createGuard({ sets: [set], embedderFor: async () => embedder });
    const { decision } = await fromFile.decide('chargebak please');
    expect(decision).toMatchObject({ intent: 'chargeback', action: 'respond' });
    expect(decision.neighbours[0]!.lexical).toBeGreaterThan(0);
  });

  it('rejects a weight outside [0, 1] with the file and line', async () => {
    const setDir = writeTree({
      'rail.yml': [
        'name: broken',
        'match:',
        '  lexical_weight: 1.5',
        'intents:',
        '  - { id: a, action: refuse, examples: [x] }',
      ],
    });
    await expect(loadRailSet(setDir)).rejects.toThrow(/rail\.yml:3:\d+: .*lexical_weight/);
  });
});

describe('building the lexical index while the proxy serves', () => {
  it('lets timers run between slices, and indexes every example as a whole build would', async () => {
    const texts = Array.from({ length: 6_000 }, (_, i) => `how do I move money to account number ${i} today`);
    const order: string[] = [];
    const timer = new Promise<void>((resolve) => setTimeout(() => resolve(void order.push('timer')), 1));
    const built = LexicalIndex.create(texts).then((index) => {
      order.push('built');
      return index;
    });
    const [, index] = await Promise.all([timer, built]);
    expect(order).toEqual(['timer', 'built']);
    expect(index.size).toBe(6_000);
    expect(index.search(index.vectorize('account number 4242 today'), 1)[0]!.id).toBe(4_242);
  });
});
