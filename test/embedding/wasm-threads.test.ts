import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { wasmPoolWorkers } from '../../src/embedding/wasm-threads.js';
import { WorkerEmbedder } from '../../src/embedding/worker-host.js';
import { loadSettings, parseSettings } from '../../src/settings.js';

const questions = [
  'how do I reset my online banking password',
  'I think my debit card was stolen yesterday',
  'what are your branch opening hours on Saturday',
  '',
  'can I increase the limit on my credit card, and how long does it take to be approved?',
];
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundled = { provider: 'bundled', model: undefined, quantized: false } as const;

function maxDrift(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  return Math.max(...a.flatMap((v, i) => Array.from(v, (x, j) => Math.abs(x - b[i]![j]!))));
}

// This file's thread loads the model with two wasm threads; the reference runs single-threaded in a
// worker of its own (the wasm backend is set up once per thread).
let threaded: BundledEmbedder;
let single: WorkerEmbedder;
const borrowed = { cpus: os.cpus, createObjectURL: URL.createObjectURL };

beforeAll(async () => {
  threaded = await BundledEmbedder.load({ threads: 2 });
  single = await WorkerEmbedder.start(bundled, parseSettings({}).embedding);
});
afterAll(async () => {
  await single.close();
  await threaded.close();
});

describe('bundled model on several wasm threads (embedding.threads)', () => {
  it('computes with the threads asked for and embeds what the single-threaded model does', async () => {
    expect(threaded.threads).toBe(2);
    // The calling thread computes too: one pool worker, and none of Emscripten's idle spares.
    expect(wasmPoolWorkers()).toBe(1);
    const [mine, reference] = await Promise.all([threaded.embed(questions), single.embed(questions)]);
    expect(maxDrift(mine, reference)).toBeLessThan(1e-5);
    // Batches and single messages agree, as the micro-batcher relies on.
    const one = await threaded.embed([questions[1]!]);
    expect(maxDrift(one, [mine[1]!])).toBeLessThan(1e-5);
  });

  it('runs threaded inside a model worker, as RAILGATE_EMBED_THREADS sets it up', async () => {
    const settings = loadSettings({ RAILGATE_EMBED_THREADS: '2' }).embedding;
    expect(settings.threads).toBe(2);
    const worker = await WorkerEmbedder.start(bundled, settings);
    try {
      expect(worker.threads).toBe(2);
      expect(single.threads).toBe(1);
      const [vectors, reference] = await Promise.all([worker.embed(questions), single.embed(questions)]);
      expect(maxDrift(vectors, reference)).toBeLessThan(1e-5);
    } finally {
      await worker.close();
    }
  });

  it('puts back the globals it borrows for the set-up', () => {
    expect(os.cpus).toBe(borrowed.cpus);
    expect(URL.createObjectURL).toBe(borrowed.createObjectURL);
  });

  it('lets a command that used the threaded model exit when it is done', async () => {
    // The pool's threads live as long as the backend; they must not hold the process open.
    const run = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/bin.ts', 'explain', '--json', 'how do I reset my password'],
        { cwd: ROOT, env: { ...process.env, RAILGATE_EMBED_THREADS: '2' }, timeout: 60_000 },
        (_error, stdout) => resolve({ code: child.exitCode, signal: child.signalCode, stdout }),
      );
    });
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: { intent: 'online_banking_access' } });
  }, 90_000);
});
