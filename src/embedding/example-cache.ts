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

  /** Told of a write that failed (a busy or full disk, a read-only file), once until one succeeds. */
  readonly #onWriteError: ((error: Error) => void) | undefined;
  #failing = false;

  private constructor(db: Database.Database, options: ExampleCacheOptions) {
    this.#db = db;
    this.#onWriteError = options.onWriteError;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
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

  static open(file: string, options: ExampleCacheOptions = {}): ExampleCache {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    return new ExampleCache(new Database(file), options);
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

  /**
   * Keeps these vectors for the next start. A write that fails (the file busy past busy_timeout, as
   * while `railgate cache prune` compacts it; a full disk; a read-only file) stores nothing and goes
   * to `onWriteError`: the cache only saves work, so the vectors are embedded again next time.
   */
  store(modelKey: string, entries: readonly (readonly [string, Float32Array])[]): void {
    this.#write(() =>
      this.#db.transaction(() => {
        for (const [text, vector] of entries) {
          this.#put.run(
            modelKey,
            ExampleCache.hash(text),
            Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength),
          );
        }
      })(),
    );
  }

  /** Runs a write; false when SQLite refused it (told to onWriteError, once until a write succeeds). */
  #write(write: () => void): boolean {
    if (!this.#db.open) return false;
    try {
      write();
      this.#failing = false;
      return true;
    } catch (error) {
      if (!(error instanceof Database.SqliteError)) throw error;
      if (!this.#failing) this.#onWriteError?.(error);
      this.#failing = true;
      return false;
    }
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
   * written. Stops, leaving no list, when `signal` aborts, the cache closes (a shutdown) or a write
   * fails (as `store`'s do).
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
    const dropped = this.#write(() => this.#db.transaction(() => dropList(this.#db, modelKey, name))());
    if (!dropped) return;
    for (let start = 0; start < vectors.length; start += PART_VECTORS) {
      const slice = vectors.slice(start, start + PART_VECTORS);
      const part = Buffer.allocUnsafe(slice.length * dimension * 4);
      slice.forEach((v, i) => part.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), i * dimension * 4));
      if (!this.#write(() => this.#list.putPart.run(modelKey, name, listHash, start / PART_VECTORS, part))) return;
      await yieldToEventLoop();
      if (signal?.aborted || !this.#db.open) return;
    }
    this.#write(() => this.#list.putHeader.run(modelKey, name, listHash));
  }

  /** After a wait: a shutdown closed the cache meanwhile (a reload in progress then stops quietly). */
  #throwIfClosed(): void {
    if (!this.#db.open) throw new LoadCancelled('the example cache was closed: railgate is shutting down');
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

export interface ExampleCacheOptions {
  /** How long a write waits for another process's (SQLite's busy_timeout); default 5 s. */
  readonly busyTimeoutMs?: number;
  /** A write SQLite refused (nothing stored; the vectors are embedded again at the next start). */
  readonly onWriteError?: (error: Error) => void;
}

interface ListStatements {
  readonly hashOf: Database.Statement<[string, string], string>;
  readonly part: Database.Statement<[string, string, string, number], Buffer>;
  readonly putPart: Database.Statement<[string, string, string, number, Buffer]>;
  readonly putHeader: Database.Statement<[string, string, string]>;
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
  };
}

/**
 * Removes the list stored under `name` for `modelKey`, header and parts (in the caller's transaction):
 * storing a set's new list, and `railgate cache prune` (cache-prune.ts) on its own connection.
 */
export function dropList(db: Database.Database, modelKey: string, name: string): void {
  db.prepare('DELETE FROM whole_lists WHERE model = ? AND name = ?').run(modelKey, name);
  db.prepare('DELETE FROM whole_list_parts WHERE model = ? AND name = ?').run(modelKey, name);
}
