/**
 * Scoring an evaluation and choosing thresholds from decisions. A text is decided once with threshold
 * and margin 0; its Decision (intent, score, margin) then says what any threshold and margin would
 * have decided, which makes a sweep cheap. The reported numbers come from deciding again, for real,
 * with the chosen settings (and are checked against this prediction).
 */
import { quantile, SHARE_GRID } from '../../src/authoring/calibrate.js';
import { round } from '../../src/authoring/metrics.js';
import type { Decision } from '../../src/matching/decision.js';

export interface Observation {
  /** The true intent, null when the text is out of scope. */
  readonly gold: string | null;
  /** The best intent not vetoed by a not_example (null when none). */
  readonly candidate: string | null;
  readonly score: number;
  readonly margin: number | null;
}

export function observe(gold: string | null, decision: Decision): Observation {
  return { gold, candidate: decision.intent, score: decision.score, margin: decision.margin };
}

export interface Thresholds {
  readonly threshold: number;
  readonly margin: number;
  /** Per-intent overrides of `threshold`. */
  readonly intents?: ReadonlyMap<string, number>;
}

export interface Scores {
  /** In-scope texts given their right intent (matched: above threshold and margin). */
  readonly inScopeAccuracy: number;
  /** Out-of-scope texts that matched nothing. */
  readonly oosRecall: number;
  /** (inScopeAccuracy + oosRecall) / 2. */
  readonly balanced: number;
  /** In-scope texts whose best intent is right, thresholds aside. */
  readonly top1: number;
}

export function matches(o: Observation, t: Thresholds): boolean {
  if (o.candidate === null) return false;
  const threshold = t.intents?.get(o.candidate) ?? t.threshold;
  if (o.score < threshold) return false;
  return !(t.margin > 0 && o.margin !== null && o.margin < t.margin);
}

export function scoreWith(observations: readonly Observation[], t: Thresholds): Scores {
  let inScope = 0;
  let correct = 0;
  let top = 0;
  let oos = 0;
  let rejected = 0;
  for (const o of observations) {
    const matched = matches(o, t);
    if (o.gold === null) {
      oos++;
      if (!matched) rejected++;
    } else {
      inScope++;
      if (o.candidate === o.gold) {
        top++;
        if (matched) correct++;
      }
    }
  }
  const inScopeAccuracy = inScope ? correct / inScope : 0;
  const oosRecall = oos ? rejected / oos : 0;
  return { inScopeAccuracy, oosRecall, balanced: (inScopeAccuracy + oosRecall) / 2, top1: inScope ? top / inScope : 0 };
}

/** Thresholds a rail author would write: 0.300 to 1.000 in steps of 0.005. */
const THRESHOLD_GRID = Array.from({ length: 141 }, (_, i) => Math.round((0.3 + i * 0.005) * 1000) / 1000);
const MARGIN_GRID = [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15];

/** The global threshold (and margin, when `withMargin`) with the best balanced score on `observations`. */
export function fitGlobal(observations: readonly Observation[], withMargin: boolean): Thresholds {
  let best: { t: Thresholds; balanced: number } | undefined;
  for (const margin of withMargin ? MARGIN_GRID : [0]) {
    for (const threshold of THRESHOLD_GRID) {
      const t = { threshold, margin };
      const { balanced } = scoreWith(observations, t);
      // Ties go to the lower threshold and margin: the least strict setting that scores as well.
      if (!best || balanced > best.balanced + 1e-12) best = { t, balanced };
    }
  }
  return best!.t;
}

/**
 * Per-intent thresholds on top of `global`. The balanced score is a sum over texts grouped by their
 * candidate intent, so each intent's threshold is chosen on its own texts; ties keep the global one.
 */
export function fitPerIntent(observations: readonly Observation[], global: Thresholds): Thresholds {
  const inScope = observations.filter((o) => o.gold !== null).length;
  const oos = observations.length - inScope;
  const byIntent = new Map<string, Observation[]>();
  for (const o of observations) {
    if (o.candidate === null) continue;
    const list = byIntent.get(o.candidate);
    if (list) list.push(o);
    else byIntent.set(o.candidate, [o]);
  }
  const intents = new Map<string, number>();
  for (const [intent, list] of byIntent) {
    let best = { threshold: global.threshold, value: -Infinity };
    for (const threshold of [global.threshold, ...THRESHOLD_GRID]) {
      const t = { threshold, margin: global.margin };
      let value = 0;
      for (const o of list) {
        const matched = matches(o, t);
        if (o.gold === null && !matched) value += 1 / oos;
        else if (o.gold === intent && matched) value += 1 / inScope;
      }
      const closer = Math.abs(threshold - global.threshold) < Math.abs(best.threshold - global.threshold);
      if (value > best.value + 1e-12 || (Math.abs(value - best.value) <= 1e-12 && closer)) best = { threshold, value };
    }
    if (best.threshold !== global.threshold) intents.set(intent, best.threshold);
  }
  return { ...global, intents };
}

/**
 * Per-intent thresholds as `railgate calibrate --per-intent share` chooses them (src/authoring/
 * calibrate.ts): each intent's threshold is the q-quantile of the scores of its own in-scope texts it
 * is the best intent for (2 decimals; intents with fewer than 5 such texts keep `global`), one q
 * for all intents with the best balanced score (ties: the middle one). Out-of-scope texts only
 * choose q.
 */
export function fitShare(observations: readonly Observation[], global: Thresholds): Thresholds {
  const own = new Map<string, number[]>();
  for (const o of observations) {
    if (o.gold === null || o.candidate !== o.gold) continue;
    const scores = own.get(o.gold) ?? [];
    own.set(o.gold, scores);
    scores.push(o.score);
  }
  const supported = [...own].filter(([, scores]) => scores.length >= 5);
  for (const [, scores] of supported) scores.sort((a, b) => a - b);
  const tried = SHARE_GRID.map((q) => {
    const intents = new Map(supported.map(([id, scores]) => [id, round(quantile(scores, q), 2)]));
    const t = { ...global, intents };
    return { t, balanced: scoreWith(observations, t).balanced };
  });
  const best = Math.max(...tried.map((c) => c.balanced));
  const ties = tried.filter((c) => c.balanced >= best - 1e-9);
  return ties[Math.floor((ties.length - 1) / 2)]!.t;
}
