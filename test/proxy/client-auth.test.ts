/**
 * With `clientApiKeys` set, railgate is not an open relay on the operator's upstream key: every route
 * but the probes and metrics wants one of the client keys, as the OpenAI SDK sends its apiKey.
 */
import { connect } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSettings, parseSettings } from '../../src/settings.js';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

const CLIENT_KEY = 'rg-client-key-0123456789';
let upstream: FakeUpstream;
let railgate: TestApp;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  railgate = await buildTestApp({
    upstreamUrl: upstream.url,
    apiKey: 'sk-operator-key',
    clientApiKeys: ['rg-other-key-abcdefghij', CLIENT_KEY],
    listen: true,
  });
});
afterAll(async () => {
  await railgate.close();
  await upstream.close();
});
beforeEach(() => upstream.reset());

const clientWith = (apiKey: string) => new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey, maxRetries: 0 });
const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'where is my order' }] };

describe('client API keys', () => {
  it('serves a client presenting one of the keys, and sends the operator key upstream, not the client key', async () => {
    const answer = await clientWith(CLIENT_KEY).chat.completions.create(ask);
    expect(answer.choices[0]?.message.content).toMatch(/^echo: /);
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-operator-key');
  });

  it('answers 401 to a wrong or missing key before deciding anything or calling the upstream', async () => {
    const rowsBefore = railgate.rows().length;
    const wrong = await clientWith('rg-client-key-0123456788')
      .chat.completions.create(ask)
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(wrong).toMatchObject({
      status: 401,
      code: 'RG_ERR_UNAUTHORIZED',
      message: expect.stringContaining('Incorrect API key'),
    });

    const missing = await railgate.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: ask });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error).toMatchObject({ code: 'RG_ERR_UNAUTHORIZED', type: 'invalid_request_error' });
    expect(missing.json().error.message).toContain('Authorization: Bearer <key>');
    for (const url of ['/v1/models', '/v1/rails', '/%761/models', '/v%31/rails', '/nothing'])
      expect((await railgate.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    const encoded = await railgate.app.inject({ method: 'POST', url: '/%761/chat/completions', payload: ask });
    expect(encoded.statusCode).toBe(401);
    // The absolute form of a request target names the same route.
    const { port } = new URL(railgate.url);
    const absolute = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.end('GET http://railgate/v1/models HTTP/1.1\r\nHost: railgate\r\nConnection: close\r\n\r\n'),
      );
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
    expect(absolute).toMatch(/^HTTP\/1\.1 401 /);

    expect(upstream.requests).toHaveLength(0);
    expect(railgate.rows()).toHaveLength(rowsBefore);
  });

  it('leaves health, readiness and metrics open for the platform, readiness without the rail sets', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics'])
      expect((await railgate.app.inject({ method: 'GET', url })).statusCode).toBe(200);
    expect((await railgate.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
    // A failed load names rail files and intents: the open probe says only that it is not ready.
    const failed = await buildTestApp({
      clientApiKeys: [CLIENT_KEY],
      guard: Promise.reject(new Error('rails/secret/intents.yml:3: bad intent "wire_fraud"')),
    });
    try {
      const notReady = await failed.app.inject({ method: 'GET', url: '/readyz' });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json().error).toMatchObject({ code: 'RG_ERR_NOT_READY', message: 'railgate is not ready.' });
    } finally {
      await failed.close();
    }
  });

  it('refuses settings that would read the Authorization header two ways, or a short key', () => {
    expect(() =>
      parseSettings({
        clientApiKeys: [CLIENT_KEY],
        upstreams: { default: { url: 'http://llm/v1', forwardClientAuth: true } },
      }),
    ).toThrow(/upstreams\.default\.forwardClientAuth: cannot be used with clientApiKeys/);
    expect(() => parseSettings({ clientApiKeys: ['short'] })).toThrow(/at least 16 characters/);
    expect(() => parseSettings({ clientApiKeys: ['short'] })).not.toThrow(/short/);
    expect(() => loadSettings({ RAILGATE_CLIENT_API_KEYS: 'short' }, '/nonexistent')).toThrow(
      /RAILGATE_CLIENT_API_KEYS \(clientApiKeys\.0\): a client API key needs at least 16 characters/,
    );
  });
});
