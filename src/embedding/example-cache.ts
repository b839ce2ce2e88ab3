/**
 * A persistent cache of rail-example embeddings in SQLite, keyed by model id + dimension + sha256 of
 * the text: a restart with 10,000 examples embeds none of them again, and vectors of different
 * models or dimensions can never mix.
 *
 * A large set's whole list of examples is also kept as one entry under the set's name (its vectors
 * back to back, with a hash of every text in order): a restart of unchanged rails reads that in a few
 * reads instead of a row and a hash per example (10,000 examples: ~0.2 s of the start-up's main
 * thread, measured). One list per name and model: storing a set's new list replaces its old one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { LoadCancelled } from '../errors.js';
import { inSlices } from '../in-slices.js';

/** Rows read per slice (~10 ms). */
const PAGE_ROWS = 1000;
/** Lists shorter than this are read row by row (100 rows: ~2 ms); whole lists are for large sets. */
export const WHOLE_LIST_MIN = 1000;
/**
 * Vectors per stored part: each part is written in its own transaction with the event loop let run
 * between (a reload of a 60,000-example set writes ~120 MB), and no row nears SQLite's size limit.
 */
const PART_VECTORS = 512;
/** Bytes the write-ahead log file is cut back to after a checkpoint. */
const WAL_SIZE_LIMIT = 32 * 2 ** 20;

export class ExampleCache {
  readonly #db: Database.Database;
  /** Rows as [text_hash, vector] arrays: ~25% faster than objects for 10,000 rows. */
  readonly #page: Database.Statement<[string, string, number], [string, Buffer]>;
  readonly #put: Database.Statement<[string, string, Buffer]>;
  readonly #list: ListStatements;

