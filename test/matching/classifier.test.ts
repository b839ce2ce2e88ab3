/**
 * The intent classifier behind `match.scoring: classifier` and the L-BFGS fit under it, on data whose
 * answers are known: a convex function's minimum, and classes that can be told apart.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeInPlace } from '../../src/embedding/embedder.js';
import { IntentClassifier, type TrainingExample } from '../../src/matching/classifier.js';
import { loadOrFitClassifier } from '../../src/matching/classifier-store.js';
import { minimize } from '../../src/matching/lbfgs.js';

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31 - 0.5;
  };
}

describe('minimize (L-BFGS)', () => {
  it('finds the minimum of the Rosenbrock function from a standard start', async () => {
    const result = await minimize(
      (x, g) => {
        const [a, b] = [x[0]!, x[1]!];
        g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
        g[1] = 200 * (b - a * a);
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
      },
      Float64Array.from([-1.2, 1]),
      { maxIterations: 500, relativeTolerance: 0 },
    );
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(1, 4);
    expect(result.x[1]).toBeCloseTo(1, 4);
  });

  it('solves an ill-conditioned quadratic in far fewer iterations than its dimension', async () => {
    const n = 200;
    const target = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const result = await minimize((x, g) => {
      let value = 0;
      for (let i = 0; i < n; i++) {
        const weight = 1 + i * 5; // condition number 1,000
        value += weight * (x[i]! - target[i]!) ** 2;
        g[i] = 2 * weight * (x[i]! - target[i]!);
      }
      return value;
    }, new Float64Array(n));
    for (let i = 0; i < n; i++) expect(result.x[i]).toBeCloseTo(target[i]!, 3);
    expect(result.iterations).toBeLessThan(n);
  });

  it('lets timers run while it works (it yields between iterations)', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await minimize(
      (x, g) => {
        const start = Date.now();
        while (Date.now() - start < 2); // a slow objective
        g[0] = 2 * (x[0]! - 3);
        return (x[0]! - 3) ** 2 + 1;
      },
      Float64Array.from([0]),
      { relativeTolerance: 0, gradientTolerance: 1e-12, maxIterations: 20 },
    );
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });
});

/** Three classes around three random directions in 64 dims, each with its own telling n-gram. */
function threeClasses(perClass: number, seed: number, noiseSeed = seed + 1): TrainingExample[] {
  const random = seeded(seed);
  const centres = Array.from({ length: 3 }, () => normalizeInPlace(Float32Array.from({ length: 64 }, random)));
  const random2 = seeded(noiseSeed);
  return Array.from({ length: 3 * perClass }, (_, i) => {
    const label = i % 3;
    const dense = normalizeInPlace(Float32Array.from(centres[label]!, (v) => v + 0.6 * random2()));
    return {
      dense,
      sparse: new Map([
        [` c${label}`, 0.8],
        [' any', 0.6],
      ]),
      label,
    };
  });
}

