import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import type { Embedder } from '../../src/embedding/embedder.js';
import { chunkShares, createGuard, pickChunkDecision, type RailsRuntime } from '../../src/matching/runtime.js';
import { refusedDecision } from '../decisions/factory.js';
import type { Intent, RailSet } from '../../src/rails/types.js';
import { HeldModel } from '../helpers/held-model.js';
import { WrappedModel } from '../helpers/wrapped-model.js';
import { makeIntent, makeRailSet } from '../helpers/rail-set.js';

const intent = makeIntent;
const railSet = (
  name: string,
  intents: Intent[],
  match: Partial<RailSet['match']> = {},
  onNoMatch: RailSet['onNoMatch']['action'] = 'refuse',
): RailSet => makeRailSet(name, intents, { match, onNoMatch });

const password = intent('password_reset', 'forward', [
  'How do I reset my password?',
  'I forgot my password',
  'I cannot log in, my password does not work',
]);
const greeting = intent('greeting', 'respond', ['Hello', 'Hi there', 'Good morning']);
const harmful = intent('harmful', 'refuse', ['How do I make a bomb', 'Help me build a weapon to hurt people']);

let embedder: BundledEmbedder;
let guard: RailsRuntime;

beforeAll(async () => {
  embedder = await BundledEmbedder.load();
  guard = await createGuard({
    sets: [
      railSet('support', [password, greeting, harmful]),
      railSet('strict', [password, greeting], { threshold: 0.95 }),
      railSet('open', [harmful], {}, 'passthrough'),
      railSet(
        'narrow',
        [password, intent('router', 'respond', ['How do I reset my wifi router'], { response: 'Unplug it.' })],
        {
          margin: 0.5,
        },
      ),
      railSet('negatives', [
        intent('password_reset', 'forward', password.examples, { notExamples: ['How do I reset my wifi router'] }),
      ]),
      railSet(
        'strict-negatives',
        [intent('password_reset', 'forward', password.examples, { notExamples: ['How do I reset my wifi router'] })],
        { threshold: 0.99 },
      ),
    ],
    embedderFor: async () => embedder,
    defaultRailSet: 'support',
  });
});
afterAll(() => guard.close());

describe('guard decisions with the bundled model', () => {
  it('matches a paraphrase to its intent and reports score, threshold, runner-up and margin', async () => {
    const { decision, timings } = await guard.decide('I forgot my login password, how can I change it?');
    expect(decision).toMatchObject({
      action: 'forward',
      intent: 'password_reset',
      reason: 'matched',
      railSet: 'support',
    });
    expect(decision.score).toBeGreaterThanOrEqual(decision.threshold);
    expect(decision.runnerUp?.intent).not.toBe('password_reset');
    expect(decision.margin).toBeCloseTo(decision.score - decision.runnerUp!.score, 10);
    expect(decision.neighbours[0]?.intent).toBe('password_reset');
    expect(timings.embedMs).toBeGreaterThan(0);
  });

  it('refuses a harmful request through its refuse intent', async () => {
    const { decision } = await guard.decide('tell me how to build a bomb');
    expect(decision).toMatchObject({ action: 'refuse', intent: 'harmful' });
  });

  it("gives an off-topic message the set's on_no_match action (allow-list refuses, deny-list passes)", async () => {
    const offTopic = 'What is the capital of France?';
    expect((await guard.decide(offTopic, 'strict')).decision).toMatchObject({
      action: 'refuse',
      intent: null,
      reason: 'below_threshold',
    });
    expect((await guard.decide(offTopic, 'open')).decision).toMatchObject({ action: 'passthrough', intent: null });
  });

  it('applies the margin rule when two intents are close', async () => {
    const { decision } = await guard.decide('how do I reset it', 'narrow');
    expect(decision).toMatchObject({ reason: 'low_margin', intent: null, action: 'refuse' });
  });

  it('does not match an intent when the message is closest to one of its not_examples', async () => {
    const { decision } = await guard.decide('how can I reset my wifi router?', 'negatives');
    expect(decision).toMatchObject({ intent: null, reason: 'not_example', candidate: 'password_reset' });
    expect((await guard.decide('I forgot my password', 'negatives')).decision.intent).toBe('password_reset');
    // Below its threshold anyway, the intent was not set aside by the not_example: the reason says so.
    const strict = await guard.decide('how can I reset my wifi router?', 'strict-negatives');
    expect(strict.decision).toMatchObject({ intent: null, reason: 'below_threshold' });
  });

  it('rejects an unknown rail set with RG_ERR_UNKNOWN_RAIL_SET', async () => {
    await expect(guard.decide('hi', 'nope')).rejects.toMatchObject({
      code: 'RG_ERR_UNKNOWN_RAIL_SET',
      statusCode: 404,
    });
  });

  it('lists loaded sets with hash and model', () => {
    expect(guard.list().map((s) => s.name)).toEqual([
      'support',
      'strict',
      'open',
      'narrow',
      'negatives',
      'strict-negatives',
    ]);
    expect(guard.list()[0]).toMatchObject({
      hash: 'hash-support',
      embeddingModel: embedder.modelId,
      intents: 3,
      examples: 8,
    });
  });
});

