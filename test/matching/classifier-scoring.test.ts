/**
 * `match.scoring: classifier` as written in a rail file, with the real bundled model, through the
 * Guard that serves traffic: scores become intent probabilities, thresholds apply to them, and
 * not_examples still veto their intent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { dot } from '../../src/embedding/embedder.js';
import { scoreMessage } from '../../src/matching/compile.js';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRailSet } from '../../src/rails/load.js';
import { writeTree } from '../rails/helpers.js';

const INTENTS = `intents:
  - id: chargeback
    action: passthrough
    examples: [I want to dispute a card payment, how do I raise a chargeback, the merchant never delivered can I get my money back]
  - id: refund
    action: passthrough
    examples: [my refund has not arrived, when will the shop refund me, the refund is missing from my statement]
  - id: wire_transfer
    action: passthrough
    examples: [how long does an international wire take, my wire from abroad has not arrived, can I send an international wire]
  - id: password
    action: passthrough
    examples: [I forgot my password, reset my password, change my password]
    not_examples: [how do I reset my wifi router password, change the password of my home router]
  - id: opening_hours
    action: passthrough
    examples: [what are your opening hours, when are you open, what time do you close]
`;

let embedder: BundledEmbedder;
let guard: RailsRuntime;

beforeAll(async () => {
  embedder = await BundledEmbedder.load();
  const classified = await loadRailSet(
    writeTree({
      'rail.yml': `name: classified\nmatch: { threshold: 0.5, scoring: classifier }\non_no_match: refuse\n${INTENTS}`,
    }),
  );
  guard = await createGuard({ sets: [classified], embedderFor: async () => embedder });
});
afterAll(() => guard.close());

describe('match.scoring: classifier', () => {
  it('matches paraphrases to their intent with a probability as the score', async () => {
    for (const [message, intent] of [
      ['I would like to contest a payment on my card', 'chargeback'],
      ['I cannot remember my password', 'password'],
      ['are you open on sundays', 'opening_hours'],
    ] as const) {
      const { decision } = await guard.decide(message, 'classified');
      expect(decision).toMatchObject({ intent, reason: 'matched', threshold: 0.5 });
      expect(decision.score).toBeGreaterThan(0.5);
      expect(decision.score).toBeLessThanOrEqual(1);
    }
  });

  it("scores every intent, and the scores are a distribution over the set's intents", async () => {
    const compiled = guard.compiled('classified');
    const message = 'the shop still has not given my money back';
    const [vector] = await embedder.embed([message]);
    const { scores } = scoreMessage(compiled, vector!, message);
    expect(scores.map((s) => s.intent.id).sort()).toEqual([
      'chargeback',
      'opening_hours',
      'password',
      'refund',
      'wire_transfer',
    ]);
    expect(scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 6);
    expect(scores[0]!.intent.id).toBe('refund');
  });

  it('refuses a message no intent claims with enough probability', async () => {
    const { decision } = await guard.decide('tell me a joke about cats', 'classified');
    expect(decision).toMatchObject({ intent: null, action: 'refuse', reason: 'below_threshold' });
    expect(decision.score).toBeLessThan(0.5);
  });

  it("keeps the not_examples' veto: a message nearest a not_example is not that intent", async () => {
    const message = 'how do I reset the password on my router';
    const { decision } = await guard.decide(message, 'classified');
    expect(decision.intent).toBeNull();
    expect(decision.reason).toBe('not_example');
    const [vector] = await embedder.embed([message]);
    const password = scoreMessage(guard.compiled('classified'), vector!, message).scores.find(
      (s) => s.intent.id === 'password',
    )!;
    expect(password.vetoGap).toBeGreaterThanOrEqual(0);
  });

  it('needs the message text (its n-grams are features), like the lexical blend', async () => {
    const [vector] = await embedder.embed(['reset my password']);
    expect(() => scoreMessage(guard.compiled('classified'), vector!)).toThrow(/message text/);
  });

  it('rejects a classifier for a single intent, and a non-positive classifier_c, with the file and line', async () => {
    const single = writeTree({
      'rail.yml':
        'name: single\nmatch: { scoring: classifier }\nintents:\n  - id: only\n    action: passthrough\n    examples: [hello]\n',
    });
    await expect(loadRailSet(single)).rejects.toThrow(/rail\.yml:2:\d+: .*at least two intents/);
    const negative = writeTree({
      'rail.yml': `name: negative\nmatch: { scoring: classifier, classifier_c: 0 }\n${INTENTS}`,
    });
    await expect(loadRailSet(negative)).rejects.toThrow(/rail\.yml:2:\d+: .*classifier_c/);
  });
});

describe('match.classifier_score: probability_similarity', () => {
  let both: RailsRuntime;
  beforeAll(async () => {
    const set = await loadRailSet(
      writeTree({
        'rail.yml': `name: both\nmatch: { threshold: 0.3, scoring: classifier, classifier_score: probability_similarity }\non_no_match: refuse\n${INTENTS}`,
      }),
    );
    both = await createGuard({ sets: [set], embedderFor: async () => embedder });
  });
  afterAll(() => both.close());

  it("scores an intent by its probability times the message's similarity to its nearest example", async () => {
    const message = 'the shop still has not given my money back';
    const [vector] = await embedder.embed([message]);
    const probabilities = scoreMessage(guard.compiled('classified'), vector!, message).scores;
    const { scores } = scoreMessage(both.compiled('both'), vector!, message);
    const compiled = both.compiled('both');
    for (const s of scores) {
      const p = probabilities.find((q) => q.intent.id === s.intent.id)!.score;
      const nearest = Math.max(
        ...compiled.examples.flatMap((e, id) =>
          e.intent === s.intent.id && !e.negative ? [dot(vector!, compiled.vectors![id]!)] : [],
        ),
      );
      expect(s.score).toBeCloseTo(p * Math.max(0, nearest), 6);
    }
    expect(scores[0]!.intent.id).toBe('refund');
  });

  it('keeps paraphrases and refuses an unrelated message the probability alone is confident about', async () => {
    const { decision } = await both.decide('I cannot remember my password', 'both');
    expect(decision).toMatchObject({ intent: 'password', reason: 'matched' });
    // With five intents, some intent is the likeliest for anything: the probability alone passes 0.3.
    const unrelated = 'what is the capital of France';
    expect((await guard.decide(unrelated, 'classified')).decision.score).toBeGreaterThanOrEqual(0.3);
    const { decision: refused } = await both.decide(unrelated, 'both');
    expect(refused).toMatchObject({ intent: null, reason: 'below_threshold' });
  });

  it("blends the nearest example's similarity with the lexical one as lexical_weight says", async () => {
    const load = (name: string, extra: string) =>
      loadRailSet(
        writeTree({
          'rail.yml': `name: ${name}\nmatch: { threshold: 0.3, scoring: classifier, lexical_weight: 0.3${extra} }\non_no_match: refuse\n${INTENTS}`,
        }),
      );
    const lexical = await createGuard({
      sets: [await load('probability', ''), await load('product', ', classifier_score: probability_similarity')],
      embedderFor: async () => embedder,
    });
    try {
      const message = 'the shop still has not given my money back';
      const [vector] = await embedder.embed([message]);
      const probabilities = scoreMessage(lexical.compiled('probability'), vector!, message).scores;
      const compiled = lexical.compiled('product');
      const query = compiled.lexical!.vectorize(message);
      for (const s of scoreMessage(compiled, vector!, message).scores) {
        const p = probabilities.find((q) => q.intent.id === s.intent.id)!.score;
        const nearest = Math.max(
          ...compiled.examples.flatMap((e, id) =>
            e.intent === s.intent.id && !e.negative
              ? [0.7 * dot(vector!, compiled.vectors![id]!) + 0.3 * compiled.lexical!.similarity(query, id)]
              : [],
          ),
        );
        expect(s.score).toBeCloseTo(p * Math.max(0, nearest), 6);
      }
    } finally {
      await lexical.close();
    }
  });

  it('is rejected when misspelled', async () => {
    await expect(
      loadRailSet(
        writeTree({ 'rail.yml': `name: bad\nmatch: { scoring: classifier, classifier_score: product }\n${INTENTS}` }),
      ),
    ).rejects.toThrow(/classifier_score/);
  });
});
