/**
 * The shipped example rails keep their own promises: every `tests:` case of rails/bank and
 * rails/assistant is decided as expected by the real bundled model, through the same Guard that serves
 * traffic. An edit to an example that breaks a case fails here (and in `railgate test`).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { NO_MATCH } from '../../src/rails/types.js';
import { loadRails } from '../../src/rails/load.js';

const sets = await loadRails(path.resolve('rails'));
let embedder: BundledEmbedder;
let guard: RailsRuntime;

beforeAll(async () => {
  embedder = await BundledEmbedder.load();
  guard = await createGuard({ sets, embedderFor: async () => embedder });
});
// The guard closes the embedders it was given.
afterAll(() => guard.close());

describe.each(sets.map((set) => [set.name, set] as const))('rails/%s', (name, set) => {
  it.each(set.tests.map((test) => [test.expect, test.input] as const))('%s ← "%s"', async (expected, input) => {
    const { decision } = await guard.decide(input, name);
    expect(decision.intent ?? NO_MATCH).toBe(expected);
    const action = set.intents.find((i) => i.id === expected)?.action ?? set.onNoMatch.action;
    expect(decision.action).toBe(action);
  });
});
