/**
 * The upstream-side proxy tests' set-up: a fake upstream, railgate in front of it (listening, with
 * short upstream timeouts so timeouts are quick to reach), and the official SDK pointed at railgate.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { buildTestApp, type TestApp } from './build-app.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

export interface UpstreamPair {
  readonly upstream: FakeUpstream;
  readonly railgate: TestApp;
  /** The `openai` SDK on railgate, retries off. */
  readonly client: OpenAI;
}

async function startUpstreamPair(): Promise<UpstreamPair> {
  const upstream = await startFakeUpstream();
  const railgate = await buildTestApp({
    upstreamUrl: upstream.url,
    upstream: { headersTimeoutMs: 400, bodyTimeoutMs: 400 },
    listen: true,
  });
  const client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  return { upstream, railgate, client };
}

async function stopUpstreamPair(pair: UpstreamPair | undefined): Promise<void> {
  await pair?.railgate.close();
  await pair?.upstream.close();
}

/** One pair for a test file: started before its tests, the upstream's behaviour reset before each. */
export function useUpstreamPair(started: (pair: UpstreamPair) => void): void {
  let pair: UpstreamPair | undefined;
  beforeAll(async () => {
    pair = await startUpstreamPair();
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
