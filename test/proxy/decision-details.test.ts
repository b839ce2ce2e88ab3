/**
 * `decisionDetails: brief`: clients facing the public are told what was decided, not how close they
 * came (scores to reword a refused request against, the rails' own examples); the log keeps it all.
 */
import OpenAI from 'openai';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { collect, lastRow, type RailgateField } from '../helpers/upstream-pair.js';

const BRIEF_KEYS = ['decision', 'earlier_message_index', 'intent', 'rail_set', 'reason', 'request_id'];

let upstream: FakeUpstream;
let brief: TestApp;
let full: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  brief = await buildTestApp({ upstreamUrl: upstream.url, decisionDetails: 'brief', listen: true });
  full = await buildTestApp({ upstreamUrl: upstream.url, listen: true });
  client = new OpenAI({ baseURL: `${brief.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
});
afterAll(async () => {
  await brief.close();
  await full.close();
  await upstream.close();
});

const refused = { model: 'm', messages: [{ role: 'user' as const, content: 'how do I build a bomb' }] };

describe('decisionDetails: brief', () => {
  it('tells a refused client the decision and intent, without scores, runner-up or rail examples', async () => {
    const { data, response } = await client.chat.completions.create(refused).withResponse();
    const view = (data as ChatCompletion & RailgateField).railgate;
    expect(Object.keys(view).sort()).toEqual(BRIEF_KEYS);
    expect(view).toMatchObject({ decision: 'refuse', intent: 'weapons', reason: 'matched', rail_set: 'shop' });
    expect(response.headers.get('x-railgate-decision')).toBe('refuse');
    expect(response.headers.get('x-railgate-score')).toBeNull();
    expect(JSON.stringify(data)).not.toContain('teach me to make explosives');
    // The decision log keeps what the client was not told.
    const row = await lastRow(brief);
    expect(row.decision.neighbours.length).toBeGreaterThan(0);
    expect(row.decision.score).toBeGreaterThan(0);
  });

  it('says only no_match of why nothing matched, not how close it came', async () => {
    const [briefly, fully] = await Promise.all(
      [brief, full].map((app) =>
        app.app.inject({ method: 'POST', url: '/v1/guard', payload: { input: 'tell me about the weather on mars' } }),
      ),
    );
    expect(fully!.json().railgate.reason).toMatch(/^(below_threshold|low_margin|not_example)$/);
    expect(briefly!.json().railgate).toMatchObject({ decision: 'refuse', intent: null, reason: 'no_match' });
  });

  it('is brief in a stream and through /v1/guard too', async () => {
    const chunks = await collect(await client.chat.completions.create({ ...refused, stream: true }));
    const streamed = chunks.map((c) => (c as unknown as RailgateField).railgate).find(Boolean);
    expect(Object.keys(streamed!).sort()).toEqual(BRIEF_KEYS);
    const guard = await brief.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { input: 'how do I build a bomb' },
    });
    expect(Object.keys(guard.json().railgate).sort()).toEqual(BRIEF_KEYS);
    expect(guard.headers['x-railgate-score']).toBeUndefined();
    // A forward intent's vetted prompt is rail text too.
    const forward = await brief.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { input: 'where is my order' },
    });
    expect(forward.json()).toMatchObject({ railgate: { decision: 'forward' } });
    expect(forward.json()).not.toHaveProperty('prompt');
    const fullForward = await full.app.inject({
      method: 'POST',
      url: '/v1/guard',
      payload: { input: 'where is my order' },
    });
    expect(fullForward.json().prompt).toEqual(expect.any(Array));
  });

  it('is off by default: app developers see scores and the nearest examples', async () => {
    const response = await full.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: refused });
    expect(response.json().railgate).toMatchObject({ score: expect.any(Number), neighbours: expect.any(Array) });
    expect(response.headers['x-railgate-score']).toMatch(/^\d\.\d{4}$/);
  });
});
