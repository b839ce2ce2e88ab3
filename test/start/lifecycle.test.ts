/**
 * railgate's life around its requests, started as `railgate serve` starts it: what the shutdown grace
 * period cuts and how that is logged and counted, closing while the rails still load, and an
 * embeddings server that fails once railgate serves.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { captureLog } from '../helpers/log-capture.js';
import { describe, expect, it } from 'vitest';
import { DecisionReader } from '../../src/decisions/reader.js';
import { parseSettings } from '../../src/settings.js';
import { startRailgate, type Railgate } from '../../src/start.js';
import { startFakeEmbeddingsServer } from '../helpers/fake-embeddings-server.js';
import { startFakeUpstream } from '../helpers/fake-upstream.js';
import { SUPPORT_RAIL as RAIL } from './support-rail.js';

/** `railgate_errors_total` by code. */
/** The error codes counted so far (every code's series exists from the start, at 0). */
async function countedErrors(railgate: Railgate): Promise<Record<string, number>> {
  const { values } = await railgate.metrics.errors.get();
  return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [String(v.labels.code), v.value]));
}

/** The request is logged as cut by the shutdown, and is the one error `railgate_errors_total` counts. */
async function expectCutByShutdown(root: string, railgate: Railgate, requestId: string): Promise<void> {
  const log = DecisionReader.openReadOnly(path.join(root, 'decisions.db'));
  try {
    expect(log.query({ requestId })[0]).toMatchObject({ errorCode: 'RG_ERR_SHUTDOWN_CUT' });
  } finally {
    log.close();
  }
  expect(await countedErrors(railgate)).toEqual({ RG_ERR_SHUTDOWN_CUT: 1 });
}

/** railgate with a 300 ms shutdown grace, a fake upstream, and its decision log in `root`. */
async function startWithGrace() {
  const upstream = await startFakeUpstream();
  const root = mkdtempSync(path.join(tmpdir(), 'railgate-grace-'));
  mkdirSync(path.join(root, 'rails', 'support'), { recursive: true });
  writeFileSync(path.join(root, 'rails', 'support', 'rail.yml'), RAIL);
  const railgate = await startRailgate(
    parseSettings({
      rails: 'rails',
      db: 'decisions.db',
      embedding: { cacheDb: ':memory:' },
      upstreams: { default: { url: upstream.url } },
      shutdownGraceMs: 300,
      logLevel: 'silent',
    }),
    { cwd: root },
  );
  return { upstream, root, railgate };
}

describe('the shutdown grace period', () => {
  it('ends a stream still running when shutdownGraceMs ends with an error event, and logs it as cut by the shutdown', async () => {
    const { upstream, root, railgate } = await startWithGrace();
    try {
      await railgate.guard;
      const url = await railgate.app.listen({ host: '127.0.0.1', port: 0 });
      upstream.behave({ chunks: Array.from({ length: 50 }, (_, i) => ` word${i}`), chunkDelayMs: 100 });
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'cut-by-shutdown' },
        body: JSON.stringify({
          model: 'm',
          stream: true,
          messages: [{ role: 'user', content: 'can I speak to a real person' }],
        }),
      });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value, { stream: true });
      const reading = (async () => {
        for (let piece = await reader.read(); !piece.done; piece = await reader.read())
          text += decoder.decode(piece.value, { stream: true });
      })();
      await railgate.close();
      await reading;
      // The client learns why its stream ended, in the shape the SDKs raise, not as a network error.
      expect(text).toMatch(/data: \{"error":\{[^\n]*"code":"RG_ERR_SHUTDOWN_CUT"\}\}\n\n$/);
      expect(text).toContain(' word0');
      expect(text).not.toContain('[DONE]');
      await expectCutByShutdown(root, railgate, 'cut-by-shutdown');
    } finally {
      await railgate.close();
      await upstream.close();
    }
  });

  it('answers a request still waiting on the upstream when it ends 503 RG_ERR_SHUTDOWN_CUT, logged and counted', async () => {
    const { upstream, root, railgate } = await startWithGrace();
    try {
      await railgate.guard;
      const url = await railgate.app.listen({ host: '127.0.0.1', port: 0 });
      upstream.behave({ headersDelayMs: 10_000 });
      const answer = fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'waiting-at-shutdown' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'can I speak to a real person' }] }),
      }).catch((error: unknown) => error);
      await upstream.waitUntil(() => upstream.requests.length === 1);
      await railgate.close();
      const response = (await answer) as Response;
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: { code: 'RG_ERR_SHUTDOWN_CUT' } });
      await expectCutByShutdown(root, railgate, 'waiting-at-shutdown');
    } finally {
      await railgate.close();
      await upstream.close();
    }
  });

  it('counts a request whose body is still arriving when the grace period ends once, as cut by the shutdown', async () => {
    const { upstream, railgate } = await startWithGrace();
    const socket = new Socket();
    try {
      await railgate.guard;
      const url = new URL(await railgate.app.listen({ host: '127.0.0.1', port: 0 }));
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.connect(Number(url.port), '127.0.0.1', resolve));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000\r\n\r\n{"model":',
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      await railgate.close();
      await closed;
      // The body's abort reaches the error handler after the socket closes.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await countedErrors(railgate)).toEqual({ RG_ERR_SHUTDOWN_CUT: 1 });
    } finally {
      socket.destroy();
      await railgate.close();
      await upstream.close();
    }
  });
});