describe('IntentClassifier', () => {
  it('learns the classes: right on unseen points, probabilities that sum to 1', async () => {
    const model = await IntentClassifier.fit(threeClasses(10, 1), 3);
    let right = 0;
    // Same centres, other points.
    const unseen = threeClasses(30, 1, 99).map((e) => ({ ...e, sparse: new Map<string, number>() }));
    for (const e of unseen) {
      const p = model.probabilities(e.dense, e.sparse);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
      if (p.indexOf(Math.max(...p)) === e.label) right++;
    }
    expect(right / unseen.length).toBeGreaterThan(0.9);
  });

  it('uses the n-gram features: the telling n-gram alone decides for a message with a neutral vector', async () => {
    const model = await IntentClassifier.fit(threeClasses(10, 2), 3);
    const neutral = new Float32Array(64);
    const p = model.probabilities(neutral, new Map([[' c2', 1]]));
    expect(p.indexOf(Math.max(...p))).toBe(2);
    // An n-gram no example had carries no weight.
    expect([...model.probabilities(neutral, new Map([[' zzz', 1]]))]).toEqual([
      ...model.probabilities(neutral, new Map()),
    ]);
  });

  it('is deterministic, and a larger C fits the examples more confidently', async () => {
    const data = threeClasses(10, 3);
    const [a, b] = await Promise.all([
      IntentClassifier.fit(data, 3, { c: 1 }),
      IntentClassifier.fit(data, 3, { c: 1 }),
    ]);
    const loose = await IntentClassifier.fit(data, 3, { c: 1000 });
    const confidence = (m: IntentClassifier) =>
      data.reduce((sum, e) => sum + m.probabilities(e.dense, e.sparse)[e.label]!, 0) / data.length;
    expect([...a.probabilities(data[0]!.dense, data[0]!.sparse)]).toEqual([
      ...b.probabilities(data[0]!.dense, data[0]!.sparse),
    ]);
    expect(confidence(loose)).toBeGreaterThan(confidence(a) + 0.1);
  });

  it('refuses to fit fewer than two classes, and vectors of another dimension', async () => {
    await expect(
      IntentClassifier.fit(
        threeClasses(2, 4).filter((e) => e.label === 0),
        1,
      ),
    ).rejects.toThrow(/two intents/);
    const model = await IntentClassifier.fit(threeClasses(4, 5), 3);
    expect(() => model.probabilities(new Float32Array(8), new Map())).toThrow(/64-dimensional/);
  });
});

describe('stored classifiers', () => {
  const probe = threeClasses(5, 77, 123);
  const same = (a: IntentClassifier, b: IntentClassifier) =>
    probe.every(
      (e) => [...a.probabilities(e.dense, e.sparse)].join() === [...b.probabilities(e.dense, e.sparse)].join(),
    );

  it('round-trips through bytes exactly, and rejects bytes that are not a stored model', async () => {
    const model = await IntentClassifier.fit(threeClasses(10, 6), 3);
    expect(same(IntentClassifier.fromBytes(model.toBytes()), model)).toBe(true);
    expect(() => IntentClassifier.fromBytes(model.toBytes().subarray(0, 100))).toThrow();
    expect(() => IntentClassifier.fromBytes(Buffer.from('\u0002\u0000\u0000\u0000{}'))).toThrow(/not a stored/);
  });

  it('keys a fit by everything it depends on', () => {
    const data = threeClasses(10, 7);
    const key = IntentClassifier.fitKey(data, 3);
    expect(IntentClassifier.fitKey(threeClasses(10, 7), 3)).toBe(key);
    expect(IntentClassifier.fitKey(data, 3, { c: 10 })).not.toBe(key);
    expect(IntentClassifier.fitKey(data.slice(1), 3)).not.toBe(key);
    const relabelled = data.map((e, i) => (i === 0 ? { ...e, label: 2 } : e));
    expect(IntentClassifier.fitKey(relabelled, 3)).not.toBe(key);
  });

  it('a restart with the same examples reads the model back; changed examples or a damaged file refit', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'railgate-classifiers-'));
    try {
      const data = threeClasses(10, 8);
      const first = await loadOrFitClassifier('desk', data, 3, {}, dir);
      expect(first.fromDisk).toBe(false);
      const second = await loadOrFitClassifier('desk', data, 3, {}, dir);
      expect(second.fromDisk).toBe(true);
      expect(same(second.model, first.model)).toBe(true);

      const [file] = await readdir(dir);
      expect(file).toMatch(/^desk\.[0-9a-f]{32}\.classifier$/);
      await writeFile(path.join(dir, file!), 'damaged');
      const refitted = await loadOrFitClassifier('desk', data, 3, {}, dir);
      expect(refitted.fromDisk).toBe(false);
      expect(same(refitted.model, first.model)).toBe(true);

      const edited = await loadOrFitClassifier('desk', threeClasses(11, 8), 3, {}, dir);
      expect(edited.fromDisk).toBe(false);
      expect(await readdir(dir)).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
