/**
 * `railgate cache prune`'s work on an example cache file (example-cache.ts keeps its layout): what
 * the rails on disk no longer embed is removed, then the file compacted. It works on its own
 * connection, read-only for a dry run, and never creates or converts anything in the file.
 */
import Database from 'better-sqlite3';
import { dropList } from './example-cache.js';

/** What `pruneExampleCache` keeps: what the rails on disk embed. */
export interface PruneKeep {
  /** ExampleCache.hash of every text the rails embed. */
  readonly hashes: ReadonlySet<string>;
  /**
   * Each set of WHOLE_LIST_MIN texts or more: its name → ExampleCache.listHash of its texts (more than
   * one where rails folders sharing the cache each have a set of that name).
   */
  readonly lists: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface PruneResult {
  readonly rows: { readonly kept: number; readonly removed: number };
  /** Whole lists removed, each with its model key. */
  readonly lists: readonly { readonly model: string; readonly name: string }[];
  /** Parts of lists whose writing did not finish (removed too). */
  readonly unfinishedListParts: number;
  /** Bytes of vectors removed (the file shrinks by about this much once compacted). */
  readonly vectorBytes: number;
}

/** Not an example cache: another SQLite file (the decision log, say) or not SQLite at all. */
export class NotAnExampleCache extends Error {
  constructor(file: string, why: string) {
    super(`${file} is not an example cache (${why}): check embedding.cacheDb (RAILGATE_EMBED_CACHE_DB)`);
    this.name = 'NotAnExampleCache';
  }
}

/**
 * The cache file, opened to prune: read-only for a dry run. Writers (a running proxy) are waited for
 * as the proxy waits for others (5 s).
 */
export function openForPrune(file: string, dryRun: boolean): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: dryRun, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    if (!hasTable(db, 'example_embeddings')) throw new NotAnExampleCache(file, 'no example_embeddings table');
    return db;
  } catch (error) {
    db?.close();
    if (error instanceof Database.SqliteError && error.code === 'SQLITE_NOTADB')
      throw new NotAnExampleCache(file, 'not an SQLite database');
    throw error;
  }
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/**
 * Removes (or, with `dryRun`, counts) the vectors of texts not in `keep.hashes`, whatever their
 * model, and whole lists other than `keep.lists` (a removed or renamed set's, a set's that changed
 * since or shrank below WHOLE_LIST_MIN) with parts no list owns (a write cut short). A real run takes
 * the write lock first (an immediate transaction), so a proxy's write meanwhile is waited for, not a
 * failure. The file keeps its size until `compactExampleCache`.
 */
export function pruneExampleCache(db: Database.Database, keep: PruneKeep, dryRun: boolean): PruneResult {
  // A temporary table: allowed on a read-only connection, and one query instead of one per row.
  db.exec('CREATE TEMP TABLE IF NOT EXISTS keep_hashes (text_hash TEXT PRIMARY KEY) WITHOUT ROWID');
  const count = db.transaction((): PruneResult => {
    db.exec('DELETE FROM temp.keep_hashes');
    const insert = db.prepare('INSERT OR IGNORE INTO temp.keep_hashes (text_hash) VALUES (?)');
    for (const hash of keep.hashes) insert.run(hash);
    const stale = 'FROM example_embeddings WHERE text_hash NOT IN (SELECT text_hash FROM temp.keep_hashes)';
    const rows = db
      .prepare<[], { removed: number; bytes: number | null }>(
        `SELECT count(*) AS removed, sum(length(vector)) AS bytes ${stale}`,
      )
      .get()!;
    const total = db.prepare<[], number>('SELECT count(*) FROM example_embeddings').pluck().get()!;
    // A cache written before whole lists were kept has no list tables: nothing of them to remove.
    const withLists = hasTable(db, 'whole_lists') && hasTable(db, 'whole_list_parts');
    const lists = withLists
      ? db
          .prepare<[], { model: string; name: string; list_hash: string }>(
            'SELECT model, name, list_hash FROM whole_lists ORDER BY name, model',
          )
          .all()
          .filter((l) => !keep.lists.get(l.name)?.has(l.list_hash))
      : [];
    const unowned = `FROM whole_list_parts AS p WHERE NOT EXISTS (SELECT 1 FROM whole_lists AS l
      WHERE l.model = p.model AND l.name = p.name AND l.list_hash = p.list_hash)`;
    const orphans = withLists
      ? db
          .prepare<[], { parts: number; bytes: number | null }>(
            `SELECT count(*) AS parts, sum(length(vectors)) AS bytes ${unowned}`,
          )
          .get()!
      : { parts: 0, bytes: 0 };
    const listBytes = (model: string, name: string) =>
      db
        .prepare<[string, string], number | null>(
          'SELECT sum(length(vectors)) FROM whole_list_parts WHERE model = ? AND name = ?',
        )
        .pluck()
        .get(model, name) ?? 0;
    const bytes =
      (rows.bytes ?? 0) + (orphans.bytes ?? 0) + lists.reduce((sum, l) => sum + listBytes(l.model, l.name), 0);
    if (!dryRun) {
      db.exec(`DELETE ${stale}`);
      if (withLists) {
        for (const l of lists) dropList(db, l.model, l.name);
        db.exec(`DELETE ${unowned}`);
      }
    }
    return {
      rows: { kept: total - rows.removed, removed: rows.removed },
      lists: lists.map(({ model, name }) => ({ model, name })),
      unfinishedListParts: orphans.parts,
      vectorBytes: bytes,
    };
  });
  return dryRun ? count() : count.immediate();
}

/**
 * Gives the space of removed vectors back to the file system: SQLite's VACUUM, which holds the write
 * lock while it rewrites the file (a proxy's cache writes meanwhile wait 5 s, then are skipped:
 * example-cache.ts), then the write-ahead log emptied. False when another connection (a running
 * proxy) was reading meanwhile: the log then empties at a later checkpoint.
 */
export function compactExampleCache(db: Database.Database): boolean {
  db.exec('VACUUM');
  if (db.pragma('journal_mode', { simple: true }) !== 'wal') return true;
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  return result?.busy === 0;
}
