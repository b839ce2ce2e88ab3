/**
 * Lexical similarity: character n-gram TF-IDF vectors compared by cosine. The bundled sentence model
 * reads meaning loosely; many intents differ by a few telling words ("top up" vs "transfer", "PIN" vs
 * "password"), which character n-grams catch, spelling variants and typos included. Blended with the
 * embedding similarity by `match.lexical_weight` (see compile.ts). Built per rail set at load, from the
 * set's own examples, so it needs no vocabulary or download.
 */
import { inSlices } from '../in-slices.js';
import type { SearchHit } from './vector-index.js';

/** Character n-grams of 3 to 5 characters, taken inside each word padded with spaces. */
export const NGRAM_MIN = 3;
export const NGRAM_MAX = 5;

/** A sparse unit vector: n-gram → weight. */
export type SparseVector = ReadonlyMap<string, number>;

/** Counts of the word-bounded character n-grams of a text (lower-cased, runs of non-letters collapsed). */
export function charNgrams(text: string, min = NGRAM_MIN, max = NGRAM_MAX): Map<string, number> {
  const counts = new Map<string, number>();
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}']+/u)
    .filter((w) => w.length > 0);
  for (const word of words) {
    const padded = ` ${word} `;
    for (let n = min; n <= max; n++) {
      for (let i = 0; i + n <= padded.length; i++) {
        const gram = padded.slice(i, i + n);
        counts.set(gram, (counts.get(gram) ?? 0) + 1);
      }
    }
    // A word shorter than `min` still counts as itself, so "hi" or "ok" is not invisible.
    if (padded.length < min) counts.set(padded, (counts.get(padded) ?? 0) + 1);
  }
  return counts;
}

function normalize(weights: Map<string, number>): Map<string, number> {
  let sum = 0;
  for (const w of weights.values()) sum += w * w;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (const [gram, w] of weights) weights.set(gram, w / norm);
  return weights;
}

/** Cosine of two sparse unit vectors. */
export function sparseDot(a: SparseVector, b: SparseVector): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let sum = 0;
  for (const [gram, w] of small) {
    const other = large.get(gram);
    if (other !== undefined) sum += w * other;
  }
  return sum;
}

/** Sublinear term frequency × idf, unit length. N-grams no document has carry no weight. */
function weighed(counts: ReadonlyMap<string, number>, idf: ReadonlyMap<string, number>): Map<string, number> {
  const weights = new Map<string, number>();
  for (const [gram, count] of counts) {
    const weight = idf.get(gram);
    if (weight !== undefined) weights.set(gram, (1 + Math.log(count)) * weight);
  }
  return normalize(weights);
}

/** TF-IDF over a fixed set of documents (a rail set's examples), with an inverted index for search. */
export class LexicalIndex {
  readonly size: number;
  private readonly idf: ReadonlyMap<string, number>;
  private readonly vectors: readonly SparseVector[];
  /** n-gram → [document id, weight] pairs. */
  private readonly postings: ReadonlyMap<string, readonly (readonly [number, number])[]>;

  private constructor(
    idf: ReadonlyMap<string, number>,
    vectors: readonly SparseVector[],
    postings: ReadonlyMap<string, readonly (readonly [number, number])[]>,
  ) {
    this.size = vectors.length;
    this.idf = idf;
    this.vectors = vectors;
    this.postings = postings;
  }

  /**
   * The index of `texts`, built in slices between which the event loop runs (inSlices): 10,000
   * examples take most of a second, and a hot reload builds them while the proxy serves.
   */
  static async create(texts: readonly string[]): Promise<LexicalIndex> {
    const counts: Map<string, number>[] = [];
    await inSlices(texts.length, (i) => void counts.push(charNgrams(texts[i]!)));
    const df = new Map<string, number>();
    for (const c of counts) for (const gram of c.keys()) df.set(gram, (df.get(gram) ?? 0) + 1);
    // Smoothed idf (as in scikit-learn): an n-gram in every document still weighs a little.
    const idf = new Map<string, number>();
    for (const [gram, n] of df) idf.set(gram, Math.log((1 + texts.length) / (1 + n)) + 1);
    const vectors: SparseVector[] = [];
    const postings = new Map<string, [number, number][]>();
    await inSlices(counts.length, (id) => {
      const vector = weighed(counts[id]!, idf);
      vectors.push(vector);
      for (const [gram, w] of vector) {
        const list = postings.get(gram);
        if (list) list.push([id, w]);
        else postings.set(gram, [[id, w]]);
      }
    });
    return new LexicalIndex(idf, vectors, postings);
  }

  vectorize(text: string): SparseVector {
    return weighed(charNgrams(text), this.idf);
  }

  vectorOf(id: number): SparseVector {
    return this.vectors[id]!;
  }

  /** Cosine between a query vector and document `id`. */
  similarity(query: SparseVector, id: number): number {
    return sparseDot(query, this.vectors[id]!);
  }

  /** Cosine between a query vector and every document, by document id (one pass over the postings). */
  similarities(query: SparseVector): Float64Array {
    return this.#scores(query);
  }

  /** The k documents most similar to the query, best first; documents sharing no n-gram are left out. */
  search(query: SparseVector, k: number): SearchHit[] {
    const touched: number[] = [];
    const scores = this.#scores(query, touched);
    return touched
      .map((id) => ({ id, score: scores[id]! }))
      .sort((a, b) => b.score - a.score || a.id - b.id)
      .slice(0, k);
  }

  /** Every document's cosine with the query; `touched` gets the ids of those sharing an n-gram with it. */
  #scores(query: SparseVector, touched?: number[]): Float64Array {
    const scores = new Float64Array(this.size);
    for (const [gram, w] of query) {
      const postings = this.postings.get(gram);
      if (!postings) continue;
      for (const [id, dw] of postings) {
        if (touched && scores[id] === 0) touched.push(id);
        scores[id]! += w * dw;
      }
    }
    return scores;
  }

  /** The normalised mean of some documents' vectors (an intent's lexical centroid). */
  centroid(ids: readonly number[]): SparseVector {
    const sum = new Map<string, number>();
    for (const id of ids) for (const [gram, w] of this.vectors[id]!) sum.set(gram, (sum.get(gram) ?? 0) + w);
    return normalize(sum);
  }
}
