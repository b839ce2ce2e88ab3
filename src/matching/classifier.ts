/**
 * `match.scoring: classifier`: a multinomial logistic regression over the set's intents, fitted at load
 * on the set's own examples. Features are the sentence embedding and the character n-gram TF-IDF
 * vector side by side, so the model learns which dimensions and which n-grams tell this set's intents
 * apart, where a nearest-example score weighs every dimension alike. An intent's score is then its
 * probability: a message about nothing the set knows spreads its probability thin and stays below
 * the threshold. (On BANKING77 this lifts both top-1 accuracy and out-of-scope rejection; EVAL.md.)
 */
import { createHash } from 'node:crypto';
import type { SparseVector } from './lexical.js';
import { minimize } from './lbfgs.js';
import {
  addDenseGradient,
  addSparseAndBias,
  addSparseAndBiasGradient,
  denseProducts,
  logSumExp,
  rowLogits,
  toRow,
} from './logistic-kernels.js';

/** Inverse strength of the L2 penalty when the set does not say. */
export const DEFAULT_CLASSIFIER_C = 100;

export interface TrainingExample {
  readonly dense: Float32Array;
  readonly sparse: SparseVector;
  /** Index of the example's class. */
  readonly label: number;
}

export interface ClassifierOptions {
  /** Inverse regularisation strength: larger fits the examples more closely. */
  readonly c?: number;
  readonly maxIterations?: number;
}

export class IntentClassifier {
  private constructor(
    readonly classes: number,
    private readonly dimension: number,
    private readonly vocabulary: ReadonlyMap<string, number>,
    /** Weights in the layout `logits` reads. */
    private readonly weights: Float64Array,
    private readonly bias: Float64Array,
    /** Fitting iterations (0 for a model read back with `fromBytes`). */
    readonly iterations: number,
  ) {}

  /** Bumped when the fit or the byte layout changes, so older stored models are never read. */
  static readonly FORMAT = 'railgate-classifier-1';

  /** A hash of everything a fit depends on: the same key, the same model. */
  static fitKey(examples: readonly TrainingExample[], classes: number, options: ClassifierOptions = {}): string {
    const hash = createHash('sha256').update(
      JSON.stringify([IntentClassifier.FORMAT, classes, options.c ?? DEFAULT_CLASSIFIER_C, options.maxIterations]),
    );
    for (const e of examples) {
      hash.update(`\n${e.label}:${JSON.stringify([...e.sparse])}`);
      hash.update(new Uint8Array(e.dense.buffer, e.dense.byteOffset, e.dense.byteLength));
    }
    return hash.digest('hex').slice(0, 32);
  }

  /** The fitted model as bytes: a length-prefixed JSON header (shape, vocabulary), then the parameters. */
  toBytes(): Buffer {
    const header = Buffer.from(
      JSON.stringify({
        format: IntentClassifier.FORMAT,
        classes: this.classes,
        dimension: this.dimension,
        vocabulary: [...this.vocabulary.keys()],
      }),
    );
    const out = Buffer.alloc(4 + header.length + (this.weights.length + this.bias.length) * 8);
    out.writeUInt32LE(header.length, 0);
    header.copy(out, 4);
    // Native float64 bytes: little-endian on every platform Node supports for railgate (x64, arm64).
    const at = 4 + header.length;
    out.set(new Uint8Array(this.weights.buffer, this.weights.byteOffset, this.weights.byteLength), at);
    out.set(new Uint8Array(this.bias.buffer, this.bias.byteOffset, this.bias.byteLength), at + this.weights.byteLength);
    return out;
  }

