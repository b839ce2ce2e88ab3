/**
 * Long work on the main thread done in slices, so that the proxy keeps serving meanwhile: a hot
 * reload compiles a rail set (folding, reading cached vectors, building its index) while requests
 * are answered.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/** How long one slice may hold the event loop before letting requests and timers run. */
const SLICE_MS = 10;

/**
 * Runs `step` for 0 … count − 1, letting the event loop run every SLICE_MS: a rail set's index is
 * built while the proxy serves (a hot reload), and adding 10,000 vectors to hnswlib takes about a
 * second (each vector crosses into the addon value by value), a 100,000-vector graph minutes.
 */
export async function inSlices(count: number, step: (i: number) => void): Promise<void> {
  let since = performance.now();
  for (let i = 0; i < count; i++) {
    step(i);
    if (performance.now() - since < SLICE_MS) continue;
    await yieldToEventLoop();
    since = performance.now();
  }
}
