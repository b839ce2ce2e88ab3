/**
 * The upstream side: unreachable, slow, absent, answering with an error, failing mid-stream, and a
 * client that walks away mid-stream. Also /v1/models relaying and /v1/guard never calling upstream.
 */
import { createServer } from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type AddressInfo, type Socket } from 'node:net';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

let upstream: FakeUpstream;
let railgate: TestApp;
let client: OpenAI;

const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

const askStream = (content: string) => ({ ...ask(content), stream: true as const });

beforeAll(async () => {
  upstream = await startFakeUpstream();
  railgate = await buildTestApp({
    upstreamUrl: upstream.url,
    upstream: { headersTimeoutMs: 400, bodyTimeoutMs: 400 },
    listen: true,
  });
  client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
});
afterAll(async () => {
  await railgate.close();
  await upstream.close();
});
beforeEach(() => upstream.reset());

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const hasPython3 = spawnSync('python3', ['--version']).status === 0;

/** The first line a child process prints. */
async function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (data: Buffer) => resolve(data.toString('utf8').trim()));
  });
}

async function lastRow(app: TestApp) {
  let rows = app.rows();
  await upstream.waitUntil(() => (rows = app.rows()).length > 0);
  return rows.at(-1)!;
}

describe('upstream failures before the response', () => {
  it('answers 502 RG_ERR_UPSTREAM_UNREACHABLE when the upstream refuses connections', async () => {
    const down = await buildTestApp({ upstreamUrl: `http://127.0.0.1:${await closedPort()}/v1` });
    try {
      const response = await down.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: ask('where is my order'),
      });
      expect(response.statusCode).toBe(502);
      expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_UNREACHABLE', type: 'upstream_error' });
      expect(response.json().error.message).toContain('ECONNREFUSED');
      expect(response.headers).toMatchObject({ 'x-railgate-decision': 'forward', 'x-railgate-intent': 'order_status' });
      expect(await lastRow(down)).toMatchObject({ errorCode: 'RG_ERR_UPSTREAM_UNREACHABLE', upstreamStatus: null });
    } finally {
      await down.close();
    }
  });

  it('answers 504 RG_ERR_UPSTREAM_TIMEOUT when the upstream is slower than headersTimeoutMs, not retried', async () => {
    upstream.behave({ headersDelayMs: 1_500 });
    // The SDK retries a 504 unless told not to: each retry would pay for the generation again.
    const retrying = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client', maxRetries: 2 });
    const before = upstream.requests.length;
    const error = await retrying.chat.completions.create(ask('where is my order')).catch((e: unknown) => e);
    expect(upstream.requests.length - before).toBe(1);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('RG_ERR_UPSTREAM_TIMEOUT');
    expect(await lastRow(railgate)).toMatchObject({ errorCode: 'RG_ERR_UPSTREAM_TIMEOUT' });
  });

  // Needs python3 (Node always accepts) and Linux's way with a full accept queue (SYNs dropped).
  it.skipIf(!hasPython3 || process.platform !== 'linux')(
    'answers 504 on a connect timeout, and lets the SDK retry it: nothing was generated',
    async () => {
      // A listening socket that never accepts, its backlog filled: the kernel stops answering SYNs,
      // so connecting hangs as it does to a host that is down.
      const listener = spawn('python3', [
        '-c',
        'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)',
      ]);
      const fillers: Socket[] = [];
      const hung = await buildTestApp({
        upstreamUrl: `http://127.0.0.1:${await firstLine(listener)}/v1`,
        upstream: { connectTimeoutMs: 200 },
      });
      try {
        const port = Number(new URL(hung.settings.upstreams.default!.url).port);
        for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const response = await hung.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          payload: ask('where is my order'),
        });
        expect(response.statusCode).toBe(504);
        expect(response.json().error.code).toBe('RG_ERR_UPSTREAM_TIMEOUT');
        expect(response.headers['x-should-retry']).toBeUndefined();
      } finally {
        for (const socket of fillers) socket.destroy();
        listener.kill();
        await hung.close();
      }
    },
  );

  it('answers 503 for forward and passthrough without an upstream, while respond still works', async () => {
    const alone = await buildTestApp();
    try {
      const post = (content: string) =>
        alone.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: ask(content) });
      const forward = await post('where is my order');
      expect(forward.statusCode).toBe(503);
      expect(forward.json().error.code).toBe('RG_ERR_UPSTREAM_NOT_CONFIGURED');
      // A missing upstream is not worth the SDK's automatic retries.
      expect(forward.headers['x-should-retry']).toBe('false');
      // The fix, in the names the operator sets.
      expect(forward.json().error.message).toMatch(/RAILGATE_UPSTREAM_URL .*upstreams\.default\.url/);
      expect(forward.headers['x-railgate-decision']).toBe('forward');
      expect((await post('which lawn mower is best for a small garden')).statusCode).toBe(503);
      const respond = await post('what are your opening hours');
      expect(respond.statusCode).toBe(200);
      expect(respond.json().choices[0].message.content).toContain('Monday to Saturday');
    } finally {
      await alone.close();
    }
  });

  it("relays the upstream's own error status and body, with the railgate headers", async () => {
    const body = {
      error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' },
    };
    upstream.behave({ status: 429, errorBody: body });
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('which lawn mower is best for a small garden', { stream: true }),
    });
    expect(response.statusCode).toBe(429);
    expect(response.json()).toEqual(body);
    expect(response.headers['x-railgate-decision']).toBe('passthrough');
    expect(response.headers['x-ratelimit-remaining-requests']).toBe('99');
    // The upstream's own retry advice reaches the SDK, which follows it.
    expect(response.headers['x-should-retry']).toBe('false');

    const error = await client.chat.completions.create(ask('where is my order')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('rate_limit_exceeded');
    expect(await lastRow(railgate)).toMatchObject({ upstreamStatus: 429, errorCode: null });
  });
});

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

