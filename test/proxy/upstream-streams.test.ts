/**
 * Streams that fail midway: an upstream that ends, stalls, breaks off or sends garbage mid-stream, and
 * a client that walks away mid-stream. The client always learns the stream failed: it ends with an
 * explicit error event, never as a clean-looking truncated stream.
 */
import OpenAI, { APIError } from 'openai';
import { describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/build-app.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { ask, askStream, lastRow, useUpstreamPair } from '../helpers/upstream-pair.js';

let upstream: FakeUpstream;
let railgate: TestApp;
let client: OpenAI;
useUpstreamPair((pair) => ({ upstream, railgate, client } = pair));

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

  /** What the SDK reads from a stream whose upstream sends `body`: the text, and the error it raised, if any. */
  async function sdkReads(body: string): Promise<{ text: string; failure: unknown }> {
    upstream.behave({ rawStream: Buffer.from(body) });
    const stream = await client.chat.completions.create(askStream('which lawn mower is best for a small garden'));
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((error: unknown) => error);
    return { text: seen.join(''), failure };
  }

  it('ends with an error event a stream the upstream closed cleanly before the answer was over', async () => {
    // Two pieces of text, then the end of the body: no finish_reason, no [DONE].
    const { text, failure } = await sdkReads(
      chunkEvents([{ content: 'Hello' }, { content: ' from a cut "finish_reason": "stop"' }]),
    );
    expect(text).toBe('Hello from a cut "finish_reason": "stop"');
    expect(failure).toBeInstanceOf(APIError);
    expect(failure).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
  });

  /**
   * The raw text a client reads from a stream whose upstream sends `body` (and then ends its response
   * `holdOpenMs` later, if given; Infinity: never).
   */
  async function streamedText(body: string, extra: Record<string, unknown> = {}, holdOpenMs?: number) {
    upstream.behave({ rawStream: Buffer.from(body), ...(holdOpenMs !== undefined && { holdOpenMs }) });
    const response = await fetch(`${railgate.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...askStream('which lawn mower is best for a small garden'), ...extra }),
      signal: AbortSignal.timeout(10_000),
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

  it('with include_usage, takes a stream as over only once its usage chunk came (or [DONE])', async () => {
    const usage = { stream_options: { include_usage: true } };
    const finished = chunkEvents([{ content: 'All' }, { finish: 'stop' }]);
    const usageChunk = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })}\n\n`;
    const cut = await streamedText(finished, usage);
    expect(cut).toMatch(cutOff);
    expect(cut).toContain('usage chunk');
    expect(await streamedText(finished + usageChunk, usage)).not.toMatch(cutOff);
    expect(await streamedText(`${finished}data: [DONE]\n\n`, usage)).not.toMatch(cutOff);
    // `"usage": null` on the chunks before it is not the usage chunk.
    expect(await streamedText(finished.replaceAll('"choices"', '"usage":null,"choices"'), usage)).toMatch(cutOff);
  });

  it('drops a half-written last event at a clean end: the error event stands alone and the SDK raises its code', async () => {
    const half = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"the';
    for (const tail of [half, `${half}\n`]) {
      const { text, failure } = await sdkReads(chunkEvents([{ content: 'Hello' }]) + tail);
      expect(text).toBe('Hello');
      expect(failure).toBeInstanceOf(APIError);
      expect(failure).toMatchObject({ code: 'RG_ERR_UPSTREAM_BAD_RESPONSE' });
    }
  });

  it('passes on a whole last event the upstream did not end with a blank line, ending it for the client', async () => {
    for (const ending of ['data: [DONE]', 'data: [DONE]\n', chunkEvents([{ finish: 'stop' }]).trimEnd()])
      expect(await sdkReads(chunkEvents([{ content: 'All' }, { content: ' done' }]) + ending)).toEqual({
        text: 'All done',
        failure: undefined,
      });
    const text = await streamedText(`${chunkEvents([{ content: 'x' }])}data: [DONE]`);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('ends the client stream at [DONE] or an error event even when the upstream keeps its connection open', async () => {
    // Before: the client waited for the body timeout, then got a timeout error after the [DONE].
    for (const ending of ['data: [DONE]\n\n', 'event: error\ndata: {"error":{"message":"overloaded"}}\n\n']) {
      upstream.reset();
      const logged = railgate.rows().length;
      const text = await streamedText(chunkEvents([{ content: 'All' }]) + ending, {}, Infinity);
      expect(text.endsWith(ending)).toBe(true);
      expect(text).not.toMatch(/RG_ERR/);
      // The upstream request is given up, not left open.
      await upstream.waitUntil(() => upstream.requests[0]?.closedEarly === true);
      await expect.poll(() => railgate.rows().length).toBe(logged + 1);
      // The upstream's own error is on record, though the stream's status was 200.
      expect(railgate.rows().at(-1)).toMatchObject({
        errorCode: ending.includes('error') ? 'RG_ERR_UPSTREAM_STREAM_ERROR' : null,
        upstreamStatus: 200,
      });
    }
  });

  it("keeps the upstream's connection for the next request when its body ends a moment after [DONE]", async () => {
    // Servers often end the body in a write after [DONE]; cutting it at [DONE] cost a new connection
    // (a new TLS handshake) for every streamed request.
    const ask = async () =>
      expect(await streamedText(`${chunkEvents([{ content: 'All' }])}data: [DONE]\n\n`, {}, 30)).toMatch(
        /data: \[DONE\]\n\n$/,
      );
    const before = upstream.connections;
    await ask();
    await upstream.waitUntil(() => upstream.requests[0]?.finished === true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await ask();
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.connections - before).toBeLessThanOrEqual(1);
  });

  it('passes on a stream that says it finished, even without the closing [DONE] some servers omit', async () => {
    expect(await sdkReads(chunkEvents([{ content: 'All' }, { content: ' done' }, { finish: 'stop' }]))).toEqual({
      text: 'All done',
      failure: undefined,
    });
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
