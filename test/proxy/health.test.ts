/**
 * Health and readiness answer in OpenAI's error shape while railgate is not ready (loading, or failed
 * to load, without quoting an embeddings server), and an internal fault is a 500 that leaks nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RailgateError } from '../../src/errors.js';
import type { Guard } from '../../src/matching/guard.js';
import { loadRails } from '../../src/rails/load.js';
import { PROXY_RAILS, buildTestApp, type TestApp } from '../helpers/build-app.js';
import { expectError } from '../helpers/openai-error.js';

let railgate: TestApp;

beforeAll(async () => {
  railgate = await buildTestApp();
});
afterAll(() => railgate.close());

describe('health and readiness', () => {
  it('is ready once the guard is loaded, listing the rail sets', async () => {
    expect((await railgate.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await railgate.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      default_rails: 'shop',
      rails: [{ name: 'shop', intents: 6 }],
    });
  });

  it('answers /healthz at once but 503 RG_ERR_NOT_READY while the guard loads', async () => {
    const loading = await buildTestApp({ guard: new Promise<Guard>(() => undefined) });
    try {
      expect((await loading.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expectError(await loading.app.inject({ method: 'GET', url: '/readyz' }), 503, 'RG_ERR_NOT_READY');
      // Readiness probes polling during start-up are not errors; a refused request is.
      expect(await loading.errorCount('RG_ERR_NOT_READY')).toBe(0);
      const chat = await loading.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
      });
      expectError(chat, 503, 'RG_ERR_NOT_READY');
      expect(await loading.errorCount('RG_ERR_NOT_READY')).toBe(1);
      expect(chat.headers['retry-after']).toBe('1');
      expectError(
        await loading.app.inject({ method: 'POST', url: '/v1/guard', payload: { input: 'hi' } }),
        503,
        'RG_ERR_NOT_READY',
      );
    } finally {
      await loading.close();
    }
  });

  it('says why on /readyz when loading failed', async () => {
    const failed = await buildTestApp({ guard: Promise.reject(new Error('model file missing')) });
    try {
      const response = await failed.app.inject({ method: 'GET', url: '/readyz' });
      expectError(response, 503, 'RG_ERR_NOT_READY');
      expect(response.json().error.message).toContain('model file missing');
    } finally {
      await failed.close();
    }
    // A failure that says nothing is still a failure, not "still loading".
    const mute = await buildTestApp({ guard: Promise.reject(new Error('')) });
    try {
      const response = await mute.app.inject({ method: 'GET', url: '/readyz' });
      expect(response.json().error.message).toBe('railgate is not ready: loading rails failed.');
    } finally {
      await mute.close();
    }
  });

  it("keeps an embeddings server's address and answer out of the 503s when it failed the load", async () => {
    const detail = 'embeddings request to http://10.0.0.7:8080/v1/embeddings (model m) failed: CUDA out of memory';
    const failed = await buildTestApp({
      guard: Promise.reject(new RailgateError('RG_ERR_EMBEDDING_FAILED', detail)),
    });
    try {
      for (const response of [
        await failed.app.inject({ method: 'GET', url: '/readyz' }),
        await failed.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          payload: { messages: [{ role: 'user', content: 'hi' }] },
        }),
      ]) {
        expectError(response, 503, 'RG_ERR_NOT_READY');
        expect(response.json().error.message).toBe(
          "railgate is not ready: loading rails failed: The embedding model failed; railgate's log has the details.",
        );
        expect(response.json().error.message).not.toMatch(/10\.0\.0\.7|CUDA/);
      }
    } finally {
      await failed.close();
    }
  });
});

describe('internal errors', () => {
  it('answers 500 RG_ERR_INTERNAL without leaking the exception', async () => {
    // A guard failing in a way no input can cause: the one stand-in in these tests.
    const [shop] = await loadRails(PROXY_RAILS);
    const broken: Guard = {
      defaultRailSet: 'shop',
      railSet: (name) => (name === 'shop' ? shop : undefined),
      list: () => [],
      decide: () => Promise.reject(new Error('secret detail at /srv/internal/path')),
    };
    const app = await buildTestApp({ guard: Promise.resolve(broken) });
    try {
      const response = await app.app.inject({ method: 'POST', url: '/v1/guard', payload: { input: 'hi' } });
      expectError(response, 500, 'RG_ERR_INTERNAL');
      expect(response.body).not.toContain('secret detail');
      expect(response.json().error.message).toContain(response.headers['x-request-id']);
    } finally {
      await app.close();
    }
  });
});
