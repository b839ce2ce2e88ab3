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
  /** Embeds texts for the index; defaults to the embedder (a persistent cache plugs in here). */
  readonly embedExamples?: (texts: readonly string[]) => Promise<Float32Array[]>;
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
  const embed = options.embedExamples ?? ((texts: readonly string[]) => embedder.embed(texts));
  const vectors = await embed(examples.map((e) => e.text));
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
