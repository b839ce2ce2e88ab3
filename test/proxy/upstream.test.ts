/**
 * The upstream side before and around its answer: unreachable, slow, absent, answering with an error
 * or with the operator's key, or with a body that is not what was asked for. Also /v1/models relaying
 * and /v1/guard never calling upstream. Streams that fail midway: upstream-streams.test.ts.
 */
import { createServer, get as httpGet } from 'node:http';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { ask, askStream, lastRow, useUpstreamPair } from '../helpers/upstream-pair.js';

let upstream: FakeUpstream;
let railgate: TestApp;
let client: OpenAI;
useUpstreamPair((pair) => ({ upstream, railgate, client } = pair));

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const hasPython3 = spawnSync('python3', ['--version']).status === 0;

/** What railgate answers a chat completion with when its upstream replies these raw bytes to it. */
async function chatAgainstRawUpstream(reply: string) {
  const server = createNetServer((socket) => socket.once('data', () => socket.end(reply)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = await buildTestApp({ upstreamUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` });
  try {
    return await proxy.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: ask('where is my order'),
    });
  } finally {
    await proxy.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The first line a child process prints. */
async function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (data: Buffer) => resolve(data.toString('utf8').trim()));
  });
}

describe('upstream failures before the response', () => {
  it('answers 502 RG_ERR_UPSTREAM_UNREACHABLE when the upstream refuses connections', async () => {
    const port = await closedPort();
    const down = await buildTestApp({ upstreamUrl: `http://127.0.0.1:${port}/v1` });
    try {
      const response = await down.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: ask('where is my order'),
      });
      expect(response.statusCode).toBe(502);
      expect(response.json().error).toMatchObject({ code: 'RG_ERR_UPSTREAM_UNREACHABLE', type: 'upstream_error' });
      // What failed, not where: the upstream's address is the operator's, not the client's.
      expect(response.json().error.message).toBe('Upstream "default" is unreachable: connect ECONNREFUSED');
      expect(response.body).not.toContain(String(port));
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
    const row = await lastRow(railgate);
    expect(row).toMatchObject({ errorCode: 'RG_ERR_UPSTREAM_TIMEOUT', upstreamStatus: null });
    // How long railgate waited on it (headersTimeoutMs 400), though no answer came.
    expect(row.latency.upstreamMs).toBeGreaterThanOrEqual(350);
  });

  it('answers 502 RG_ERR_UPSTREAM_BAD_RESPONSE, not "unreachable", when what answers does not speak HTTP', async () => {
    const ssh = await chatAgainstRawUpstream('SSH-2.0-OpenSSH_9.6\r\n');
    expect(ssh.statusCode).toBe(502);
    expect(ssh.json().error.code).toBe('RG_ERR_UPSTREAM_BAD_RESPONSE');
    expect(ssh.json().error.message).toMatch(/not HTTP \(check the URL's scheme and port\)/);
    // Past valid headers, a body the parser cannot read is a broken answer, not a wrong port.
    const badChunks = await chatAgainstRawUpstream(
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nZZZ\r\n',
    );
    expect(badChunks.statusCode).toBe(502);
    expect(badChunks.json().error.message).toMatch(/broke off its answer/);
  });

  it('counts headersTimeoutMs from the call: requests queued behind busy connections time out with the first', async () => {
    // Before, a request waiting for one of the pool's `connections` only started its timeout once it
    // had one: behind a hung upstream, the sixth of six waited six timeouts.
    const pooled = await buildTestApp({
      upstreamUrl: upstream.url,
      upstream: { connections: 1, headersTimeoutMs: 400 },
    });
    try {
      upstream.behave({ headersDelayMs: 5_000 });
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          pooled.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: ask('where is my order') }),
        ),
      );
      const waited = performance.now() - started;
      for (const answer of answers) {
        expect(answer.statusCode).toBe(504);
        expect(answer.json().error.code).toBe('RG_ERR_UPSTREAM_TIMEOUT');
      }
      // Six timeouts one after another would be at least 2,400 ms (about 6 s with undici's coarse
      // timers); all six at once, about 400 ms plus the decisions.
      expect(waited).toBeLessThan(2_400);
    } finally {
      await pooled.close();
    }
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
      // No call was made, so none was waited on.
      expect(await lastRow(alone)).toMatchObject({
        errorCode: 'RG_ERR_UPSTREAM_NOT_CONFIGURED',
        latency: { upstreamMs: null },
      });
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

  /** The status of a GET of `path` sent as it is written. */
  const rawGet = (path: string) =>
    new Promise<number | undefined>((resolve, reject) =>
      httpGet(`${railgate.url}${path}`, (response) => {
        response.resume();
        resolve(response.statusCode);
      }).on('error', reject),
    );

  it("looks one model up at the upstream (the SDK's models.retrieve), or among the rail sets without one", async () => {
    expect(await client.models.retrieve('fake-model')).toMatchObject({ id: 'fake-model', owned_by: 'fake' });
    await expect(client.models.retrieve('gpt-9')).rejects.toMatchObject({
      status: 404,
      error: { code: 'model_not_found', param: 'model' },
    });
    // An id that is empty or a dot segment would name another upstream path: never sent. (A raw
    // request: fetch and inject resolve dot segments, curl --path-as-is and other clients need not.)
    for (const id of ['%2E', '%2E%2E', '.%2e', '', '..%2Fadmin', 'a%2F.%2Fb'])
      expect(await rawGet(`/v1/models/${id}`)).toBe(404);
    expect(upstream.requests.map((r) => r.path)).toEqual(['/v1/models/fake-model', '/v1/models/gpt-9']);
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

  it('waits modelsTimeoutMs, not the minutes a completion may take, for a model list from a hung upstream', async () => {
    // Accepts the request, never answers.
    const hung = createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const railgate = await buildTestApp({
      upstreamUrl: `http://127.0.0.1:${(hung.address() as AddressInfo).port}/v1`,
      upstream: { modelsTimeoutMs: 300 },
    });
    try {
      expect(railgate.settings.upstreams.default!.headersTimeoutMs).toBe(600_000);
      const list = await railgate.app.inject({ method: 'GET', url: '/v1/models' });
      expect([list.statusCode, list.json().data.map((m: { id: string }) => m.id)]).toEqual([200, ['shop']]);
      const lookup = await railgate.app.inject({ method: 'GET', url: '/v1/models/fake-model' });
      expect([lookup.statusCode, lookup.json().error.code]).toEqual([504, 'RG_ERR_UPSTREAM_TIMEOUT']);
      expect(lookup.json().error.message).toMatch(/300 ms/);
    } finally {
      await railgate.close();
      hung.closeAllConnections();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('does not pass on a model list or lookup that is not JSON as a success', async () => {
    const html = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Welcome to nginx!</body></html>');
    });
    await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
    const railgate = await buildTestApp({ upstreamUrl: `http://127.0.0.1:${(html.address() as AddressInfo).port}/v1` });
    try {
      // The list falls back to the rail sets, as for an upstream that is down; a lookup is a 502.
      const list = await railgate.app.inject({ method: 'GET', url: '/v1/models' });
      expect([list.statusCode, list.json().data.map((m: { id: string }) => m.id)]).toEqual([200, ['shop']]);
      const lookup = await railgate.app.inject({ method: 'GET', url: '/v1/models/fake-model' });
      expect([lookup.statusCode, lookup.json().error.code]).toEqual([502, 'RG_ERR_UPSTREAM_BAD_RESPONSE']);
      expect(lookup.json().error.message).toMatch(/not JSON/);
    } finally {
      await railgate.close();
      await new Promise((resolve) => html.close(resolve));
    }
  });

  it('answers a model lookup whose upstream breaks off its answer with 502, not a 500', async () => {
    // Headers, half a body, then the connection is cut.
    const breaking = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"id":"fake-mo', () => res.socket?.destroy());
    });
    await new Promise<void>((resolve) => breaking.listen(0, '127.0.0.1', resolve));
    const broken = await buildTestApp({
      upstreamUrl: `http://127.0.0.1:${(breaking.address() as AddressInfo).port}/v1`,
    });
    try {
      const lookup = await broken.app.inject({ method: 'GET', url: '/v1/models/fake-model' });
      expect([lookup.statusCode, lookup.json().error.code]).toEqual([502, 'RG_ERR_UPSTREAM_BAD_RESPONSE']);
      expect(lookup.json().error.message).toMatch(/broke off its answer/);
    } finally {
      await broken.close();
      await new Promise((resolve) => breaking.close(resolve));
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
