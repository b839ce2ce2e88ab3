/**
 * What crosses a model worker's thread boundary, both ways, for every worker (the bundled model's,
 * the transformers models'): vectors as one transferred buffer, and errors with their RG_ERR_* code
 * and `param` kept, so that a provider's error reads the same as it would on the main thread.
 */
import { ERROR_CODES, RailgateError, type ErrorCode } from '../errors.js';

export interface PackedVectors {
  readonly buffer: ArrayBuffer;
  readonly count: number;
}

/** Vectors back to back in one buffer, to transfer rather than copy. */
export function packVectors(vectors: readonly Float32Array[], dimension: number): PackedVectors {
  const flat = new Float32Array(vectors.length * dimension);
  vectors.forEach((v, i) => flat.set(v, i * dimension));
  return { buffer: flat.buffer, count: vectors.length };
}

/** The vectors of a packed buffer, as views of it. */
export function unpackVectors({ buffer, count }: PackedVectors, dimension: number): Float32Array[] {
  const all = new Float32Array(buffer);
  return Array.from({ length: count }, (_, i) => all.subarray(i * dimension, (i + 1) * dimension));
}

export interface WorkerError {
  readonly message: string;
  readonly code?: string;
  readonly param?: string | null;
}

/** An error thrown in a worker, as it is posted. */
export function postedError(error: unknown): WorkerError {
  const { code, param } = (error ?? {}) as { code?: string; param?: string | null };
  return {
    message: error instanceof Error ? error.message : String(error),
    ...(code && { code }),
    ...(param && { param }),
  };
}

/** A posted error as the RailgateError it was: its own code (a timeout stays a 504), else a failed embedding. */
export function receivedError(error: WorkerError): RailgateError {
  const code = error.code && error.code in ERROR_CODES ? (error.code as ErrorCode) : 'RG_ERR_EMBEDDING_FAILED';
  return new RailgateError(code, error.message, error.param ? { param: error.param } : {});
}
