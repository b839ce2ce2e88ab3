/**
 * LangChain's ChatOpenAI and OpenAIEmbeddings pointed at railgate, as an app built on LangChain does
 * (configuration.baseURL): its chat calls, streams, structured output and embeddings work through
 * every decision, and what the README says LangChain users meet holds.
 */
import { AIMessageChunk, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { OutputParserException } from '@langchain/core/output_parsers';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { fakeVector, startFakeEmbeddingsServer } from '../helpers/fake-embeddings-server.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

let upstream: FakeUpstream;
let railgate: TestApp;

const chat = (options: ConstructorParameters<typeof ChatOpenAI>[0] = {}) =>
  new ChatOpenAI({
    model: 'gpt-4o-mini',
    apiKey: 'sk-client',
    maxRetries: 0,
    ...options,
    configuration: { baseURL: `${railgate.url}/v1` },
  });

const Answer = z.object({ answer: z.string() });

beforeAll(async () => {
  upstream = await startFakeUpstream();
  railgate = await buildTestApp({ upstreamUrl: upstream.url, listen: true });
});
afterAll(async () => {
  await railgate.close();
  await upstream.close();
});
beforeEach(() => upstream.reset());

describe('ChatOpenAI through railgate', () => {
  it("invokes: a passthrough gives the model's answer and usage, a refusal an answer marked content_filter", async () => {
    const allowed = await chat().invoke('which lawn mower is best for a small garden');
    expect(allowed.content).toBe('echo: which lawn mower is best for a small garden');
    expect(allowed.usage_metadata).toMatchObject({ input_tokens: 7, output_tokens: 3, total_tokens: 10 });

    const refused = await chat().invoke('how do I build a bomb');
    expect(refused.content).toBe("I won't help with weapons.");
    expect(refused.response_metadata.finish_reason).toBe('content_filter');
    expect(upstream.requests).toHaveLength(1);
  });

  it('streams a passthrough (with usage) and a canned answer, each joining to the whole text', async () => {
    let text = '';
    let usage: unknown;
    for await (const chunk of await chat().stream('which lawn mower is best for a small garden')) {
      text += String(chunk.content);
      usage ??= chunk.usage_metadata;
    }
    expect(text).toBe('echo: which lawn mower is best for a small garden');
    expect(upstream.requests.at(-1)!.body).toMatchObject({ stream_options: { include_usage: true } });
    expect(usage).toMatchObject({ input_tokens: 7 });

    let canned = '';
    for await (const chunk of await chat().stream('what are your opening hours')) canned += String(chunk.content);
    expect(canned).toContain('Monday to Saturday');
  });

  it('gives structured output through a passthrough; a refusal under it raises OutputParserException', async () => {
    upstream.behave({ content: '{"answer":"a push mower"}' });
    const structured = chat().withStructuredOutput(Answer, { name: 'extract' });
    expect(await structured.invoke('which lawn mower is best for a small garden')).toEqual({ answer: 'a push mower' });

    // LangChain drops `message.refusal`, where railgate (as OpenAI) puts a refusal asked for as JSON.
    await expect(structured.invoke('how do I build a bomb')).rejects.toBeInstanceOf(OutputParserException);
    const raw = await chat()
      .withStructuredOutput(Answer, { name: 'extract', includeRaw: true })
      .invoke('how do I build a bomb');
    expect(raw.parsed).toBeNull();
  });

  it('relays tool calls through a passthrough, streamed or not, and the turn that brings the result', async () => {
    upstream.behave({ toolCall: { name: 'stock_lookup', arguments: '{"product":"push mower"}' } });
    const model = chat().bindTools([
      {
        type: 'function',
        function: {
          name: 'stock_lookup',
          description: 'How many of a product are in stock',
          parameters: { type: 'object', properties: { product: { type: 'string' } }, required: ['product'] },
        },
      },
    ]);
    const question = 'which lawn mower is best for a small garden';
    const call = await model.invoke(question);
    expect(call.tool_calls).toMatchObject([{ id: 'call_1', name: 'stock_lookup', args: { product: 'push mower' } }]);
    let streamed: AIMessageChunk | undefined;
    for await (const chunk of await model.stream(question)) streamed = streamed ? streamed.concat(chunk) : chunk;
    expect(streamed!.tool_calls).toMatchObject([
      { id: 'call_1', name: 'stock_lookup', args: { product: 'push mower' } },
    ]);
    expect(streamed!.usage_metadata).toMatchObject({ input_tokens: 7, output_tokens: 9 });

    upstream.behave({ content: 'Two push mowers are in stock.' });
    const answer = await model.invoke([
      new HumanMessage(question),
      call,
      new ToolMessage({ tool_call_id: 'call_1', content: '2 in stock' }),
    ]);
    expect(answer.content).toBe('Two push mowers are in stock.');
    const sent = upstream.requests.at(-1)!.body as { messages: { role: string }[]; tools: unknown[] };
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(sent.tools).toHaveLength(1);
  });

  it('retries every 5xx itself, x-should-retry notwithstanding, as many times as maxRetries says', async () => {
    const alone = await buildTestApp({ listen: true });
    try {
      const model = new ChatOpenAI({
        model: 'gpt-4o-mini',
        apiKey: 'sk-client',
        maxRetries: 1,
        configuration: { baseURL: `${alone.url}/v1` },
      });
      // Forward without an upstream: 503 RG_ERR_UPSTREAM_NOT_CONFIGURED, with x-should-retry: false.
      await expect(model.invoke('where is my order')).rejects.toMatchObject({ status: 503 });
      await expect.poll(() => alone.rows().length).toBe(2);
    } finally {
      await alone.close();
    }
  });

  it('is told, on the Responses API, which APIs railgate serves', async () => {
    const error = await chat({ useResponsesApi: true })
      .invoke('which lawn mower is best for a small garden')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('railgate serves POST /v1/chat/completions');
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('OpenAIEmbeddings through railgate', () => {
  it('embeds a query and documents through /v1/embeddings, in the base64 LangChain asks for', async () => {
    const server = await startFakeEmbeddingsServer({ dimension: 8 });
    const relay = await buildTestApp({ upstreamUrl: server.baseURL, listen: true });
    try {
      const embeddings = new OpenAIEmbeddings({
        model: 'text-embedding-test',
        apiKey: 'sk-client',
        maxRetries: 0,
        configuration: { baseURL: `${relay.url}/v1` },
      });
      const query = await embeddings.embedQuery('where is my order');
      const documents = await embeddings.embedDocuments(['one', 'two']);
      const float32 = (text: string) => Array.from(Float32Array.from(fakeVector(text, 8)));
      expect(query).toEqual(float32('where is my order'));
      expect(documents).toEqual([float32('one'), float32('two')]);
      expect(server.requests.map((r) => r.body.encoding_format)).toEqual(['base64', 'base64']);
    } finally {
      await relay.close();
      await server.close();
    }
  });
});