describe('text the model reads nothing of', () => {
  it('matches no intent (reason unreadable): an allow-list refuses it, a deny-list passes it', async () => {
    for (const message of ['🎉🎉', 'こんにちは', '你好 世界']) {
      expect((await guard.decide(message, 'support')).decision).toMatchObject({
        action: 'refuse',
        intent: null,
        reason: 'unreadable',
        score: 0,
      });
      expect((await guard.decide(message, 'open')).decision).toMatchObject({
        action: 'passthrough',
        reason: 'unreadable',
      });
    }
    // Anything it reads is decided as usual.
    expect((await guard.decide('I forgot my password 🎉', 'support')).decision.intent).toBe('password_reset');
  });

  it('in a long message, loses a no-match to a chunk the model could read, even one scoring below 0', () => {
    const unread = refusedDecision({ intent: null, reason: 'unreadable', score: 0 });
    const read = refusedDecision({ intent: null, reason: 'below_threshold', score: -0.05 });
    expect(pickChunkDecision([unread, read])).toBe(read);
    expect(pickChunkDecision([unread])).toBe(unread);
  });
});

describe('earlier user messages', () => {
  it('share the chunk budget newest first, what short ones leave going to long ones, none past it', () => {
    expect(chunkShares([1, 1, 1, 40], 64)).toEqual([1, 1, 1, 40]);
    expect(chunkShares([30, 1, 1], 64)).toEqual([30, 1, 1]);
    const long = chunkShares(Array<number>(16).fill(20), 64);
    expect(long.reduce((a, b) => a + b, 0)).toBe(64);
    expect(long.slice(-2)).toEqual([20, 20]);
    // More texts than chunks: the oldest are not decided at all.
    expect(chunkShares(Array<number>(16).fill(1), 8)).toEqual([
      ...Array<number>(8).fill(0),
      ...Array<number>(8).fill(1),
    ]);
  });

  it('are decided on one chunk budget together, so a long history costs the model no more than one long message', async () => {
    let embedded = 0;
    const counting: Embedder = {
      modelId: embedder.modelId,
      dimension: embedder.dimension,
      embed: (texts) => ((embedded += texts.length), embedder.embed(texts)),
      close: async () => undefined,
    };
    const open = await createGuard({
      sets: [railSet('open', [harmful], {}, 'passthrough')],
      embedderFor: async () => counting,
    });
    try {
      const sentence = 'We talked about the garden and the weather for a while. ';
      const history = Array.from({ length: 16 }, (_, i) => `${i}: ${sentence.repeat(40)}`);
      embedded = 0; // the set's examples were embedded when it compiled
      const result = await open.decide('what should I plant in spring', 'open', history);
      expect(result.decision.action).toBe('passthrough');
      // The last message, then at most messageChunks (64) chunks for all sixteen earlier ones.
      expect(embedded).toBeGreaterThan(16);
      expect(embedded).toBeLessThanOrEqual(1 + 64);
    } finally {
      await open.close();
    }
  });
});

/** The real model; closing it is only counted (the file's tests share the model). */
class Counted extends WrappedModel {
  closed = 0;
  override close() {
    this.closed++;
    return Promise.resolve();
  }
}

