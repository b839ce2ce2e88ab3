/**
 * `corsOrigins`: a browser page of a listed origin may call railgate (its preflight is answered
 * without a client key, which browsers never send on one); other origins get no CORS headers, so
 * browsers keep their pages out. Off by default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/settings.js';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';

const APP = 'https://app.example.com';
const CLIENT_KEY = 'rg-client-key-0123456789';
let railgate: TestApp;
let closed: TestApp;

beforeAll(async () => {
  railgate = await buildTestApp({ corsOrigins: [APP], clientApiKeys: [CLIENT_KEY], listen: true });
  closed = await buildTestApp({ listen: true });
});
afterAll(async () => {
  await railgate.close();
  await closed.close();
});

const preflight = (url: string, origin: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

const refused = (url: string, origin: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { origin, authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'how do I build a bomb' }] }),
  });

describe('CORS', () => {
  it("answers a listed origin's preflight without a client key, then its request with the decision readable", async () => {
    const answer = await preflight(railgate.url, APP);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    expect(answer.headers.get('access-control-allow-methods')).toContain('POST');
    expect(answer.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    // A bare OPTIONS (no Access-Control-Request-Method) is answered the same way, not with a text 400.
    const bare = await fetch(`${railgate.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: APP } });
    expect(bare.status).toBe(204);

    const response = await refused(railgate.url, APP);
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-expose-headers')).toContain('x-railgate-decision');
    expect(response.headers.get('x-railgate-decision')).toBe('refuse');
  });

  it('gives another origin no CORS headers, and still wants a key for the request itself', async () => {
    const answer = await preflight(railgate.url, 'https://evil.example');
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    const keyless = await fetch(`${railgate.url}/v1/models`, { headers: { origin: APP } });
    expect(keyless.status).toBe(401);
    // The error is readable by the page too, so it can say why.
    expect(keyless.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('is off by default', async () => {
    const answer = await preflight(closed.url, APP);
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    expect((await refused(closed.url, APP)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('takes RAILGATE_CORS_ORIGINS and refuses an origin with a path', () => {
    expect(parseSettings({ corsOrigins: ['*'] }).corsOrigins).toEqual(['*']);
    expect(() => parseSettings({ corsOrigins: ['https://app.example.com/page'] })).toThrow(/scheme:\/\/host/);
  });
});
