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

/** Inverse strength of the L2 penalty when the set does not say. */
export const DEFAULT_CLASSIFIER_C = 100;

export interface TrainingExample {
  readonly dense: Float32Array;
  readonly sparse: SparseVector;
  /** Index of the example's class. */
  readonly label: number;
}

interface Row {
  readonly dense: Float32Array;
  readonly sparseIds: Int32Array;
  readonly sparseValues: Float64Array;
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
    const z = new Float64Array(classes);

    const objective = (x: Float64Array, gradient: Float64Array): number => {
      gradient.fill(0);
      const weights = x.subarray(0, size);
      const bias = x.subarray(size);
      const weightGradient = gradient.subarray(0, size);
      const biasGradient = gradient.subarray(size);
      let loss = 0;
      for (const row of rows) {
        logits(row, weights, bias, classes, z);
        const lse = logSumExp(z);
        loss += lse - z[row.label]!;
        for (let k = 0; k < classes; k++) z[k] = (Math.exp(z[k]! - lse) - (k === row.label ? 1 : 0)) / n;
        accumulate(row, z, weightGradient, biasGradient, classes);
      }
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
    logits(toRow({ dense, sparse, label: -1 }, this.vocabulary), this.weights, this.bias, this.classes, z);
    const lse = logSumExp(z);
    for (let k = 0; k < this.classes; k++) z[k] = Math.exp(z[k]! - lse);
    return z;
  }
}

function toRow(example: TrainingExample, vocabulary: ReadonlyMap<string, number>): Row {
  const ids: number[] = [];
  const values: number[] = [];
  for (const [gram, value] of example.sparse) {
    const id = vocabulary.get(gram);
    if (id === undefined) continue;
    ids.push(id);
    values.push(value);
  }
  return {
    dense: example.dense,
    sparseIds: Int32Array.from(ids),
    sparseValues: Float64Array.from(values),
    label: example.label,
  };
}

/**
 * Parameter layout: the dense block class-major (row k: the embedding weights of class k, so each
 * class is one long contiguous dot product, the fast case in V8), then the n-gram block feature-major
 * (row g: n-gram g's weight for every class, so a message's few n-grams touch few cache lines).
 */
function logits(row: Row, weights: Float64Array, bias: Float64Array, classes: number, out: Float64Array): void {
  const { dense, sparseIds, sparseValues } = row;
  const d = dense.length;
  for (let k = 0; k < classes; k++) {
    const base = k * d;
    let sum = bias[k]!;
    for (let f = 0; f < d; f++) sum += dense[f]! * weights[base + f]!;
    out[k] = sum;
  }
  for (let s = 0; s < sparseIds.length; s++) {
    const value = sparseValues[s]!;
    const base = classes * (d + sparseIds[s]!);
    for (let k = 0; k < classes; k++) out[k]! += value * weights[base + k]!;
  }
}

/** The gradient of the logits' parameters times `delta` (∂loss/∂logit per class), added in place. */
function accumulate(
  row: Row,
  delta: Float64Array,
  gradient: Float64Array,
  biasGradient: Float64Array,
  classes: number,
) {
  const { dense, sparseIds, sparseValues } = row;
  const d = dense.length;
  for (let k = 0; k < classes; k++) {
    const dk = delta[k]!;
    biasGradient[k]! += dk;
    const base = k * d;
    for (let f = 0; f < d; f++) gradient[base + f]! += dense[f]! * dk;
  }
  for (let s = 0; s < sparseIds.length; s++) {
    const value = sparseValues[s]!;
    const base = classes * (d + sparseIds[s]!);
    for (let k = 0; k < classes; k++) gradient[base + k]! += value * delta[k]!;
  }
}

function logSumExp(z: Float64Array): number {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  return max + Math.log(sum);
}
