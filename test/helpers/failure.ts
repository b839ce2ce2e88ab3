import { expect } from 'vitest';
import { RailgateError } from '../../src/errors.js';

/** Awaits a promise that must reject with a RailgateError, and returns that error. */
export async function failure(promise: Promise<unknown>): Promise<RailgateError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RailgateError);
  return error as RailgateError;
}
