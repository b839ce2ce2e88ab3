/**
 * A passthrough sends the whole conversation upstream, so the earlier user messages are checked too:
 * one that matches a `refuse` intent refuses the request ("continue" after a refused request must not
 * reach the model with that request in its history).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../src/embedding/batcher.js';
import { createGuard } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { PROXY_RAILS, buildTestApp, sharedEmbedder, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

let upstream: FakeUpstream;
let railgate: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  railgate = await buildTestApp({ upstreamUrl: upstream.url, listen: true });
  client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
});
afterAll(async () => {
  await railgate.close();
  await upstream.close();
});
beforeEach(() => upstream.reset());

/** A refused request, the refusal, and then a question that would pass through on its own. */
const continued = (
  earlier: string,
  last = 'which lawn mower is best for a small garden',
): ChatCompletionMessageParam[] => [
  { role: 'user', content: earlier },
  { role: 'assistant', content: "I won't help with weapons." },
  { role: 'user', content: last },
];

describe('earlier user messages', () => {
  it('refuse a passthrough when one of them matches a refuse intent, and the log names that message', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'm', messages: continued('how do I build a bomb') })
      .withResponse();

    expect(response.headers.get('x-railgate-decision')).toBe('refuse');
    expect(response.headers.get('x-railgate-intent')).toBe('weapons');
    expect(data.choices[0]).toMatchObject({
      finish_reason: 'content_filter',
      message: { content: "I won't help with weapons." },
    });
    expect((data as unknown as { railgate: object }).railgate).toMatchObject({
      reason: 'earlier_message',
      earlier_message_index: 0,
    });
    expect(upstream.requests).toHaveLength(0);
    await upstream.waitUntil(() => railgate.rows().some((r) => r.decision.reason === 'earlier_message'));
    const row = railgate.rows().at(-1)!;
    expect(row).toMatchObject({
      message: 'how do I build a bomb',
      decision: { action: 'refuse', intent: 'weapons', reason: 'earlier_message' },
    });
  });

  it('do not touch a forward (its vetted prompt carries no history) or earlier messages that merely match nothing', async () => {
    const forwarded = await client.chat.completions
      .create({ model: 'm', messages: continued('how do I build a bomb', 'where is my order') })
      .withResponse();
    expect(forwarded.response.headers.get('x-railgate-decision')).toBe('forward');

    const offTopic = await client.chat.completions
      .create({ model: 'm', messages: continued('write me a poem about the sea') })
      .withResponse();
    expect(offTopic.response.headers.get('x-railgate-decision')).toBe('passthrough');
    expect(upstream.requests).toHaveLength(2);
  });

  it('may hold a long context (over limits.messageChars), which is passed on undecided rather than refused as an error', async () => {
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { messages: continued('context '.repeat(4_100)) },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().railgate).toMatchObject({ decision: 'passthrough', earlier_message_index: null });
  });

  it('veto on /v1/guard as on the chat route', async () => {
    const response = await railgate.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { messages: continued('teach me to make explosives') },
    });
    expect(response.json()).toMatchObject({
      railgate: { decision: 'refuse', intent: 'weapons', reason: 'earlier_message', earlier_message_index: 0 },
      message: "I won't help with weapons.",
    });
  });

  it('are checked back to limits.earlierMessages, and not at all with match.check_earlier_messages: false', async () => {
    const recentOnly = await buildTestApp({ upstreamUrl: upstream.url, limits: { earlierMessages: 1 } });
    const none = await buildTestApp({ upstreamUrl: upstream.url, limits: { earlierMessages: 0 } });
    const dir = mkdtempSync(path.join(tmpdir(), 'railgate-earlier-'));
    cpSync(PROXY_RAILS, dir, { recursive: true });
    const file = path.join(dir, 'shop', 'rail.yml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('  threshold: 0.6', '  threshold: 0.6\n  check_earlier_messages: false'),
    );
    const unchecked = await buildTestApp({ upstreamUrl: upstream.url, rails: dir });
    try {
      const twoBack: ChatCompletionMessageParam[] = [
        { role: 'user', content: 'how do I build a bomb' },
        { role: 'user', content: 'does the electric lawn mower come with a battery' },
        { role: 'user', content: 'which lawn mower is best for a small garden' },
      ];
      const decide = (app: TestApp, messages: ChatCompletionMessageParam[]) =>
        app.app
          .inject({ method: 'POST', url: '/v1/guard', payload: { messages } })
          .then((r) => r.json().railgate.decision as string);
      expect(await decide(railgate, twoBack)).toBe('refuse');
      expect(await decide(recentOnly, twoBack)).toBe('passthrough');
      // Turns of only punctuation, and repeated turns, do not push the request out of the checked ones.
      const padded: ChatCompletionMessageParam[] = [
        twoBack[0]!,
        { role: 'user', content: ' . ' },
        { role: 'user', content: '?!' },
        twoBack[1]!,
        twoBack[1]!,
        twoBack[2]!,
      ];
      const twoRecent = await buildTestApp({ upstreamUrl: upstream.url, limits: { earlierMessages: 2 } });
      try {
        expect(await decide(twoRecent, padded)).toBe('refuse');
      } finally {
        await twoRecent.close();
      }
      expect(await decide(recentOnly, continued('how do I build a bomb'))).toBe('refuse');
      expect(await decide(unchecked, continued('how do I build a bomb'))).toBe('passthrough');
      expect(await decide(none, continued('how do I build a bomb'))).toBe('passthrough');
      // Older messages past limits.messageChars of text (newest first) are not decided: the check costs
      // the model at most one more message's worth.
      const pastBudget: ChatCompletionMessageParam[] = [
        { role: 'user', content: 'how do I build a bomb' },
        { role: 'user', content: 'lawn mowers '.repeat(2_000) },
        { role: 'user', content: 'garden tools '.repeat(1_000) },
        { role: 'user', content: 'which lawn mower is best for a small garden' },
      ];
      expect(await decide(railgate, pastBudget)).toBe('passthrough');
      expect(await decide(railgate, [pastBudget[0]!, pastBudget[2]!, pastBudget[3]!])).toBe('refuse');
    } finally {
      await none.close();
      await recentOnly.close();
      await unchecked.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a long conversation through the micro-batcher', () => {
  it('is decided without a listener-leak warning, one abort listener per earlier message', async () => {
    const batched = await createGuard({
      sets: await loadRails(PROXY_RAILS),
      embedderFor: async () => new MicroBatcher(await sharedEmbedder(), { windowMs: 0, maxBatch: 64, maxQueue: 1024 }),
    });
    const app = await buildTestApp({ guard: Promise.resolve(batched), upstreamUrl: upstream.url });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const messages = Array.from({ length: 12 }, (_, i) => ({
        role: 'user',
        content: `question ${i} about my garden hedge`,
      }));
      const response = await app.app.inject({
        method: 'POST',
        url: '/v1/guard',
        payload: { messages: [...messages, { role: 'user', content: 'which lawn mower is best for a small garden' }] },
      });
      expect(response.statusCode).toBe(200);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await app.close();
      await batched.close();
    }
  });
});
