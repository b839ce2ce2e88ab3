import { existsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DecisionLog } from '../../src/decisions/log.js';
import { DecisionReader } from '../../src/decisions/reader.js';
import { SCHEMA_VERSION } from '../../src/decisions/schema.js';
import type { DecisionRecord } from '../../src/decisions/types.js';
import { forwardedDecision, forwardedRecord, record, refusedDecision, T0 } from './factory.js';
import { tempDir } from './helpers.js';

/** Keeps the timer out of the way: records reach the database only when a test flushes or closes. */
const require = createRequire(import.meta.url);
const MANUAL = { flushIntervalMs: 3_600_000, maxBatch: 1_000_000 };

let dir: ReturnType<typeof tempDir>;
let dbPath: string;
const toClose: { close(): void }[] = [];

function track<T extends { close(): void }>(handle: T): T {
  toClose.push(handle);
  return handle;
}

function warnings() {
  const seen: { obj: object; msg: string }[] = [];
  return { seen, logger: { warn: (obj: object, msg: string) => seen.push({ obj, msg }) } };
}

beforeEach(() => {
  dir = tempDir();
  dbPath = join(dir.path, 'nested', 'folder', 'railgate.db');
});

afterEach(() => {
  for (const handle of toClose.splice(0)) handle.close();
  dir.remove();
});

describe('DecisionLog file', () => {
  it('is created readable by its owner only, its WAL too: it holds what users wrote', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    log.write(record());
    log.flush();
    expect(statSync(dbPath).mode & 0o777).toBe(0o600);
    expect(statSync(`${dbPath}-wal`).mode & 0o777).toBe(0o600);
  });

  it('is created 0600 through a symbolic link to a file not there yet', () => {
    const target = join(dir.path, 'real.db');
    const link = join(dir.path, 'link.db');
    symlinkSync(target, link);
    track(DecisionLog.open(link, MANUAL));
    expect(statSync(target).mode & 0o777).toBe(0o600);
  });
});

describe('DecisionLog retention', () => {
  const DAY = 86_400_000;

  it('deletes decisions older than the retention when it opens and when pruned, keeping the rest', async () => {
    let now = T0 + 40 * DAY;
    const first = DecisionLog.open(dbPath, MANUAL);
    for (const age of [45, 31, 29, 1]) first.write(record({ time: now - age * DAY, requestId: `req_${age}d` }));
    first.close();

    const log = track(DecisionLog.open(dbPath, { ...MANUAL, retentionMs: 30 * DAY, clock: () => now }));
    const ids = () =>
      log
        .query()
        .map((row) => row.requestId)
        .sort();
    await log.prune(); // joins the prune that opening started
    expect(ids()).toEqual(['req_1d', 'req_29d']);
    now += 2 * DAY;
    expect(await log.prune()).toBe(1);
    expect(ids()).toEqual(['req_1d']);
    expect(log.stats().pruned).toBe(3);
  });

  it('deletes a large backlog in steps, letting the event loop run between them', async () => {
    const now = T0 + 400 * DAY;
    const first = DecisionLog.open(dbPath, MANUAL);
    for (let i = 0; i < 5_000; i++) first.write(record({ time: now - 100 * DAY - i, requestId: `old_${i}` }));
    first.write(record({ time: now - DAY, requestId: 'recent' }));
    first.close();

    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, retentionMs: 30 * DAY, clock: () => now }));
    await log.prune();
    clearInterval(ticker);
    expect(log.stats().pruned).toBe(5_000);
    expect(log.query().map((row) => row.requestId)).toEqual(['recent']);
    expect(ticks).toBeGreaterThan(0);
  });

  it('keeps everything with retention 0', async () => {
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, retentionMs: 0, clock: () => T0 + 1_000 * DAY }));
    log.write(record({ time: T0 }));
    log.flush();
    expect(await log.prune()).toBe(0);
    expect(log.count()).toBe(1);
  });
});

