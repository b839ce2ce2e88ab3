/**
 * A rail set made searchable: every example and not-example embedded once, at load, into one index
 * (and, with `match.lexical_weight`, a character n-gram index; with `match.centroid_weight`, one
 * centroid per intent). Nothing here runs per request except the search and the scoring.
 */
import path from 'node:path';
import { DEFAULT_CHUNK_WORDS, DEFAULT_MAX_CHUNKS, singleSpaced, splitIntoChunks } from './chunk.js';
import { dot, readNothing, type Embedder } from '../embedding/embedder.js';
import type { Intent, RailSet } from '../rails/types.js';
import type { Decision, Neighbour } from './decision.js';
import { LexicalIndex, sparseDot, type SparseVector } from './lexical.js';
import { scoreIntents, decideFromScores, type IntentScore } from './score.js';
import type { IntentClassifier } from './classifier.js';
import { loadOrFitClassifier } from './classifier-store.js';
import { buildIndex } from './index-store.js';
import { foldForMatching } from './fold.js';
import { inSlices } from '../in-slices.js';
import type { IndexOptions, VectorIndex } from './vector-index.js';

interface IndexedExample {
  readonly intent: string;
  readonly text: string;
  readonly negative: boolean;
}

/** An intent's centroids: the normalised mean of its examples' vectors, in both spaces. */
export interface IntentCentroid {
  readonly embedding: Float32Array;
  readonly lexical: SparseVector | undefined;
}

export interface CompiledRailSet {
  readonly set: RailSet;
  readonly embedder: Embedder;
  readonly index: VectorIndex;
  readonly examples: readonly IndexedExample[];
  readonly intents: ReadonlyMap<string, Intent>;
  /** Most chunks a long message is split into (limits.messageChunks), for the proxy and the authoring commands alike. */
  readonly maxChunks: number;
  /** The examples' vectors, in `examples` order; kept when lexical or centroid scoring needs them. */
  readonly vectors?: readonly Float32Array[];
  /** Present when `match.lexical_weight` > 0. */
  readonly lexical?: LexicalIndex;
  /** Present when `match.centroid_weight` > 0. */
  readonly centroids?: ReadonlyMap<string, IntentCentroid>;
  /** Present with `match.scoring: classifier`: the fitted model and the intent of each class. */
  readonly classifier?: {
    readonly model: IntentClassifier;
    readonly intents: readonly Intent[];
    /** Read back from `classifierDir` rather than fitted at this load. */
    readonly fromDisk: boolean;
  };
}

export interface CompileOptions extends IndexOptions {
  /** Where fitted classifiers (`match.scoring: classifier`) are kept across restarts. */
  readonly classifierDir?: string;
  /** Progress of embedding a set's examples (only those not already in the persistent cache). */
  readonly onProgress?: (set: string, done: number, total: number) => void;
  /** Stops embedding examples between batches (railgate closing while it loads). */
  readonly signal?: AbortSignal;
  /** limits.messageChunks; default DEFAULT_MAX_CHUNKS. */
  readonly maxChunks?: number;
}

/**
 * The index settings, and where HNSW graphs and fitted classifiers are stored: beside the example
 * cache file `cacheDb` (an absolute path), and, like it, nowhere with `:memory:`. The proxy and the
 * authoring commands compile with the same stores.
 */
export function storedCompileOptions(index: IndexOptions, cacheDb: string): CompileOptions {
  if (cacheDb === ':memory:') return { ...index };
  const dir = path.dirname(cacheDb);
  return { ...index, graphDir: path.join(dir, 'hnsw'), classifierDir: path.join(dir, 'classifiers') };
}

/** The set's lexical and centroid weights, 0 when absent. */
export function blendWeights(set: RailSet): { lexical: number; centroid: number } {
  return { lexical: set.match.lexicalWeight ?? 0, centroid: set.match.centroidWeight ?? 0 };
}

