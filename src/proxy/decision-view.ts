/**
 * How a Decision is shown to clients: the `railgate` object in JSON bodies and the `x-railgate-*`
 * headers. Both are built here so the two never disagree.
 */
import type { Decision } from '../matching/decision.js';

/** Neighbours shown to clients; the full list stays in the decision log. */
const NEIGHBOURS_SHOWN = 5;

/**
 * How much of a decision clients are shown (setting `decisionDetails`). `full`: scores, runner-up,
 * the nearest rail examples, for app developers tuning against railgate. `brief`: what was decided
 * and why in a word, for clients facing the public, to whom scores are a gauge for rewording a
 * refused request until it passes and the examples are the rails' own text. The log keeps it all.
 */
export const DECISION_DETAILS = ['full', 'brief'] as const;
export type DecisionDetails = (typeof DECISION_DETAILS)[number];

/**
 * The reasons a brief view gives. Why nothing matched (`below_threshold`, `low_margin` for a close
 * runner-up, `not_example` for a near-miss) says how close a refused request came: all are `no_match`.
 */
export type BriefReason = Exclude<Decision['reason'], 'below_threshold' | 'low_margin' | 'not_example'> | 'no_match';

function briefReason(reason: Decision['reason']): BriefReason {
  return reason === 'below_threshold' || reason === 'low_margin' || reason === 'not_example' ? 'no_match' : reason;
}

/** The `railgate` object with `decisionDetails: brief`. */
export interface BriefRailgateView {
  readonly decision: Decision['action'];
  readonly intent: string | null;
  readonly reason: BriefReason;
  readonly rail_set: string;
  readonly request_id: string;
  /** With reason `earlier_message`: the index in `messages` of the user message that refused it. */
  readonly earlier_message_index: number | null;
}

export type RailgateView = BriefRailgateView | FullRailgateView;

export interface FullRailgateView extends Omit<BriefRailgateView, 'reason'> {
  readonly reason: Decision['reason'];
  readonly score: number;
  readonly threshold: number;
  readonly candidate: string | null;
  readonly runner_up: { readonly intent: string; readonly score: number } | null;
  readonly margin: number | null;
  readonly rails_hash: string;
  readonly neighbours: readonly { intent: string; example: string; score: number; negative: boolean }[];
  readonly chunk: Decision['chunk'];
}

/** Four decimals: enough to compare with a threshold, short enough to read. */
export function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

export function decisionView(
  decision: Decision,
  requestId: string,
  earlierIndex: number | null = null,
  details: DecisionDetails = 'full',
): RailgateView {
  if (details === 'brief')
    return {
      decision: decision.action,
      intent: decision.intent,
      reason: briefReason(decision.reason),
      rail_set: decision.railSet,
      request_id: requestId,
      earlier_message_index: earlierIndex,
    };
  return {
    decision: decision.action,
    intent: decision.intent,
    reason: decision.reason,
    score: round4(decision.score),
    threshold: decision.threshold,
    candidate: decision.candidate,
    runner_up: decision.runnerUp ? { intent: decision.runnerUp.intent, score: round4(decision.runnerUp.score) } : null,
    margin: decision.margin === null ? null : round4(decision.margin),
    rail_set: decision.railSet,
    rails_hash: decision.railsHash,
    request_id: requestId,
    neighbours: decision.neighbours.slice(0, NEIGHBOURS_SHOWN).map((n) => ({
      intent: n.intent,
      example: n.example,
      score: round4(n.score),
      negative: n.negative,
    })),
    chunk: decision.chunk,
    earlier_message_index: earlierIndex,
  };
}

export function decisionHeaders(decision: Decision, details: DecisionDetails = 'full'): Record<string, string> {
  return {
    'x-railgate-decision': decision.action,
    'x-railgate-intent': decision.intent ?? 'none',
    ...(details === 'full' && { 'x-railgate-score': decision.score.toFixed(4) }),
    'x-railgate-rails': decision.railSet,
  };
}
