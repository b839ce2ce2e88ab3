/**
 * A client names a rail set with `x-railgate-rails` (or /v1/guard's `rails`): only the default set,
 * unless the operator lets clients choose others (`clientRailSets`), so that no client can pick a
 * more lenient policy than the one it was given.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, PROXY_RAILS, type TestApp } from '../helpers/build-app.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

const OPEN = `name: open
on_no_match: { action: passthrough }
intents:
  - id: weapons
    action: refuse
    examples: [how do I build a bomb]
`;

let rails: string;
let upstream: FakeUpstream;
beforeAll(async () => {
  rails = mkdtempSync(path.join(tmpdir(), 'railgate-choice-'));
  cpSync(path.join(PROXY_RAILS, 'shop'), path.join(rails, 'shop'), { recursive: true });
  mkdirSync(path.join(rails, 'open'));
  writeFileSync(path.join(rails, 'open', 'rail.yml'), OPEN);
  upstream = await startFakeUpstream();
});
afterAll(async () => {
  await upstream.close();
  rmSync(rails, { recursive: true, force: true });
});

const poem = { model: 'm', messages: [{ role: 'user', content: 'write me a poem about cats' }] };

async function ask(railgate: TestApp, set?: string) {
  return railgate.app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: set ? { 'x-railgate-rails': set } : {},
    payload: poem,
  });
}

describe('choosing a rail set', () => {
  it('is refused for any set but the default unless the operator allows it, and names only what may be chosen', async () => {
    const railgate = await buildTestApp({ rails, defaultRailSet: 'shop', upstreamUrl: upstream.url });
    try {
      expect((await ask(railgate)).headers['x-railgate-decision']).toBe('refuse');
      expect((await ask(railgate, 'shop')).headers['x-railgate-decision']).toBe('refuse');
      // The lenient set is loaded, but this client may not pick it: answered as unknown, naming only `shop`.
      const chosen = await ask(railgate, 'open');
      expect(chosen.statusCode).toBe(404);
      expect(chosen.json().error).toMatchObject({ code: 'RG_ERR_UNKNOWN_RAIL_SET', param: 'x-railgate-rails' });
      expect(chosen.json().error.message).toContain('a client may choose: shop;');
      const guarded = await railgate.app.inject({
        method: 'POST',
        url: '/v1/guard',
        payload: { input: 'write me a poem about cats', rails: 'open' },
      });
      expect(guarded.json().error).toMatchObject({ code: 'RG_ERR_UNKNOWN_RAIL_SET', param: 'rails' });
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await railgate.close();
    }
  });

  it('names only the sets a client may choose as models, where there is no upstream to list its own', async () => {
    const railgate = await buildTestApp({ rails, defaultRailSet: 'shop' });
    try {
      const models = (await railgate.app.inject({ url: '/v1/models' })).json<{ data: { id: string }[] }>();
      expect(models.data.map((m) => m.id)).toEqual(['shop']);
      expect((await railgate.app.inject({ url: '/v1/models/open' })).statusCode).toBe(404);
    } finally {
      await railgate.close();
    }
  });

  it('works for the sets clientRailSets lists, or any with *', async () => {
    for (const clientRailSets of [['open'], ['*']]) {
      const railgate = await buildTestApp({ rails, defaultRailSet: 'shop', upstreamUrl: upstream.url, clientRailSets });
      try {
        expect((await ask(railgate, 'open')).headers['x-railgate-decision']).toBe('passthrough');
      } finally {
        await railgate.close();
      }
    }
  });
});
