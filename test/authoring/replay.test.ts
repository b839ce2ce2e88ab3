import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay, type ReplaySummary } from '../../src/authoring/replay.js';
import type { LoggedDecision } from '../../src/decisions/types.js';
import { DecisionLog } from '../../src/decisions/log.js';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { createGuard } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { railgate, workspace } from './helpers.js';

const DAY = 86_400_000;
let ws: Awaited<ReturnType<typeof workspace>>;
let db: string;

/** Logs what the proxy would have logged for each message with the rails as they are now. */
async function logDecisions(entries: { message: string; time: number; railSet?: string }[]): Promise<void> {
  const embedder = await BundledEmbedder.load();
  const guard = await createGuard({ sets: await loadRails(ws.rails), embedderFor: async () => embedder });
  const log = DecisionLog.open(db);
  try {
    for (const [i, entry] of entries.entries()) {
      const { decision, timings } = await guard.decide(entry.message);
      log.write({
        time: entry.time,
        requestId: `req-${i}`,
        endpoint: 'guard',
        stream: false,
        message: entry.message,
        decision: entry.railSet ? { ...decision, railSet: entry.railSet } : decision,
        upstreamStatus: null,
        errorCode: null,
        latency: { ...timings, upstreamMs: null, totalMs: timings.embedMs + timings.searchMs },
      });
    }
  } finally {
    log.close();
    await embedder.close();
  }
}

beforeAll(async () => {
  ws = await workspace();
  db = path.join(ws.dir, 'data', 'railgate.db');
  const now = Date.now();
  await logDecisions([
    { message: "What's the weather like today?", time: now - 2 * DAY },
    { message: 'I forgot my password', time: now - DAY / 2 },
    { message: 'Hello', time: now - 1000 },
    // Older than the window: not replayed.
    { message: 'Will it rain tomorrow?', time: now - 30 * DAY },
    // A set no longer on disk: counted as skipped.
    { message: 'Hello', time: now - 500, railSet: 'retired' },
  ]);
  // The rails change: weather questions now have an intent (in a second file of the set).
  await writeFile(
    path.join(ws.rails, 'support', 'weather.yml'),
    'intents:\n  - id: weather\n    action: respond\n    response: Look outside.\n' +
      "    examples: [What's the weather like today?, Will it rain tomorrow?, Is it sunny outside?]\n",
  );
}, 60_000);
afterAll(() => ws.cleanup());

