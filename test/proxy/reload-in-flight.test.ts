/**
 * A hot reload that lands while a message is being embedded: the request finishes on the rails that
 * decided it (prompt, canned answer, upstream), as the decision log says, never on a mix of versions.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type RailsRuntime } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { buildTestApp, PROXY_RAILS, sharedEmbedder, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { HeldModel } from '../helpers/held-model.js';

let dir: string;
let upstream: FakeUpstream;
let model: HeldModel;
let runtime: RailsRuntime;
let railgate: TestApp;
let client: OpenAI;

const sentMessages = () => (upstream.requests.at(-1)!.body as { messages: unknown[] }).messages;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'railgate-reload-'));
  await cp(PROXY_RAILS, dir, { recursive: true });
  upstream = await startFakeUpstream();
  model = new HeldModel(await sharedEmbedder());
  runtime = await createGuard({ sets: await loadRails(dir), embedderFor: async () => model });
  railgate = await buildTestApp({ guard: Promise.resolve(runtime), upstreamUrl: upstream.url, listen: true });
  client = new OpenAI({ baseURL: `${railgate.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
});
afterAll(async () => {
  await railgate.close();
  await runtime.close();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a reload while a request is in flight', () => {
  it('finishes the request on the rails that decided it, even when the edit renamed its intent', async () => {
    const held = model.holdNext();
    const pending = client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'where is my order' }] })
      .withResponse();
    const letThrough = await held;

    // The author renames the intent and rewrites its prompt; the new rails are swapped in.
    const file = path.join(dir, 'shop', 'rail.yml');
    const yaml = await readFile(file, 'utf8');
    await writeFile(
      file,
      yaml
        .replace('- id: order_status', '- id: delivery_status')
        .replace('Explain how to track an order on the website.', 'Say that orders ship within a day.'),
    );
    await runtime.replace(await loadRails(dir));
    letThrough();

    const { data, response } = await pending;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-railgate-intent')).toBe('order_status');
    expect(data.choices[0]!.message.content).toBeTruthy();
    expect(sentMessages()).toEqual([
      { role: 'system', content: "You are Acme's order assistant. Explain how to track an order on the website." },
      { role: 'user', content: 'How can a customer track an order?' },
    ]);

    // The next request is decided, and forwarded, by the edited rails.
    const { response: next } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'where is my order' }] })
      .withResponse();
    expect(next.headers.get('x-railgate-intent')).toBe('delivery_status');
    expect(sentMessages()[0]).toEqual({
      role: 'system',
      content: "You are Acme's order assistant. Say that orders ship within a day.",
    });
  });
});
