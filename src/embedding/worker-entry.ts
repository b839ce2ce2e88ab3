/** Inside the embedding worker: load the provider once, then answer embed requests in order. */
import { parentPort, workerData } from 'node:worker_threads';
import type { Embedder } from './embedder.js';
import { createEmbedder } from './providers.js';
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
      const vectors = await embedder.embed(request.texts);
      const flat = new Float32Array(vectors.length * embedder.dimension);
      vectors.forEach((v, i) => flat.set(v, i * embedder.dimension));
      send({ id: request.id, kind: 'vectors', buffer: flat.buffer, count: vectors.length }, [flat.buffer]);
    } catch (error) {
      const code = (error as { code?: string }).code;
      send({
        id: request.id,
        kind: 'error',
        message: error instanceof Error ? error.message : String(error),
        ...(code && { code }),
      });
    }
  });
});
