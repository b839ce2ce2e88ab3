/**
 * The upstream-side proxy tests' set-up: a fake upstream, railgate in front of it (listening, with
 * short upstream timeouts so timeouts are quick to reach), and the official SDK pointed at railgate.
 */
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { buildTestApp, type TestApp, type TestAppOptions } from './build-app.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

export interface UpstreamPair {
  readonly upstream: FakeUpstream;
  readonly railgate: TestApp;
  /** The `openai` SDK on railgate, retries off. */
  readonly client: OpenAI;
}

/** What the client sends as its API key: railgate must never pass it upstream. */
export const CLIENT_KEY = 'sk-client-secret';

async function startUpstreamPair(options: TestAppOptions): Promise<UpstreamPair> {
  const upstream = await startFakeUpstream();
  const railgate = await buildTestApp({
    upstream: { headersTimeoutMs: 400, bodyTimeoutMs: 400 },
    ...options,
    upstreamUrl: upstream.url,
    listen: true,
  });
  const client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  return { upstream, railgate, client };
}

async function stopUpstreamPair(pair: UpstreamPair | undefined): Promise<void> {
  await pair?.railgate.close();
  await pair?.upstream.close();
}

/**
 * One pair for a test file: started before its tests, the upstream's behaviour reset before each.
 * `options` replace the app's defaults (short upstream timeouts).
 */
export function useUpstreamPair(started: (pair: UpstreamPair) => void, options: TestAppOptions = {}): void {
  let pair: UpstreamPair | undefined;
  beforeAll(async () => {
    pair = await startUpstreamPair(options);
    started(pair);
  });
  afterAll(() => stopUpstreamPair(pair));
  beforeEach(() => pair?.upstream.reset());
}

export const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

export const askStream = (content: string) => ({ ...ask(content), stream: true as const });

/** The decision log's newest row, once there is one (rows are written when a response is over). */
export async function lastRow(app: TestApp) {
  await expect.poll(() => app.rows().length).toBeGreaterThan(0);
  return app.rows().at(-1)!;
}

/** Every chunk of a stream, in order. */
export async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The first choice's text across a stream's chunks. */
export const contentOf = (chunks: ChatCompletionChunk[]) =>
  chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

/** The `railgate` field railgate adds to its own (canned and refused) answers. */
export interface RailgateField {
  railgate: {
    decision: string;
    intent: string | null;
    score: number;
    rail_set: string;
    request_id: string;
    neighbours: unknown[];
  };
}
