/**
 * The decision log's schema, as an ordered list of migrations. The database's `PRAGMA user_version`
 * records how many have run, so a later version appends a migration (a new table, a new column)
 * and every existing log is brought up to date the next time the proxy opens it.
 */
import type Database from 'better-sqlite3';

type Db = Database.Database;

/** Migration N (1-based) takes a database at version N−1 to version N. Never edit one that shipped. */
const MIGRATIONS: readonly ((db: Db) => void)[] = [
  (db) => {
    db.exec(`
      CREATE TABLE decisions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        time            INTEGER NOT NULL,
        request_id      TEXT    NOT NULL,
        endpoint        TEXT    NOT NULL,
        stream          INTEGER NOT NULL,
        rail_set        TEXT    NOT NULL,
        rails_hash      TEXT    NOT NULL,
        decision        TEXT    NOT NULL,
        intent          TEXT,
        reason          TEXT    NOT NULL,
        candidate       TEXT,
        score           REAL,
        threshold       REAL,
        runner_up       TEXT,
        runner_up_score REAL,
        margin          REAL,
        message         TEXT    NOT NULL,
        neighbours      TEXT    NOT NULL,
        chunk           TEXT,
        upstream_status INTEGER,
        error_code      TEXT,
        embed_ms        REAL,
        search_ms       REAL,
        upstream_ms     REAL,
        total_ms        REAL
      );
      CREATE INDEX decisions_time ON decisions (time);
      CREATE INDEX decisions_decision_time ON decisions (decision, time);
      CREATE INDEX decisions_rail_set_time ON decisions (rail_set, time);
    `);
  },
];

/**
 * Indexes added since, created when missing on every open. An index changes no table, so it is no
 * migration: an older railgate still opens a log that has it (a schema version bump would make it
 * refuse the log after a rollback). Building one on a large existing log takes a while, once.
 */
const INDEXES = [
  // A reviewer's lookup of one request (`logs --request-id`, `add-example REQUEST_ID`) scanned the
  // whole log: seconds at two million rows.
  'CREATE INDEX IF NOT EXISTS decisions_request_id_time ON decisions (request_id, time)',
];

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Runs the migrations the database has not seen yet, each in its own transaction with its version bump. */
export function migrate(db: Db, path: string): void {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) throw newerSchemaError(path, current);
  for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
    const step = MIGRATIONS[version - 1];
    if (!step) break;
    // IMMEDIATE takes the write lock first, and the version is re-read under it: two processes opening
    // the same new file migrate it once. user_version is transactional: a failed step leaves it as it was.
    db.transaction(() => {
      if (schemaVersion(db) >= version) return;
      step(db);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
  for (const index of INDEXES) db.exec(index);
}

/** A read-only opener cannot migrate: it refuses what it cannot read rather than guessing at columns. */
export function assertReadable(db: Db, path: string): void {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) throw newerSchemaError(path, current);
  if (current === 0) throw new Error(`${path} is not a railgate decision log (no schema version)`);
  if (current < SCHEMA_VERSION) {
    throw new Error(
      `${path} has decision log schema v${current}; this railgate reads v${SCHEMA_VERSION}. ` +
        'Start `railgate serve` on it once to migrate it.',
    );
  }
}

function newerSchemaError(path: string, version: number): Error {
  return new Error(
    `${path} was written by a newer railgate (decision log schema v${version}, this build knows v${SCHEMA_VERSION})`,
  );
}
