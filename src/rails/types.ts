/**
 * The validated, frozen shape of a rail set, as produced by the loader (`load.ts`). Nothing downstream
 * reads YAML: matching, the proxy and the CLI all work from these objects.
 */
export const INTENT_ACTIONS = ['forward', 'passthrough', 'respond', 'refuse'] as const;
export type IntentAction = (typeof INTENT_ACTIONS)[number];

export const NO_MATCH_ACTIONS = ['refuse', 'passthrough', 'respond'] as const;
export type NoMatchAction = (typeof NO_MATCH_ACTIONS)[number];

/** The reserved `expect` value of a test case whose input must not match any intent. */
export const NO_MATCH = 'no_match';

/** The placeholder a `forward` prompt may use when its intent sets `user_message_slot: true`. */
export const USER_MESSAGE_SLOT = '{{user_message}}';

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface PromptMessage {
  readonly role: 'system' | 'developer' | 'user' | 'assistant';
  readonly content: string;
}

export interface Intent {
  readonly id: string;
  readonly description: string | undefined;
  readonly action: IntentAction;
  readonly examples: readonly string[];
  /** Near-misses that must not match this intent; they take part in scoring. */
  readonly notExamples: readonly string[];
  /** `forward` only: the vetted messages sent upstream instead of the client's. */
  readonly prompt: readonly PromptMessage[] | undefined;
  /** `forward` only: whether `{{user_message}}` in the prompt is replaced by the user's text. */
  readonly userMessageSlot: boolean;
  /** `forward` only: overrides the client's `model` upstream. */
  readonly model: string | undefined;
  /** `respond` only: the canned answer. */
  readonly response: string | undefined;
  /** `refuse` only: overrides the set's `refusal` message. */
  readonly message: string | undefined;
  /** Cosine similarity in [0, 1]; overrides the set's `match.threshold`. */
  readonly threshold: number | undefined;
  readonly source: SourceLocation;
}

export interface EmbeddingConfig {
  readonly provider: 'bundled' | 'transformers' | 'openai';
  /** Hub id or local directory (transformers), model name (openai); unused by `bundled`. */
  readonly model: string | undefined;
  /** transformers only: load the quantized ONNX weights. */
  readonly quantized: boolean;
}

export interface MatchConfig {
  /** Cosine similarity in [0, 1] a message must reach to match an intent; higher is stricter. */
  readonly threshold: number;
  /** How many nearest examples are retrieved per message. */
  readonly k: number;
  /** How an intent's score is made from its examples' similarities. */
  readonly aggregate: 'max' | 'mean_top_k';
  /** For `mean_top_k`: how many of the intent's best similarities are averaged. */
  readonly topK: number;
  /** Minimum lead over the runner-up intent; 0 disables the margin rule. */
  readonly margin: number;
  /**
   * Weight in [0, 1] of the lexical similarity (character n-gram TF-IDF cosine) blended into each
   * example's similarity: (1 − w) · embedding cosine + w · lexical cosine. Absent or 0: embeddings only.
   */
  readonly lexicalWeight?: number;
  /**
   * Weight in [0, 1] of the similarity to the intent's centroid (the mean of its examples) blended
   * into the intent's score: (1 − c) · aggregate + c · centroid similarity. Absent or 0: off.
   */
  readonly centroidWeight?: number;
  /** Messages longer than this many words are decided chunk by chunk; 0 turns chunking off. Default 30. */
  readonly chunkWords?: number;
  /**
   * How an intent's score is made: `similarity` (default) from its nearest examples, as above;
   * `classifier`: its probability under a logistic regression fitted at load on the set's examples
   * (embedding and character n-grams as features; classifier.ts). Thresholds and margin then apply
   * to probabilities.
   */
  readonly scoring?: 'similarity' | 'classifier';
  /** For `scoring: classifier`: inverse L2 regularisation strength (larger fits the examples closer). */
  readonly classifierC?: number;
  /**
   * For `scoring: classifier`: `probability` (default) scores an intent by its probability alone;
   * `probability_similarity` multiplies it by the message's similarity to the intent's nearest example
   * (the `lexical_weight` blend, floored at 0), so a message must also be close to what the intent
   * has seen, not only more like it than like the set's other intents.
   */
  readonly classifierScore?: 'probability' | 'probability_similarity';
  /**
   * Whether a passthrough is vetoed when an earlier user message of the conversation (which the
   * upstream would read too) matches a `refuse` intent. Absent: true.
   */
  readonly checkEarlierMessages?: boolean;
}

export interface NoMatchConfig {
  readonly action: NoMatchAction;
  /** The refusal or canned response; defaults to the set's `refusal`. */
  readonly message: string | undefined;
}

export interface RailTest {
  readonly input: string;
  /** An intent id, or `no_match`. */
  readonly expect: string;
  readonly source: SourceLocation;
}

export interface RailSet {
  readonly name: string;
  readonly description: string | undefined;
  /** Absolute path of the set's folder. */
  readonly dir: string;
  /** Absolute paths of the YAML files, sorted. */
  readonly files: readonly string[];
  readonly embedding: EmbeddingConfig;
  readonly match: MatchConfig;
  readonly onNoMatch: NoMatchConfig;
  /** The default refusal message for `refuse` intents and `on_no_match: refuse`. */
  readonly refusal: string;
  /** Name of the upstream (from settings) that forward/passthrough use. */
  readonly upstream: string;
  readonly intents: readonly Intent[];
  readonly tests: readonly RailTest[];
  /** sha256 (hex, first 16 chars) over the set's files' bytes: which rails decided. */
  readonly hash: string;
  readonly loadedAt: Date;
}

/**
 * One problem found while loading rails; rendered as `file:line:column: message`. Line and column are
 * 1-based; both are 0 for a problem with a whole file or folder (e.g. a folder without rail files).
 */
export interface RailIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}
