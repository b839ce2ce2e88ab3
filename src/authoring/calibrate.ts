/**
 * Choosing thresholds from labelled data. First the set's `match.threshold`, then per-intent
 * thresholds for intents with enough labelled examples, one of two ways:
 * - `fit` (default): each intent's own `threshold` with the rest held fixed. Only the intent that
 *   decides a text (its best intent not vetoed by a not_example) can change that text's decision, so
 *   each intent's search re-decides just the texts it decides.
 * - `share`: every intent's threshold lets through the same share of its own labelled messages (a
 *   quantile of their scores), the one share chosen for the target. Out-of-scope items only choose
 *   the share, so the thresholds cannot learn which out-of-scope topics the data happens to hold
 *   (EVAL.md: thresholds fitted intent by intent did, and did worse than one set threshold on
 *   out-of-scope topics the data lacked).
 *
 * Targets:
 * - `balanced`: maximise (in-scope accuracy + out-of-scope recall) / 2
 * - `fpr=X`: the lowest set threshold whose out-of-scope false-match rate is at most X; per intent, the
 *   best in-scope accuracy that keeps the overall rate at most X
 *
 * Thresholds the data scores no better than the current ones are not proposed: nothing moves.
 */
import type { RailSet } from '../rails/types.js';
import type { LabelledItem } from './dataset.js';
import {
  addOutcome,
  countOutcomes,
  expectedIntent,
  oosLabelsOf,
  outcomes,
  ratesOf,
  round,
  type Counts,
  type Outcome,
  type Rates,
} from './metrics.js';
import { decidingIntents, thresholdsOf, type ScoredText, type ThresholdPlan } from './scored.js';

export type CalibrationTarget = { readonly kind: 'balanced' } | { readonly kind: 'fpr'; readonly maxFpr: number };

/** `balanced` or `fpr=0.01`; throws with a usage message otherwise. */
export function parseTarget(text: string): CalibrationTarget {
  if (text === 'balanced') return { kind: 'balanced' };
  const match = /^fpr=(\d*\.?\d+)$/.exec(text);
  const maxFpr = match ? Number(match[1]) : NaN;
  if (!match || !(maxFpr >= 0 && maxFpr <= 1))
    throw new Error(`invalid --target "${text}": use balanced or fpr=X with X in [0, 1], e.g. fpr=0.01`);
  return { kind: 'fpr', maxFpr };
}

export function describeTarget(target: CalibrationTarget): string {
  return target.kind === 'balanced' ? 'balanced' : `fpr=${target.maxFpr}`;
}

/** Candidate thresholds: 0.05 to 0.99 in steps of 0.01 (thresholds are written with 2 decimals). */
export const CALIBRATION_GRID: readonly number[] = Array.from({ length: 95 }, (_, i) => round(0.05 + i * 0.01, 2));

/** An intent needs this many labelled in-scope items for a threshold of its own. */
export const MIN_INTENT_SUPPORT = 5;

/** How per-intent thresholds are chosen (`--per-intent`). */
export type PerIntentMethod = 'fit' | 'share';

/** Shares of an intent's own messages a `share` threshold may turn away: 0 to 0.8 in steps of 0.01. */
export const SHARE_GRID: readonly number[] = Array.from({ length: 81 }, (_, i) => round(i * 0.01, 2));

export interface Figures extends Rates {
  readonly oos_false_match_rate: number | null;
}

export interface IntentCalibration {
  readonly intent: string;
  readonly support: number;
  /** The intent's threshold before and after (its own, or the set's). */
  readonly before: number;
  readonly after: number;
  /** Whether the data sufficed for a threshold of its own. */
  readonly calibrated: boolean;
}

export interface Calibration {
  readonly target: string;
  readonly before: { readonly plan: ThresholdPlan; readonly figures: Figures };
  readonly after: { readonly plan: ThresholdPlan; readonly figures: Figures };
  readonly intents: IntentCalibration[];
  /** False when no threshold met an `fpr` target (the strictest candidate was kept). */
  readonly feasible: boolean;
  readonly per_intent: PerIntentMethod;
  /** With `share`: the share of each intent's own labelled messages its threshold turns away. */
  readonly share: number | null;
  /** Labels that are not intent ids (read as out of scope), with counts. */
  readonly oos_labels: Record<string, number>;
}

export class CalibrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CalibrationError';
  }
}

function figuresOf(counts: Counts): Figures {
  return { ...ratesOf(counts), oos_false_match_rate: counts.oos ? (counts.oos - counts.rejected) / counts.oos : null };
}

function fprOf(counts: Counts): number {
  return counts.oos ? (counts.oos - counts.rejected) / counts.oos : 0;
}

function accuracyOf(counts: Counts): number {
  return counts.inScope ? counts.correct / counts.inScope : 0;
}

