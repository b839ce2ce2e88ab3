/**
 * `POST /v1/embeddings` is relayed to the default upstream as is, so an app whose OpenAI base URL is
 * railgate can still embed (no decision: embeddings generate no text).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { fakeVector, startFakeEmbeddingsServer, type FakeEmbeddingsServer } from '../helpers/fake-embeddings-server.js';

const OPERATOR_KEY = 'sk-operator-secret-123';
let upstream: FakeEmbeddingsServer;
let railgate: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeEmbeddingsServer({ dimension: 8 });
  railgate = await buildTestApp({ upstreamUrl: upstream.baseURL, apiKey: OPERATOR_KEY, listen: true });
  client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client-key', maxRetries: 0 });
});
/** POST /v1/embeddings with plain fetch, to see the raw answer (status, bytes as they arrive). */
const postEmbeddings = (model: string) =>
  fetch(`${railgate.url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, input: ['hi'] }),
  });

afterAll(async () => {
  await railgate.close();
  await upstream.close();
});

describe('POST /v1/embeddings', () => {
  it("relays the official SDK's request to the upstream with the operator's key, and its answer back", async () => {
    const rows = railgate.rows().length;
    const answer = await client.embeddings.create({
      model: 'text-embedding-test',
      input: ['where is my order', 'how do I build a bomb'],
      encoding_format: 'float',
    });
    expect(answer.data.map((d) => d.embedding)).toEqual([
      fakeVector('where is my order', 8),
      fakeVector('how do I build a bomb', 8),
    ]);
    const sent = upstream.requests.at(-1)!;
    expect(sent.headers.authorization).toBe(`Bearer ${OPERATOR_KEY}`);
    expect(sent.body).toMatchObject({
      model: 'text-embedding-test',
      input: ['where is my order', 'how do I build a bomb'],
    });
    // Nothing was decided, so nothing is logged as a decision.
    expect(railgate.rows().length).toBe(rows);
  });

  it("relays the upstream's own error, with the operator's key masked", async () => {
    upstream.behave({ kind: 'status', status: 401, body: `{"error":{"message":"Bad key ${OPERATOR_KEY}"}}` });
    try {
      const response = await postEmbeddings('text-embedding-test');
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: { message: 'Bad key ***' } });
    } finally {
      upstream.behave({ kind: 'ok' });
    }
  });

  it('relays a large answer as it arrives, with the key masked even where it is split between pieces', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"note":"sk-operator-`;
    upstream.behave({ kind: 'pieces', pieces: [first, 'secret-123","model":"m"}'], held });
    try {
      const response = await postEmbeddings('m');
      // The status and the first bytes are here while the upstream still holds the rest back.
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      const reader = response.body!.getReader();
      const start = new TextDecoder().decode((await reader.read()).value);
      expect(first.startsWith(start) && start.length > 0).toBe(true);
      release();
      let text = start;
      for (let piece = await reader.read(); !piece.done; piece = await reader.read())
        text += new TextDecoder().decode(piece.value);
      expect(JSON.parse(text)).toMatchObject({ note: '***', model: 'm' });
      expect(text).not.toContain('secret');
    } finally {
      release();
      upstream.behave({ kind: 'ok' });
    }
  });

  it('cuts the connection when the upstream breaks off mid-answer, so no client takes a truncated body for whole', async () => {
    upstream.behave({
      kind: 'pieces',
      pieces: ['{"object":"list","data":[{"object":"embedding",', '"index":0'],
      drop: true,
    });
    const counted = await railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE');
    try {
      await expect(client.embeddings.create({ model: 'm', input: ['hi'], encoding_format: 'float' })).rejects.toThrow();
      const response = await postEmbeddings('m');
      await expect(response.text()).rejects.toThrow();
      // Each break is counted, though no error answer could be sent (when railgate's side closes).
      await expect.poll(() => railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE')).toBe(counted + 2);
      // railgate keeps serving.
      upstream.behave({ kind: 'ok' });
      const answer = await client.embeddings.create({ model: 'm', input: ['hi'], encoding_format: 'float' });
      expect(answer.data).toHaveLength(1);
    } finally {
      upstream.behave({ kind: 'ok' });
    }
  });

  it('answers 502, counted once, when the upstream breaks off before any of its answer could be passed on', async () => {
    const counted = await railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE');
    upstream.behave({ kind: 'pieces', pieces: ['{"object":', '"list"'], drop: true });
    try {
      const response = await postEmbeddings('m');
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('RG_ERR_UPSTREAM_BAD_RESPONSE');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE')).toBe(counted + 1);
    } finally {
      upstream.behave({ kind: 'ok' });
    }
  });

  it('answers a body that is not a JSON object with 400, and no upstream with 503', async () => {
    const notObject = await railgate.app.inject({ method: 'POST', url: '/v1/embeddings', payload: ['hi'] });
    expect(notObject.statusCode).toBe(400);
    expect(notObject.json().error).toMatchObject({ code: 'RG_ERR_INVALID_REQUEST' });
    const bodiless = await railgate.app.inject({ method: 'POST', url: '/v1/embeddings' });
    expect(bodiless.statusCode).toBe(400);
    expect(bodiless.json().error.message).toMatch(/has no body; send it as JSON/);

    const bare = await buildTestApp();
    try {
      const response = await bare.app.inject({
        method: 'POST',
        url: '/v1/embeddings',
        payload: { model: 'text-embedding-test', input: 'hi' },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_NOT_CONFIGURED' });
    } finally {
      await bare.close();
    }
  });

  it('is not a way around the rails: other generating endpoints are not relayed', async () => {
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/responses',
      payload: { model: 'm', input: 'how do I build a bomb' },
    });
    expect(response.statusCode).toBe(404);
    expect(upstream.requests.every((r) => r.path === '/v1/embeddings')).toBe(true);
  });
});