  private constructor(db: Database.Database) {
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // A large list's write or a compaction passes the whole of it through the write-ahead log; left
    // alone, the log file keeps that size for as long as a connection is open.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    db.exec(`CREATE TABLE IF NOT EXISTS example_embeddings (
      model TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, text_hash)
    ) WITHOUT ROWID`);
    this.#page = db
      .prepare<[string, string, number], [string, Buffer]>(
        'SELECT text_hash, vector FROM example_embeddings WHERE model = ? AND text_hash > ? ORDER BY text_hash LIMIT ?',
      )
      .raw(true);
    this.#put = db.prepare('INSERT OR REPLACE INTO example_embeddings (model, text_hash, vector) VALUES (?, ?, ?)');
    this.#list = prepareListStatements(db);
  }

  static open(file: string): ExampleCache {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    return new ExampleCache(new Database(file));
  }

  static hash(text: string): string {
    return createHash('sha256').update(text).digest('hex');
  }

  /**
   * Cached vectors for `texts` (undefined where missing), read in slices between which the event loop
   * runs: a reload after an edit to a 10,000-example set reads them all while the proxy serves
   * (~0.25 s in one go).
   */
  async lookup(modelKey: string, texts: readonly string[], dimension: number): Promise<(Float32Array | undefined)[]> {
    // One scan of this model's rows beats one query per text (10,000 examples: ~5× faster at start-up),
    // a page at a time in key order.
    const rows = new Map<string, Buffer>();
    for (let after = ''; ;) {
      const page = this.#page.all(modelKey, after, PAGE_ROWS);
      for (const [hash, vector] of page) rows.set(hash, vector);
      if (page.length < PAGE_ROWS) break;
      after = page.at(-1)![0];
      await yieldToEventLoop();
      this.#throwIfClosed();
    }
    const out: (Float32Array | undefined)[] = [];
    await inSlices(texts.length, (i) => {
      const vector = rows.get(ExampleCache.hash(texts[i]!));
      // Copied out of the row buffer: it may be shared and not 4-byte aligned.
      out.push(vector?.byteLength === dimension * 4 ? new Float32Array(new Uint8Array(vector).buffer) : undefined);
    });
    return out;
  }

  store(modelKey: string, entries: readonly (readonly [string, Float32Array])[]): void {
    this.#db.transaction(() => {
      for (const [text, vector] of entries) {
        this.#put.run(
          modelKey,
          ExampleCache.hash(text),
          Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength),
        );
      }
    })();
  }

  /** A hash of every text in order (each length-prefixed, so no two lists share one). */
  static listHash(texts: readonly string[]): string {
    const hash = createHash('sha256');
    for (const text of texts) hash.update(`${Buffer.byteLength(text)}:`).update(text);
    return hash.digest('hex');
  }

  /**
   * The vectors of exactly these texts when they are the list last stored under `name` (views into
   * one buffer), else undefined: never stored, since replaced, or of another dimension. Read a part
   * at a time with the event loop let run between (a reload reads them while the proxy serves).
   */
  async lookupList(
    modelKey: string,
    name: string,
    texts: readonly string[],
    dimension: number,
  ): Promise<Float32Array[] | undefined> {
    const listHash = this.#list.hashOf.get(modelKey, name);
    if (listHash === undefined || listHash !== ExampleCache.listHash(texts)) return undefined;
    // One aligned copy (a row's buffer may be shared and not 4-byte aligned); the vectors are views.
    const flat = new Float32Array(texts.length * dimension);
    const bytes = new Uint8Array(flat.buffer);
    for (let part = 0, at = 0; at < bytes.byteLength; part++) {
      const vectors = this.#list.part.get(modelKey, name, listHash, part);
      // Missing (another process replaced the list meanwhile) or not the size expected: not this list.
      if (!vectors?.byteLength || at + vectors.byteLength > bytes.byteLength) return undefined;
      bytes.set(vectors, at);
      at += vectors.byteLength;
      await yieldToEventLoop();
      this.#throwIfClosed();
    }
    return texts.map((_, i) => flat.subarray(i * dimension, (i + 1) * dimension));
  }

  /**
   * Stores these texts' vectors as the list under `name`, replacing the one stored before, a part at
   * a time with the event loop let run between. The list is readable only once its last part is
   * written. Stops, leaving no list, when `signal` aborts or the cache closes (a shutdown).
   */
  async storeList(
    modelKey: string,
    name: string,
    texts: readonly string[],
    vectors: readonly Float32Array[],
    signal?: AbortSignal,
  ): Promise<void> {
    const dimension = vectors[0]?.length ?? 0;
    if (vectors.length !== texts.length || vectors.some((v) => v.length !== dimension)) return;
    const listHash = ExampleCache.listHash(texts);
    this.#db.transaction(() => {
      this.#list.dropHeader.run(modelKey, name);
      this.#list.dropParts.run(modelKey, name);
    })();
    for (let start = 0; start < vectors.length; start += PART_VECTORS) {
      const slice = vectors.slice(start, start + PART_VECTORS);
      const part = Buffer.allocUnsafe(slice.length * dimension * 4);
      slice.forEach((v, i) => part.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), i * dimension * 4));
      this.#list.putPart.run(modelKey, name, listHash, start / PART_VECTORS, part);
      await yieldToEventLoop();
      if (signal?.aborted || !this.#db.open) return;
    }
    this.#list.putHeader.run(modelKey, name, listHash);
  }

  /**
   * Removes (or, with `dryRun`, counts) the vectors of texts not in `keep.hashes`, whatever their
   * model, and whole lists other than `keep.lists` (a removed or renamed set's, a set's that changed
   * since or shrank below WHOLE_LIST_MIN) with parts no list owns (a write cut short). The file keeps
   * its size until `compact`.
   */
  prune(keep: PruneKeep, dryRun = false): PruneResult {
    return this.#db.transaction((): PruneResult => {
      this.#db.exec('CREATE TEMP TABLE IF NOT EXISTS keep_hashes (text_hash TEXT PRIMARY KEY) WITHOUT ROWID');
      this.#db.exec('DELETE FROM temp.keep_hashes');
      const insert = this.#db.prepare('INSERT OR IGNORE INTO temp.keep_hashes (text_hash) VALUES (?)');
      for (const hash of keep.hashes) insert.run(hash);
      const stale = 'FROM example_embeddings WHERE text_hash NOT IN (SELECT text_hash FROM temp.keep_hashes)';
      const rows = this.#db
        .prepare<[], { removed: number; bytes: number | null }>(
          `SELECT count(*) AS removed, sum(length(vector)) AS bytes ${stale}`,
        )
        .get()!;
      const total = this.#db.prepare<[], number>('SELECT count(*) FROM example_embeddings').pluck().get()!;
      const lists = this.#db
        .prepare<[], { model: string; name: string; list_hash: string }>(
          'SELECT model, name, list_hash FROM whole_lists ORDER BY name, model',
        )
        .all()
        .filter((l) => !keep.lists.get(l.name)?.has(l.list_hash));
      const listBytes = this.#db.prepare<[string, string], number | null>(
        'SELECT sum(length(vectors)) FROM whole_list_parts WHERE model = ? AND name = ?',
      );
      const unowned = `FROM whole_list_parts AS p WHERE NOT EXISTS (SELECT 1 FROM whole_lists AS l
        WHERE l.model = p.model AND l.name = p.name AND l.list_hash = p.list_hash)`;
      const orphans = this.#db
        .prepare<[], { parts: number; bytes: number | null }>(
          `SELECT count(*) AS parts, sum(length(vectors)) AS bytes ${unowned}`,
        )
        .get()!;
      const bytes =
        (rows.bytes ?? 0) +
        (orphans.bytes ?? 0) +
        lists.reduce((sum, l) => sum + (listBytes.get(l.model, l.name) ?? 0), 0);
      if (!dryRun) {
        this.#db.exec(`DELETE ${stale}`);
        for (const l of lists) {
          this.#list.dropHeader.run(l.model, l.name);
          this.#list.dropParts.run(l.model, l.name);
        }
        this.#db.exec(`DELETE ${unowned}`);
      }
      return {
        rows: { kept: total - rows.removed, removed: rows.removed },
        lists: lists.map(({ model, name }) => ({ model, name })),
        unfinishedListParts: orphans.parts,
        vectorBytes: bytes,
      };
    })();
  }

  /**
   * Gives the space of removed vectors back to the file system: SQLite's VACUUM (which waits for, or
   * fails on, a connection in the middle of a write: busy_timeout), then the write-ahead log emptied.
   * False when another connection (a running proxy) was reading meanwhile: the log then empties at a
   * later checkpoint, cut back to WAL_SIZE_LIMIT.
   */
  compact(): boolean {
    this.#db.exec('VACUUM');
    const [result] = this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return result?.busy === 0;
  }

  /** After a wait: a shutdown closed the cache meanwhile (a reload in progress then stops quietly). */
  #throwIfClosed(): void {
    if (!this.#db.open) throw new LoadCancelled('the example cache was closed: railgate is shutting down');
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** What `prune` keeps: what the rails on disk embed. */
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

interface ListStatements {
  readonly hashOf: Database.Statement<[string, string], string>;
  readonly part: Database.Statement<[string, string, string, number], Buffer>;
  readonly putPart: Database.Statement<[string, string, string, number, Buffer]>;
  readonly putHeader: Database.Statement<[string, string, string]>;
  readonly dropParts: Database.Statement<[string, string]>;
  readonly dropHeader: Database.Statement<[string, string]>;
}

function prepareListStatements(db: Database.Database): ListStatements {
  // A list's parts first, its row in whole_lists last: the row says the parts are complete.
  db.exec(`CREATE TABLE IF NOT EXISTS whole_lists (
    model TEXT NOT NULL, name TEXT NOT NULL, list_hash TEXT NOT NULL, PRIMARY KEY (model, name)
  );
  CREATE TABLE IF NOT EXISTS whole_list_parts (
    model TEXT NOT NULL, name TEXT NOT NULL, list_hash TEXT NOT NULL, part INTEGER NOT NULL,
    vectors BLOB NOT NULL, PRIMARY KEY (model, name, part)
  )`);
  return {
    hashOf: db
      .prepare<[string, string], string>('SELECT list_hash FROM whole_lists WHERE model = ? AND name = ?')
      .pluck(),
    part: db
      .prepare<[string, string, string, number], Buffer>(
        'SELECT vectors FROM whole_list_parts WHERE model = ? AND name = ? AND list_hash = ? AND part = ?',
      )
      .pluck(),
    putPart: db.prepare(
      'INSERT OR REPLACE INTO whole_list_parts (model, name, list_hash, part, vectors) VALUES (?, ?, ?, ?, ?)',
    ),
    putHeader: db.prepare('INSERT OR REPLACE INTO whole_lists (model, name, list_hash) VALUES (?, ?, ?)'),
    dropParts: db.prepare('DELETE FROM whole_list_parts WHERE model = ? AND name = ?'),
    dropHeader: db.prepare('DELETE FROM whole_lists WHERE model = ? AND name = ?'),
  };
}