function balancedOf(counts: Counts): number {
  return ratesOf(counts).balanced ?? 0;
}

/**
 * Scores are ratios of counts: two plans that decide as well can differ in the last bit (2/3 as
 * 0.666…6 and 0.666…7). Below this difference, scores are equal.
 */
const EQUAL_WITHIN = 1e-9;

/** The middle of the best candidates: a plateau's centre is further from both cliffs than its edge. */
function middleOf<T>(list: readonly T[]): T {
  return list[Math.floor((list.length - 1) / 2)]!;
}

export interface CalibrateOptions {
  readonly grid?: readonly number[];
  readonly minSupport?: number;
  readonly perIntent?: PerIntentMethod;
}

export function calibrate(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  target: CalibrationTarget,
  options: CalibrateOptions = {},
): Calibration {
  const grid = options.grid ?? CALIBRATION_GRID;
  const minSupport = options.minSupport ?? MIN_INTENT_SUPPORT;
  const before = thresholdsOf(set);
  const beforeCounts = countOutcomes(outcomes(set, items, scored, before));
  if (beforeCounts.oos === 0)
    throw new CalibrationError(
      'the data has no out-of-scope items (labels that are not intent ids, e.g. "oos"): ' +
        'without them any threshold looks safe',
    );
  if (target.kind === 'balanced' && beforeCounts.inScope === 0)
    throw new CalibrationError('the data has no in-scope items (labels that are intent ids of the set)');

  const support = new Map<string, number>();
  for (const item of items) {
    const expected = expectedIntent(set, item.label);
    if (expected) support.set(expected, (support.get(expected) ?? 0) + 1);
  }
  const tunable = set.intents.filter((i) => (support.get(i.id) ?? 0) >= minSupport).map((i) => i.id);
  // Intents without enough data keep a threshold of their own if they have one; the rest follow the set.
  const kept = new Map([...before.intents].filter(([id]) => !tunable.includes(id)));

  // 1. The set threshold, with every tunable intent following it.
  const perSet = grid.map((t) => ({
    t,
    counts: countOutcomes(outcomes(set, items, scored, { set: t, intents: kept })),
  }));
  let setThreshold: number;
  if (target.kind === 'balanced') {
    const best = Math.max(...perSet.map((c) => balancedOf(c.counts)));
    // A threshold the data scores as well as any other stays: moving it would change decisions on
    // traffic for no measured gain (with a handful of items, the best range is wide).
    const current = countOutcomes(outcomes(set, items, scored, { set: before.set, intents: kept }));
    setThreshold =
      balancedOf(current) >= best - EQUAL_WITHIN
        ? before.set
        : middleOf(perSet.filter((c) => balancedOf(c.counts) >= best - EQUAL_WITHIN)).t;
  } else {
    const ok = perSet.find((c) => fprOf(c.counts) <= target.maxFpr);
    setThreshold = ok?.t ?? perSet.reduce((a, b) => (fprOf(b.counts) < fprOf(a.counts) ? b : a)).t;
  }

  // 2. Per-intent thresholds.
  let share: number | null = null;
  let intents: Map<string, number>;
  if (options.perIntent === 'share') {
    const shared = shareThresholds(set, items, scored, { set: setThreshold, intents: kept }, target, minSupport);
    ({ share, intents } = shared);
  } else
    intents = fitEachIntent(set, items, scored, { set: setThreshold, intents: kept }, before, tunable, target, grid);

  // No move without a measured gain: thresholds the data scores no better than the current ones would
  // change decisions on traffic for nothing (with a handful of items, many plans tie).
  const proposed: ThresholdPlan = { set: setThreshold, intents };
  const proposedCounts = countOutcomes(outcomes(set, items, scored, proposed));
  const score = (c: Counts): number =>
    target.kind === 'balanced' ? balancedOf(c) : fprOf(c) <= target.maxFpr ? 1 + accuracyOf(c) : -fprOf(c);
  const gains = score(proposedCounts) > score(beforeCounts) + EQUAL_WITHIN;
  const after = gains ? proposed : before;
  const afterCounts = gains ? proposedCounts : beforeCounts;
  const feasible = target.kind === 'balanced' || fprOf(afterCounts) <= target.maxFpr;
  // With `share`, the intents given a threshold of their own are those it set beside the kept ones.
  const calibrated = (id: string) =>
    options.perIntent === 'share' ? intents.has(id) && !kept.has(id) : tunable.includes(id);
  return {
    target: describeTarget(target),
    before: { plan: before, figures: figuresOf(beforeCounts) },
    after: { plan: after, figures: figuresOf(afterCounts) },
    oos_labels: oosLabelsOf(set, items),
    intents: set.intents.map((intent) => ({
      intent: intent.id,
      support: support.get(intent.id) ?? 0,
      before: before.intents.get(intent.id) ?? before.set,
      after: after.intents.get(intent.id) ?? after.set,
      calibrated: calibrated(intent.id),
    })),
    feasible,
    per_intent: options.perIntent ?? 'fit',
    share: gains ? share : null,
  };
}

