/**
 * A rail set made searchable: every example and not-example embedded once, at load, into one index.
 * Nothing here runs per request except `search`.
 */
import type { Embedder } from '../embedding/embedder.js';
import type { Intent, RailSet } from '../rails/types.js';
import type { Neighbour } from './decision.js';
import { scoreIntents, decideFromScores } from './score.js';
import { buildIndex, type IndexOptions, type VectorIndex } from './vector-index.js';
import type { Decision } from './decision.js';

interface IndexedExample {
  readonly intent: string;
  readonly text: string;
  readonly negative: boolean;
}

export interface CompiledRailSet {
  readonly set: RailSet;
  readonly embedder: Embedder;
  readonly index: VectorIndex;
  readonly examples: readonly IndexedExample[];
  readonly intents: ReadonlyMap<string, Intent>;
}

export interface CompileOptions extends IndexOptions {
  /** Progress of embedding a set's examples (only those not already in the persistent cache). */
  readonly onProgress?: (set: string, done: number, total: number) => void;
}

export async function compileRailSet(
  set: RailSet,
  embedder: Embedder,
  options: CompileOptions = {},
): Promise<CompiledRailSet> {
  const examples: IndexedExample[] = set.intents.flatMap((intent) => [
    ...intent.examples.map((text) => ({ intent: intent.id, text, negative: false })),
    ...intent.notExamples.map((text) => ({ intent: intent.id, text, negative: true })),
  ]);
  const texts = examples.map((e) => e.text);
  const onProgress =
    options.onProgress && ((done: number, total: number) => options.onProgress!(set.name, done, total));
  // embedBulk uses the persistent example cache where the embedder has one.
  const vectors = embedder.embedBulk ? await embedder.embedBulk(texts, onProgress) : await embedder.embed(texts);
  return Object.freeze({
    set,
    embedder,
    index: buildIndex(vectors, embedder.dimension, options),
    examples: Object.freeze(examples),
    intents: new Map(set.intents.map((intent) => [intent.id, intent])),
  });
}

/** The k nearest examples of a message vector. */
export function searchNeighbours(compiled: CompiledRailSet, vector: Float32Array): Neighbour[] {
  return compiled.index.search(vector, compiled.set.match.k).map((hit) => {
    const example = compiled.examples[hit.id]!;
    return { intent: example.intent, example: example.text, negative: example.negative, score: hit.score };
  });
}

/** Decides one embedded message against a compiled rail set. */
export function decideVector(
  compiled: CompiledRailSet,
  vector: Float32Array,
  chunk: Decision['chunk'] = null,
): Decision {
  const neighbours = searchNeighbours(compiled, vector);
  const scores = scoreIntents(neighbours, compiled.intents, compiled.set.match);
  return decideFromScores(compiled.set, scores, neighbours, chunk);
}