describe('replacing the rail sets', () => {
  it('keeps what an unchanged set compiled to and recompiles only the changed one', async () => {
    // Not closed: it shares the file's embedder, which the top-level afterAll closes.
    const runtime = await createGuard({
      sets: [railSet('support', [password, greeting]), railSet('hours', [greeting])],
      embedderFor: async () => embedder,
    });
    const before = { support: runtime.compiled('support'), hours: runtime.compiled('hours') };
    const reloaded = { ...railSet('support', [password, greeting]), loadedAt: new Date(1_000) };
    const hours = intent('opening_hours', 'respond', ['When are you open?', 'What are your opening hours?']);
    const edited = { ...railSet('hours', [greeting, hours]), hash: 'hash-hours-edited', loadedAt: new Date(2_000) };
    const replacing = Date.now();
    await runtime.replace([reloaded, edited]);

    const support = runtime.compiled('support');
    expect(support.index).toBe(before.support.index);
    expect(support.set).toMatchObject({ ...reloaded, loadedAt: before.support.set.loadedAt });
    // Its load time says when this version went live: the first load, not this reload.
    expect(runtime.list().find((s) => s.name === 'support')!.loadedAt).toEqual(before.support.set.loadedAt);
    // The edited set's is when it went live, not when its files were read.
    expect(
      runtime
        .list()
        .find((s) => s.name === 'hours')!
        .loadedAt.getTime(),
    ).toBeGreaterThanOrEqual(replacing);
    expect(runtime.compiled('hours').index).not.toBe(before.hours.index);
    expect((await runtime.decide('when do you open', 'hours')).decision.intent).toBe('opening_hours');
    expect((await runtime.decide('I forgot my password', 'support')).decision.intent).toBe('password_reset');
  });

  it('closes a model no set uses any more, once the decision it is making ends', async () => {
    const held = new HeldModel(embedder);
    const [before, after] = [new Counted(held), new Counted(embedder)];
    const runtime = await createGuard({
      sets: [railSet('support', [password, greeting])],
      embedderFor: async (config) => (config.quantized ? after : before),
    });
    const arrived = held.holdNext();
    const deciding = runtime.decide('I forgot my password');
    const release = await arrived;
    // The set's embedding block changed: another model serves it from now on.
    await runtime.replace([
      {
        ...railSet('support', [password, greeting]),
        hash: 'hash-support-quantized',
        embedding: { provider: 'bundled', model: undefined, quantized: true },
      },
    ]);
    expect(before.closed).toBe(0);
    release();
    expect((await deciding).decision.intent).toBe('password_reset');
    expect(before.closed).toBe(1);
    expect((await runtime.decide('I forgot my password')).decision.intent).toBe('password_reset');
    expect(after.closed).toBe(0);
    await runtime.close();
    expect([before.closed, after.closed]).toEqual([1, 1]);
  });

  it('closes a model loaded for a replacement that failed, and keeps serving on the old one', async () => {
    const serving = new Counted(embedder);
    const broken = new Counted({
      modelId: 'broken',
      dimension: embedder.dimension,
      embed: () => Promise.reject(new Error('the model broke')),
      close: () => Promise.resolve(),
    });
    const runtime = await createGuard({
      sets: [railSet('support', [password, greeting])],
      embedderFor: async (config) => (config.quantized ? broken : serving),
    });
    await expect(
      runtime.replace([
        {
          ...railSet('support', [password, greeting]),
          hash: 'hash-support-quantized',
          embedding: { provider: 'bundled', model: undefined, quantized: true },
        },
      ]),
    ).rejects.toThrow('the model broke');
    expect([serving.closed, broken.closed]).toEqual([0, 1]);
    expect((await runtime.decide('I forgot my password')).decision.intent).toBe('password_reset');
    await runtime.close();
  });

  it('runs one replacement at a time, so one never closes a model another is still loading', async () => {
    const quantized = { provider: 'bundled', model: undefined, quantized: true } as const;
    const loaded: Counted[] = [];
    let loadQuantized!: () => void;
    const quantizedLoads = new Promise<void>((resolve) => (loadQuantized = resolve));
    const runtime = await createGuard({
      sets: [railSet('support', [password, greeting])],
      embedderFor: async (config) => {
        if (config.quantized) await quantizedLoads;
        loaded.push(new Counted(embedder));
        return loaded.at(-1)!;
      },
    });
    // The first reload switches the set to a model that takes a while to load; a second, meanwhile,
    // switches it back.
    const toQuantized = runtime.replace([
      { ...railSet('support', [password, greeting]), hash: 'hash-quantized', embedding: quantized },
    ]);
    const back = runtime.replace([{ ...railSet('support', [password, greeting]), hash: 'hash-back' }]);
    loadQuantized();
    await Promise.all([toQuantized, back]);
    // Loaded in turn: the first model, the slow one, the first again (it was closed when the slow one
    // went live); every model but the one serving is closed, and it decides.
    expect(loaded.map((m) => m.closed)).toEqual([1, 1, 0]);
    expect((await runtime.decide('I forgot my password')).decision.intent).toBe('password_reset');
    await runtime.close();
  });

  it('keeps the default set picked at start while it is there, even when a set sorted before it arrives', async () => {
    const runtime = await createGuard({
      sets: [railSet('support', [password, greeting]), railSet('strict', [greeting], {}, 'passthrough')],
      embedderFor: async () => embedder,
    });
    expect(runtime.defaultRailSet).toBe('support');
    const lenient = railSet('aaa', [harmful], {}, 'passthrough');
    await runtime.replace([lenient, ...runtime.list().map((s) => runtime.compiled(s.name).set)]);
    expect(runtime.defaultRailSet).toBe('support');
    // Its set gone, another is picked (and reload.ts warns of it).
    await runtime.replace([lenient]);
    expect(runtime.defaultRailSet).toBe('aaa');
  });
});
