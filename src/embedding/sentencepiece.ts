/**
 * A sentencepiece *unigram* tokenizer over the vocabulary that ships with the Universal Sentence
 * Encoder lite weights (`vocab.json`: `[piece, logProbability][]`).
 *
 * Encoding is the standard Viterbi search for the most probable segmentation. A code point that no
 * piece covers becomes the unknown id (0) with a heavy penalty, and runs of unknowns collapse into
 * one, as sentencepiece itself does.
 */
const WORD_BOUNDARY = '\u2581';
/** The first ids are control symbols (`<unk>`, `<s>`, `</s>`, …) that never match text. */
const RESERVED_IDS = 6;
const UNKNOWN_ID = 0;

type VocabEntry = readonly [piece: string, score: number];

interface TrieNode {
  children: Map<string, TrieNode>;
  id: number;
}

export class SentencePieceTokenizer {
  readonly #root: TrieNode = { children: new Map(), id: -1 };
  readonly #scores: Float64Array;
  readonly #lengths: Int32Array;
  readonly #unknownScore: number;
  /** The piece of a word boundary alone, which says nothing of what the text holds. */
  readonly #boundaryId: number;

  constructor(vocabulary: readonly VocabEntry[]) {
    this.#scores = new Float64Array(vocabulary.length);
    this.#lengths = new Int32Array(vocabulary.length);
    let minScore = 0;
    for (let id = 0; id < vocabulary.length; id++) {
      const [piece, score] = vocabulary[id]!;
      const chars = Array.from(piece);
      this.#scores[id] = score;
      this.#lengths[id] = chars.length;
      if (id < RESERVED_IDS) continue;
      minScore = Math.min(minScore, score);
      let node = this.#root;
      for (const ch of chars) {
        let next = node.children.get(ch);
        if (!next) {
          next = { children: new Map(), id: -1 };
          node.children.set(ch, next);
        }
        node = next;
      }
      node.id = id;
    }
    this.#unknownScore = minScore - 10;
    this.#boundaryId = this.#root.children.get(WORD_BOUNDARY)?.id ?? -1;
  }

  /**
   * Whether the ids hold any piece of text the model knows: false for a text made only of characters
   * outside the vocabulary (emoji, scripts the model was not trained on), whose runs all become the
   * same unknown id, so that every such text would embed alike.
   */
  readsAnything(ids: readonly number[]): boolean {
    return ids.some((id) => id !== UNKNOWN_ID && id !== this.#boundaryId);
  }

  /** Text → piece ids (no BOS/EOS: the USE graph does not expect them). */
  encode(text: string): number[] {
    const normalized = text.normalize('NFKC');
    if (normalized.length === 0) return [];
    const chars = Array.from(WORD_BOUNDARY + normalized.replace(/ /g, WORD_BOUNDARY));
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const backId = new Int32Array(n + 1);
    const backLen = new Int32Array(n + 1);
    best[0] = 0;
    for (let start = 0; start < n; start++) {
      const base = best[start]!;
      if (base === -Infinity) continue;
      // Unknown single code point: always possible so every position stays reachable.
      const unk = base + this.#unknownScore;
      if (unk > best[start + 1]!) {
        best[start + 1] = unk;
        backId[start + 1] = UNKNOWN_ID;
        backLen[start + 1] = 1;
      }
      let node: TrieNode | undefined = this.#root;
      for (let end = start; end < n; end++) {
        node = node.children.get(chars[end]!);
        if (!node) break;
        if (node.id < 0) continue;
        const score = base + this.#scores[node.id]!;
        if (score > best[end + 1]!) {
          best[end + 1] = score;
          backId[end + 1] = node.id;
          backLen[end + 1] = end + 1 - start;
        }
      }
    }
    const ids: number[] = [];
    for (let pos = n; pos > 0; pos -= backLen[pos]!) {
      const id = backId[pos]!;
      if (id === UNKNOWN_ID && ids[ids.length - 1] === UNKNOWN_ID) continue;
      ids.push(id);
    }
    return ids.reverse();
  }
}
