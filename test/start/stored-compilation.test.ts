/**
 * What a rail set compiles to is written beside the example cache and read back on the next start:
 * a large set's HNSW graph (so a restart skips the rebuild; /v1/rails says which index each set
 * serves from) and the fitted model of a `scoring: classifier` set.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { captureLog } from '../helpers/log-capture.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/settings.js';
import { startRailgate } from '../../src/start.js';

const RAIL = `name: support
match: { threshold: 0.6 }
on_no_match: { action: refuse, message: Only support questions here. }
intents:
  - id: password_reset
    action: respond
    response: Use the reset link on the sign-in page.
    examples: [how do I reset my password, I forgot my password, I can't log in with my password]
  - id: opening_hours
    action: respond
    response: We are open 9 to 5.
    examples: [what are your opening hours, when are you open, what time do you close]
`;

const CLASSIFIED = `name: desk
match: { threshold: 0.5, scoring: classifier }
intents:
  - id: refund
    action: respond
    response: Refunds take five days.
    examples: [my refund has not arrived, when will the shop refund me]
  - id: opening_hours
    action: respond
    response: We are open 9 to 5.
    examples: [what are your opening hours, when are you open]
`;

interface RailsListing {
  data: {
    name: string;
    index: { kind: string; vectors: number; from_disk: boolean; hnsw_check?: { ef_search: number | null } };
  }[];
}

/** Settings that keep nothing on disk and the model in-process, with `extra` on top. */
function inMemory(extra: Parameters<typeof parseSettings>[0] = {}) {
  return parseSettings({
    rails: 'rails',
    db: ':memory:',
    watch: false,
    embedding: { cacheDb: ':memory:', worker: false },
    ...extra,
  });
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'railgate-graph-'));
  mkdirSync(path.join(dir, 'rails', 'support'), { recursive: true });
  writeFileSync(path.join(dir, 'rails', 'support', 'rail.yml'), RAIL);
  mkdirSync(path.join(dir, 'rails', 'desk'), { recursive: true });
  writeFileSync(path.join(dir, 'rails', 'desk', 'rail.yml'), CLASSIFIED);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startAndAsk(exactBelow: number) {
  const settings = parseSettings({
    rails: 'rails',
    db: ':memory:',
    watch: false,
    embedding: { cacheDb: 'data/embeddings.db', worker: false },
    index: { exactBelow },
    defaultRailSet: 'support',
  });
  const railgate = await startRailgate(settings, { cwd: dir });
  try {
    const runtime = await railgate.guard;
    const listing = (await railgate.app.inject({ url: '/v1/rails' })).json<RailsListing>();
    const decided = await railgate.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { model: 'm', messages: [{ role: 'user', content: 'I forgot my password' }] },
    });
    const desk = runtime.compiled('desk');
    return {
      index: listing.data.find((s) => s.name === 'support')!.index,
      intent: decided.headers['x-railgate-intent'],
      classifier: {
        fromDisk: desk.classifier!.fromDisk,
        refund: (await runtime.decide('where is my refund', 'desk')).decision.score,
      },
    };
  } finally {
    await railgate.close();
  }
}

describe('stored graphs and classifiers across restarts', () => {
  it('the first start builds and stores the graph, the next reads it and decides the same', async () => {
    const first = await startAndAsk(3);
    // The graph's recall check (against the exact scan) is shown, and its verdict stored with the graph.
    const checked = { ef_search: 64, recall: 1 };
    expect(first).toMatchObject({
      index: { kind: 'hnsw', vectors: 6, from_disk: false, hnsw_check: checked },
      intent: 'password_reset',
    });
    expect(readdirSync(path.join(dir, 'data', 'hnsw')).filter((f) => f.startsWith('support.'))).toEqual([
      expect.stringMatching(/^support\.[0-9a-f]{32}\.hnsw$/),
      expect.stringMatching(/^support\.[0-9a-f]{32}\.recall$/),
    ]);

    const second = await startAndAsk(3);
    expect(second).toMatchObject({
      index: { kind: 'hnsw', vectors: 6, from_disk: true, hnsw_check: checked },
      intent: 'password_reset',
    });
  });

  it('a classifier set fits once, stores the model, and the next start reads it and scores the same', async () => {
    const first = await startAndAsk(20_000);
    const second = await startAndAsk(20_000);
    expect(readdirSync(path.join(dir, 'data', 'classifiers'))).toEqual([
      expect.stringMatching(/^desk\.[0-9a-f]{32}\.classifier$/),
    ]);
    expect(second.classifier.fromDisk).toBe(true);
    expect(second.classifier.refund).toBe(first.classifier.refund);
    expect(second.classifier.refund).toBeGreaterThan(0.5);
  });

  it('below the exact-search size no graph is built', async () => {
    expect((await startAndAsk(20_000)).index).toEqual({ kind: 'exact', vectors: 6, from_disk: false });
  });
});

