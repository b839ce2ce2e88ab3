/**
 * Reading the decision log: the queries behind `railgate logs`, `replay` and review. Used on its own
 * (read-only, by the CLI, while the proxy keeps writing — WAL lets both run) and inside DecisionLog.
 */
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { fromRow, type StoredDecisionRow } from './rows.js';
import { assertReadable } from './schema.js';
import type { DecisionQuery, LoggedDecision } from './types.js';

export const DEFAULT_QUERY_LIMIT = 100;
/** Rows fetched per page while scanning, so a long replay never holds a cursor open on the connection. */
const SCAN_PAGE = 500;

export interface DecisionSummary {
  readonly total: number;
  /** Rows per action (forward, passthrough, respond, refuse). */
  readonly byDecision: Readonly<Record<string, number>>;
  /**
   * Rows per (action, rail set, intent), most frequent first; `intent: null` is "nothing matched". By
   * set too: two sets may share an intent id (`jailbreak`) and mean different things by it.
   */
  readonly byIntent: readonly {
    readonly decision: string;
    readonly railSet: string;
    readonly intent: string | null;
    readonly count: number;
  }[];
  /** Epoch ms of the oldest and newest row counted, null when none. */
  readonly first: number | null;
  readonly last: number | null;
}

type Param = string | number;

/** The WHERE clause every reader shares, so `logs`, `count` and `summary` always agree on what matches. */
function whereClause(q: DecisionQuery): { sql: string; params: Param[] } {
  const terms: string[] = [];
  const params: Param[] = [];
  const add = (term: string, value: Param | undefined): void => {
    if (value === undefined) return;
    terms.push(term);
    params.push(value);
  };
  add('decision = ?', q.decision);
  add('rail_set = ?', q.railSet);
  add('intent = ?', q.intent);
  add('reason = ?', q.reason);
  add('request_id = ?', q.requestId);
  add('id = ?', q.id);
  add('endpoint = ?', q.endpoint);
  add('time >= ?', q.since);
  add('time < ?', q.until);
  // instr, not LIKE: a `%` or `_` in the text means itself.
  add('instr(lower(message), lower(?)) > 0', q.text);
  if (q.before !== undefined) {
    // A row value: SQLite searches the (time, id) order from the cursor down, where the same test
    // spelt with OR scanned every newer row first (tens of ms a page on a million rows).
    terms.push('(time, id) < (?, ?)');
    params.push(q.before.time, q.before.id);
  }
  return { sql: terms.length ? ` WHERE ${terms.join(' AND ')}` : '', params };
}

function checkLimit(limit: number | undefined, fallback: number | undefined): number | undefined {
  const value = limit ?? fallback;
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(`limit must be a positive integer, got ${value}`);
  }
  return value;
}

