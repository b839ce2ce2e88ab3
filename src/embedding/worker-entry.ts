/** Inside the embedding worker: load the provider once, then answer embed requests in order. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Embedder } from './embedder.js';
import { createEmbedder } from './providers.js';
import { packVectors, postedError } from './worker-messages.js';
import type { WorkerData, WorkerRequest, WorkerResponse } from './worker-host.js';

const port = parentPort!;
const { config, settings } = workerData as WorkerData;

function send(message: WorkerResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

let embedder: Embedder;
try {
  embedder = await createEmbedder(config, settings);
  // The bundled model reports its wasm threads; other providers compute as they do.
  const threads = 'threads' in embedder && typeof embedder.threads === 'number' ? embedder.threads : 1;
  send({ id: 0, kind: 'ready', modelId: embedder.modelId, dimension: embedder.dimension, threads });
} catch (error) {
  send({ id: 0, kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

// Requests are handled one at a time: one model call at a time per worker; batching happens upstream.
let chain = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  chain = chain.then(async () => {
    if (request.kind === 'close') {
      await embedder.close();
      send({ id: request.id, kind: 'closed' });
      return;
    }
    try {
      const packed = packVectors(await embedder.embed(request.texts), embedder.dimension);
      send({ id: request.id, kind: 'vectors', ...packed }, [packed.buffer]);
    } catch (error) {
      send({ id: request.id, kind: 'error', ...postedError(error) });
    }
  });
});