/** Every example and not-example of the set, in index order. */
function indexedExamples(set: RailSet): IndexedExample[] {
  return set.intents.flatMap((intent) => [
    ...intent.examples.map((text) => ({ intent: intent.id, text, negative: false })),
    ...intent.notExamples.map((text) => ({ intent: intent.id, text, negative: true })),
  ]);
}

/** An example as it is embedded: read as messages are (folded, single-spaced: fold.ts, chunk.ts). */
function embeddedText(text: string): string {
  return singleSpaced(foldForMatching(text));
}

/** The texts a set embeds, in index order: what the example cache holds for it. */
export function embeddedTexts(set: RailSet): string[] {
  return indexedExamples(set).map((e) => embeddedText(e.text));
}

export async function compileRailSet(
  set: RailSet,
  embedder: Embedder,
  options: CompileOptions = {},
): Promise<CompiledRailSet> {
  const examples = indexedExamples(set);
  // `examples` keep the text as written, for explanations.
  const texts: string[] = [];
  await inSlices(examples.length, (i) => void texts.push(embeddedText(examples[i]!.text)));
  const onProgress =
    options.onProgress && ((done: number, total: number) => options.onProgress!(set.name, done, total));
  // embedBulk uses the persistent example cache where the embedder has one.
  const vectors = embedder.embedBulk
    ? await embedder.embedBulk(texts, { onProgress, signal: options.signal, list: set.name })
    : await embedder.embed(texts);
  const weights = blendWeights(set);
  const classify = set.match.scoring === 'classifier';
  // The classifier reads character n-grams too, blended or not.
  const lexical = weights.lexical > 0 || classify ? await LexicalIndex.create(texts) : undefined;
  const centroids =
    weights.centroid > 0 ? await buildCentroids(set, examples, vectors, embedder.dimension, lexical) : undefined;
  const classifier = classify
    ? await fitClassifier(set, examples, vectors, lexical!, options.classifierDir)
    : undefined;
  const index = await buildIndex(set.name, vectors, embedder.dimension, options);
  return Object.freeze({
    set,
    embedder,
    index,
    examples: Object.freeze(examples),
    intents: new Map(set.intents.map((intent) => [intent.id, intent])),
    maxChunks: options.maxChunks ?? DEFAULT_MAX_CHUNKS,
    ...(lexical || centroids ? { vectors } : {}),
    ...(lexical ? { lexical } : {}),
    ...(centroids ? { centroids } : {}),
    ...(classifier ? { classifier } : {}),
  });
}

/** The set's intent classifier, fitted on its examples (not_examples keep their neighbour veto instead). */
async function fitClassifier(
  set: RailSet,
  examples: readonly IndexedExample[],
  vectors: readonly Float32Array[],
  lexical: LexicalIndex,
  dir: string | undefined,
): Promise<NonNullable<CompiledRailSet['classifier']>> {
  const classOf = new Map(set.intents.map((intent, k) => [intent.id, k]));
  const training = examples.flatMap((e, id) =>
    e.negative ? [] : [{ dense: vectors[id]!, sparse: lexical.vectorOf(id), label: classOf.get(e.intent)! }],
  );
  const options = set.match.classifierC !== undefined ? { c: set.match.classifierC } : {};
  const { model, fromDisk } = await loadOrFitClassifier(set.name, training, set.intents.length, options, dir);
  return { model, intents: set.intents, fromDisk };
}

/** Each intent's centroid, intent by intent in slices (inSlices): a large set builds them while the proxy serves. */
async function buildCentroids(
  set: RailSet,
  examples: readonly IndexedExample[],
  vectors: readonly Float32Array[],
  dimension: number,
  lexical: LexicalIndex | undefined,
): Promise<Map<string, IntentCentroid>> {
  const idsOf = new Map<string, number[]>(set.intents.map((intent) => [intent.id, []]));
  examples.forEach((e, id) => e.negative || idsOf.get(e.intent)?.push(id));
  const centroids = new Map<string, IntentCentroid>();
  await inSlices(set.intents.length, (k) => {
    const intent = set.intents[k]!;
    const ids = idsOf.get(intent.id)!;
    const sum = new Float32Array(dimension);
    for (const id of ids) vectors[id]!.forEach((x, i) => (sum[i]! += x));
    const norm = Math.sqrt(dot(sum, sum));
    if (norm > 0) for (let i = 0; i < dimension; i++) sum[i]! /= norm;
    centroids.set(intent.id, { embedding: sum, lexical: lexical?.centroid(ids) });
  });
  return centroids;
}

