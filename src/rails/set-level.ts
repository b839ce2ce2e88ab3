/**
 * Set-level keys: the settings that apply to a whole rail set (embedding model, matching, what happens
 * when nothing matches, refusal text, upstream). Each may be set in only one file of a set; merge.ts
 * enforces that and fills in the defaults below.
 */
import { isScalar } from 'yaml';
import type { NodeReader, Field, Fields } from './reader.js';
import { NO_MATCH_ACTIONS, type EmbeddingConfig, type MatchConfig, type NoMatchConfig } from './types.js';

export const DEFAULT_EMBEDDING: EmbeddingConfig = { provider: 'bundled', model: undefined, quantized: false };
export const DEFAULT_MATCH: MatchConfig = { threshold: 0.5, k: 10, aggregate: 'max', topK: 3, margin: 0 };
export const DEFAULT_ON_NO_MATCH: NoMatchConfig = { action: 'refuse', message: undefined };
export const DEFAULT_REFUSAL = "Sorry, I can't help with that here.";
export const DEFAULT_UPSTREAM = 'default';

/** Keys that configure the whole set: each may appear in only one file of a set. */
export const SET_KEYS = ['name', 'description', 'embedding', 'match', 'on_no_match', 'refusal', 'upstream'] as const;
export type SetKey = (typeof SET_KEYS)[number];
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Appended to threshold errors: authors used to distances should read this as "higher is stricter". */
export const SIMILARITY_NOTE = ' (a cosine similarity: higher is stricter)';

export interface SetLevel {
  name?: string;
  description?: string;
  embedding?: EmbeddingConfig;
  match?: MatchConfig;
  onNoMatch?: NoMatchConfig;
  refusal?: string;
  upstream?: string;
}

/** Reads the set-level keys of one file into `out` (only valid values). */
export function readSetLevel(r: NodeReader, fields: Fields, out: SetLevel): void {
  const name = fields.get('name');
  if (name) {
    const value = r.string(name);
    if (value !== undefined && !SET_NAME.test(value))
      r.report(
        r.valueNode(name),
        `\`name\` "${value}" may only hold ASCII letters (a-z, A-Z), digits, "_", "." and "-"`,
      );
    else out.name = value;
  }
  const description = fields.get('description');
  if (description) out.description = r.string(description);
  const refusal = fields.get('refusal');
  if (refusal) out.refusal = r.cannedText(refusal);
  const upstream = fields.get('upstream');
  if (upstream) out.upstream = r.string(upstream);

  const embedding = fields.get('embedding');
  if (embedding) out.embedding = readEmbedding(r, embedding);
  const match = fields.get('match');
  if (match) out.match = readMatch(r, match);
  const onNoMatch = fields.get('on_no_match');
  if (onNoMatch) out.onNoMatch = readOnNoMatch(r, onNoMatch);
}

function readEmbedding(r: NodeReader, field: Field): EmbeddingConfig | undefined {
  const fields = r.fields(field.value, '`embedding`', ['provider', 'model', 'quantized'], field.key);
  if (!fields) return undefined;
  const before = r.issues.length;
  const provider = fields.get('provider');
  const model = fields.get('model');
  const quantized = fields.get('quantized');
  const config: EmbeddingConfig = {
    provider: provider ? (r.oneOf(provider, ['bundled', 'transformers', 'openai'] as const) ?? 'bundled') : 'bundled',
    model: model ? r.string(model) : undefined,
    quantized: quantized ? (r.boolean(quantized) ?? false) : false,
  };
  if (r.issues.length !== before) return undefined;
  // Said here, at the key, rather than by the provider at start-up with no position.
  if (config.provider !== 'bundled' && config.model === undefined)
    r.report(
      provider ? r.valueNode(provider) : field.key,
      `the \`${config.provider}\` provider needs a \`model\`: ` +
        (config.provider === 'transformers'
          ? 'a Hugging Face model id or a local folder'
          : 'the embeddings model name the server serves'),
    );
  // Keys that would do nothing for this provider: silently ignored, they hide a missing `provider`.
  const implied = provider ? '' : ' (the default; a `model` needs `provider: transformers` or `openai`)';
  if (model && config.provider === 'bundled')
    r.report(model.key, `\`model\` does nothing with the \`bundled\` provider${implied}`);
  if (quantized && config.quantized && config.provider !== 'transformers')
    r.report(quantized.key, `\`quantized\` does nothing with the \`${config.provider}\` provider${implied}`);
  return r.issues.length === before ? config : undefined;
}

