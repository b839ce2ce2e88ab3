/**
 * From retrieved neighbours to a Decision. Pure: given the same neighbours and rail set, the same
 * decision, which is what makes `explain`, `eval` and `replay` trustworthy.
 */
import type { Intent, MatchConfig, RailSet } from '../rails/types.js';
import type { Decision, DecisionReason, Neighbour } from './decision.js';

export interface IntentScore {
  readonly intent: Intent;
  /** Aggregated similarity of the intent's examples to the message. */
  readonly score: number;
  /** Best similarity of one of the intent's `not_examples`, or -Infinity. */
  readonly negative: number;
  /**
   * How far that not_example is ahead of what it must beat (the intent's own score, or with
   * `scoring: classifier` its best example's similarity): ≥ 0 vetoes the intent. -Infinity without one.
   */
  readonly vetoGap: number;
  /** The threshold that applies to this intent. */
  readonly threshold: number;
  /** With `match.centroid_weight`: the similarity to the intent's centroid that `score` blends in. */
  readonly centroid?: number;
}

/**
 * Aggregates neighbours per intent, best first. Intents without a retrieved example are absent. With
 * `match.centroid_weight` c, an intent's score is (1 − c) · aggregate + c · `centroid(intent)`; the
 * caller supplies that similarity (compile.ts `scoreMessage` does).
 */
export function scoreIntents(
  neighbours: readonly Neighbour[],
  intents: ReadonlyMap<string, Intent>,
  match: MatchConfig,
  centroid?: (intent: string) => number,
): IntentScore[] {
  const centroidWeight = match.centroidWeight ?? 0;
  if (centroidWeight > 0 && !centroid)
    throw new Error('match.centroid_weight needs centroid similarities: score with scoreMessage (compile.ts)');
  const positives = new Map<string, number[]>();
  const negatives = new Map<string, number>();
  for (const n of neighbours) {
    if (n.negative) negatives.set(n.intent, Math.max(negatives.get(n.intent) ?? -Infinity, n.score));
    else {
      const list = positives.get(n.intent);
      if (list) list.push(n.score);
      else positives.set(n.intent, [n.score]);
    }
  }
  const scores: IntentScore[] = [];
  for (const [id, sims] of positives) {
    const intent = intents.get(id);
    if (!intent) continue;
    // Neighbours arrive best first, so each list is already sorted descending.
    const aggregate =
      match.aggregate === 'max'
        ? sims[0]!
        : sims.slice(0, match.topK).reduce((sum, s) => sum + s, 0) / Math.min(sims.length, match.topK);
    const toCentroid = centroidWeight > 0 ? centroid!(id) : undefined;
    const score = toCentroid === undefined ? aggregate : (1 - centroidWeight) * aggregate + centroidWeight * toCentroid;
    const negative = negatives.get(id) ?? -Infinity;
    scores.push({
      intent,
      score,
      negative,
      vetoGap: negative - score,
      threshold: intent.threshold ?? match.threshold,
      ...(toCentroid === undefined ? {} : { centroid: toCentroid }),
    });
  }
  return scores.sort((a, b) => b.score - a.score);
}

/** Turns per-intent scores into the decision for the rail set. */
export function decideFromScores(
  set: RailSet,
  scores: readonly IntentScore[],
  neighbours: readonly Neighbour[],
  chunk: Decision['chunk'] = null,
  unreadable = false,
): Decision {
  const best = scores[0];
  // A message closer to one of an intent's not_examples than to its examples is not that intent.
  const eligible = scores.filter((s) => s.vetoGap < 0);
  const winner = eligible[0];
  const runner = winner ? eligible[1] : undefined;
  let reason: DecisionReason;
  let matched = false;
  // A not_example is the reason only when it set aside an intent that would have matched: the best
  // one, and above its threshold (else nothing would have matched anyway, and a reviewer chasing the
  // not_example would chase the wrong thing).
  const vetoedAMatch = best !== undefined && best !== winner && best.score >= best.threshold;
  // Nothing read is nothing matched: the set's on_no_match, with no scores to weigh.
  if (unreadable) reason = 'unreadable';
  else if (!best) reason = 'empty';
  else if (!winner) reason = vetoedAMatch ? 'not_example' : 'below_threshold';
  else if (winner.score < winner.threshold) reason = vetoedAMatch ? 'not_example' : 'below_threshold';
  else if (set.match.margin > 0 && runner && winner.score - runner.score < set.match.margin) reason = 'low_margin';
  else {
    reason = 'matched';
    matched = true;
  }
  const shown = winner ?? best;
  return {
    action: matched ? winner!.intent.action : set.onNoMatch.action,
    intent: matched ? winner!.intent.id : null,
    reason,
    score: shown?.score ?? 0,
    threshold: shown?.threshold ?? set.match.threshold,
    candidate: shown?.intent.id ?? null,
    runnerUp: runner ? { intent: runner.intent.id, score: runner.score } : null,
    margin: winner && runner ? winner.score - runner.score : null,
    railSet: set.name,
    railsHash: set.hash,
    neighbours,
    chunk,
  };
}
