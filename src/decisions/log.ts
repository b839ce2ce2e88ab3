/**
 * The decision log's writer. The proxy calls `write` on every request, so `write` only queues: a timer
 * (or a full batch) writes the queue in one SQLite transaction. A failing disk never reaches the
 * request path: the batch stays queued and is retried with backoff, and when the queue is full the
 * oldest records are dropped and counted, which `stats()` (and the metrics built on it) reveal.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { BoundedQueue } from './queue.js';
import { DecisionReader, type DecisionSummary } from './reader.js';
import { INSERT_SQL, toRow, type DecisionRow } from './rows.js';
import { migrate } from './schema.js';
import type { DecisionQuery, DecisionRecord, DecisionSink, LoggedDecision } from './types.js';

export interface DecisionLogLogger {
  warn(obj: object, msg: string): void;
}

export interface DecisionLogOptions {
  /** How long a record may wait before it is written (default 50 ms). */
  flushIntervalMs?: number;
  /** A queue this long is written at once, without waiting for the timer (default 256). */
  maxBatch?: number;
  /** Records kept while writes fail; beyond it the oldest are dropped (default 10 000). */
  maxPending?: number;
  /**
   * How long a write waits for another process's lock (a second instance, a VACUUM, a backup). It
   * blocks the event loop, every request with it, so it is short (default 50): a write that times
   * out stays queued and is retried later (the final one at close waits up to 5 s).
   */
  busyTimeoutMs?: number;
  /** Decisions older than this are deleted, at open and then hourly; omitted or 0: kept forever. */
  retentionMs?: number;
  /** Epoch milliseconds, for retention (default Date.now). */
  clock?: () => number;
  logger?: DecisionLogLogger;
}

export interface DecisionLogStats {
  /** Records committed to the database. */
  written: number;
  /** Records queued, not yet written. */
  pending: number;
  /** Records lost: queue overflow, unserializable records, writes after close, a failing final flush. */
  dropped: number;
  failedFlushes: number;
  /** Rows deleted for being older than the retention. */
  pruned: number;
}

const MAX_RETRY_DELAY_MS = 5_000;
/** How long the last write, at close, waits for another process's lock. */
const FINAL_BUSY_TIMEOUT_MS = 5_000;
const PRUNE_EVERY_MS = 3_600_000;
/**
 * Rows deleted per statement (a few milliseconds); the event loop runs between statements, so an
 * hour of heavy traffic, or a month of backlog at the first start, never stalls requests.
 */
const PRUNE_STEP = 2_000;
/** After a checkpoint the WAL file is cut back to this size, so a burst does not leave it large for good. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Each kind of trouble is logged at most this often, so a full disk does not flood the log. */
const WARN_EVERY_MS = 10_000;

/** Where warnings go without a logger: one line each on stderr. */
export const stderrWarnings: DecisionLogLogger = {
  warn(obj, msg) {
    const err = (obj as { err?: unknown }).err;
    process.stderr.write(`railgate: ${msg}${err instanceof Error ? `: ${err.message}` : ''}\n`);
  },
};

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  const result = value ?? fallback;
  if (!Number.isInteger(result) || result < min) throw new RangeError(`${name} must be an integer >= ${min}`);
  return result;
}

