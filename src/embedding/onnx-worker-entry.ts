/**
 * Inside the transformers model worker (onnx-host.ts): loads models on request and embeds with them.
 * Every onnxruntime-node session of the process lives in this one thread.
 */
import { parentPort, threadId } from 'node:worker_threads';
import type { Embedder } from './embedder.js';
import type { OnnxRequest, OnnxResponse } from './onnx-host.js';
import { createEmbedder } from './providers.js';
import { packVectors, postedError } from './worker-messages.js';

const port = parentPort!;
const models = new Map<number, Embedder>();
let nextHandle = 1;

function send(message: OnnxResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function answer(request: OnnxRequest): Promise<void> {
  const { id } = request;
  try {
    if (request.kind === 'load') {
      const embedder = await createEmbedder(request.config, request.settings, { baseDir: request.baseDir });
      const handle = nextHandle++;
      models.set(handle, embedder);
      send({ id, kind: 'loaded', handle, modelId: embedder.modelId, dimension: embedder.dimension, threadId });
    } else if (request.kind === 'embed') {
      const embedder = models.get(request.handle);
      if (!embedder) throw new Error(`model ${request.handle} is not loaded`);
      const packed = packVectors(await embedder.embed(request.texts), embedder.dimension);
      send({ id, kind: 'vectors', ...packed }, [packed.buffer]);
    } else {
      await models.get(request.handle)?.close();
      models.delete(request.handle);
      send({ id, kind: 'done' });
    }
  } catch (error) {
    send({ id, kind: 'error', ...postedError(error) });
  }
}

// Calls interleave (different models, or a model's example embedding beside its messages), as they
// would on the main thread: each inference runs whole, as onnxruntime-node runs it synchronously.
port.on('message', (request: OnnxRequest) => void answer(request));
