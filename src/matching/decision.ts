import type { IntentAction } from '../rails/types.js';

/** One retrieved example: which intent it belongs to and how similar it is (cosine). */
export interface Neighbour {
  readonly intent: string;
  readonly example: string;
  readonly score: number;
  /** A `not_examples` entry: it speaks against its intent. */
  readonly negative: boolean;
  /** With `match.lexical_weight`: the two similarities `score` blends (embedding and lexical cosine). */
  readonly embedding?: number;
  readonly lexical?: number;
}

export type DecisionReason =
  /** The best intent cleared its threshold (and the margin rule). */
  | 'matched'
  /** The best intent scored below its threshold. */
  | 'below_threshold'
  /** The best intent cleared its threshold but led the runner-up by less than `match.margin`. */
  | 'low_margin'
  /** The message was closer to one of the intent's `not_examples` than to its examples. */
  | 'not_example'
  /** The rail set has no intents. */
  | 'empty'
  /**
   * The embedding model read nothing in the message (the bundled model: only characters outside its
   * vocabulary, such as emoji or a script it was not trained on), so it matches no intent.
   */
  | 'unreadable'
  /**
   * The last user message would pass through, but an earlier one of the conversation (which the
   * upstream would read too) matched this `refuse` intent; the decision's scores are that message's.
   */
  | 'earlier_message';

/** Every reason, for filters that take one by name (`railgate logs --reason`). */
export const DECISION_REASONS = [
  'matched',
  'below_threshold',
  'low_margin',
  'not_example',
  'empty',
  'unreadable',
  'earlier_message',
] as const satisfies readonly DecisionReason[];
// A reason added to the type but not to the list fails to compile here.
const everyReasonListed: Exclude<DecisionReason, (typeof DECISION_REASONS)[number]> extends never ? true : never = true;
void everyReasonListed;

/**
 * What railgate decided for one message. The same object goes into the HTTP response (`railgate`
 * field and `x-railgate-*` headers), the decision log and the CLI.
 */
export interface Decision {
  /** What railgate does: the intent's action, or the set's `on_no_match` action. */
  readonly action: IntentAction;
  /** The matched intent, or null when nothing matched well enough. */
  readonly intent: string | null;
  readonly reason: DecisionReason;
  /** The best intent's score (cosine similarity), matched or not. */
  readonly score: number;
  /** The threshold that applied to the best intent. */
  readonly threshold: number;
  /** The best intent's id, even when it did not match (for review). */
  readonly candidate: string | null;
  readonly runnerUp: { readonly intent: string; readonly score: number } | null;
  /** score − runner-up score. */
  readonly margin: number | null;
  readonly railSet: string;
  readonly railsHash: string;
  readonly neighbours: readonly Neighbour[];
  /**
   * Long messages are split; which chunk decided (0-based), how many there were, and the chunk's own
   * text, so a reviewer sees which part of the message matched.
   */
  readonly chunk: { readonly index: number; readonly count: number; readonly text?: string } | null;
}

export interface DecisionTimings {
  embedMs: number;
  searchMs: number;
}
