import { describe, expect, it } from 'vitest';
import { calibrate, parseTarget } from '../../src/authoring/calibrate.js';
import { renderCalibration } from '../../src/authoring/calibrate-report.js';
import type { LabelledItem } from '../../src/authoring/dataset.js';
import { evaluate } from '../../src/authoring/metrics.js';
import type { ScoredText } from '../../src/authoring/scored.js';
import { scoreIntents } from '../../src/matching/score.js';
import type { Intent, RailSet } from '../../src/rails/types.js';

// Calibration works on scores, not on the model: these items have hand-set scores, so the best
// thresholds can be worked out on paper.
function intent(id: string): Intent {
  return {
    id,
    action: 'refuse',
    examples: ['x'],
    description: undefined,
    notExamples: [],
    prompt: undefined,
    userMessageSlot: false,
    model: undefined,
    response: undefined,
    message: undefined,
    threshold: undefined,
    source: { file: 'inline.yml', line: 1, column: 1 },
  };
}

const set: RailSet = {
  name: 'paper',
  description: undefined,
  dir: '/tmp',
  files: [],
  embedding: { provider: 'bundled', model: undefined, quantized: false },
  match: { threshold: 0.5, k: 10, aggregate: 'max', topK: 3, margin: 0 },
  onNoMatch: { action: 'refuse', message: undefined },
  refusal: 'No.',
  upstream: 'default',
  intents: [intent('a'), intent('b')],
  tests: [],
  hash: 'paper',
  loadedAt: new Date(0),
};
const byId = new Map(set.intents.map((i) => [i.id, i]));

/** An item labelled `label` whose best (only) intent is `best` at `score`. */
function item(label: string, best: string, score: number): { item: LabelledItem; scored: ScoredText } {
  const neighbours = [{ intent: best, example: 'x', score, negative: false }];
  return {
    item: { text: `${label}@${score}`, label, line: 1 },
    scored: { neighbours, scores: scoreIntents(neighbours, byId, set.match) },
  };
}

const data = [
  ...[0.55, 0.58, 0.6, 0.62, 0.65].map((s) => item('a', 'a', s)),
  ...[0.8, 0.82, 0.85, 0.9, 0.95].map((s) => item('b', 'b', s)),
  item('oos', 'a', 0.5),
  item('oos', 'b', 0.7),
  item('oos', 'b', 0.6),
];
const items = data.map((d) => d.item);
const scored = data.map((d) => d.scored);