describe('DecisionLog writing', () => {
  it('creates the folders and file, and loses nothing written before close', () => {
    const log = DecisionLog.open(dbPath, { maxBatch: 64 });
    expect(existsSync(dbPath)).toBe(true);
    for (let i = 0; i < 5_000; i++) log.write(record({ requestId: `req_${i}` }));
    log.close();
    expect(log.stats()).toEqual({ written: 5_000, pending: 0, dropped: 0, failedFlushes: 0, pruned: 0 });

    const reader = track(DecisionReader.openReadOnly(dbPath));
    expect(reader.count()).toBe(5_000);
    const ids = new Set([...reader.scan()].map((row) => row.requestId));
    expect(ids.size).toBe(5_000);
  });

  it('only queues on write: a separate reader sees the row after flush, not before', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    const reader = track(DecisionReader.openReadOnly(dbPath));
    log.write(record());
    expect(log.stats().pending).toBe(1);
    expect(reader.count()).toBe(0);
    log.flush();
    expect(reader.count()).toBe(1);
    expect(log.stats()).toMatchObject({ written: 1, pending: 0 });
  });

  it('writes queued records on its own timer, without a flush call', async () => {
    const log = track(DecisionLog.open(dbPath, { flushIntervalMs: 5 }));
    const reader = track(DecisionReader.openReadOnly(dbPath));
    log.write(record());
    log.write(record());
    await vi.waitFor(() => expect(reader.count()).toBe(2));
  });

  it('writes a full batch straight away instead of waiting for the interval', async () => {
    const log = track(DecisionLog.open(dbPath, { flushIntervalMs: 3_600_000, maxBatch: 10 }));
    const reader = track(DecisionReader.openReadOnly(dbPath));
    for (let i = 0; i < 9; i++) log.write(record());
    await new Promise((resolve) => setImmediate(resolve));
    expect(reader.count()).toBe(0);
    log.write(record());
    await vi.waitFor(() => expect(reader.count()).toBe(10));
  });

  it('keeps records when a flush fails and writes them once the database is free again', () => {
    const { seen, logger } = warnings();
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, busyTimeoutMs: 0, logger }));
    const other = track(new Database(dbPath));
    other.exec('BEGIN IMMEDIATE'); // another writer holds the lock

    expect(() => log.write(record())).not.toThrow();
    log.write(record());
    log.flush();
    expect(log.stats()).toEqual({ written: 0, pending: 2, dropped: 0, failedFlushes: 1, pruned: 0 });
    expect(seen.map((w) => w.msg)).toContain('decision log write failed; will retry');
    expect(seen[0]?.obj).toMatchObject({ err: expect.any(Error) });

    other.exec('COMMIT');
    log.flush();
    expect(log.stats()).toEqual({ written: 2, pending: 0, dropped: 0, failedFlushes: 1, pruned: 0 });
    expect(log.count()).toBe(2);
    expect(seen.map((w) => w.msg)).toContain('decision log writes recovered');
  });

  it('at close, waits for another process to let go of the database rather than lose the last decisions', async () => {
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, logger: warnings().logger }));
    log.write(record());
    // Another process's writer (a worker thread here: this one blocks in close) holds the lock a while.
    const holder = new Worker(
      `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
       const db = new Database(${JSON.stringify(dbPath)});
       db.exec('BEGIN IMMEDIATE');
       require('node:worker_threads').parentPort.postMessage('locked');
       setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);`,
      { eval: true },
    );
    await new Promise((resolve) => holder.once('message', resolve));
    log.close();
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(log.stats()).toMatchObject({ written: 1, dropped: 0 });
  });

  it('drops the oldest records beyond maxPending and counts them', () => {
    const { seen, logger } = warnings();
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, maxPending: 5, busyTimeoutMs: 0, logger }));
    const other = track(new Database(dbPath));
    other.exec('BEGIN IMMEDIATE');
    for (let i = 0; i < 8; i++) log.write(record({ requestId: `req_${i}` }));
    log.flush();
    expect(log.stats()).toEqual({ written: 0, pending: 5, dropped: 3, failedFlushes: 1, pruned: 0 });
    expect(seen.some((w) => /queue is full/.test(w.msg))).toBe(true);

    other.exec('COMMIT');
    log.close();
    const reader = track(DecisionReader.openReadOnly(dbPath));
    expect([...reader.scan()].map((row) => row.requestId)).toEqual(['req_3', 'req_4', 'req_5', 'req_6', 'req_7']);
  });

  it('skips a record it cannot store without losing the rest of the batch', () => {
    const { seen, logger } = warnings();
    const log = track(DecisionLog.open(dbPath, { ...MANUAL, logger }));
    log.write(record());
    log.write({ ...record(), decision: undefined } as unknown as DecisionRecord);
    log.write(record());
    log.flush();
    expect(log.stats()).toEqual({ written: 2, pending: 0, dropped: 1, failedFlushes: 0, pruned: 0 });
    expect(seen.some((w) => /could not store/.test(w.msg))).toBe(true);
  });

  it('closes once: a second close is harmless and later writes are counted as dropped', () => {
    const log = DecisionLog.open(dbPath, { ...MANUAL, logger: warnings().logger });
    log.write(record());
    log.close();
    log.close();
    expect(() => log.write(record())).not.toThrow();
    expect(log.stats()).toEqual({ written: 1, pending: 0, dropped: 1, failedFlushes: 0, pruned: 0 });
  });

  it('works in memory', () => {
    const log = track(DecisionLog.open(':memory:', MANUAL));
    log.write(forwardedRecord());
    log.flush();
    expect(log.query()).toHaveLength(1);
  });
});