describe('closing while the rails load', () => {
  it('stops embedding examples between batches instead of finishing them', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-closing-'));
    mkdirSync(path.join(root, 'rails', 'big'), { recursive: true });
    const examples = Array.from({ length: 3_000 }, (_, i) => `      - "question ${i} about parcel number ${i * 7}"`);
    writeFileSync(
      path.join(root, 'rails', 'big', 'rail.yml'),
      ['intents:', '  - id: parcels', '    action: refuse', '    examples:', ...examples, ''].join('\n'),
    );
    let done = 0;
    let total = 0;
    let started!: () => void;
    const embedding = new Promise<void>((resolve) => (started = resolve));
    const railgate = await startRailgate(
      parseSettings({ rails: 'rails', db: ':memory:', embedding: { cacheDb: ':memory:' }, logLevel: 'silent' }),
      {
        cwd: root,
        onProgress: (_set, d, t) => {
          [done, total] = [d, t];
          if (d > 0) started();
        },
      },
    );
    await embedding;
    await railgate.close();
    await expect(railgate.guard).rejects.toMatchObject({ name: 'LoadCancelled' });
    expect(total).toBe(3_000);
    expect(done).toBeLessThan(total / 2);
  });

  it('stops waiting for an embeddings server that is not up yet', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-closing-'));
    mkdirSync(path.join(root, 'rails', 'remote'), { recursive: true });
    writeFileSync(
      path.join(root, 'rails', 'remote', 'rail.yml'),
      'embedding: { provider: openai, model: m }\nintents:\n  - id: a\n    action: refuse\n    examples: [hello]\n',
    );
    // Nothing listens on port 9: the probe is refused, and would try again for 7.5 s.
    const railgate = await startRailgate(
      parseSettings({
        rails: 'rails',
        db: ':memory:',
        embedding: { cacheDb: ':memory:', openaiUrl: 'http://127.0.0.1:9/v1' },
        logLevel: 'silent',
      }),
      { cwd: root },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await railgate.close();
    // The close's own reason, not the server's failure after every retry.
    await expect(railgate.guard).rejects.toMatchObject({ name: 'LoadCancelled' });
  });
});

describe('an embeddings server failing while railgate serves', () => {
  it("answers 502 RG_ERR_EMBEDDING_FAILED without the server's address or answer, which the log keeps", async () => {
    const embeddings = await startFakeEmbeddingsServer({ dimension: 16 });
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-embeddings-down-'));
    mkdirSync(path.join(root, 'rails', 'gpu'), { recursive: true });
    writeFileSync(
      path.join(root, 'rails', 'gpu', 'rail.yml'),
      'embedding: { provider: openai, model: m }\nintents:\n  - id: a\n    action: respond\n    response: hi\n    examples: [hello]\n',
    );
    const { lines, stream } = captureLog();
    const railgate = await startRailgate(
      parseSettings({
        rails: 'rails',
        db: ':memory:',
        embedding: { cacheDb: ':memory:', openaiUrl: embeddings.baseURL },
        logLevel: 'warn',
      }),
      { cwd: root, logger: { level: 'warn', stream } },
    );
    try {
      await railgate.guard;
      embeddings.behave({ kind: 'status', status: 500, body: 'CUDA out of memory on gpu-node-7' });
      const response = await railgate.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { 'x-request-id': 'embed-down' },
        payload: { model: 'm', messages: [{ role: 'user', content: 'a message never embedded before' }] },
      });
      expect(response.statusCode).toBe(502);
      const { error } = response.json();
      expect(error.code).toBe('RG_ERR_EMBEDDING_FAILED');
      expect(error.message).toContain('embed-down');
      expect(error.message).not.toMatch(/127\.0\.0\.1|CUDA|gpu-node/);
      expect(lines.join('')).toMatch(
        /embeddings request to http:\/\/127\.0\.0\.1:\d+\/v1\/embeddings .*CUDA out of memory/,
      );
    } finally {
      await railgate.close();
      await embeddings.close();
    }
  });
});
