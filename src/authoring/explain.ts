/**
 * The explanation of one decision: the decision itself, then each retrieved intent with its score,
 * threshold and nearest examples, for `railgate explain`.
 */
import type { Decision } from '../matching/decision.js';
import type { ScoredText } from './scored.js';
import { similarity, table } from './cli.js';

export interface ExplainedNeighbour {
  readonly example: string;
  readonly score: number;
  /** A `not_examples` entry: it speaks against its intent. */
  readonly not_example: boolean;
}

export interface ExplainedIntent {
  readonly intent: string;
  readonly action: string;
  readonly score: number;
  readonly threshold: number;
  /** score ≥ threshold. */
  readonly pass: boolean;
  /** score − threshold. */
  readonly margin: number;
  /** The closest of its not_examples, when one was retrieved. */
  readonly not_example_score: number | null;
  /** Closer to one of its not_examples than to its examples: it cannot match. */
  readonly vetoed: boolean;
  readonly neighbours: ExplainedNeighbour[];
}

export interface Explanation {
  readonly message: string;
  readonly decision: Decision;
  readonly intents: ExplainedIntent[];
}

export function explainScored(message: string, decision: Decision, scored: ScoredText): Explanation {
  const intents = scored.scores.map((s): ExplainedIntent => ({
    intent: s.intent.id,
    action: s.intent.action,
    score: s.score,
    threshold: s.threshold,
    pass: s.score >= s.threshold,
    margin: s.score - s.threshold,
    not_example_score: Number.isFinite(s.negative) ? s.negative : null,
    vetoed: s.vetoGap >= 0,
    neighbours: scored.neighbours
      .filter((n) => n.intent === s.intent.id)
      .map((n) => ({ example: n.example, score: n.score, not_example: n.negative })),
  }));
  return { message, decision, intents };
}

const REASONS: Record<Decision['reason'], string> = {
  matched: 'matched',
  below_threshold: 'no intent reached its threshold',
  low_margin: 'the best intent did not lead the runner-up by match.margin',
  not_example: "the message is closer to an intent's not_examples than to its examples",
  empty: 'the rail set has no intents',
  unreadable: 'the embedding model reads nothing in the message (no character it knows)',
  earlier_message: 'an earlier user message of the conversation matched a refuse intent',
};

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
}

/** The explanation as lines for a terminal. */
export function renderExplanation(e: Explanation, maxIntents = 5, maxNeighbours = 3): string[] {
  const d = e.decision;
  const lines = [
    d.intent
      ? `decision: ${d.action} (intent ${d.intent}, score ${similarity(d.score)} >= threshold ${similarity(d.threshold)})`
      : `decision: ${d.action} (no match: ${REASONS[d.reason]}; best ${d.candidate ?? 'none'} ` +
        `${similarity(d.score)} vs threshold ${similarity(d.threshold)})`,
  ];
  if (d.runnerUp)
    lines.push(`runner-up: ${d.runnerUp.intent} ${similarity(d.runnerUp.score)} (margin ${signed(d.margin ?? 0)})`);
  lines.push(`rail set: ${d.railSet} (rails ${d.railsHash})`);
  // A long message is decided chunk by chunk: say which one, as the scores below are its own.
  if (d.chunk)
    lines.push(
      `decided by chunk ${d.chunk.index + 1} of ${d.chunk.count} (the scores below are its own): ${JSON.stringify(d.chunk.text ?? '')}`,
    );
  lines.push('');

  const shown = e.intents.slice(0, maxIntents);
  if (shown.length === 0) return [...lines, 'no examples retrieved'];
  const rows = shown.map((i) => [
    i.intent,
    similarity(i.score),
    similarity(i.threshold),
    i.vetoed ? 'veto' : i.pass ? 'pass' : 'fail',
    signed(i.margin),
  ]);
  lines.push(...table(['intent', 'score', 'threshold', 'result', 'margin'], rows));
  if (shown.some((i) => i.vetoed))
    lines.push("(veto: the message is closer to one of the intent's not_examples than to its examples)");

  lines.push('', 'nearest examples:');
  for (const intent of shown) {
    lines.push(`  ${intent.intent} (${intent.action})`);
    // The closest few examples, and the closest not_example even when it ranks lower: it explains a veto.
    const closest = intent.neighbours.slice(0, maxNeighbours);
    const negative = intent.neighbours.find((n) => n.not_example);
    if (negative && !closest.includes(negative)) closest.push(negative);
    for (const n of closest)
      lines.push(`    ${similarity(n.score)}  ${n.not_example ? '[not_example] ' : ''}${JSON.stringify(n.example)}`);
  }
  return lines;
}
