/**
 * Multi-threaded wasm for the bundled model. tfjs ships a threaded SIMD build of its wasm backend
 * (XNNPACK over a pthread pool of Web Workers) but switches it off in Node, for two reasons that are
 * both about the browser: it starts its thread workers from `blob:` URLs, and it sizes the pool as
 * half of the logical cores (assuming hyper-threads). This module turns it on for one init of the
 * backend: the flag, a thread count, a worker script Node can start (wasm-pthread-worker.cjs), and a
 * core count that lets the pool reach the count asked for. The globals it touches are restored once
 * the backend is up, and only the thread that runs the model (an embedding worker) is affected.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { tf, tfWasm } from './tfjs.js';

/** tfjs builds its wasm thread pool with this many workers; its XNNPACK pool never grows past it. */
export const MAX_WASM_THREADS = 8;

const PTHREAD_WORKER = fileURLToPath(new URL('./wasm-pthread-worker.cjs', import.meta.url));

/**
 * Runs `initBackend` (which must set the wasm backend up for the first time) with `threads` threads;
 * if the threaded build fails to start, with one. One thread is the plain single-threaded build, unchanged.
 */
export async function initWithThreads(threads: number, initBackend: () => Promise<void>): Promise<void> {
  if (threads <= 1) return initBackend();
  // A thread whose script is missing fails later, where nothing can catch it: check first.
  if (!existsSync(PTHREAD_WORKER)) return singleThreaded(`${PTHREAD_WORKER} is missing`, initBackend);
  const count = Math.min(threads, MAX_WASM_THREADS);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfWasm.setThreadsCount(count);
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  // tfjs's worker script arrives as a JavaScript Blob; every thread worker starts from our file instead.
  URL.createObjectURL = (blob: Blob) =>
    blob.type === 'application/javascript' ? PTHREAD_WORKER : createObjectURL(blob);
  // The pool is capped at half the logical cores Emscripten reports (os.cpus() in Node).
  const real = cpus();
  os.cpus = () => Array.from({ length: count * 2 }, (_, i) => real[i % Math.max(1, real.length)]) as os.CpuInfo[];
  try {
    await initBackend();
    settlePoolThreads();
  } catch (error) {
    // tfjs's internals moved, or this Node cannot start the threads: serve single-threaded, and say so.
    await singleThreaded(error instanceof Error ? error.message : String(error), initBackend);
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
}

/** The parts of Emscripten's runtime (exported as `Module.PThread`) that hold the pool's workers. */
interface PoolWorker {
  unref?(): void;
  terminate?(): unknown;
}
interface EmscriptenThreads {
  readonly PThread?: { readonly runningWorkers?: readonly PoolWorker[]; readonly unusedWorkers?: PoolWorker[] };
}

function emscriptenThreads(): EmscriptenThreads['PThread'] {
  return (tf.findBackend('wasm') as { wasm?: EmscriptenThreads } | null)?.wasm?.PThread;
}

/**
 * Once XNNPACK's pool is up, two things about Emscripten's workers are wrong for a server:
 * - it starts 8 workers whatever the thread count, and a spare (a V8 isolate with the wasm module)
 *   holds ~17 MB: with 2 threads, 7 spares are ~120 MB of RSS that never compute. The pool's threads
 *   are created once, at init, so the spares are stopped.
 * - it keeps its running workers referenced, and the pool's threads live as long as the backend, so
 *   a process that used the model (a CLI command) would never exit. They only work for the thread
 *   that loaded the model, which keeps the process alive by itself while it needs them.
 */
function settlePoolThreads(): void {
  const threads = emscriptenThreads();
  for (const worker of threads?.unusedWorkers?.splice(0) ?? []) void worker.terminate?.();
  for (const worker of threads?.runningWorkers ?? []) worker.unref?.();
}

/** Workers the wasm backend holds, computing or spare (0 for the single-threaded build). */
export function wasmPoolWorkers(): number {
  const threads = emscriptenThreads();
  return (threads?.runningWorkers?.length ?? 0) + (threads?.unusedWorkers?.length ?? 0);
}

function singleThreaded(reason: string, initBackend: () => Promise<void>): Promise<void> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tfWasm.setThreadsCount(1);
  process.emitWarning(`wasm threads unavailable (${reason}); the bundled model computes on one thread`, {
    code: 'RG_WASM_THREADS',
  });
  return initBackend();
}

/** Threads the wasm backend computes with (1 for the single-threaded build). */
export function wasmThreads(): number {
  return Math.max(1, tfWasm.getThreadsCount());
}
