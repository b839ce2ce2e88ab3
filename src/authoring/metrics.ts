/**
 * What `eval` measures on labelled data. An item is in scope when its label is an intent id of the set;
 * any other label (`oos` by custom) means the message must match nothing.
 *
 * - in-scope accuracy: in-scope items matched to their intent (right intent and above its threshold)
 * - top-1 accuracy: in-scope items whose best intent is the right one, thresholds aside
 * - out-of-scope recall: out-of-scope items that matched nothing
 * - balanced: the mean of the two; null (n/a) unless both exist, as a mean of one is no balance
 */
import type { RailSet } from '../rails/types.js';
import { decideScored, thresholdFor, type ScoredText, type ThresholdPlan } from './scored.js';
import type { LabelledItem } from './dataset.js';

export interface Outcome {
  /** The intent the item must match, or null when it must match nothing. */
  readonly expected: string | null;
  /** The intent it matched, or null. */
  readonly matched: string | null;
  /** The best intent, thresholds aside. */
  readonly candidate: string | null;
  /** The best intent's score. */
  readonly score: number;
}

export interface Rates {
  readonly in_scope_accuracy: number | null;
  readonly oos_recall: number | null;
  readonly balanced: number | null;
}

export interface IntentMetrics {
  readonly intent: string;
  readonly threshold: number;
  /** Labelled items of this intent. */
  readonly support: number;
  /** Items matched to this intent. */
  readonly predicted: number;
  readonly correct: number;
  readonly precision: number | null;
  readonly recall: number | null;
}

export interface Confusion {
  readonly expected: string;
  /** The intent that scored best instead. */
  readonly got: string;
  readonly count: number;
  /** How many of these cleared the threshold, i.e. were answered as the wrong intent. */
  readonly matched: number;
}

/** An item decided otherwise than its label says, where it is in the data file. */
export interface Mistake {
  readonly line: number;
  readonly text: string;
  readonly label: string;
  /** The intent it should have matched, or null when it must match nothing. */
  readonly expected: string | null;
  /** The intent it matched, or null when it matched nothing. */
  readonly matched: string | null;
  /** The best intent, thresholds aside, and its score: why it matched, or how far it fell short. */
  readonly candidate: string | null;
  readonly score: number;
}

export interface SweepRow extends Rates {
  readonly threshold: number;
}

export interface EvalReport extends Rates {
  readonly rail_set: string;
  readonly rails_hash: string;
  readonly threshold: number;
  readonly n: number;
  readonly n_in_scope: number;
  readonly n_oos: number;
  readonly top1_accuracy: number | null;
  /** Out-of-scope items matched to some intent, over all out-of-scope items. */
  readonly oos_false_match_rate: number | null;
  readonly per_intent: IntentMetrics[];
  readonly confusions: Confusion[];
  /** Labels that are not intent ids (read as out of scope), with counts: catches typos. */
  readonly oos_labels: Record<string, number>;
  readonly sweep: SweepRow[];
  /** Every item decided otherwise than its label says, in file order: what to look at next. */
  readonly mistakes: Mistake[];
}

/** The item's expected intent: its label when that names an intent of the set, else null. */
export function expectedIntent(set: RailSet, label: string): string | null {
  return set.intents.some((intent) => intent.id === label) ? label : null;
}

export function outcomes(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  plan?: ThresholdPlan,
): Outcome[] {
  return items.map((item, i) => {
    const decision = decideScored(set, scored[i]!, plan);
    return {
      expected: expectedIntent(set, item.label),
      matched: decision.intent,
      candidate: decision.candidate,
      score: decision.score,
    };
  });
}

export interface Counts {
  inScope: number;
  correct: number;
  oos: number;
  rejected: number;
}

export function emptyCounts(): Counts {
  return { inScope: 0, correct: 0, oos: 0, rejected: 0 };
}

export function addOutcome(counts: Counts, outcome: Outcome, sign = 1): void {
  if (outcome.expected === null) {
    counts.oos += sign;
    if (outcome.matched === null) counts.rejected += sign;
  } else {
    counts.inScope += sign;
    if (outcome.matched === outcome.expected) counts.correct += sign;
  }
}