export class DecisionLog implements DecisionSink {
  private readonly queue: BoundedQueue<DecisionRecord>;
  private readonly reader: DecisionReader;
  private readonly insertAll: (rows: readonly DecisionRow[]) => void;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private readonly logger: DecisionLogLogger;
  private timer: NodeJS.Timeout | undefined;
  private timerIsUrgent = false;
  private consecutiveFailures = 0;
  /** When each kind of warning was last logged. */
  private readonly lastWarnAt = new Map<string, number>();
  private closed = false;
  private counters = { written: 0, dropped: 0, failedFlushes: 0, pruned: 0 };
  private readonly retentionMs: number;
  private readonly clock: () => number;
  private readonly pruneOld: (before: number) => number;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<number> | undefined;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    options: DecisionLogOptions,
  ) {
    this.flushIntervalMs = positiveInteger('flushIntervalMs', options.flushIntervalMs, 50, 0);
    this.maxBatch = positiveInteger('maxBatch', options.maxBatch, 256);
    this.queue = new BoundedQueue(positiveInteger('maxPending', options.maxPending, 10_000));
    this.logger = options.logger ?? stderrWarnings;
    this.reader = new DecisionReader(db, path);
    const insert = db.prepare<DecisionRow>(INSERT_SQL);
    this.insertAll = db.transaction((rows: readonly DecisionRow[]) => {
      for (const row of rows) insert.run(row);
    });
    this.retentionMs = options.retentionMs ?? 0;
    if (!(this.retentionMs >= 0)) throw new RangeError('retentionMs must be >= 0');
    this.clock = options.clock ?? Date.now;
    const prune = db.prepare<[number, number]>(
      'DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE time < ? LIMIT ?)',
    );
    this.pruneOld = (before) => prune.run(before, PRUNE_STEP).changes;
    if (this.retentionMs > 0) {
      // Started now (not awaited: opening never waits for a backlog), then hourly.
      void this.prune();
      this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
      this.pruneTimer.unref();
    }
  }

  /**
   * Deletes the decisions older than the retention (a reviewer's window on what clients sent is
   * bounded, and so is the file: SQLite reuses the freed pages), a step at a time. Resolves to how
   * many rows went; a prune already running is joined, not doubled.
   */
  prune(): Promise<number> {
    this.pruning ??= this.pruneSteps().finally(() => (this.pruning = undefined));
    return this.pruning;
  }

  private async pruneSteps(): Promise<number> {
    if (this.retentionMs <= 0) return 0;
    const before = this.clock() - this.retentionMs;
    let removed = 0;
    try {
      while (!this.closed) {
        const step = this.pruneOld(before);
        removed += step;
        this.counters.pruned += step;
        if (step < PRUNE_STEP) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.warn('decision log could not delete old decisions; will retry', error);
    }
    return removed;
  }

  /** Opens (creating folders, file and schema as needed) and migrates the log at `path`; `:memory:` works. */
  static open(path: string, options: DecisionLogOptions = {}): DecisionLog {
    const busyTimeoutMs = positiveInteger('busyTimeoutMs', options.busyTimeoutMs, 50, 0);
    const inMemory = path === ':memory:' || path === '';
    if (!inMemory) {
      mkdirSync(dirname(resolve(path)), { recursive: true });
      // It holds what users wrote: a new log is its owner's alone (SQLite gives its -wal and -shm
      // files the database file's mode). An existing file keeps the mode an operator gave it; a
      // symbolic link is followed (an exclusive create would not, and SQLite would make it 644).
      closeSync(openSync(path, 'a', 0o600));
    }
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      migrate(db, path);
      return new DecisionLog(db, path, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Queues one record; never throws and never touches the disk. */
  write(record: DecisionRecord): void {
    try {
      if (this.closed) {
        this.drop(1, 'decision log is closed; dropping decisions written after close');
        return;
      }
      const overflow = this.queue.push(record);
      if (overflow) this.drop(overflow, 'decision log queue is full; dropping the oldest decisions');
      if (this.queue.size >= this.maxBatch && this.consecutiveFailures === 0) this.schedule(0, true);
      else this.schedule(this.retryDelay(), false);
    } catch (error) {
      // Nothing above should throw; if it does, the request must still not notice.
      this.drop(1, 'decision log could not queue a decision', error);
    }
  }

  /** Writes everything queued now, in one transaction. On failure the records stay queued for a retry. */
  flush(): void {
    this.clearTimer();
    if (this.closed || this.queue.size === 0) return;
    const batch = this.queue.peekAll();
    const rows: DecisionRow[] = [];
    let unserializable: unknown;
    let skipped = 0;
    for (const record of batch) {
      try {
        rows.push(toRow(record));
      } catch (error) {
        skipped++;
        unserializable = error;
      }
    }
    try {
      this.insertAll(rows);
    } catch (error) {
      this.counters.failedFlushes++;
      this.consecutiveFailures++;
      this.warn('decision log write failed; will retry', error);
      this.schedule(this.retryDelay(), false);
      return;
    }
    this.queue.discard(batch.length);
    this.counters.written += rows.length;
    if (skipped) this.drop(skipped, 'decision log skipped records it could not store', unserializable);
    if (this.consecutiveFailures > 0) {
      this.logger.warn({ failures: this.consecutiveFailures }, 'decision log writes recovered');
      this.consecutiveFailures = 0;
      this.lastWarnAt.clear();
    }
    if (this.queue.size > 0) this.schedule(this.flushIntervalMs, false);
  }

  /** Flushes, then closes the database. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    // Nothing waits on the event loop any more, and what is not written now is lost: wait longer.
    try {
      this.db.pragma(`busy_timeout = ${FINAL_BUSY_TIMEOUT_MS}`);
    } catch {
      // a database that cannot take it cannot take the write either: flush() says so
    }
    this.flush();
    this.clearTimer();
    clearInterval(this.pruneTimer);
    this.closed = true;
    const lost = this.queue.size;
    if (lost) {
      this.queue.clear();
      this.counters.dropped += lost;
      this.logger.warn({ lost }, 'decision log closed with unwritten decisions');
    }
    try {
      this.db.close();
    } catch (error) {
      this.logger.warn({ err: error }, 'decision log did not close cleanly');
    }
  }

  stats(): DecisionLogStats {
    return { ...this.counters, pending: this.queue.size };
  }

  // Reading: what has been flushed (call flush() first to include queued records).
  query(q: DecisionQuery = {}): LoggedDecision[] {
    return this.reader.query(q);
  }

  scan(q: DecisionQuery = {}): Generator<LoggedDecision, void, undefined> {
    return this.reader.scan(q);
  }

  count(q: DecisionQuery = {}): number {
    return this.reader.count(q);
  }

  get(id: number): LoggedDecision | undefined {
    return this.reader.get(id);
  }

  summary(q: DecisionQuery = {}): DecisionSummary {
    return this.reader.summary(q);
  }

  /** After failures, wait longer each time (up to 5 s): a locked database blocks for busy_timeout per try. */
  private retryDelay(): number {
    if (this.consecutiveFailures === 0) return this.flushIntervalMs;
    return Math.min(Math.max(this.flushIntervalMs, 50) * 2 ** this.consecutiveFailures, MAX_RETRY_DELAY_MS);
  }

  private schedule(delayMs: number, urgent: boolean): void {
    if (this.timer) {
      if (!urgent || this.timerIsUrgent) return;
      clearTimeout(this.timer);
    }
    this.timerIsUrgent = urgent;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delayMs);
    // A queued record must not keep the process alive; a clean shutdown calls close(), which flushes.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerIsUrgent = false;
  }

  private drop(count: number, msg: string, error?: unknown): void {
    this.counters.dropped += count;
    this.warn(msg, error);
  }

  private warn(msg: string, error?: unknown): void {
    const now = Date.now();
    if (now - (this.lastWarnAt.get(msg) ?? Number.NEGATIVE_INFINITY) < WARN_EVERY_MS) return;
    this.lastWarnAt.set(msg, now);
    const { written, dropped, failedFlushes } = this.counters;
    const context = { path: this.path, pending: this.queue.size, written, dropped, failedFlushes };
    this.logger.warn(error === undefined ? context : { ...context, err: error }, msg);
  }
}