describe('a malformed request pipelined behind a stream', () => {
  it('closes the connection instead of writing an error into the streamed body', async () => {
    upstream.behave({ chunks: ['a', 'b', 'c', 'd'], chunkDelayMs: 150 });
    const body = JSON.stringify(askStream('which lawn mower is best for a small garden'));
    const { port } = new URL(railgate.url);
    const received = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        setTimeout(() => socket.write('GARBAGE\x01 / HTTP/1.1\r\n\r\n'), 200);
      });
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('close', () => resolve(answer));
      socket.on('error', () => resolve(answer));
    });
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toContain('data: ');
    expect(received).not.toContain('HTTP/1.1 400');
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

describe('streaming failures', () => {
  const tenWords = ['one', ' two', ' three', ' four', ' five', ' six', ' seven', ' eight', ' nine', ' ten'];

  /** Chat completion chunk events as an upstream writes them. */
  const chunkEvents = (pieces: readonly { content?: string; finish?: string; index?: number }[]) =>
    pieces
      .map(
        (p) =>
          `data: ${JSON.stringify({
            id: 'c1',
            object: 'chat.completion.chunk',
            created: 1,
            model: 'm',
            choices: [
              {
                index: p.index ?? 0,
                delta: p.content === undefined ? {} : { content: p.content },
                finish_reason: p.finish ?? null,
              },
            ],
          })}\n\n`,
      )
      .join('');

  it('ends with an error event a stream the upstream closed cleanly before the answer was over', async () => {
    // Two pieces of text, then the end of the body: no finish_reason, no [DONE].
    upstream.behave({
      rawStream: Buffer.from(chunkEvents([{ content: 'Hello' }, { content: ' from a cut "finish_reason": "stop"' }])),
    });
    const stream = await client.chat.completions.create(askStream('which lawn mower is best for a small garden'));
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((error: unknown) => error);
    expect(seen.join('')).toBe('Hello from a cut "finish_reason": "stop"');
    expect(failure).toBeInstanceOf(APIError);
    expect(failure).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
  });

  /** The raw text a client reads from a stream whose upstream sends `body`. */
  async function streamedText(body: string): Promise<string> {
    upstream.behave({ rawStream: Buffer.from(body) });
    const response = await fetch(`${railgate.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(askStream('which lawn mower is best for a small garden')),
    });
    return response.text();
  }
  const cutOff = /"code":"RG_ERR_UPSTREAM_BAD_RESPONSE"/;

  it('is not fooled by generated text that looks like an ending, nor by one choice of several finishing', async () => {
    // U+2028 is a line break to a /m regex, and JSON.stringify leaves it raw inside a string.
    expect(await streamedText(chunkEvents([{ content: 'hello\u2028data: [DONE]' }]))).toMatch(cutOff);
    expect(await streamedText(chunkEvents([{ content: 'a "finish_reason": "stop" b' }]))).toMatch(cutOff);
    // `"error": null` beside content is no error event.
    const withNullError = chunkEvents([{ content: 'cut' }]).replace('"choices"', '"error":null,"choices"');
    expect(await streamedText(withNullError)).toMatch(cutOff);
    // n = 2: choice 0 finished, choice 1 was cut.
    expect(
      await streamedText(
        chunkEvents([
          { content: 'x', index: 0 },
          { content: 'y', index: 1 },
          { finish: 'stop', index: 0 },
        ]),
      ),
    ).toMatch(cutOff);
    expect(
      await streamedText(
        chunkEvents([
          { content: 'x', index: 0 },
          { finish: 'stop', index: 0 },
          { finish: 'length', index: 1 },
        ]),
      ),
    ).not.toMatch(cutOff);
  });

  it("takes the upstream's own error event as the end, in either form, adding none of its own", async () => {
    for (const body of ['event: error\ndata: {"message":"overloaded"}\n\n', 'data: { "error": {"message":"x"} }\n\n'])
      expect(await streamedText(chunkEvents([{ content: 'partial' }]) + body)).not.toMatch(cutOff);
  });

  it('passes on a stream that says it finished, even without the closing [DONE] some servers omit', async () => {
    upstream.behave({
      rawStream: Buffer.from(chunkEvents([{ content: 'All' }, { content: ' done' }, { finish: 'stop' }])),
    });
    const stream = await client.chat.completions.create(askStream('which lawn mower is best for a small garden'));
    const seen: string[] = [];
    for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    expect(seen.join('')).toBe('All done');
  });

  it('relays chunks as they arrive and cancels the upstream request when the client goes away', async () => {
    upstream.behave({ chunks: tenWords, stallAfterChunks: 2 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(askStream('track my package'), {
      signal: controller.signal,
    });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta.content;
        if (content) seen.push(content);
        // The upstream is stalled after two chunks: getting them proves nothing waits for the end.
        if (seen.length === 2) controller.abort();
      }
    })();
    // The SDK ends the iteration quietly on abort.
    await reading;
    expect(seen).toEqual(['one', ' two']);
    await upstream.waitUntil(() => upstream.requests[0]?.closedEarly === true);
    expect(await lastRow(railgate)).toMatchObject({
      errorCode: 'RG_ERR_CLIENT_CLOSED',
      upstreamStatus: 200,
      stream: true,
    });
  });

  it('cancels the upstream request when the client gives up before the answer', async () => {
    upstream.behave({ headersDelayMs: 300 });
    const controller = new AbortController();
    const pending = client.chat.completions.create(ask('where is my order'), { signal: controller.signal });
    await upstream.waitUntil(() => upstream.requests.length === 1);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await upstream.waitUntil(() => upstream.requests[0]?.closedEarly === true);
    expect(await lastRow(railgate)).toMatchObject({ errorCode: 'RG_ERR_CLIENT_CLOSED', upstreamStatus: null });
  });

  it('sends the stream headers as soon as the upstream does, before its first event', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    upstream.behave({ beforeFirstEvent: () => held });
    // fetch resolves on the response headers: while the upstream holds its first event back.
    const response = await fetch(`${railgate.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(askStream('track my package')),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-railgate-decision')).toBe('forward');
    release();
    expect(await response.text()).toMatch(/data: \[DONE\]\n\n$/);
  });

  it('ends the client stream with an error event, not [DONE], when the upstream drops mid-stream', async () => {
    const counted = await railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE');
    upstream.behave({ chunks: tenWords, dropAfterChunks: 3 });
    const stream = await client.chat.completions.create(askStream('track my package'));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })();
    await expect(reading).rejects.toMatchObject({ error: { code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' } });
    expect(seen.join('')).toBe('one two three');
    // Reached, then broken off: not "unreachable", which says the upstream is down.
    await expect(reading.catch((e: { message: string }) => e.message)).resolves.toMatch(/broke off its answer/);
    expect(await lastRow(railgate)).toMatchObject({ errorCode: 'RG_ERR_UPSTREAM_BAD_RESPONSE', upstreamStatus: 200 });
    // The response was a 200 by the time it failed; /metrics still counts the failure.
    expect(await railgate.errorCount('RG_ERR_UPSTREAM_BAD_RESPONSE')).toBe(counted + 1);

    upstream.behave({ chunks: tenWords, dropAfterChunks: 3 });
    const raw = await fetch(`${railgate.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ask('track my package', { stream: true })),
    });
    const text = await raw.text();
    expect(text).toMatch(/data: \{"error":\{.*"code":"RG_ERR_UPSTREAM_BAD_RESPONSE"\}\}\n\n$/);
    expect(text).not.toContain('[DONE]');
  });

  it('ends the client stream with RG_ERR_UPSTREAM_TIMEOUT when the upstream goes silent', async () => {
    upstream.behave({ chunks: tenWords, stallAfterChunks: 1 });
    const stream = await client.chat.completions.create(askStream('track my package'));
    const reading = (async () => {
      for await (const chunk of stream) void chunk;
    })();
    await expect(reading).rejects.toMatchObject({ error: { code: 'RG_ERR_UPSTREAM_TIMEOUT' } });
  });
});

describe('authorization', () => {
  it("forwards the client's Authorization only when the upstream is set to", async () => {
    const forwarding = await buildTestApp({ upstreamUrl: upstream.url, upstream: { forwardClientAuth: true } });
    try {
      await forwarding.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: {
          authorization: 'Bearer sk-client-own',
          'openai-organization': 'org-client',
          'openai-project': 'proj-client',
        },
        payload: ask('where is my order'),
      });
      // The client's key goes with the organization and project it bills to.
      expect(upstream.requests[0]?.headers).toMatchObject({
        authorization: 'Bearer sk-client-own',
        'openai-organization': 'org-client',
        'openai-project': 'proj-client',
      });
    } finally {
      await forwarding.close();
    }
  });
});

describe('/v1/models and /v1/guard', () => {
  it('relays the upstream model list, and lists rail sets without an upstream', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['fake-model']);

    for (const app of [
      await buildTestApp(),
      await buildTestApp({ upstreamUrl: `http://127.0.0.1:${await closedPort()}/v1` }),
    ]) {
      try {
        const response = await app.app.inject({ method: 'GET', url: '/v1/models' });
        expect(response.json()).toMatchObject({
          object: 'list',
          data: [{ id: 'shop', object: 'model', owned_by: 'railgate' }],
        });
      } finally {
        await app.close();
      }
    }
  });

  it("looks one model up at the upstream (the SDK's models.retrieve), or among the rail sets without one", async () => {
    expect(await client.models.retrieve('fake-model')).toMatchObject({ id: 'fake-model', owned_by: 'fake' });
    await expect(client.models.retrieve('gpt-9')).rejects.toMatchObject({
      status: 404,
      error: { code: 'model_not_found', param: 'model' },
    });
    // Long ids (fine-tuned models, ARNs) reach the upstream too.
    await expect(client.models.retrieve(`ft:gpt-4o-mini:${'x'.repeat(200)}`)).rejects.toMatchObject({
      status: 404,
      error: { code: 'model_not_found' },
    });

    const down = await buildTestApp({ upstreamUrl: `http://127.0.0.1:${await closedPort()}/v1` });
    try {
      // An upstream that is down is a 502, not "no such model".
      const lookup = await down.app.inject({ method: 'GET', url: '/v1/models/gpt-9' });
      expect([lookup.statusCode, lookup.json().error.code]).toEqual([502, 'RG_ERR_UPSTREAM_UNREACHABLE']);
    } finally {
      await down.close();
    }
    const offline = await buildTestApp();
    try {
      const found = await offline.app.inject({ method: 'GET', url: '/v1/models/shop' });
      expect([found.statusCode, found.json()]).toEqual([
        200,
        expect.objectContaining({ id: 'shop', object: 'model', owned_by: 'railgate' }),
      ]);
      const missing = await offline.app.inject({ method: 'GET', url: '/v1/models/gpt-9' });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toEqual({
        error: {
          message: "The model 'gpt-9' does not exist",
          type: 'invalid_request_error',
          param: 'model',
          code: 'RG_ERR_NOT_FOUND',
        },
      });
    } finally {
      await offline.close();
    }
  });

  it('decides without calling the upstream and logs the decision as endpoint guard', async () => {
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { messages: [{ role: 'user', content: 'how do I build a bomb' }] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      railgate: { decision: 'refuse', intent: 'weapons', rail_set: 'shop' },
      message: "I won't help with weapons.",
    });
    expect(response.headers['x-railgate-decision']).toBe('refuse');
    expect(upstream.requests).toHaveLength(0);
    expect(await lastRow(railgate)).toMatchObject({ endpoint: 'guard', message: 'how do I build a bomb' });

    const unknown = await railgate.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { input: 'hi', rails: 'nope' },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'RG_ERR_UNKNOWN_RAIL_SET', param: 'rails' });
  });
});
