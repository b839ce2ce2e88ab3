/**
 * Batch decisions for the authoring commands. Texts are embedded in batches and searched once; the
 * neighbours and per-intent scores are kept, so a threshold sweep or a calibration re-decides
 * thousands of messages without re-embedding. Every decision still comes from the serving code:
 * `searchNeighbours` → `scoreIntents` → `decideFromScores`.
 */
import { searchNeighbours, type CompiledRailSet } from '../matching/compile.js';
import type { Decision, Neighbour } from '../matching/decision.js';
import { decideFromScores, scoreIntents, type IntentScore } from '../matching/score.js';
import type { RailSet } from '../rails/types.js';

/** How many texts go to the model per call. */
export const EMBED_BATCH = 64;

export interface ScoredText {
  readonly neighbours: readonly Neighbour[];
  /** Per-intent scores, best first, with the thresholds of the rails on disk. */
  readonly scores: readonly IntentScore[];
}

export interface ThresholdPlan {
  /** The set's `match.threshold`. */
  readonly set: number;
  /** Per-intent `threshold` overrides; intents not here use `set`. */
  readonly intents: ReadonlyMap<string, number>;
}

/** The thresholds the rails on disk define. */
export function thresholdsOf(set: RailSet): ThresholdPlan {
  const intents = new Map<string, number>();
  for (const intent of set.intents) if (intent.threshold !== undefined) intents.set(intent.id, intent.threshold);
  return { set: set.match.threshold, intents };
}

export function thresholdFor(plan: ThresholdPlan, intentId: string): number {
  return plan.intents.get(intentId) ?? plan.set;
}

/** Embeds `texts` in batches and scores each against the compiled set; `onProgress` gets texts done. */
export async function scoreTexts(
  compiled: CompiledRailSet,
  texts: readonly string[],
  onProgress?: (done: number) => void,
): Promise<ScoredText[]> {
  const scored: ScoredText[] = [];
  for (let start = 0; start < texts.length; start += EMBED_BATCH) {
    const vectors = await compiled.embedder.embed(texts.slice(start, start + EMBED_BATCH));
    for (const vector of vectors) scored.push(scoreVector(compiled, vector));
    onProgress?.(scored.length);
  }
  return scored;
}

export function scoreVector(compiled: CompiledRailSet, vector: Float32Array): ScoredText {
  const neighbours = searchNeighbours(compiled, vector);
  return { neighbours, scores: scoreIntents(neighbours, compiled.intents, compiled.set.match) };
}

/** The decision the serving code makes for a scored text under `plan` (the rails' own when omitted). */
export function decideScored(set: RailSet, scored: ScoredText, plan?: ThresholdPlan): Decision {
  const scores = plan
    ? scored.scores.map((s) => ({ ...s, threshold: thresholdFor(plan, s.intent.id) }))
    : scored.scores;
  return decideFromScores(
    plan ? { ...set, match: { ...set.match, threshold: plan.set } } : set,
    scores,
    scored.neighbours,
  );
}

/**
 * The intent whose threshold decides this text: the best intent not vetoed by its `not_examples`.
 * Only that intent's threshold can change the text's decision, which lets a calibration re-decide just
 * the texts an intent's threshold touches.
 */
export function decidingIntent(scored: ScoredText): string | null {
  return scored.scores.find((s) => s.negative < s.score)?.intent.id ?? null;
}
