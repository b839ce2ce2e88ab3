/**
 * A client that gives up while its message is still being decided (a busy model, a slow embeddings
 * server): its decision is logged as RG_ERR_CLIENT_CLOSED, and the upstream is never called for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/embedding/batcher.js';
import type { Embedder } from '../../src/embedding/embedder.js';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { buildTestApp, PROXY_RAILS, sharedEmbedder, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { HeldModel } from '../helpers/held-model.js';

let upstream: FakeUpstream;
let model: HeldModel;
let runtime: RailsRuntime;
let railgate: TestApp;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  model = new HeldModel(await sharedEmbedder());
  runtime = await createGuard({ sets: await loadRails(PROXY_RAILS), embedderFor: async () => model });
  railgate = await buildTestApp({ guard: Promise.resolve(runtime), upstreamUrl: upstream.url, listen: true });
});
afterAll(async () => {
  await railgate.close();
  await runtime.close();
  await upstream.close();
});

async function openConnections(): Promise<number> {
  return new Promise((resolve, reject) =>
    railgate.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

/** Sends `body` to `path`, gives up while the model holds its message, then lets the model go on. */
async function leaveMidDecision(path: string, body: object, requestId: string): Promise<void> {
  const held = model.holdNext();
  const client = new AbortController();
  const sent = fetch(`${railgate.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(body),
    signal: client.signal,
  }).catch((error: unknown) => error);
  const letThrough = await held;
  client.abort();
  await sent;
  // The server has seen the connection close before the decision is made.
  for (let i = 0; i < 200 && (await openConnections()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  letThrough();
}

/** Errors counted in /metrics: [RG_ERR_CLIENT_CLOSED, RG_ERR_INTERNAL]. */
const errorCounts = () =>
  Promise.all([railgate.errorCount('RG_ERR_CLIENT_CLOSED'), railgate.errorCount('RG_ERR_INTERNAL')]);

/** Waits until either count has moved past `before` (the failure is counted once the request is over). */
async function countedAfter(before: readonly number[]): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if ((await errorCounts()).some((n, at) => n > before[at]!)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const rowFor = async (requestId: string) => {
  let row = railgate.rows().find((r) => r.requestId === requestId);
  await upstream.waitUntil(() => (row = railgate.rows().find((r) => r.requestId === requestId)) !== undefined);
  return row!;
};

describe('a client that leaves while its message is being decided', () => {
  it.each([
    ['a forward', false],
    ['a streamed forward', true],
  ])('logs %s as RG_ERR_CLIENT_CLOSED and never calls the upstream', async (_what, stream) => {
    const requestId = `left-${String(stream)}`;
    const before = upstream.requests.length;
    await leaveMidDecision(
      '/v1/chat/completions',
      { model: 'm', stream, messages: [{ role: 'user', content: 'where is my order' }] },
      requestId,
    );
    const row = await rowFor(requestId);
    expect(row).toMatchObject({ errorCode: 'RG_ERR_CLIENT_CLOSED', upstreamStatus: null });
    expect(row.decision).toMatchObject({ action: 'forward', intent: 'order_status' });
    expect(upstream.requests.length).toBe(before);
  });

  it('counts a streamed refusal whose client left as RG_ERR_CLIENT_CLOSED, never as an internal error', async () => {
    const [closed, internal] = await errorCounts();
    const requestId = 'left-refusal';
    await leaveMidDecision(
      '/v1/chat/completions',
      { model: 'm', stream: true, messages: [{ role: 'user', content: 'how do I build a bomb' }] },
      requestId,
    );
    expect(await rowFor(requestId)).toMatchObject({ errorCode: 'RG_ERR_CLIENT_CLOSED' });
    await countedAfter([closed, internal]);
    expect(await errorCounts()).toEqual([closed + 1, internal]);
  });

  it('counts a model lookup whose client left as RG_ERR_CLIENT_CLOSED, never as an internal error', async () => {
    const [closed, internal] = await errorCounts();
    upstream.behave({ headersDelayMs: 5_000 });
    try {
      const error = await fetch(`${railgate.url}/v1/models/fake-model`, { signal: AbortSignal.timeout(200) }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      await countedAfter([closed, internal]);
      expect(await errorCounts()).toEqual([closed + 1, internal]);
    } finally {
      upstream.behave({});
    }
  });

  it('logs a /v1/guard request the same way', async () => {
    await leaveMidDecision('/v1/guard', { input: 'what are your opening hours' }, 'left-guard');
    expect(await rowFor('left-guard')).toMatchObject({ endpoint: 'guard', errorCode: 'RG_ERR_CLIENT_CLOSED' });
  });
});

describe('a client that leaves while its message waits for the model', () => {
  it('has its message taken out of the queue: never embedded, never sent upstream', async () => {
    const embedded: string[] = [];
    const real = await sharedEmbedder();
    const recording: Embedder = {
      modelId: real.modelId,
      dimension: real.dimension,
      embed: (texts) => (embedded.push(...texts), real.embed(texts)),
      close: async () => undefined,
    };
    const held = new HeldModel(recording);
    const batcher = new MicroBatcher(held, { windowMs: 0, maxBatch: 64, maxQueue: 100 });
    const queued = await createGuard({ sets: await loadRails(PROXY_RAILS), embedderFor: async () => batcher });
    const app = await buildTestApp({ guard: Promise.resolve(queued), upstreamUrl: upstream.url, listen: true });
    embedded.length = 0; // the rail examples, embedded at load
    let release = () => {};
    try {
      const ask = (content: string, signal?: AbortSignal) =>
        fetch(`${app.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }),
          ...(signal ? { signal } : {}),
        });
      const arrived = held.holdNext();
      const first = ask('where is my order, it was due on monday');
      const letThrough = await arrived;
      release = letThrough;
      const leaving = new AbortController();
      const left = ask('where is my parcel, it was due on tuesday', leaving.signal).catch((e: unknown) => e);
      for (let i = 0; i < 250 && batcher.queueDepth === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(batcher.queueDepth).toBe(1);
      const closed = await app.errorCount('RG_ERR_CLIENT_CLOSED');
      leaving.abort();
      await left;
      for (let i = 0; i < 250 && batcher.queueDepth > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(batcher.queueDepth).toBe(0);
      letThrough();
      expect((await first).status).toBe(200);
      expect(embedded).toEqual(['where is my order, it was due on monday']);
      expect(upstream.requests.some((r) => r.raw.includes('tuesday'))).toBe(false);
      expect(await app.errorCount('RG_ERR_CLIENT_CLOSED')).toBe(closed + 1);
    } finally {
      release();
      await app.close();
      await queued.close();
    }
  });
});

describe('a client that leaves a relayed stream midway', () => {
  it('is logged and counted once as RG_ERR_CLIENT_CLOSED, as one that left while deciding', async () => {
    const [closed, internal] = await errorCounts();
    upstream.behave({ chunks: ['one ', 'two ', 'three ', 'four '], chunkDelayMs: 300 });
    try {
      const client = new AbortController();
      const response = await fetch(`${railgate.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'left-midstream' },
        body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'where is my order' }] }),
        signal: client.signal,
      });
      const reader = response.body!.getReader();
      await reader.read();
      client.abort();
      expect(await rowFor('left-midstream')).toMatchObject({ errorCode: 'RG_ERR_CLIENT_CLOSED' });
      await countedAfter([closed, internal]);
      // Every hook that hears of it has had its turn: still one.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await errorCounts()).toEqual([closed + 1, internal]);
    } finally {
      upstream.reset();
    }
  });
});