export class DecisionReader {
  /** Statements keyed by their SQL: each filter combination is prepared once. */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /** Opens an existing log without write access; a missing file or a non-log is a clear error. */
  static openReadOnly(path: string): DecisionReader {
    if (path === ':memory:' || path === '') throw new Error('an in-memory decision log cannot be read from outside');
    if (!existsSync(path)) throw new Error(`no decision log at ${path}`);
    // SQLite says only "disk I/O error" of a folder.
    if (statSync(path).isDirectory()) throw new Error(`${path} is a folder, not a decision log file`);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (error) {
      // better-sqlite3 says only "unable to open database file".
      throw new Error(`cannot open the decision log ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      db.pragma('busy_timeout = 5000');
      assertReadable(db, path);
    } catch (error) {
      db.close();
      if (!(error instanceof Error)) throw error;
      if (/not a database/i.test(error.message)) throw new Error(`${path} is not a SQLite database`, { cause: error });
      // SQLite's own messages ("unable to open database file": a read-only folder where the WAL's
      // -shm file cannot be made) do not say which file.
      throw error.message.includes(path)
        ? error
        : new Error(`cannot read the decision log ${path}: ${error.message}`, { cause: error });
    }
    return new DecisionReader(db, path);
  }

  /** Newest first; at most `limit` rows (default 100). */
  query(q: DecisionQuery = {}): LoggedDecision[] {
    const limit = checkLimit(q.limit, DEFAULT_QUERY_LIMIT);
    const where = whereClause(q);
    const rows = this.prepare(`SELECT * FROM decisions${where.sql} ORDER BY time DESC, id DESC LIMIT ?`).all(
      ...where.params,
      limit,
    ) as StoredDecisionRow[];
    return rows.map(fromRow);
  }

  /**
   * Every matching row, oldest first, for replay over many rows. Pages by (time, id) rather than holding
   * one cursor open, so the same connection can keep writing (and others can read) between pages.
   */
  *scan(q: DecisionQuery = {}): Generator<LoggedDecision, void, undefined> {
    let remaining = checkLimit(q.limit, undefined) ?? Number.POSITIVE_INFINITY;
    const where = whereClause(q);
    const after = `${where.sql ? `${where.sql} AND` : ' WHERE'} (time > ? OR (time = ? AND id > ?))`;
    const first = this.prepare(`SELECT * FROM decisions${where.sql} ORDER BY time, id LIMIT ?`);
    const next = this.prepare(`SELECT * FROM decisions${after} ORDER BY time, id LIMIT ?`);
    let last: StoredDecisionRow | undefined;
    while (remaining > 0) {
      const page = Math.min(SCAN_PAGE, remaining);
      const rows = (
        last === undefined
          ? first.all(...where.params, page)
          : next.all(...where.params, last.time, last.time, last.id, page)
      ) as StoredDecisionRow[];
      for (const row of rows) yield fromRow(row);
      remaining -= rows.length;
      last = rows.at(-1);
      if (rows.length < page) return;
    }
  }

  /** How many rows match (limit ignored). */
  count(q: DecisionQuery = {}): number {
    const where = whereClause(q);
    const row = this.prepare(`SELECT COUNT(*) AS n FROM decisions${where.sql}`).get(...where.params) as { n: number };
    return row.n;
  }

  get(id: number): LoggedDecision | undefined {
    const row = this.prepare('SELECT * FROM decisions WHERE id = ?').get(id) as StoredDecisionRow | undefined;
    return row && fromRow(row);
  }

  /** What was decided, in counts: per action and per (action, intent), over the matching rows (limit ignored). */
  summary(q: DecisionQuery = {}): DecisionSummary {
    const where = whereClause(q);
    const groups = this.prepare(
      `SELECT decision, rail_set AS railSet, intent, COUNT(*) AS count FROM decisions${where.sql}
       GROUP BY decision, rail_set, intent ORDER BY count DESC, decision, rail_set, intent`,
    ).all(...where.params) as { decision: string; railSet: string; intent: string | null; count: number }[];
    const span = this.prepare(`SELECT MIN(time) AS first, MAX(time) AS last FROM decisions${where.sql}`).get(
      ...where.params,
    ) as { first: number | null; last: number | null };
    const counts = new Map<string, number>();
    let total = 0;
    for (const group of groups) {
      counts.set(group.decision, (counts.get(group.decision) ?? 0) + group.count);
      total += group.count;
    }
    // Most frequent first (then by name), as the per-intent groups are: not in the order the groups came.
    const byDecision = Object.fromEntries([...counts].sort(([a, m], [b, n]) => n - m || (a < b ? -1 : a > b ? 1 : 0)));
    return { total, byDecision, byIntent: groups, first: span.first, last: span.last };
  }

  /** The rail sets the log holds decisions of, by name. */
  railSets(): string[] {
    const rows = this.prepare('SELECT DISTINCT rail_set FROM decisions ORDER BY rail_set').all() as {
      rail_set: string;
    }[];
    return rows.map((row) => row.rail_set);
  }

  /** The intents the log holds decisions for (of one rail set, if given), by name. */
  intents(railSet?: string): string[] {
    const where = whereClause({ railSet });
    const rows = this.prepare(`SELECT DISTINCT intent FROM decisions${where.sql} ORDER BY intent`).all(
      ...where.params,
    ) as { intent: string | null }[];
    return rows.flatMap((row) => row.intent ?? []);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
