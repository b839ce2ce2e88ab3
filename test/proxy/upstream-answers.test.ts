/**
 * What the upstream answers, relayed to the client: its own errors (with or without a content type),
 * the operator's key masked wherever the upstream quotes it, and bodies that are not what was asked
 * for (compressed, mislabelled, not an event stream).
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { ask, askStream, lastRow, useUpstreamPair } from '../helpers/upstream-pair.js';

let upstream: FakeUpstream;
let railgate: TestApp;
let client: OpenAI;
useUpstreamPair((pair) => ({ upstream, railgate, client } = pair));

describe('an upstream error body without a content-type', () => {
  it('is relayed as text when it is not JSON, and as JSON when it is', async () => {
    upstream.behave({ status: 503, errorText: 'upstream sad' });
    const text = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
    expect(text.statusCode).toBe(503);
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body).toBe('upstream sad');
    upstream.behave({ status: 503, errorText: '{"error":{"message":"busy"}}' });
    const json = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json.json()).toEqual({ error: { message: 'busy' } });
    // A model lookup relays it the same way.
    upstream.behave({ status: 503, errorText: 'upstream sad' });
    const lookup = await railgate.app.inject({ url: '/v1/models/fake-model' });
    expect(lookup.statusCode).toBe(503);
    expect(lookup.headers['content-type']).toBe('text/plain; charset=utf-8');
  });
});

describe("the operator's key in the upstream's errors", () => {
  it('is masked in an error body that quotes it', async () => {
    const keyed = await buildTestApp({ upstreamUrl: upstream.url, apiKey: 'sk-operator-secret-123' });
    try {
      const message = 'Incorrect API key provided: Bearer sk-operator-secret-123.';
      upstream.behave({
        status: 401,
        errorBody: { error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } },
      });
      const response = await keyed.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: ask('where is my order'),
      });
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toMatchObject({
        message: 'Incorrect API key provided: Bearer ***.',
        code: 'invalid_api_key',
      });
      expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-operator-secret-123');
      // A wrong operator key shows in monitoring, not only in the decision log.
      await keyed.log.flush();
      const metrics = (await keyed.app.inject({ url: '/metrics' })).body;
      expect(metrics).toContain('railgate_upstream_responses_total{rail_set="shop",status="401"} 1');
    } finally {
      await keyed.close();
    }
  });

  it('is masked in an error event inside a stream', async () => {
    const keyed = await buildTestApp({ upstreamUrl: upstream.url, apiKey: 'sk-operator-secret-123', listen: true });
    try {
      const error = { error: { message: 'Key sk-operator-secret-123 was revoked.', type: 'auth', code: 'revoked' } };
      upstream.behave({ rawStream: Buffer.from(`data: ${JSON.stringify(error)}\n\n`) });
      const text = await (
        await fetch(`${keyed.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(askStream('where is my order')),
        })
      ).text();
      expect(text).toBe(`data: ${JSON.stringify(error).replace('sk-operator-secret-123', '***')}\n\n`);
    } finally {
      await keyed.close();
    }
  });

  it('is masked in the headers railgate relays and in a successful answer that quotes it', async () => {
    const keyed = await buildTestApp({ upstreamUrl: upstream.url, apiKey: 'sk-operator-secret-123' });
    try {
      upstream.behave({
        headers: { 'x-ratelimit-key': 'sk-operator-secret-123', 'x-ratelimit-remaining-tokens': '42' },
        content: 'Your gateway key is sk-operator-secret-123.',
      });
      const response = await keyed.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: ask('where is my order'),
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-key']).toBe('***');
      expect(response.headers['x-ratelimit-remaining-tokens']).toBe('42');
      expect(response.json().choices[0].message.content).toBe('Your gateway key is ***.');
      expect(response.body).not.toContain('sk-operator-secret-123');
    } finally {
      await keyed.close();
    }
  });

  it('is left alone when it is a placeholder for a local server, so the body stays intact', async () => {
    const local = await buildTestApp({ upstreamUrl: upstream.url, apiKey: '1' });
    try {
      const body = { error: { message: 'Unauthorized', type: 'auth', param: null, code: 401 } };
      upstream.behave({ status: 401, errorBody: body });
      const response = await local.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: ask('where is my order'),
      });
      expect(response.json()).toEqual(body);
    } finally {
      await local.close();
    }
  });
});

describe('what the upstream answers with', () => {
  it.each(['gzip', 'br'] as const)(
    'decodes a %s body that the upstream compressed unasked, plain and streamed',
    async (encoding) => {
      upstream.behave({ encoding });
      const plain = await client.chat.completions.create(ask('where is my order'));
      expect(plain.choices[0]!.message.content).toMatch(/^echo: /);
      expect(upstream.requests.at(-1)!.headers['accept-encoding']).toBe('identity');
      const stream = await client.chat.completions.create(askStream('where is my order'));
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toMatch(/^echo: /);
    },
  );

  it('answers 502 RG_ERR_UPSTREAM_BAD_RESPONSE for a body labelled gzip that is not, plain and streamed', async () => {
    upstream.behave({ mislabelledEncoding: 'gzip' });
    const plain = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
    expect(plain.statusCode).toBe(502);
    expect(plain.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
    expect(plain.json().error.message).toMatch(/does not decode/);
    expect(await lastRow(railgate)).toMatchObject({ upstreamStatus: 200, errorCode: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });

    const streamed = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: askStream('where is my order'),
    });
    expect(streamed.body).toMatch(/"code":"RG_ERR_UPSTREAM_BAD_RESPONSE"/);
    expect(streamed.body).toMatch(/does not decode/);
    expect(streamed.body).not.toContain('[DONE]');
    expect(await lastRow(railgate)).toMatchObject({ errorCode: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
  });

  it.each(['json', 'json-slowly', 'html'] as const)(
    'answers 502 RG_ERR_UPSTREAM_BAD_RESPONSE when a stream is answered with %s, not events',
    async (streamAnswer) => {
      upstream.behave({ streamAnswer });
      const response = await railgate.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: askStream('which lawn mower is best for a small garden'),
      });
      expect(response.statusCode).toBe(502);
      expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
      expect(response.json().error.message).toMatch(/not an event stream/);
      expect(await lastRow(railgate)).toMatchObject({ upstreamStatus: 200, errorCode: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
    },
  );

  it("relays the upstream's rate-limit and timing headers, never the operator's organization", async () => {
    const { response } = await client.chat.completions.create(ask('where is my order')).withResponse();
    expect(response.headers.get('openai-processing-ms')).toBe('12');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('99');
    expect(response.headers.get('openai-organization')).toBeNull();
  });

  it('answers 502 for an answer over limits.upstreamAnswerBytes, counted after decoding', async () => {
    // An upstream that never ends its body, or a small gzip body that inflates to gigabytes, must not
    // take railgate's memory: before, it was read whole whatever its size.
    const small = await buildTestApp({ upstreamUrl: upstream.url, limits: { upstreamAnswerBytes: 16_384 } });
    try {
      const post = () =>
        small.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: ask('where is my order') });
      for (const behaviour of [
        { content: 'a'.repeat(100_000) },
        { content: 'a'.repeat(100_000), encoding: 'gzip' as const },
        { status: 500, errorText: 'e'.repeat(100_000) },
      ]) {
        upstream.behave(behaviour);
        const response = await post();
        expect(response.statusCode).toBe(502);
        expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
        expect(response.json().error.message).toMatch(/more than 16384 bytes \(limits\.upstreamAnswerBytes\)/);
      }
      upstream.behave({ content: 'a'.repeat(10_000), encoding: 'gzip' });
      expect((await post()).statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('answers 502 for an upstream redirect, never relaying it, nor telling the client where it points', async () => {
    const location = 'https://api.example.com/v1/chat/completions';
    upstream.behave({ status: 307, errorText: '{"moved":true}', headers: { location } });
    for (const payload of [ask('where is my order'), askStream('where is my order')]) {
      const response = await railgate.app.inject({ method: 'POST', url: '/v1/chat/completions', payload });
      expect(response.statusCode).toBe(502);
      expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
      expect(response.json().error.message).toContain('answered 307, a redirect; railgate does not follow redirects');
      expect(response.body).not.toContain('api.example.com');
      expect(response.headers.location).toBeUndefined();
    }
    const lookup = await railgate.app.inject({ url: '/v1/models/fake-model' });
    expect(lookup.statusCode).toBe(502);
    expect(lookup.json().error.message).toMatch(/answered 307, a redirect;/);
    // A key in the URL's query (an upstream set up as `…/v1?key=…`) comes back in the redirect: not told.
    upstream.behave({ status: 301, headers: { location: `${location}?key=sk-query-secret-42` } });
    const keyed = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
    expect(keyed.body).not.toContain('sk-query-secret-42');
  });

  it("passes on a 429's retry-after-ms, which the OpenAI SDKs prefer to retry-after", async () => {
    upstream.behave({ status: 429, headers: { 'retry-after': '2', 'retry-after-ms': '1500' } });
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
    expect(response.statusCode).toBe(429);
    expect([response.headers['retry-after'], response.headers['retry-after-ms']]).toEqual(['2', '1500']);
  });

  it('fails a stream whose upstream never ends an event, past limits.streamEventBytes', async () => {
    const small = await buildTestApp({ upstreamUrl: upstream.url, limits: { streamEventBytes: 1024 }, listen: true });
    try {
      upstream.behave({ rawStream: Buffer.alloc(64 * 1024, 'x') });
      const text = await (
        await fetch(`${small.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(askStream('which lawn mower is best for a small garden')),
        })
      ).text();
      expect(text).toMatch(/^data: \{"error":\{.*"code":"RG_ERR_UPSTREAM_BAD_RESPONSE"\}\}\n\n$/);
      expect(text).not.toContain('xxxx');
    } finally {
      await small.close();
    }
  });
});