function readMatch(r: NodeReader, field: Field): MatchConfig | undefined {
  const fields = r.fields(
    field.value,
    '`match`',
    [
      'threshold',
      'k',
      'aggregate',
      'top_k',
      'margin',
      'lexical_weight',
      'centroid_weight',
      'chunk_words',
      'scoring',
      'classifier_c',
      'classifier_score',
      'check_earlier_messages',
    ],
    field.key,
  );
  if (!fields) return undefined;
  const before = r.issues.length;
  const read = <T>(key: string, parse: (f: Field) => T | undefined, fallback: T): T => {
    const f = fields.get(key);
    return f ? (parse(f) ?? fallback) : fallback;
  };
  let config: MatchConfig = {
    threshold: read(
      'threshold',
      (f) => r.number(f, { min: 0, max: 1, note: SIMILARITY_NOTE }),
      DEFAULT_MATCH.threshold,
    ),
    k: read('k', (f) => r.number(f, { min: 1, integer: true }), DEFAULT_MATCH.k),
    aggregate: read('aggregate', (f) => r.oneOf(f, ['max', 'mean_top_k'] as const), DEFAULT_MATCH.aggregate),
    topK: read('top_k', (f) => r.number(f, { min: 1, integer: true }), DEFAULT_MATCH.topK),
    margin: read('margin', (f) => r.number(f, { min: 0, max: 1 }), DEFAULT_MATCH.margin),
  };
  // Optional keys stay absent when not written, so the matcher's own defaults apply.
  const optional = <T>(key: string, parse: (f: Field) => T | undefined): T | undefined => {
    const f = fields.get(key);
    return f ? parse(f) : undefined;
  };
  const lexicalWeight = optional('lexical_weight', (f) => r.number(f, { min: 0, max: 1 }));
  const centroidWeight = optional('centroid_weight', (f) => r.number(f, { min: 0, max: 1 }));
  const chunkWords = optional('chunk_words', (f) => r.number(f, { min: 0, integer: true }));
  if (lexicalWeight !== undefined) config = { ...config, lexicalWeight };
  if (centroidWeight !== undefined) config = { ...config, centroidWeight };
  if (chunkWords !== undefined) config = { ...config, chunkWords };
  const scoring = optional('scoring', (f) => r.oneOf(f, ['similarity', 'classifier'] as const));
  const classifierC = optional('classifier_c', (f) => r.number(f, { min: 1e-6 }));
  if (scoring !== undefined) config = { ...config, scoring };
  if (classifierC !== undefined) config = { ...config, classifierC };
  const classifierScore = optional('classifier_score', (f) =>
    r.oneOf(f, ['probability', 'probability_similarity'] as const),
  );
  if (classifierScore !== undefined) config = { ...config, classifierScore };
  const checkEarlierMessages = optional('check_earlier_messages', (f) => r.boolean(f));
  if (checkEarlierMessages !== undefined) config = { ...config, checkEarlierMessages };
  const topK = fields.get('top_k');
  if (topK && config.topK > config.k)
    r.report(
      r.valueNode(topK),
      `\`top_k\` (${config.topK}) must not exceed \`k\` (${config.k}), the neighbours retrieved`,
    );
  return r.issues.length === before ? config : undefined;
}

/** `on_no_match: passthrough` is shorthand for `on_no_match: { action: passthrough }`. */
function readOnNoMatch(r: NodeReader, field: Field): NoMatchConfig | undefined {
  const node = r.deref(field.value);
  if (isScalar(node) && typeof node.value === 'string') {
    const action = r.oneOf(field, NO_MATCH_ACTIONS);
    if (action === 'respond')
      r.report(node, '`on_no_match` action `respond` needs a `message`: use { action: respond, message: "..." }');
    return action && action !== 'respond' ? { action, message: undefined } : undefined;
  }
  const fields = r.fields(field.value, '`on_no_match`', ['action', 'message'], field.key);
  if (!fields) return undefined;
  const before = r.issues.length;
  const actionField = fields.get('action');
  const messageField = fields.get('message');
  const action = actionField ? r.oneOf(actionField, NO_MATCH_ACTIONS) : DEFAULT_ON_NO_MATCH.action;
  const message = messageField ? r.cannedText(messageField) : undefined;
  if (action === 'respond' && !messageField && actionField)
    r.report(r.valueNode(actionField), '`on_no_match` action `respond` needs a `message`: the canned answer');
  if (action === undefined || r.issues.length !== before) return undefined;
  return { action, message };
}
