/**
 * Bad input never becomes a 500 or a hang: each problem gets its status, RG_ERR_* code and `param`,
 * in OpenAI's error shape, and so do unknown routes. Readiness and internal faults: health.test.ts.
 */
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { expectError } from '../helpers/openai-error.js';

let railgate: TestApp;

beforeAll(async () => {
  railgate = await buildTestApp({ limits: { bodyBytes: 4096, messageChars: 200, messages: 8 } });
});
afterAll(() => railgate.close());

function post(payload: unknown | Buffer, headers: Record<string, string> = {}, url = '/v1/chat/completions') {
  return railgate.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload),
  });
}

const user = (content: unknown) => ({ role: 'user', content });

describe('request validation', () => {
  it('rejects malformed and empty JSON with RG_ERR_INVALID_JSON', async () => {
    expectError(await post('{"model": "m", "messages": ['), 400, 'RG_ERR_INVALID_JSON');
    expectError(await post(''), 400, 'RG_ERR_INVALID_JSON');
  });

  it('rejects a body that is not UTF-8 (a stray byte, Latin-1 text) with RG_ERR_INVALID_JSON', async () => {
    const body = (bytes: number[]) =>
      Buffer.concat([
        Buffer.from('{"model":"m","messages":[{"role":"user","content":"caf'),
        Buffer.from(bytes),
        Buffer.from('"}]}'),
      ]);
    for (const bytes of [[0xe9], [0xff, 0xfe], [0xe2, 0x82]]) {
      const response = await post(body(bytes));
      expectError(response, 400, 'RG_ERR_INVALID_JSON');
      expect(response.json().error.message).toContain('UTF-8');
    }
    expect((await post(body([0xc3, 0xa9]))).statusCode).toBe(200);
  });

  it('rejects JSON nested deeper than limits.jsonDepth with RG_ERR_INVALID_JSON, and takes it up to there', async () => {
    const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    const body = (levels: number) =>
      `{"model":"m","messages":[{"role":"user","content":"what are your opening hours"}],"metadata":{"x":${nested(levels)}}}`;
    // The body and metadata are 2 levels above the arrays.
    expect((await post(body(62))).statusCode).toBe(200);
    const deep = await post(body(63));
    expectError(deep, 400, 'RG_ERR_INVALID_JSON');
    expect(deep.json().error.message).toBe('The JSON body nests deeper than 64 levels.');
  });

  it('rejects a body over the limit with 413', async () => {
    const response = await post({ model: 'm', messages: [user('x'.repeat(5000))] });
    expectError(response, 413, 'RG_ERR_BODY_TOO_LARGE');
    // The app's developer learns which of the proxy's settings to ask its operator about.
    expect(response.json().error.message).toMatch(/limits\.bodyBytes, RAILGATE_BODY_LIMIT/);
    const many = await post({ model: 'm', messages: Array.from({ length: 9 }, () => user('hi')) });
    expect(many.json().error.message).toMatch(/at most 8 messages, this proxy's limit \(limits\.messages\)/);
  });

  it('rejects a compressed body with 415, naming its encoding', async () => {
    const json = JSON.stringify({ model: 'm', messages: [user('what are your opening hours')] });
    for (const [encoding, payload] of [
      ['gzip', gzipSync(json)],
      ['br', Buffer.from(json)], // labelled, not compressed: still not passed on under that label
    ] as const) {
      const response = await railgate.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        payload,
      });
      expectError(response, 415, 'RG_ERR_UNSUPPORTED_MEDIA_TYPE');
      expect(response.json().error.message).toContain(`Content-Encoding: ${encoding}`);
    }
    const identity = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      payload: json,
    });
    expect(identity.statusCode).toBe(200);
  });

  it('rejects bodies that are not JSON with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await railgate.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { 'content-type': type },
        payload: 'messages=hello',
      });
      expectError(response, 415, 'RG_ERR_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it.each([
    ['a body that is not an object', [1, 2], null],
    ['a missing body', undefined, null],
    ['missing messages', { model: 'm' }, 'messages'],
    ['empty messages', { model: 'm', messages: [] }, 'messages'],
    ['messages that are not an array', { model: 'm', messages: 'hello' }, 'messages'],
    ['too many messages', { model: 'm', messages: Array.from({ length: 9 }, () => user('hi')) }, 'messages'],
    ['a message that is not an object', { model: 'm', messages: ['hello'] }, 'messages[0]'],
    ['a message without role', { model: 'm', messages: [{ content: 'hi' }] }, 'messages[0].role'],
    // OpenAI refuses them too; an upstream's chat template might read them as the user's turn, undecided.
    [
      'a role spelled "User"',
      { model: 'm', messages: [user('hi'), { role: 'User', content: 'b' }] },
      'messages[1].role',
    ],
    ['a role " user"', { model: 'm', messages: [{ role: ' user', content: 'hi' }, user('hi')] }, 'messages[0].role'],
    ['a role OpenAI does not define', { model: 'm', messages: [{ role: 'human', content: 'hi' }] }, 'messages[0].role'],
    [
      'a numeric content',
      { model: 'm', messages: [user('a'), { role: 'assistant', content: 'b' }, user(42)] },
      'messages[2].content',
    ],
    ['a user message without content', { model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content'],
    ['a content part without type', { model: 'm', messages: [user([{ text: 'hi' }])] }, 'messages[0].content[0].type'],
    ['a text part without text', { model: 'm', messages: [user([{ type: 'text' }])] }, 'messages[0].content[0].text'],
    ['a non-boolean stream', { model: 'm', stream: 'yes', messages: [user('hi')] }, 'stream'],
    ['a non-string model', { model: 42, messages: [user('hi')] }, 'model'],
    ['n below 1', { model: 'm', n: 0, messages: [user('hi')] }, 'n'],
    ['a fractional n', { model: 'm', n: 1.5, messages: [user('hi')] }, 'n'],
    ['no user message', { model: 'm', messages: [{ role: 'system', content: 'be nice' }] }, 'messages'],
  ])('rejects %s with 400 RG_ERR_INVALID_REQUEST', async (_what, payload, param) => {
    const response =
      payload === undefined
        ? await railgate.app.inject({ method: 'POST', url: '/v1/chat/completions' })
        : await post(payload);
    expectError(response, 400, 'RG_ERR_INVALID_REQUEST', param);
  });

  it('rejects a last user message over the length limit, naming it', async () => {
    const response = await post({
      model: 'm',
      messages: [user('short'), { role: 'assistant', content: 'ok' }, user('y'.repeat(201))],
    });
    expectError(response, 400, 'RG_ERR_MESSAGE_TOO_LONG', 'messages[2].content');
  });

  it('accepts assistant tool calls without content', async () => {
    const response = await post({
      model: 'm',
      messages: [
        user('what are your opening hours'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'done' },
        user([
          { type: 'text', text: 'what are your' },
          { type: 'image_url', image_url: { url: 'data:,' } },
          { type: 'text', text: 'opening hours' },
        ]),
      ],
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-railgate-decision']).toBe('respond');
  });

  it('decides the text of every content part that has some, whatever its type', async () => {
    // OpenAI would refuse these part types; an upstream that reads them must not get their text undecided.
    for (const type of ['input_text', 'Text']) {
      const response = await post({ model: 'm', messages: [user([{ type, text: 'what are your opening hours' }])] });
      expect([response.statusCode, response.headers['x-railgate-decision']]).toEqual([200, 'respond']);
    }
    // vLLM's templates read `refusal` and `thinking` parts as text as well.
    for (const type of ['refusal', 'thinking']) {
      const response = await post({
        model: 'm',
        messages: [user([{ type, [type]: 'what are your opening hours' }])],
      });
      expect([response.statusCode, response.headers['x-railgate-decision']]).toEqual([200, 'respond']);
    }
  });

  it('decides and logs a lone surrogate as the U+FFFD a UTF-8 reader of the log reads it as', async () => {
    // JSON may escape half of a surrogate pair; SQLite stores text as UTF-8, which has no such thing.
    const body = Buffer.from(
      '{"model":"m","messages":[{"role":"user","content":"what are your opening hours \\ud800"}]}',
    );
    const response = await post(body, { 'content-type': 'application/json' });
    expect(response.statusCode).toBe(200);
    const row = railgate.rows().find((r) => r.requestId === response.headers['x-request-id']);
    expect(row?.message).toBe('what are your opening hours \uFFFD');
    // A whole pair is a character, kept.
    const pair = await post({ model: 'm', messages: [user('what are your opening hours 😀')] });
    expect(railgate.rows().find((r) => r.requestId === pair.headers['x-request-id'])?.message).toBe(
      'what are your opening hours 😀',
    );
  });

  it('answers 404 RG_ERR_UNKNOWN_RAIL_SET for a rail set that is not loaded', async () => {
    const counted = await railgate.errorCount('RG_ERR_NOT_FOUND');
    const unknownSets = await railgate.errorCount('RG_ERR_UNKNOWN_RAIL_SET');
    const response = await post({ model: 'm', messages: [user('hi')] }, { 'x-railgate-rails': 'nope' });
    expectError(response, 404, 'RG_ERR_UNKNOWN_RAIL_SET', 'x-railgate-rails');
    // A 404 from a route is counted once, under its own code.
    expect(await railgate.errorCount('RG_ERR_UNKNOWN_RAIL_SET')).toBe(unknownSets + 1);
    expect(await railgate.errorCount('RG_ERR_NOT_FOUND')).toBe(counted);
    expect(response.json().error.message).toContain('shop');
    const long = await post({ model: 'm', messages: [user('hi')] }, { 'x-railgate-rails': 'x'.repeat(3000) });
    expect(long.json().error.message).toBe(
      `Unknown rail set "${'x'.repeat(63)}…" (a client may choose: shop; the operator allows others with clientRailSets).`,
    );
  });

  it('answers a URL fastify cannot decode with 400 in the same shape, counted, with a request id', async () => {
    const counted = await railgate.errorCount('RG_ERR_INVALID_REQUEST');
    const response = await railgate.app.inject({ method: 'GET', url: '/v1/%zz' });
    expectError(response, 400, 'RG_ERR_INVALID_REQUEST');
    expect(response.headers['x-request-id']).toMatch(/^req_/);
    expect(await railgate.errorCount('RG_ERR_INVALID_REQUEST')).toBe(counted + 1);
  });

  it('says a request without a body has none', async () => {
    const response = await railgate.app.inject({ method: 'POST', url: '/v1/chat/completions' });
    expectError(response, 400, 'RG_ERR_INVALID_REQUEST', null);
    expect((response.json() as { error: { message: string } }).error.message).toMatch(
      /has no body; send it as JSON with Content-Type: application\/json/,
    );
  });

  it('names an unknown route in its 404 without echoing a huge URL whole', async () => {
    const response = await railgate.app.inject({ method: 'GET', url: `/v1/${'x'.repeat(5_000)}` });
    expectError(response, 404, 'RG_ERR_NOT_FOUND');
    const { message } = (response.json() as { error: { message: string } }).error;
    expect(message).toMatch(/^Unknown request URL: GET \/v1\/x+… \(5004 characters\)\. railgate serves /);
    expect(message.length).toBeLessThan(500);
  });

  it('tells a client asking for another OpenAI API, such as Responses, which ones railgate serves', async () => {
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/responses',
      payload: { model: 'm', input: 'hello' },
    });
    expectError(response, 404, 'RG_ERR_NOT_FOUND');
    const { message } = (response.json() as { error: { message: string } }).error;
    expect(message).toContain('Unknown request URL: POST /v1/responses.');
    expect(message).toContain('POST /v1/chat/completions');
    expect(message).toMatch(/Responses API.* not relayed/);
    // Not for URLs outside the OpenAI API's prefix.
    const other = await railgate.app.inject({ method: 'GET', url: '/favicon.ico' });
    expect((other.json() as { error: { message: string } }).error.message).toBe(
      'Unknown request URL: GET /favicon.ico.',
    );
  });

  it('answers unknown routes with 404 in the same shape, counted in /metrics', async () => {
    const counted = await railgate.errorCount('RG_ERR_NOT_FOUND');
    expectError(await railgate.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404, 'RG_ERR_NOT_FOUND');
    expectError(await railgate.app.inject({ method: 'GET', url: '/v1/chat/completions' }), 404, 'RG_ERR_NOT_FOUND');
    expect(await railgate.errorCount('RG_ERR_NOT_FOUND')).toBe(counted + 2);
  });
});

