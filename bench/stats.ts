/** Small statistics helpers for the benchmarks: percentiles and medians of repeated runs. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Runs `fn` `runs` times and returns each figure's median across runs. */
export async function medianOfRuns<T extends Record<string, number>>(
  runs: number,
  fn: () => Promise<T> | T,
): Promise<T> {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) results.push(await fn());
  const keys = Object.keys(results[0]!) as (keyof T)[];
  return Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k] as number))])) as T;
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toFixed(digits);
}

export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32: fast, deterministic, good enough for benchmark data.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** BENCH_RUNS, the runs behind every median: a whole number of at least 1 (0 would make every figure NaN). */
export function benchRuns(): number {
  const text = process.env.BENCH_RUNS ?? '3';
  const runs = Number(text);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`BENCH_RUNS must be a whole number of at least 1, got "${text}"`);
  return runs;
}
