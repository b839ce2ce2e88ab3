/**
 * onnxruntime-node 1.21 may run in one thread of a process only: a second thread running it aborts
 * the whole process (see transformers.ts). `serve` runs it in its model worker, the authoring commands
 * on their main thread; a process that would do both (an embedder of railgate's code, tests) gets an
 * error instead of an abort. Claimed before anything imports onnxruntime-node.
 */
import { isMainThread } from 'node:worker_threads';
import { RailgateError } from '../errors.js';

type Owner = 'main thread' | 'model worker';
let owner: Owner | undefined;

export function claimOnnxRuntime(by: Owner): void {
  // Inside the model worker: the host claimed it for this thread when it started the worker.
  if (!isMainThread) return;
  if (owner !== undefined && owner !== by)
    throw new RailgateError(
      'RG_ERR_CONFIG_INVALID',
      `transformers models already run in this process's ${owner}: onnxruntime-node cannot run in a second ` +
        'thread of one process (embedding.worker must be the same for every railgate of a process)',
    );
  owner = by;
}
