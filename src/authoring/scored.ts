/**
 * Batch decisions for the authoring commands. Texts are embedded in batches and searched once; the
 * neighbours and per-intent scores are kept, so a threshold sweep or a calibration re-decides
 * thousands of messages without re-embedding. Every decision still comes from the serving code:
 * the same folding and chunking (`foldForMatching`, `chunksOf`), scoring (`scoreMessage`: lexical and centroid blends
 * included), `decideFromScores`, and `pickChunkDecision` for long messages.
 */
import { foldForMatching } from '../matching/fold.js';
import { chunksOf, scoreMessage, type CompiledRailSet } from '../matching/compile.js';
import type { Decision, Neighbour } from '../matching/decision.js';
import { pickChunkDecision } from '../matching/runtime.js';
import { decideFromScores, type IntentScore } from '../matching/score.js';
import type { RailSet } from '../rails/types.js';

/** How many texts go to the model per call. */
export const EMBED_BATCH = 64;

export interface ScoredChunk {
  /** The chunk's text, for a long message decided chunk by chunk. */
  readonly text?: string;
  readonly neighbours: readonly Neighbour[];
  /** Per-intent scores, best first, with the thresholds of the rails on disk. */
  readonly scores: readonly IntentScore[];
  /** The model read nothing of it: it matches nothing (reason `unreadable`), as when serving. */
  readonly unreadable?: boolean;
}

export interface ScoredText extends ScoredChunk {
  /**
   * A long message is decided chunk by chunk, as the proxy does: every chunk's scores, in order.
   * `neighbours` and `scores` above are then those of the chunk that decides under the rails on disk.
   */
  readonly chunks?: readonly ScoredChunk[];
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

/** Embeds `texts` (their chunks, for long ones) in batches and scores each; `onProgress` gets texts done. */
export async function scoreTexts(
  compiled: CompiledRailSet,
  texts: readonly string[],
  onProgress?: (done: number) => void,
): Promise<ScoredText[]> {
  const scored: ScoredText[] = [];
  for (let start = 0; start < texts.length; start += EMBED_BATCH) {
    const batch = texts.slice(start, start + EMBED_BATCH).map((text) => chunksOf(compiled, foldForMatching(text)));
    const vectors = await compiled.embedder.embed(batch.flat());
    let next = 0;
    for (const chunks of batch) {
      const parts = chunks.map((chunk) => ({ ...scoreMessage(compiled, vectors[next++]!, chunk), text: chunk }));
      scored.push(combine(compiled.set, parts));
    }
    onProgress?.(scored.length);
  }
  return scored;
}

/** Scores one message, chunked as the proxy would; embeds with the set's embedder. */
export async function scoreText(compiled: CompiledRailSet, text: string): Promise<ScoredText> {
  return (await scoreTexts(compiled, [text]))[0]!;
}

function combine(set: RailSet, parts: readonly ScoredChunk[]): ScoredText {
  if (parts.length === 1) return parts[0]!;
  const decisions = parts.map((part, index) => decideChunk(set, part, chunkOf(parts, index)));
  const deciding = parts[pickChunkDecision(decisions).chunk!.index]!;
  return {
    neighbours: deciding.neighbours,
    scores: deciding.scores,
    ...(deciding.unreadable ? { unreadable: true } : {}),
    chunks: parts,
  };
}

/** The `chunk` of a decision made by `parts[index]`, as the proxy reports it. */
function chunkOf(parts: readonly ScoredChunk[], index: number): Decision['chunk'] {
  const { text } = parts[index]!;
  return { index, count: parts.length, ...(text !== undefined ? { text } : {}) };
}

function decideChunk(set: RailSet, scored: ScoredChunk, chunk: Decision['chunk'], plan?: ThresholdPlan): Decision {
  const scores = plan
    ? scored.scores.map((s) => ({ ...s, threshold: thresholdFor(plan, s.intent.id) }))
    : scored.scores;
  return decideFromScores(
    plan ? { ...set, match: { ...set.match, threshold: plan.set } } : set,
    scores,
    scored.neighbours,
    chunk,
    scored.unreadable,
  );
}

/** The decision the serving code makes for a scored text under `plan` (the rails' own when omitted). */
export function decideScored(set: RailSet, scored: ScoredText, plan?: ThresholdPlan): Decision {
  const { chunks } = scored;
  if (!chunks) return decideChunk(set, scored, null, plan);
  return pickChunkDecision(chunks.map((part, index) => decideChunk(set, part, chunkOf(chunks, index), plan)));
}

/**
 * The intents whose thresholds can decide this text: the best intent not vetoed by its `not_examples`
 * (of every chunk, for a long text). Only their thresholds can change the text's decision, which lets
 * a calibration re-decide just the texts an intent's threshold touches.
 */
export function decidingIntents(scored: ScoredText): string[] {
  const ids = (scored.chunks ?? [scored]).map((c) => c.scores.find((s) => s.vetoGap < 0)?.intent.id);
  return [...new Set(ids.filter((id): id is string => id !== undefined))];
}