export function countOutcomes(list: readonly Outcome[]): Counts {
  const counts = emptyCounts();
  for (const outcome of list) addOutcome(counts, outcome);
  return counts;
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

export function ratesOf(counts: Counts): Rates {
  const accuracy = ratio(counts.correct, counts.inScope);
  const recall = ratio(counts.rejected, counts.oos);
  const balanced = accuracy === null || recall === null ? null : (accuracy + recall) / 2;
  return { in_scope_accuracy: accuracy, oos_recall: recall, balanced };
}

/** The set thresholds `eval` tabulates: 0.30 to 0.90 in steps of 0.05. */
export const SWEEP_THRESHOLDS: readonly number[] = Array.from({ length: 13 }, (_, i) => round(0.3 + i * 0.05, 2));

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** In-scope accuracy, OOS recall and balanced for each set threshold; intents with their own threshold keep it. */
export function sweep(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  base: ThresholdPlan,
  thresholds: readonly number[] = SWEEP_THRESHOLDS,
): SweepRow[] {
  return thresholds.map((threshold) => {
    const plan = { set: threshold, intents: base.intents };
    return { threshold, ...ratesOf(countOutcomes(outcomes(set, items, scored, plan))) };
  });
}

export function evaluate(
  set: RailSet,
  items: readonly LabelledItem[],
  scored: readonly ScoredText[],
  plan: ThresholdPlan,
): EvalReport {
  const list = outcomes(set, items, scored, plan);
  const counts = countOutcomes(list);
  const inScope = list.filter((o) => o.expected !== null);
  const top1 = inScope.filter((o) => o.candidate === o.expected).length;

  const perIntent = set.intents.map((intent): IntentMetrics => {
    const support = list.filter((o) => o.expected === intent.id).length;
    const predicted = list.filter((o) => o.matched === intent.id).length;
    const correct = list.filter((o) => o.expected === intent.id && o.matched === intent.id).length;
    return {
      intent: intent.id,
      threshold: thresholdFor(plan, intent.id),
      support,
      predicted,
      correct,
      precision: ratio(correct, predicted),
      recall: ratio(correct, support),
    };
  });

  const confusions = new Map<string, { expected: string; got: string; count: number; matched: number }>();
  for (const o of inScope) {
    if (o.candidate === null || o.candidate === o.expected) continue;
    const key = `${o.expected}\0${o.candidate}`;
    const entry = confusions.get(key) ?? { expected: o.expected!, got: o.candidate, count: 0, matched: 0 };
    entry.count++;
    if (o.matched === o.candidate) entry.matched++;
    confusions.set(key, entry);
  }

  const oosLabels = oosLabelsOf(set, items);

  return {
    rail_set: set.name,
    rails_hash: set.hash,
    threshold: plan.set,
    n: list.length,
    n_in_scope: counts.inScope,
    n_oos: counts.oos,
    ...ratesOf(counts),
    top1_accuracy: ratio(top1, counts.inScope),
    oos_false_match_rate: ratio(counts.oos - counts.rejected, counts.oos),
    per_intent: perIntent,
    confusions: [...confusions.values()].sort(
      (a, b) => b.count - a.count || b.matched - a.matched || a.expected.localeCompare(b.expected),
    ),
    oos_labels: oosLabels,
    sweep: sweep(set, items, scored, plan),
    mistakes: list.flatMap((o, i) => {
      if (o.matched === o.expected) return [];
      const { line, text, label } = items[i]!;
      return [{ line, text, label, expected: o.expected, matched: o.matched, candidate: o.candidate, score: o.score }];
    }),
  };
}

/** Labels that are not intent ids of the set (read as out of scope), with counts: catches typos. */
export function oosLabelsOf(set: RailSet, items: readonly LabelledItem[]): Record<string, number> {
  const labels: Record<string, number> = {};
  for (const item of items)
    if (expectedIntent(set, item.label) === null) labels[item.label] = (labels[item.label] ?? 0) + 1;
  return labels;
}