describe('with several rail sets and no default configured', () => {
  it('warns which set requests naming none get, as it is picked by folder name', async () => {
    const { lines, stream } = captureLog();
    const settings = inMemory();
    const railgate = await startRailgate(settings, { cwd: dir, logger: { level: 'warn', stream } });
    try {
      const runtime = await railgate.guard;
      expect(runtime.defaultRailSet).toBe('desk');
      expect(lines.map((l) => JSON.parse(l) as { msg: string })).toContainEqual(
        expect.objectContaining({ msg: expect.stringMatching(/^no default rail set is configured: .* use "desk"/) }),
      );
    } finally {
      await railgate.close();
    }
    // A set named `default` is the default whatever the folders: nothing to warn of.
    const named = mkdtempSync(path.join(tmpdir(), 'railgate-default-'));
    for (const set of ['aaa', 'default']) {
      mkdirSync(path.join(named, 'rails', set), { recursive: true });
      writeFileSync(path.join(named, 'rails', set, 'rail.yml'), RAIL.replace('name: support', `name: ${set}`));
    }
    lines.length = 0;
    const pinned = await startRailgate(settings, { cwd: named, logger: { level: 'warn', stream } });
    try {
      expect((await pinned.guard).defaultRailSet).toBe('default');
      expect(lines.filter((l) => l.includes('no default rail set'))).toEqual([]);
    } finally {
      await pinned.close();
      rmSync(named, { recursive: true, force: true });
    }
  });
});

describe('a graph that fails its recall check', () => {
  it('is set aside: the set is searched exactly, /v1/rails says why, and a warning is logged', async () => {
    const topics = ['card', 'loan', 'mortgage', 'savings', 'transfer', 'pension', 'insurance', 'branch'];
    const asks = ['how do I apply for a', 'what fees come with my', 'can I cancel my', 'who do I call about my'];
    const examples = topics.flatMap((topic) => asks.map((ask) => `${ask} ${topic}`));
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-recall-'));
    mkdirSync(path.join(root, 'rails', 'many'), { recursive: true });
    writeFileSync(
      path.join(root, 'rails', 'many', 'rail.yml'),
      `name: many\nintents:\n  - id: banking\n    action: passthrough\n    examples:\n${examples.map((e) => `      - ${e}\n`).join('')}`,
    );
    const { lines, stream } = captureLog();
    // A graph too sparse and searched too narrowly to find every true neighbour.
    const settings = inMemory({
      index: { exactBelow: 10, m: 2, efConstruction: 2, efSearch: 1, maxEfSearch: 1, minRecall: 1 },
    });
    const railgate = await startRailgate(settings, { cwd: root, logger: { level: 'warn', stream } });
    try {
      await railgate.guard;
      const listing = (await railgate.app.inject({ url: '/v1/rails' })).json<RailsListing>();
      const { index } = listing.data[0]!;
      expect(index).toMatchObject({ kind: 'exact', vectors: 32, hnsw_check: { ef_search: null } });
      const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string; railSet?: string });
      expect(warning).toContainEqual(
        expect.objectContaining({ level: 40, railSet: 'many', msg: expect.stringMatching(/searched exactly/) }),
      );
    } finally {
      await railgate.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