describe('DecisionLog schema', () => {
  it('reopening an existing log keeps its rows and does not migrate twice', () => {
    const first = DecisionLog.open(dbPath);
    first.write(record());
    first.close();
    const second = DecisionLog.open(dbPath);
    second.write(record());
    second.close();

    const db = track(new Database(dbPath, { readonly: true }));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(track(DecisionReader.openReadOnly(dbPath)).count()).toBe(2);
  });

  it('finds one request without reading the whole log, in logs written before that index existed too', () => {
    // A log as the first schema left it: no request-id index (an index is no schema version: an older
    // railgate, after a rollback, still opens the log).
    const old = DecisionLog.open(dbPath);
    old.write(record({ requestId: 'req_a' }));
    old.close();
    const v1 = new Database(dbPath);
    v1.exec('DROP INDEX decisions_request_id_time');
    v1.close();
    // The read-only commands read it as it is (only slower) ...
    const reader = track(DecisionReader.openReadOnly(dbPath));
    expect(reader.query({ requestId: 'req_a' })).toHaveLength(1);
    reader.close();
    // ... and the proxy's next start adds the index.
    DecisionLog.open(dbPath).close();
    const db = track(new Database(dbPath, { readonly: true }));
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    const plan = db
      .prepare("EXPLAIN QUERY PLAN SELECT * FROM decisions WHERE request_id = 'req_a' ORDER BY time DESC, id DESC")
      .all() as { detail: string }[];
    expect(plan.map((step) => step.detail).join('; ')).toMatch(/USING INDEX decisions_request_id_time/);
  });

  it('refuses a log written by a newer railgate rather than guessing at its columns', () => {
    DecisionLog.open(dbPath).close();
    const db = new Database(dbPath);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => DecisionLog.open(dbPath)).toThrow(/newer railgate/);
    expect(() => DecisionReader.openReadOnly(dbPath)).toThrow(/newer railgate/);
  });

  it('the read-only opener names what is wrong with the path', () => {
    expect(() => DecisionReader.openReadOnly(join(dir.path, 'absent.db'))).toThrow(/no decision log at .*absent\.db/);
    const text = join(dir.path, 'notes.txt');
    writeFileSync(text, 'this is not sqlite, just some text that is long enough to have a header '.repeat(3));
    expect(() => DecisionReader.openReadOnly(text)).toThrow(/not a SQLite database/);
    const empty = join(dir.path, 'empty.db');
    new Database(empty).close();
    expect(() => DecisionReader.openReadOnly(empty)).toThrow(/not a railgate decision log/);
  });
});