  /** The model `toBytes` wrote; throws on anything else, so a damaged file is refitted, never trusted. */
  static fromBytes(bytes: Buffer): IntentClassifier {
    const headerLength = bytes.readUInt32LE(0);
    const header = JSON.parse(bytes.toString('utf8', 4, 4 + headerLength)) as {
      format?: unknown;
      classes?: unknown;
      dimension?: unknown;
      vocabulary?: unknown;
    };
    const { classes, dimension, vocabulary } = header;
    if (
      header.format !== IntentClassifier.FORMAT ||
      typeof classes !== 'number' ||
      typeof dimension !== 'number' ||
      !Array.isArray(vocabulary)
    )
      throw new Error('not a stored intent classifier');
    const size = classes * (dimension + vocabulary.length);
    if (bytes.length !== 4 + headerLength + (size + classes) * 8) throw new Error('stored classifier is truncated');
    const start = bytes.byteOffset + 4 + headerLength;
    // Copied out (slice), so the float64 view is aligned whatever the Buffer's offset.
    const values = new Float64Array(bytes.buffer.slice(start, start + (size + classes) * 8));
    const grams = new Map(vocabulary.map((gram, id) => [String(gram), id]));
    return new IntentClassifier(classes, dimension, grams, values.slice(0, size), values.slice(size), 0);
  }

  /**
   * Fits the classifier: mean cross-entropy plus ‖W‖² / (2·C·N), minimised by L-BFGS from zero (so the
   * same examples always give the same model). The bias is not penalised.
   */
  static async fit(
    examples: readonly TrainingExample[],
    classes: number,
    options: ClassifierOptions = {},
  ): Promise<IntentClassifier> {
    if (examples.length === 0 || classes < 2) throw new Error('a classifier needs examples of at least two intents');
    const dimension = examples[0]!.dense.length;
    // The n-grams of the examples; a message's other n-grams have no weight to meet.
    const vocabulary = new Map<string, number>();
    for (const e of examples)
      for (const gram of e.sparse.keys()) if (!vocabulary.has(gram)) vocabulary.set(gram, vocabulary.size);
    const rows = examples.map((e) => toRow(e, vocabulary));
    const features = dimension + vocabulary.size;
    const size = features * classes;
    const n = rows.length;
    const penalty = 1 / ((options.c ?? DEFAULT_CLASSIFIER_C) * n);
    // All embeddings in one contiguous matrix, for the blocked dense products below.
    const dense = new Float64Array(n * dimension);
    rows.forEach((row, i) => dense.set(row.dense, i * dimension));
    const z = new Float64Array(n * classes);

    const objective = (x: Float64Array, gradient: Float64Array): number => {
      gradient.fill(0);
      const bias = x.subarray(size);
      const biasGradient = gradient.subarray(size);
      denseProducts(dense, n, dimension, x, classes, z);
      let loss = 0;
      rows.forEach((row, i) => {
        const zi = z.subarray(i * classes, (i + 1) * classes);
        addSparseAndBias(row, x, bias, classes, zi);
        const lse = logSumExp(zi);
        loss += lse - zi[row.label]!;
        // From here on zi holds ∂loss/∂logit for this row.
        for (let k = 0; k < classes; k++) zi[k] = (Math.exp(zi[k]! - lse) - (k === row.label ? 1 : 0)) / n;
        addSparseAndBiasGradient(row, zi, gradient, biasGradient, classes);
      });
      addDenseGradient(dense, n, dimension, z, classes, gradient);
      let squares = 0;
      for (let i = 0; i < size; i++) {
        squares += x[i]! * x[i]!;
        gradient[i]! += penalty * x[i]!;
      }
      return loss / n + (penalty / 2) * squares;
    };

    const result = await minimize(objective, new Float64Array(size + classes), {
      maxIterations: options.maxIterations ?? 300,
    });
    return new IntentClassifier(
      classes,
      dimension,
      vocabulary,
      result.x.slice(0, size),
      result.x.slice(size),
      result.iterations,
    );
  }

  /** Class probabilities of one message (they sum to 1). */
  probabilities(dense: Float32Array, sparse: SparseVector): Float64Array {
    if (dense.length !== this.dimension)
      throw new Error(`expected a ${this.dimension}-dimensional vector, got ${dense.length}`);
    const z = new Float64Array(this.classes);
    rowLogits(toRow({ dense, sparse, label: -1 }, this.vocabulary), this.weights, this.bias, this.classes, z);
    const lse = logSumExp(z);
    for (let k = 0; k < this.classes; k++) z[k] = Math.exp(z[k]! - lse);
    return z;
  }
}
