/**
 * Embedding benchmark: single-message latency (p50/p99) and batched throughput per provider, with
 * distinct messages so no cache helps.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BundledEmbedder } from '../src/embedding/bundled.js';
import type { Embedder } from '../src/embedding/embedder.js';
import { TransformersEmbedder } from '../src/embedding/transformers.js';
import { WorkerEmbedder } from '../src/embedding/worker-host.js';
import { parseSettings } from '../src/settings.js';
import { fmt, medianOfRuns, percentile } from './stats.js';
import { distinctMessages } from './messages.js';

export interface EmbeddingRow {
  provider: string;
  /** wasm threads of the bundled model (`embedding.threads`); absent for other providers. */
  threads?: number;
  p50: number;
  p99: number;
  throughput: number;
}

async function measure(embedder: Embedder, runs: number): Promise<Omit<EmbeddingRow, 'provider'>> {
  const warm = distinctMessages(20, 999);
  for (const m of warm) await embedder.embed([m]);
  let round = 0;
  return medianOfRuns(runs, async () => {
    round++;
    const singles = distinctMessages(200, round);
    const times: number[] = [];
    for (const m of singles) {
      const start = performance.now();
      await embedder.embed([m]);
      times.push(performance.now() - start);
    }
    const batch = distinctMessages(512, 100 + round);
    const start = performance.now();
    for (let i = 0; i < batch.length; i += 64) await embedder.embed(batch.slice(i, i + 64));
    const throughput = batch.length / ((performance.now() - start) / 1000);
    return { p50: percentile(times, 50), p99: percentile(times, 99), throughput };
  });
}

export async function runEmbeddingBench(runs = 3): Promise<EmbeddingRow[]> {
  const rows: EmbeddingRow[] = [];
  const bundled = await BundledEmbedder.load();
  rows.push({ provider: 'bundled (USE lite, tfjs wasm)', threads: 1, ...(await measure(bundled, runs)) });
  await bundled.close();
  // The wasm backend is set up once per thread: more threads are measured in a model worker.
  const config = { provider: 'bundled', model: undefined, quantized: false } as const;
  const threaded = await WorkerEmbedder.start(config, parseSettings({ embedding: { threads: 2 } }).embedding);
  rows.push({ provider: 'bundled, 2 wasm threads (model worker)', threads: 2, ...(await measure(threaded, runs)) });
  await threaded.close();
  const fixture = path.resolve(import.meta.dirname, '../test/fixtures/tiny-bert');
  const tiny = await TransformersEmbedder.load({ model: fixture, allowRemoteModels: false });
  rows.push({ provider: 'transformers (tiny-bert fixture, fp32)', ...(await measure(tiny, runs)) });
  await tiny.close();
  const real = process.env.RAILGATE_BENCH_MODEL_DIR;
  if (real && existsSync(real)) {
    const model = await TransformersEmbedder.load({ model: real, allowRemoteModels: false });
    rows.push({ provider: `transformers (${path.basename(real)})`, ...(await measure(model, runs)) });
    await model.close();
  }
  return rows;
}

export function embeddingTable(rows: readonly EmbeddingRow[]): string {
  const lines = [
    '| provider | single p50 (ms) | single p99 (ms) | batched (texts/s, batches of 64) |',
    '|---|---:|---:|---:|',
  ];
  for (const r of rows) lines.push(`| ${r.provider} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.throughput, 0)} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(embeddingTable(await runEmbeddingBench()));