function missingText(compiled: CompiledRailSet): Error {
  return new Error(
    `rail set "${compiled.set.name}" uses match.lexical_weight or match.centroid_weight: ` +
      'pass the message text to searchNeighbours/scoreMessage/decideVector',
  );
}

/**
 * The k nearest examples of a message, best first. With `match.lexical_weight` w, each example's score
 * is (1 − w) · embedding cosine + w · lexical cosine, over the union of the k nearest by each measure,
 * so an example that only one measure ranks high still competes; `text` is then required.
 */
export function searchNeighbours(compiled: CompiledRailSet, vector: Float32Array, text?: string): Neighbour[] {
  return search(compiled, vector, lexicalQuery(compiled, text));
}

/**
 * The chunks the model is given for a message already folded (foldForMatching): split at the set's
 * `chunk_words`, at most `maxChunks` of them (the set's limit unless a share of it is given). The
 * proxy and the authoring commands both chunk through here.
 */
export function chunksOf(compiled: CompiledRailSet, folded: string, maxChunks = compiled.maxChunks): string[] {
  return splitIntoChunks(folded, compiled.set.match.chunkWords ?? DEFAULT_CHUNK_WORDS, maxChunks);
}

/** The message's lexical vector when the set blends lexical similarity or classifies; throws without `text`. */
function lexicalQuery(compiled: CompiledRailSet, text: string | undefined): SparseVector | undefined {
  const needsText =
    (compiled.lexical && blendWeights(compiled.set).lexical > 0) || compiled.centroids || compiled.classifier;
  if (!needsText) return undefined;
  if (text === undefined) throw missingText(compiled);
  return compiled.lexical?.vectorize(text);
}

/** A similarity made of the embedding's and the lexical one, `lexicalWeight` (match.lexical_weight) of it lexical. */
function blend(embedding: number, lexical: number, lexicalWeight: number): number {
  return (1 - lexicalWeight) * embedding + lexicalWeight * lexical;
}

