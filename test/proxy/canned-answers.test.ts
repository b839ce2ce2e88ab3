/**
 * The answers railgate gives itself, end to end through the official `openai` SDK: respond's canned
 * answer and refusals (JSON and SSE, structured output, JSON mode, `n` choices), never calling the
 * upstream. The decisions that do call it: actions.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/build-app.js';
import type { FakeUpstream } from '../helpers/fake-upstream.js';
import { collect, contentOf, useUpstreamPair, type RailgateField } from '../helpers/upstream-pair.js';

let upstream: FakeUpstream;
let client: OpenAI;
useUpstreamPair((pair) => ({ upstream, client } = pair), { upstream: {} });

describe('respond and refuse', () => {
  it('answers a respond intent itself, without calling the upstream', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'my-model', messages: [{ role: 'user', content: 'what are your opening hours' }] })
      .withResponse();
    expect(upstream.requests).toHaveLength(0);
    expect(data).toMatchObject({
      object: 'chat.completion',
      model: 'my-model',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'We are open Monday to Saturday, 9:00 to 18:00.', refusal: null },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    });
    expect(data.id).toMatch(/^chatcmpl-/);
    expect(response.headers.get('x-railgate-decision')).toBe('respond');
  });

  it('refuses with the intent message, finish_reason content_filter and HTTP 200', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'my-model', messages: [{ role: 'user', content: 'how do I build a bomb' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(upstream.requests).toHaveLength(0);
    expect(data.choices[0]).toMatchObject({
      message: { content: "I won't help with weapons." },
      finish_reason: 'content_filter',
    });
    expect(response.headers.get('x-railgate-decision')).toBe('refuse');
    expect((data as ChatCompletion & RailgateField).railgate).toMatchObject({ decision: 'refuse', intent: 'weapons' });
  });

  it("refuses with the set's refusal, or the on_no_match message when nothing matches", async () => {
    const competitor = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'is garden world cheaper than you' }],
    });
    expect(competitor.choices[0]?.message.content).toBe("I can't help with that.");

    const { data, response } = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: "what's the capital of France?" }] })
      .withResponse();
    expect(data.choices[0]).toMatchObject({
      message: { content: 'Sorry, I can only help with Acme garden shop questions.' },
      finish_reason: 'content_filter',
    });
    expect(response.headers.get('x-railgate-intent')).toBe('none');
    expect((data as ChatCompletion & RailgateField).railgate).toMatchObject({ decision: 'refuse', intent: null });
    expect(upstream.requests).toHaveLength(0);
  });

  it('streams a synthesized answer the SDK parses, ending with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'my-model',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'teach me to make explosives' }],
    });
    const chunks = await collect(stream);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(contentOf(chunks)).toBe("I won't help with weapons.");
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['content_filter']);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(upstream.requests).toHaveLength(0);
  });

  it("refuses a structured-output request the SDK's parse() way: parsed null, the text in refusal", async () => {
    const request = {
      model: 'm',
      messages: [{ role: 'user' as const, content: 'how do I build a bomb' }],
      response_format: zodResponseFormat(z.object({ answer: z.string() }), 'answer'),
    };
    const { data, response } = await client.chat.completions.parse(request).withResponse();
    expect(response.headers.get('x-railgate-decision')).toBe('refuse');
    expect(data.choices[0]!.message).toMatchObject({
      content: null,
      refusal: "I won't help with weapons.",
      parsed: null,
    });
    expect(data.choices[0]!.finish_reason).toBe('stop');

    const stream = client.chat.completions.stream(request);
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message).toMatchObject({ refusal: "I won't help with weapons.", parsed: null });
    expect(upstream.requests).toHaveLength(0);
  });

  it('in JSON mode (json_object) a forward asks the model for JSON in its system message; canned answers stay in content', async () => {
    const jsonMode = { type: 'json_object' as const };
    const ask = (content: string) => ({
      model: 'm',
      response_format: jsonMode,
      messages: [{ role: 'user' as const, content }],
    });
    // OpenAI answers 400 in JSON mode unless a message says "JSON"; the client's message that did is not sent.
    await client.chat.completions.create(ask('where is my order? Reply in JSON'));
    expect(upstream.requests[0]!.body).toMatchObject({
      response_format: jsonMode,
      messages: [
        {
          role: 'system',
          content:
            "You are Acme's order assistant. Explain how to track an order on the website.\n\nAnswer with a JSON object.",
        },
        { role: 'user', content: 'How can a customer track an order?' },
      ],
    });
    // JSON-mode clients read content; a refusal keeps its content_filter finish.
    const canned = await client.chat.completions.create(ask('what are your opening hours'));
    expect(canned.choices[0]!.message).toMatchObject({ content: 'We are open Monday to Saturday, 9:00 to 18:00.' });
    const refused = await client.chat.completions.create(ask('how do I build a bomb'));
    expect(refused.choices[0]).toMatchObject({
      finish_reason: 'content_filter',
      message: { content: "I won't help with weapons." },
    });
  });

  it('in JSON mode, joins the request for JSON to a developer message, or adds a system message first', async () => {
    const rails = mkdtempSync(path.join(tmpdir(), 'railgate-json-'));
    mkdirSync(path.join(rails, 'desk'));
    writeFileSync(
      path.join(rails, 'desk', 'rail.yml'),
      [
        'intents:',
        '  - id: orders',
        '    action: forward',
        '    examples: [where is my order, track my package]',
        '    prompt: [{ role: developer, content: Explain order tracking. }]',
        '  - id: hours',
        '    action: forward',
        '    examples: [when are you open, what are your opening hours]',
        '    prompt: [{ role: user, content: What are the opening hours? }]',
        '',
      ].join('\n'),
    );
    const json = await buildTestApp({ rails, upstreamUrl: upstream.url });
    try {
      const ask = (content: string) =>
        json.app.inject({
          method: 'POST',
          url: '/v1/chat/completions',
          payload: { model: 'm', response_format: { type: 'json_object' }, messages: [{ role: 'user', content }] },
        });
      await ask('where is my order');
      await ask('when are you open');
      expect(upstream.requests.map((r) => (r.body as { messages: unknown }).messages)).toEqual([
        [{ role: 'developer', content: 'Explain order tracking.\n\nAnswer with a JSON object.' }],
        [
          { role: 'system', content: 'Answer with a JSON object.' },
          { role: 'user', content: 'What are the opening hours?' },
        ],
      ]);
    } finally {
      await json.close();
      rmSync(rails, { recursive: true, force: true });
    }
  });

  it('gives a canned answer to a structured-output request where parse() looks for one: in refusal', async () => {
    const { data, response } = await client.chat.completions
      .parse({
        model: 'm',
        messages: [{ role: 'user', content: 'what are your opening hours' }],
        response_format: zodResponseFormat(z.object({ answer: z.string() }), 'answer'),
      })
      .withResponse();
    expect(response.headers.get('x-railgate-decision')).toBe('respond');
    expect(data.choices[0]!.message).toMatchObject({
      content: null,
      refusal: 'We are open Monday to Saturday, 9:00 to 18:00.',
      parsed: null,
    });
    expect(data.choices[0]!.finish_reason).toBe('stop');
  });

  it('gives as many choices as `n` asks for, in JSON and in the stream', async () => {
    const request = { model: 'm', n: 3, messages: [{ role: 'user' as const, content: 'what are your opening hours' }] };
    const answer = 'We are open Monday to Saturday, 9:00 to 18:00.';
    const data = await client.chat.completions.create(request);
    expect(data.choices.map((c) => [c.index, c.message.content, c.finish_reason])).toEqual(
      [0, 1, 2].map((index) => [index, answer, 'stop']),
    );

    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true }));
    const byChoice = new Map<number, string>();
    for (const c of chunks)
      for (const choice of c.choices)
        byChoice.set(choice.index, (byChoice.get(choice.index) ?? '') + (choice.delta.content ?? ''));
    expect([...byChoice]).toEqual([0, 1, 2].map((index) => [index, answer]));
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter(Boolean)).toEqual([
      'stop',
      'stop',
      'stop',
    ]);
    expect(upstream.requests).toHaveLength(0);
  });
});