/** The value of a plan's counts for the target: higher is better; below 0, an `fpr` target missed. */
function valueFor(target: CalibrationTarget): (c: Counts) => number {
  return (c) => (target.kind === 'balanced' ? balancedOf(c) : fprOf(c) <= target.maxFpr ? accuracyOf(c) : -1);
}

/**
 * `share`: for each share q on SHARE_GRID, every intent with at least `minSupport` labelled items
 * matched to it gets the q-quantile of those items' scores as its threshold (2 decimals); the best q
 * for the target wins (ties: the middle one). Other intents keep `start`'s thresholds.
 */
function shareThresholds(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  start: ThresholdPlan,
  target: CalibrationTarget,
  minSupport: number,
): { share: number | null; intents: Map<string, number> } {
  const own = new Map<string, number[]>();
  for (const o of outcomes(set, items, scored, start)) {
    if (o.expected === null || o.candidate !== o.expected) continue;
    const scores = own.get(o.expected) ?? [];
    own.set(o.expected, scores);
    scores.push(o.score);
  }
  const supported = [...own].filter(([, scores]) => scores.length >= minSupport);
  if (supported.length === 0) return { share: null, intents: new Map(start.intents) };
  for (const [, scores] of supported) scores.sort((a, b) => a - b);
  const value = valueFor(target);
  const tried = SHARE_GRID.map((q) => {
    const intents = new Map(start.intents);
    for (const [id, scores] of supported) intents.set(id, round(quantile(scores, q), 2));
    const counts = countOutcomes(outcomes(set, items, scored, { set: start.set, intents }));
    return { q, intents, counts, value: value(counts) };
  });
  const best = Math.max(...tried.map((c) => c.value));
  // An fpr target no share meets: the share with the fewest false matches is the least bad.
  if (best < 0) {
    const least = tried.reduce((a, b) => (fprOf(b.counts) < fprOf(a.counts) ? b : a));
    return { share: least.q, intents: least.intents };
  }
  const chosen = middleOf(tried.filter((c) => c.value >= best - EQUAL_WITHIN));
  return { share: chosen.q, intents: chosen.intents };
}

/** The q-quantile of ascending `sorted`, interpolated between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** `fit`: each tunable intent's own threshold, the others held fixed. */
function fitEachIntent(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  start: ThresholdPlan,
  before: ThresholdPlan,
  tunable: readonly string[],
  target: CalibrationTarget,
  grid: readonly number[],
): Map<string, number> {
  const setThreshold = start.set;
  const intents = new Map(start.intents);
  const deciding = scored.map(decidingIntents);
  let current = outcomes(set, items, scored, { set: setThreshold, intents });
  let counts = countOutcomes(current);
  for (const id of tunable) {
    const affected = deciding.flatMap((d, j) => (d.includes(id) ? [j] : []));
    const base = { ...counts };
    for (const j of affected) addOutcome(base, current[j]!, -1);
    // The intent's own threshold is a candidate even off the grid, so that a tie can keep it.
    const own = before.intents.get(id);
    const candidates = own === undefined || grid.includes(own) ? grid : [...grid, own].sort((a, b) => a - b);
    const tried = candidates.map((t) => {
      const plan = { set: setThreshold, intents: new Map(intents).set(id, t) };
      const changed = outcomes(
        set,
        affected.map((j) => items[j]!),
        affected.map((j) => scored[j]!),
        plan,
      );
      const total = { ...base };
      for (const o of changed) addOutcome(total, o);
      return { t, counts: total, changed };
    });
    const value = valueFor(target);
    const bestValue = Math.max(...tried.map((c) => value(c.counts)));
    // Among equals, stay nearest the intent's threshold now (its own, else the set's): few labelled
    // items do not justify a bigger move, and a hand-set threshold the data cannot fault stays.
    const anchor = own ?? setThreshold;
    const best = tried
      .filter((c) => value(c.counts) >= bestValue - EQUAL_WITHIN)
      .reduce((a, b) => (Math.abs(b.t - anchor) < Math.abs(a.t - anchor) ? b : a));
    if (bestValue < 0) continue;
    if (best.t !== setThreshold || before.intents.has(id)) intents.set(id, best.t);
    counts = best.counts;
    current = replaceAt(current, affected, best.changed);
  }

  return intents;
}

function replaceAt(list: readonly Outcome[], at: readonly number[], values: readonly Outcome[]): Outcome[] {
  const next = [...list];
  at.forEach((j, k) => (next[j] = values[k]!));
  return next;
}