describe('DecisionLog reading', () => {
  function seeded(): DecisionLog {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    const hour = 3_600_000;
    log.write(record({ time: T0 - 3 * hour, requestId: 'old_refuse' }));
    log.write(forwardedRecord({ time: T0 - 2 * hour, requestId: 'old_forward' }));
    log.write(record({ time: T0 - hour, requestId: 'hr_refuse', decision: refusedDecision({ railSet: 'hr' }) }));
    log.write(forwardedRecord({ time: T0, requestId: 'new_forward' }));
    log.write(
      record({
        time: T0 + hour,
        requestId: 'new_respond',
        decision: forwardedDecision({ action: 'respond', intent: 'greeting', candidate: 'greeting' }),
      }),
    );
    log.flush();
    return log;
  }

  it('returns full records that round-trip exactly, with their row id', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    const refused = record();
    const forwarded = forwardedRecord({ errorCode: 'RG_ERR_UPSTREAM_TIMEOUT', upstreamStatus: 504 });
    const lonely = record({ decision: refusedDecision({ runnerUp: null, margin: null, neighbours: [] }) });
    for (const r of [refused, forwarded, lonely]) log.write(r);
    log.flush();
    const rows = log.query();
    expect(rows).toEqual([
      { id: 3, ...lonely },
      { id: 2, ...forwarded },
      { id: 1, ...refused },
    ]);
    expect(log.get(2)).toEqual({ id: 2, ...forwarded });
    expect(log.get(99)).toBeUndefined();
  });

  it('pages on after a row, rows sharing its millisecond included, and finds messages by their text', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    // Under load many rows share a millisecond: a page that ends inside them must not skip the rest.
    for (let i = 0; i < 7; i++)
      log.write(record({ time: T0 + (i < 5 ? 0 : 1), requestId: `r${i}`, message: `m ${i}%` }));
    log.flush();
    const pages: string[][] = [];
    let before: { time: number; id: number } | undefined;
    for (;;) {
      const page = log.query({ limit: 3, ...(before && { before }) });
      if (page.length === 0) break;
      pages.push(page.map((row) => row.requestId));
      before = { time: page.at(-1)!.time, id: page.at(-1)!.id };
    }
    expect(pages).toEqual([['r6', 'r5', 'r4'], ['r3', 'r2', 'r1'], ['r0']]);
    expect(log.query({ text: 'M 3%' }).map((row) => row.requestId)).toEqual(['r3']);
    // `%` and `_` mean themselves, not LIKE's wildcards.
    expect(log.query({ text: '_' })).toEqual([]);
  });

  it('lists newest first and filters by decision, rail set, intent, request and time', () => {
    const log = seeded();
    const ids = (q: Parameters<DecisionLog['query']>[0]) => log.query(q).map((row) => row.requestId);
    expect(ids({})).toEqual(['new_respond', 'new_forward', 'hr_refuse', 'old_forward', 'old_refuse']);
    expect(ids({ decision: 'refuse' })).toEqual(['hr_refuse', 'old_refuse']);
    expect(ids({ railSet: 'hr' })).toEqual(['hr_refuse']);
    expect(ids({ decision: 'refuse', railSet: 'support' })).toEqual(['old_refuse']);
    expect(ids({ intent: 'billing_question' })).toEqual(['new_forward', 'old_forward']);
    expect(ids({ requestId: 'hr_refuse' })).toEqual(['hr_refuse']);
    expect(ids({ since: T0 })).toEqual(['new_respond', 'new_forward']);
    expect(ids({ since: T0 - 2 * 3_600_000, until: T0 })).toEqual(['hr_refuse', 'old_forward']);
    expect(ids({ limit: 2 })).toEqual(['new_respond', 'new_forward']);
    expect(log.count({ decision: 'refuse' })).toBe(2);
    expect(log.count({ since: T0, limit: 1 })).toBe(2);
    expect(() => log.query({ limit: 0 })).toThrow(/limit must be a positive integer/);
  });

  it('defaults to the newest 100 rows', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    for (let i = 0; i < 150; i++) log.write(record());
    log.flush();
    expect(log.query()).toHaveLength(100);
    expect(log.count()).toBe(150);
  });

  it('scans every row oldest first across pages, also when many share a timestamp', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    for (let i = 0; i < 1_234; i++) {
      log.write(
        record({
          time: T0 + Math.floor(i / 400),
          requestId: `req_${i}`,
          decision: refusedDecision({ railSet: i % 2 ? 'odd' : 'even' }),
        }),
      );
    }
    log.flush();
    const all = [...log.scan()].map((row) => row.requestId);
    expect(all).toEqual(Array.from({ length: 1_234 }, (_, i) => `req_${i}`));
    expect([...log.scan({ railSet: 'odd' })]).toHaveLength(617);
    expect([...log.scan({ limit: 501 })].at(-1)?.requestId).toBe('req_500');
    expect([...log.scan({ since: T0 + 3 })].map((row) => row.requestId)).toEqual(
      Array.from({ length: 34 }, (_, i) => `req_${1_200 + i}`),
    );
  });

  it('summarises counts per decision and per rail set and intent', () => {
    const log = seeded();
    expect(log.summary()).toEqual({
      total: 5,
      byDecision: { refuse: 2, forward: 2, respond: 1 },
      // The two refusals are of two sets: one line each, not one "refuse (no match) 2".
      byIntent: [
        { decision: 'forward', railSet: 'support', intent: 'billing_question', count: 2 },
        { decision: 'refuse', railSet: 'hr', intent: null, count: 1 },
        { decision: 'refuse', railSet: 'support', intent: null, count: 1 },
        { decision: 'respond', railSet: 'support', intent: 'greeting', count: 1 },
      ],
      first: T0 - 3 * 3_600_000,
      last: T0 + 3_600_000,
    });
    expect(log.summary({ since: T0 }).byDecision).toEqual({ forward: 1, respond: 1 });
  });

  it('lists the decisions most frequent first, however their intents split them', () => {
    const log = track(DecisionLog.open(dbPath, MANUAL));
    for (const intent of ['a', 'b', 'c'])
      log.write(forwardedRecord({ decision: forwardedDecision({ intent, candidate: intent }) }));
    log.write(record());
    log.write(record());
    log.flush();
    // The largest group is a refusal (2), but forwards are more in all (3).
    expect(Object.entries(log.summary().byDecision)).toEqual([
      ['forward', 3],
      ['refuse', 2],
    ]);
  });
});