/** Sends raw bytes to a listening app and reads until the server closes the connection. */
function rawExchange(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('a request body that breaks off', () => {
  it('is counted as the client leaving (RG_ERR_CLIENT_CLOSED), not as a malformed request', async () => {
    const listening = await buildTestApp({ listen: true });
    try {
      const before = await listening.errorCount('RG_ERR_INVALID_REQUEST');
      const { hostname, port } = new URL(listening.url);
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(
            'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
              'Content-Length: 1000\r\n\r\n{"model":"m","messages":[',
          );
          setTimeout(() => socket.destroy(), 100);
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      for (let i = 0; i < 100 && (await listening.errorCount('RG_ERR_CLIENT_CLOSED')) === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await listening.errorCount('RG_ERR_CLIENT_CLOSED')).toBe(1);
      expect(await listening.errorCount('RG_ERR_INVALID_REQUEST')).toBe(before);
    } finally {
      await listening.close();
    }
  });

  it('is answered 408 RG_ERR_REQUEST_TIMEOUT once limits.requestTimeoutMs has passed, and counted', async () => {
    const listening = await buildTestApp({ listen: true, limits: { requestTimeoutMs: 300 } });
    try {
      const { hostname, port } = new URL(listening.url);
      const answer = await new Promise<string>((resolve, reject) => {
        // Headers and half a body, then nothing: a slow or stuck client.
        const socket = connect(Number(port), hostname, () =>
          socket.write(
            'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
              'Content-Length: 1000\r\n\r\n{"model":"m","messages":[',
          ),
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error).toMatchObject({
        code: 'RG_ERR_REQUEST_TIMEOUT',
        message: 'The request was not received in time.',
      });
      for (let i = 0; i < 100 && (await listening.errorCount('RG_ERR_REQUEST_TIMEOUT')) === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await listening.errorCount('RG_ERR_REQUEST_TIMEOUT')).toBe(1);
      expect(await listening.errorCount('RG_ERR_CLIENT_CLOSED')).toBe(0);
    } finally {
      await listening.close();
    }
  }, 10_000);
});

describe('requests node rejects before fastify', () => {
  it("answer in OpenAI's shape too: oversized headers 431, a malformed request 400", async () => {
    const listening = await buildTestApp({ listen: true });
    try {
      const huge = await rawExchange(
        listening.url,
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      expect(huge).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      expect(JSON.parse(huge.slice(huge.indexOf('\r\n\r\n') + 4))).toEqual({
        error: {
          message: 'The request headers are too large.',
          type: 'invalid_request_error',
          param: null,
          code: 'RG_ERR_HEADERS_TOO_LARGE',
        },
      });
      const malformed = await rawExchange(
        listening.url,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
      );
      expect(malformed).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(malformed).toContain('"code":"RG_ERR_INVALID_REQUEST"');
      const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as unknown;
      const hostless = await rawExchange(
        listening.url,
        'POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
      );
      expect(hostless).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(bodyOf(hostless)).toMatchObject({
        error: { code: 'RG_ERR_INVALID_REQUEST', message: expect.stringMatching(/no Host header/) },
      });
      const expecting = await rawExchange(
        listening.url,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}',
      );
      expect(expecting).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
      expect(bodyOf(expecting)).toMatchObject({ error: { code: 'RG_ERR_EXPECTATION_FAILED', param: null } });
      expect(await listening.errorCount('RG_ERR_EXPECTATION_FAILED')).toBe(1);
    } finally {
      await listening.close();
    }
  });
});

describe('request ids', () => {
  it("keeps a sane client x-request-id and replaces one that isn't", async () => {
    const kept = await post(
      { model: 'm', messages: [user('what are your opening hours')] },
      { 'x-request-id': 'abc-123' },
    );
    expect(kept.headers['x-request-id']).toBe('abc-123');
    expect(kept.json().railgate.request_id).toBe('abc-123');
    const replaced = await post(
      { model: 'm', messages: [user('hi')] },
      { 'x-request-id': 'bad id with spaces <script>' },
    );
    expect(replaced.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/);
    const onError = await post('{');
    expect(onError.headers['x-request-id']).toMatch(/^req_/);
  });
});