describe('railgate replay', () => {
  it('lists the decisions that change with the rails on disk, and counts the rest', async () => {
    const run = await railgate(ws.dir, ['replay', '--since', '7d', '--db', db, '--rails', 'rails']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^#1 \S+ \[support\] "What's the weather like today\?"$/m);
    expect(run.stdout).toMatch(/^ {2}refuse \(no match, best \w+\) 0\.\d{3} -> respond weather 1\.000$/m);
    expect(run.stdout).not.toContain('I forgot my password');
    expect(run.stdout).not.toContain('rain');
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe(
      '3 replayed: 1 changed, 2 unchanged; 1 skipped (rail set not in rails: retired)',
    );
  });

  it('gives the changes as JSON, honours --limit, and settings find the log', async () => {
    const json = await railgate(ws.dir, ['replay', '--json'], { RAILGATE_RAILS: 'rails', RAILGATE_DB: db });
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout) as ReplaySummary;
    expect(summary).toMatchObject({ replayed: 3, changed: 1, unchanged: 2, skipped: { retired: 1 } });
    expect(summary.changes).toEqual([
      expect.objectContaining({
        id: 1,
        request_id: 'req-0',
        rail_set: 'support',
        before: expect.objectContaining({ action: 'refuse', intent: null }),
        after: expect.objectContaining({ action: 'respond', intent: 'weather', reason: 'matched' }),
      }),
    ]);

    const limited = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--since', '1d', '--json']);
    expect(JSON.parse(limited.stdout)).toMatchObject({ replayed: 2, changed: 0 });
    const first = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--limit', '1', '--json']);
    expect(JSON.parse(first.stdout)).toMatchObject({ replayed: 1, changed: 1 });
  });

  it('lists the changes in the order of the log, though rows are scored set by set', async () => {
    const embedder = await BundledEmbedder.load();
    try {
      const [support] = await loadRails(ws.rails);
      const guard = await createGuard({
        sets: [support!, { ...support!, name: 'copy' }],
        embedderFor: async () => embedder,
      });
      const { decision, timings } = await guard.decide('Hello');
      // Logged under the two sets in turn, each with a decision the rails no longer make.
      const rows: LoggedDecision[] = [1, 2, 3, 4].map((id) => ({
        id,
        time: id,
        requestId: `r${id}`,
        endpoint: 'guard',
        stream: false,
        message: 'Hello',
        decision: { ...decision, railSet: id % 2 ? 'support' : 'copy', action: 'refuse', intent: null },
        upstreamStatus: null,
        errorCode: null,
        latency: { ...timings, upstreamMs: null, totalMs: 1 },
      }));
      const summary = await replay(rows, { compiledFor: async (name) => guard.compiled(name) });
      expect(summary.changes.map((c) => [c.id, c.rail_set])).toEqual([
        [1, 'support'],
        [2, 'copy'],
        [3, 'support'],
        [4, 'copy'],
      ]);
    } finally {
      await embedder.close();
    }
  });

  it('exits 1 without a decision log and 2 on a bad --since', async () => {
    const missing = await railgate(ws.dir, ['replay', '--db', 'nope.db', '--rails', 'rails']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no decision log at');
    const bad = await railgate(ws.dir, ['replay', '--since', 'yesterday', '--db', db, '--rails', 'rails']);
    expect(bad.code).toBe(2);
    const folder = await railgate(ws.dir, ['replay', '--db', 'data', '--rails', 'rails']);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toBe(`railgate replay: ${path.join(ws.dir, 'data')} is a folder, not a decision log file\n`);
    // A script reading --json gets the failure as JSON.
    const json = await railgate(ws.dir, ['replay', '--db', 'nope.db', '--rails', 'rails', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { message: `no decision log at ${path.join(ws.dir, 'nope.db')}` },
    });
  });

  it('says to name a set with --set when --rails names one instead of the folder, as logs takes it', async () => {
    const run = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'support'], { RAILGATE_RAILS: 'rails' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'railgate replay: --rails names the rails folder, and there is no folder "support"; for the rail set support in rails, use --set support',
    );
    const explain = await railgate(ws.dir, ['explain', 'hello', '--rails-dir', 'support'], { RAILGATE_RAILS: 'rails' });
    expect(explain.code).toBe(2);
    expect(explain.stderr).toContain('use --rails support');
  });

  it('exits 2 on a --limit past 2^53 - 1, which would not be the number typed', async () => {
    for (const limit of ['9007199254740992', '9223372036854775807', '99999999999999999999']) {
      const run = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--limit', limit]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `railgate replay: --limit must be a number in [1, 9007199254740991], got "${limit}"`,
      );
    }
  });

  it('fails on a --set that is not on disk, naming the sets that are, as the other commands do', async () => {
    const run = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--set', 'nosuch']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('railgate replay: --set: no rail set "nosuch" in rails (sets: support)');
    const json = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--set', 'nosuch', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ error: { message: expect.stringContaining('no rail set "nosuch"') } });
    // A set that is on disk still replays its own rows only.
    const own = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--set', 'support', '--json']);
    expect(own.code).toBe(0);
    expect(JSON.parse(own.stdout)).toMatchObject({ replayed: 3, skipped: {} });
  });

  it('replays the set named while another has issues; every set needs every set valid', async () => {
    const drafts = path.join(ws.rails, 'drafts');
    await mkdir(drafts);
    await writeFile(path.join(drafts, 'rail.yml'), 'intents:\n  - id: x\n    action: reply\n');
    try {
      const one = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails', '--set', 'support', '--json']);
      expect(one.code).toBe(0);
      expect(JSON.parse(one.stdout)).toMatchObject({ replayed: 3 });
      expect(one.stderr).toContain('note: other rail sets have issues (rails/drafts/rail.yml');
      const all = await railgate(ws.dir, ['replay', '--db', db, '--rails', 'rails']);
      expect(all.code).toBe(1);
      expect(all.stderr).toMatch(/drafts\/rail\.yml:3:13: /);
    } finally {
      await rm(drafts, { recursive: true, force: true });
    }
  });
});