function search(compiled: CompiledRailSet, vector: Float32Array, query: SparseVector | undefined): Neighbour[] {
  const { k } = compiled.set.match;
  const hits = compiled.index.search(vector, k);
  const toNeighbour = (id: number, score: number, extra: Partial<Neighbour> = {}): Neighbour => {
    const example = compiled.examples[id]!;
    return { intent: example.intent, example: example.text, negative: example.negative, score, ...extra };
  };
  const { lexical, vectors } = compiled;
  const weight = blendWeights(compiled.set).lexical;
  if (!lexical || !vectors || !query || weight <= 0) return hits.map((hit) => toNeighbour(hit.id, hit.score));
  const embeddingScores = new Map(hits.map((hit) => [hit.id, hit.score]));
  for (const hit of lexical.search(query, k))
    if (!embeddingScores.has(hit.id)) embeddingScores.set(hit.id, dot(vector, vectors[hit.id]!));
  return [...embeddingScores]
    .map(([id, embedding]) => {
      const lex = lexical.similarity(query, id);
      return toNeighbour(id, blend(embedding, lex, weight), { embedding, lexical: lex });
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

/** The similarity of a message to each intent's centroid, blended like the examples' scores. */
function centroidScorer(
  compiled: CompiledRailSet,
  vector: Float32Array,
  query: SparseVector | undefined,
): ((intent: string) => number) | undefined {
  const { centroids } = compiled;
  if (!centroids) return undefined;
  const weight = blendWeights(compiled.set).lexical;
  return (intent) => {
    const centroid = centroids.get(intent);
    if (!centroid) return 0;
    const embedding = dot(vector, centroid.embedding);
    if (!query || !centroid.lexical || weight <= 0) return embedding;
    return blend(embedding, sparseDot(query, centroid.lexical), weight);
  };
}

/**
 * Each intent's best similarity over all its examples (not only the k retrieved), blended as
 * `match.lexical_weight` says: what `classifier_score: probability_similarity` multiplies in.
 */
function nearestExampleSimilarities(
  compiled: CompiledRailSet,
  vector: Float32Array,
  query: SparseVector,
): Map<string, number> {
  const { examples, vectors, lexical } = compiled;
  const weight = blendWeights(compiled.set).lexical;
  const lexicalScores = weight > 0 ? lexical!.similarities(query) : undefined;
  const best = new Map<string, number>();
  examples.forEach((e, id) => {
    if (e.negative) return;
    let score = dot(vector, vectors![id]!);
    if (lexicalScores) score = blend(score, lexicalScores[id]!, weight);
    if (score > (best.get(e.intent) ?? -Infinity)) best.set(e.intent, score);
  });
  return best;
}

/**
 * Per-intent scores from the classifier: each intent's probability, best first. A not_example vetoes
 * its intent as with similarity scoring, judged by similarities: when the message is nearer to one of
 * the intent's not_examples than to any of its examples (among the neighbours retrieved).
 */
function classifierScores(
  compiled: CompiledRailSet,
  vector: Float32Array,
  query: SparseVector,
  neighbours: readonly Neighbour[],
): IntentScore[] {
  const { model, intents } = compiled.classifier!;
  const probabilities = model.probabilities(vector, query);
  if (compiled.set.match.classifierScore === 'probability_similarity') {
    const nearest = nearestExampleSimilarities(compiled, vector, query);
    intents.forEach((intent, k) => (probabilities[k]! *= Math.max(0, nearest.get(intent.id) ?? 0)));
  }
  const nearest = new Map<string, { positive: number; negative: number }>();
  for (const n of neighbours) {
    const best = nearest.get(n.intent) ?? { positive: -Infinity, negative: -Infinity };
    if (n.negative) best.negative = Math.max(best.negative, n.score);
    else best.positive = Math.max(best.positive, n.score);
    nearest.set(n.intent, best);
  }
  return intents
    .map((intent, k): IntentScore => {
      const near = nearest.get(intent.id);
      const negative = near?.negative ?? -Infinity;
      return {
        intent,
        score: probabilities[k]!,
        negative,
        vetoGap: negative === -Infinity ? -Infinity : negative - near!.positive,
        threshold: intent.threshold ?? compiled.set.match.threshold,
      };
    })
    .sort((a, b) => b.score - a.score);
}

export interface ScoredMessage {
  readonly neighbours: Neighbour[];
  /** Per-intent scores, best first. */
  readonly scores: IntentScore[];
  /** The model read nothing of the message (the zero vector): it matches nothing, whatever n-grams say. */
  readonly unreadable?: boolean;
}

/** Neighbours and per-intent scores of one embedded message: everything a decision is made from. */
export function scoreMessage(compiled: CompiledRailSet, vector: Float32Array, text?: string): ScoredMessage {
  if (readNothing(vector)) return { neighbours: [], scores: [], unreadable: true };
  const query = lexicalQuery(compiled, text);
  const neighbours = search(compiled, vector, query);
  if (compiled.classifier) return { neighbours, scores: classifierScores(compiled, vector, query!, neighbours) };
  const scores = scoreIntents(
    neighbours,
    compiled.intents,
    compiled.set.match,
    centroidScorer(compiled, vector, query),
  );
  return { neighbours, scores };
}

/**
 * Decides one embedded message against a compiled rail set. `text` is the message itself, needed when
 * the set uses `match.lexical_weight` or `match.centroid_weight`.
 */
export function decideVector(
  compiled: CompiledRailSet,
  vector: Float32Array,
  chunk: Decision['chunk'] = null,
  text?: string,
): Decision {
  const { neighbours, scores, unreadable } = scoreMessage(compiled, vector, text);
  return decideFromScores(compiled.set, scores, neighbours, chunk, unreadable);
}
