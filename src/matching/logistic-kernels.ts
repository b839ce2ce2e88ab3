/**
 * The arithmetic of the intent classifier (classifier.ts): logits of one message, and the blocked
 * products and gradients a fit evaluates on every iteration.
 */
import type { SparseVector } from './lexical.js';

/** An example as the kernels read it: its embedding, and its n-grams as vocabulary ids and weights. */
export interface Row {
  readonly dense: Float32Array;
  readonly sparseIds: Int32Array;
  readonly sparseValues: Float64Array;
  readonly label: number;
}

/** An example's n-grams as ids of the fitted vocabulary; n-grams the vocabulary lacks weigh nothing. */
export function toRow(
  example: { readonly dense: Float32Array; readonly sparse: SparseVector; readonly label: number },
  vocabulary: ReadonlyMap<string, number>,
): Row {
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
 * (row g: n-gram g's weight for every class, so a message's few n-grams touch few cache lines), then
 * one bias per class (kept apart by the caller).
 */
export function rowLogits(row: Row, weights: Float64Array, bias: Float64Array, classes: number, out: Float64Array) {
  const { dense } = row;
  const d = dense.length;
  for (let k = 0; k < classes; k++) {
    const base = k * d;
    let sum = 0;
    for (let f = 0; f < d; f++) sum += dense[f]! * weights[base + f]!;
    out[k] = sum;
  }
  addSparseAndBias(row, weights, bias, classes, out);
}

/**
 * out[i][k] = Σ_f X[i][f] · W[k][f] for every row: four rows at a time, so each weight read from
 * memory serves four rows (about twice as fast in V8 as one row at a time).
 */
export function denseProducts(
  x: Float64Array,
  n: number,
  d: number,
  w: Float64Array,
  classes: number,
  out: Float64Array,
) {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * d;
    const [r1, r2, r3] = [r0 + d, r0 + 2 * d, r0 + 3 * d];
    for (let k = 0; k < classes; k++) {
      const base = k * d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let f = 0; f < d; f++) {
        const weight = w[base + f]!;
        s0 += x[r0 + f]! * weight;
        s1 += x[r1 + f]! * weight;
        s2 += x[r2 + f]! * weight;
        s3 += x[r3 + f]! * weight;
      }
      out[i * classes + k] = s0;
      out[(i + 1) * classes + k] = s1;
      out[(i + 2) * classes + k] = s2;
      out[(i + 3) * classes + k] = s3;
    }
  }
  for (; i < n; i++) {
    const r = i * d;
    for (let k = 0; k < classes; k++) {
      const base = k * d;
      let sum = 0;
      for (let f = 0; f < d; f++) sum += x[r + f]! * w[base + f]!;
      out[i * classes + k] = sum;
    }
  }
}

/** gradient[k][f] += Σ_i delta[i][k] · X[i][f], four rows at a time like `denseProducts`. */
export function addDenseGradient(
  x: Float64Array,
  n: number,
  d: number,
  delta: Float64Array,
  classes: number,
  gradient: Float64Array,
) {
  for (let k = 0; k < classes; k++) {
    const base = k * d;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const d0 = delta[i * classes + k]!;
      const d1 = delta[(i + 1) * classes + k]!;
      const d2 = delta[(i + 2) * classes + k]!;
      const d3 = delta[(i + 3) * classes + k]!;
      const r0 = i * d;
      const [r1, r2, r3] = [r0 + d, r0 + 2 * d, r0 + 3 * d];
      for (let f = 0; f < d; f++)
        gradient[base + f]! += d0 * x[r0 + f]! + d1 * x[r1 + f]! + d2 * x[r2 + f]! + d3 * x[r3 + f]!;
    }
    for (; i < n; i++) {
      const di = delta[i * classes + k]!;
      const r = i * d;
      for (let f = 0; f < d; f++) gradient[base + f]! += di * x[r + f]!;
    }
  }
}

/** out[k] += bias[k] + the row's n-gram weights for class k. */
export function addSparseAndBias(
  row: Row,
  weights: Float64Array,
  bias: Float64Array,
  classes: number,
  out: Float64Array,
) {
  const offset = classes * row.dense.length;
  for (let k = 0; k < classes; k++) out[k]! += bias[k]!;
  for (let s = 0; s < row.sparseIds.length; s++) {
    const value = row.sparseValues[s]!;
    const base = offset + classes * row.sparseIds[s]!;
    for (let k = 0; k < classes; k++) out[k]! += value * weights[base + k]!;
  }
}

/** The bias and n-gram gradient of one row, given its ∂loss/∂logit `delta`. */
export function addSparseAndBiasGradient(
  row: Row,
  delta: Float64Array,
  gradient: Float64Array,
  biasGradient: Float64Array,
  classes: number,
) {
  const offset = classes * row.dense.length;
  for (let k = 0; k < classes; k++) biasGradient[k]! += delta[k]!;
  for (let s = 0; s < row.sparseIds.length; s++) {
    const value = row.sparseValues[s]!;
    const base = offset + classes * row.sparseIds[s]!;
    for (let k = 0; k < classes; k++) gradient[base + k]! += value * delta[k]!;
  }
}

export function logSumExp(z: Float64Array): number {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  return max + Math.log(sum);
}