describe('calibrate', () => {
  it('balanced: a set threshold that rejects the out-of-scope items, and a lower one for intent a', () => {
    const result = calibrate(set, items, scored, parseTarget('balanced'));
    // Before (0.5 everywhere): every in-scope item matches, every out-of-scope item too.
    expect(result.before.figures).toMatchObject({ in_scope_accuracy: 1, oos_recall: 0, balanced: 0.5 });
    // The set's best: above 0.70 (the strongest out-of-scope item), up to 0.80 (b's weakest).
    expect(result.after.plan.set).toBeGreaterThanOrEqual(0.71);
    expect(result.after.plan.set).toBeLessThanOrEqual(0.8);
    // a's items (0.55-0.65) need their own threshold: above its out-of-scope item (0.50), nearest the set's.
    expect(result.after.plan.intents.get('a')).toBe(0.55);
    expect(result.after.plan.intents.has('b')).toBe(false);
    expect(result.after.figures).toMatchObject({ in_scope_accuracy: 1, oos_recall: 1, balanced: 1 });
    // The figures are what eval measures with the new thresholds.
    const check = evaluate(set, items, scored, result.after.plan);
    expect([check.in_scope_accuracy, check.oos_recall]).toEqual([1, 1]);
  });

  it('fpr=0: the lowest set threshold with no false match, then per intent the best accuracy within it', () => {
    const result = calibrate(set, items, scored, parseTarget('fpr=0'));
    expect(result.feasible).toBe(true);
    expect(result.after.plan.set).toBe(0.71);
    expect(result.after.plan.intents.get('a')).toBe(0.55);
    expect(result.after.figures.oos_false_match_rate).toBe(0);
  });

  it('moves nothing the data cannot fault: hand-set thresholds that score best stay, for either target', () => {
    // 0.72 and a's 0.55 already decide every item right; 0.75 (the middle of the best range) and
    // 0.71 (the lowest with no false match) score the same, so moving there gains nothing measured.
    const tuned: RailSet = {
      ...set,
      match: { ...set.match, threshold: 0.72 },
      intents: [{ ...intent('a'), threshold: 0.55 }, intent('b')],
    };
    for (const target of ['balanced', 'fpr=0']) {
      const result = calibrate(tuned, items, scored, parseTarget(target));
      expect(result.after.plan).toEqual(result.before.plan);
      expect(result.after.plan).toEqual({ set: 0.72, intents: new Map([['a', 0.55]]) });
      expect(result.feasible).toBe(true);
      expect(result.intents.filter((i) => i.before !== i.after)).toEqual([]);
    }
    // Every intent with a threshold of its own, the set's left at 0.5: still nothing to gain.
    const own: RailSet = {
      ...set,
      intents: [
        { ...intent('a'), threshold: 0.55 },
        { ...intent('b'), threshold: 0.71 },
      ],
    };
    const result = calibrate(own, items, scored, parseTarget('balanced'));
    expect(result.after.plan).toEqual({
      set: 0.5,
      intents: new Map([
        ['a', 0.55],
        ['b', 0.71],
      ]),
    });
  });

  it('reads scores equal to the last bit as equal: 2/2 + 2/6 is no worse than 1/2 + 5/6', () => {
    // At 0.55 both in-scope items match and 2 of 6 out-of-scope ones are rejected; at 0.81-0.90, 1 and
    // 5. Both balance to 2/3, which floating point writes 0.666…6 and 0.666…7.
    const few = [
      ...[0.6, 0.9].map((score) => item('a', 'a', score)),
      ...[0.3, 0.4, 0.6, 0.7, 0.8, 0.95].map((score) => item('oos', 'b', score)),
    ];
    const at055: RailSet = { ...set, match: { ...set.match, threshold: 0.55 } };
    const result = calibrate(
      at055,
      few.map((d) => d.item),
      few.map((d) => d.scored),
      parseTarget('balanced'),
      { minSupport: 99 },
    );
    expect(result.after.plan.set).toBe(0.55);
  });

  it('keeps an own threshold off the grid when only another threshold gains', () => {
    // a's 0.515 decides its items as well as 0.51 or 0.55 would; the set threshold's move is the gain.
    const offGrid: RailSet = { ...set, intents: [{ ...intent('a'), threshold: 0.515 }, intent('b')] };
    const result = calibrate(offGrid, items, scored, parseTarget('balanced'));
    expect(result.after.plan.set).not.toBe(0.5);
    expect(result.after.plan.intents.get('a')).toBe(0.515);
  });

  it('keeps the set threshold for intents with too few labelled items', () => {
    const result = calibrate(set, items, scored, parseTarget('balanced'), { minSupport: 6 });
    expect(result.intents.every((i) => !i.calibrated)).toBe(true);
    expect(result.after.plan.intents.size).toBe(0);
  });

  it("share: every intent's threshold is the same quantile of its own labelled scores", () => {
    const result = calibrate(set, items, scored, parseTarget('balanced'), { perIntent: 'share' });
    expect(result.per_intent).toBe('share');
    // a's scores 0.55-0.65 and b's 0.80-0.95: below a share of ~4% the thresholds round to 0.55 and
    // 0.80, which admit every in-scope item and no out-of-scope one (0.50 on a, 0.60 and 0.70 on b);
    // the middle of that range is chosen.
    expect(result.share).toBe(0.02);
    expect(result.after.plan.intents).toEqual(
      new Map([
        ['a', 0.55],
        ['b', 0.8],
      ]),
    );
    expect(result.after.figures).toMatchObject({ in_scope_accuracy: 1, oos_recall: 1 });
    expect(result.intents.every((i) => i.calibrated)).toBe(true);
  });

  it('share: out-of-scope items under one intent do not buy that intent a threshold of its own', () => {
    // Out-of-scope items among b's scores: fitted one by one, only b's threshold climbs over them
    // (learning that topic); with a share, a's threshold turns away as much of a's own as b's does.
    const crowded = [
      ...data.filter((d) => d.item.label !== 'oos'),
      ...[0.81, 0.83, 0.84].map((s) => item('oos', 'b', s)),
      item('oos', 'a', 0.4),
    ];
    const own = { a: [0.55, 0.58, 0.6, 0.62, 0.65], b: [0.8, 0.82, 0.85, 0.9, 0.95] };
    const turnedAway = (perIntent: 'fit' | 'share') => {
      const { plan } = calibrate(
        set,
        crowded.map((d) => d.item),
        crowded.map((d) => d.scored),
        parseTarget('balanced'),
        { perIntent },
      ).after;
      const share = (id: 'a' | 'b') =>
        own[id].filter((score) => score < (plan.intents.get(id) ?? plan.set)).length / own[id].length;
      return { a: share('a'), b: share('b') };
    };
    const fit = turnedAway('fit');
    expect(fit.a).toBe(0);
    expect(fit.b).toBeGreaterThan(0);
    const shared = turnedAway('share');
    expect(shared.a).toBe(shared.b);
  });

  it('share: an intent whose labelled items are matched elsewhere is reported as such', () => {
    // Five items labelled a, one of them matched to b: four matched to a are too few for a share.
    const strayed = [
      ...data.filter((d) => d.item.text !== 'a@0.65'),
      { ...item('b', 'b', 0.66), item: { text: 'a@b', label: 'a', line: 1 } },
    ];
    const result = calibrate(
      set,
      strayed.map((d) => d.item),
      strayed.map((d) => d.scored),
      parseTarget('balanced'),
      { perIntent: 'share' },
    );
    expect(result.intents.find((i) => i.intent === 'a')).toMatchObject({ support: 5, calibrated: false });
    const report = renderCalibration(result, 5).join('\n');
    expect(report).toMatch(/a\s+5\s+\S+\s+\S+\s+fewer than 5 of its labelled items matched to it: follows the set/);
    // fit counts labelled items: the same data gives a a threshold of its own.
    const fitted = calibrate(
      set,
      strayed.map((d) => d.item),
      strayed.map((d) => d.scored),
      parseTarget('balanced'),
    );
    expect(fitted.intents.find((i) => i.intent === 'a')?.calibrated).toBe(true);
  });

  it('needs out-of-scope items', () => {
    expect(() => calibrate(set, items.slice(0, 10), scored.slice(0, 10), parseTarget('balanced'))).toThrow(
      /out-of-scope/,
    );
  });

  it('parses targets', () => {
    expect(parseTarget('fpr=0.01')).toEqual({ kind: 'fpr', maxFpr: 0.01 });
    expect(() => parseTarget('fpr=2')).toThrow(/invalid --target/);
    expect(() => parseTarget('accuracy')).toThrow(/invalid --target/);
  });
});
