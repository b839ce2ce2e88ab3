/**
 * A persistent cache of rail-example embeddings in SQLite, keyed by model id + dimension + sha256 of
 * the text: a restart with 10,000 examples embeds none of them again, and vectors of different
 * models or dimensions can never mix.
 *
 * A large set's whole list of examples is also kept as one entry (its vectors back to back, keyed by
 * a hash of every text in order): a restart reads that in a few reads instead of a row per example
 * and a hash per text (10,000 examples: ~0.2 s of the start-up's main thread, measured).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { inSlices } from '../in-slices.js';

/** Rows read per slice (~10 ms). */
const PAGE_ROWS = 1000;
/** Lists shorter than this are read row by row (100 rows: ~2 ms); whole lists are for large sets. */
export const WHOLE_LIST_MIN = 1000;
/**
 * Whole lists kept per model, the most recently used: each rail set's current examples and a few
 * edits back; older ones are dropped (their examples stay cached row by row).
 */
const WHOLE_LISTS_KEPT = 8;
/**
 * Vectors per stored part: each part is written in its own transaction with the event loop let run
 * between (a reload of a 60,000-example set writes ~120 MB), and no row nears SQLite's size limit.
 */
const PART_VECTORS = 512;

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
   * The vectors of exactly this list of texts, stored whole by `storeList` (views into one buffer), or
   * undefined: never stored, dropped, or stored with another dimension. Read a part at a time with the
   * event loop let run between (a reload reads them while the proxy serves).
   */
  async lookupList(modelKey: string, texts: readonly string[], dimension: number): Promise<Float32Array[] | undefined> {
    const listHash = ExampleCache.listHash(texts);
    if (this.#list.count.get(modelKey, listHash) !== texts.length) return undefined;
    // One aligned copy (a row's buffer may be shared and not 4-byte aligned); the vectors are views.
    const flat = new Float32Array(texts.length * dimension);
    const bytes = new Uint8Array(flat.buffer);
    for (let part = 0, at = 0; at < bytes.byteLength; part++) {
      const vectors = this.#list.part.get(modelKey, listHash, part);
      // Missing (another process dropped the list meanwhile) or not the size expected: not this list.
      if (!vectors?.byteLength || at + vectors.byteLength > bytes.byteLength) return undefined;
      bytes.set(vectors, at);
      at += vectors.byteLength;
      await yieldToEventLoop();
    }
    this.#list.touch.run(Date.now(), modelKey, listHash);
    return texts.map((_, i) => flat.subarray(i * dimension, (i + 1) * dimension));
  }

  /**
   * Stores the vectors of this list of texts whole, a part at a time with the event loop let run
   * between, and keeps the model's WHOLE_LISTS_KEPT most recently used lists. A list is readable only
   * once its last part is written.
   */
  async storeList(modelKey: string, texts: readonly string[], vectors: readonly Float32Array[]): Promise<void> {
    const listHash = ExampleCache.listHash(texts);
    const dimension = vectors[0]?.length ?? 0;
    // Parts left by a write that never finished (the process ended), or of another dimension.
    this.#db.transaction(() => this.#dropList(modelKey, listHash))();
    for (let start = 0; start < vectors.length; start += PART_VECTORS) {
      const slice = vectors.slice(start, start + PART_VECTORS);
      const part = Buffer.allocUnsafe(slice.length * dimension * 4);
      slice.forEach((v, i) => part.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), i * dimension * 4));
      this.#list.putPart.run(modelKey, listHash, start / PART_VECTORS, part);
      await yieldToEventLoop();
      // Closed meanwhile (a shutdown during a reload): the list stays unreadable, as if never stored.
      if (!this.#db.open) return;
    }
    this.#db.transaction(() => {
      this.#list.putList.run(modelKey, listHash, texts.length, Date.now());
      for (const old of this.#list.beyondKept.all(modelKey, WHOLE_LISTS_KEPT)) this.#dropList(modelKey, old);
    })();
  }

  #dropList(modelKey: string, listHash: string): void {
    this.#list.dropHeader.run(modelKey, listHash);
    this.#list.dropParts.run(modelKey, listHash);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

interface ListStatements {
  readonly count: Database.Statement<[string, string], number>;
  readonly touch: Database.Statement<[number, string, string]>;
  readonly part: Database.Statement<[string, string, number], Buffer>;
  readonly putPart: Database.Statement<[string, string, number, Buffer]>;
  readonly putList: Database.Statement<[string, string, number, number]>;
  readonly beyondKept: Database.Statement<[string, number], string>;
  readonly dropParts: Database.Statement<[string, string]>;
  readonly dropHeader: Database.Statement<[string, string]>;
}

function prepareListStatements(db: Database.Database): ListStatements {
  // A list's parts first, its row in example_lists last: the row says the parts are complete.
  db.exec(`CREATE TABLE IF NOT EXISTS example_lists (
    model TEXT NOT NULL, list_hash TEXT NOT NULL, count INTEGER NOT NULL, used_at INTEGER NOT NULL,
    PRIMARY KEY (model, list_hash)
  );
  CREATE TABLE IF NOT EXISTS example_list_parts (
    model TEXT NOT NULL, list_hash TEXT NOT NULL, part INTEGER NOT NULL, vectors BLOB NOT NULL,
    PRIMARY KEY (model, list_hash, part)
  )`);
  return {
    count: db
      .prepare<[string, string], number>('SELECT count FROM example_lists WHERE model = ? AND list_hash = ?')
      .pluck(),
    touch: db.prepare('UPDATE example_lists SET used_at = ? WHERE model = ? AND list_hash = ?'),
    part: db
      .prepare<[string, string, number], Buffer>(
        'SELECT vectors FROM example_list_parts WHERE model = ? AND list_hash = ? AND part = ?',
      )
      .pluck(),
    putPart: db.prepare(
      'INSERT OR REPLACE INTO example_list_parts (model, list_hash, part, vectors) VALUES (?, ?, ?, ?)',
    ),
    putList: db.prepare('INSERT OR REPLACE INTO example_lists (model, list_hash, count, used_at) VALUES (?, ?, ?, ?)'),
    beyondKept: db
      .prepare<[string, number], string>(
        'SELECT list_hash FROM example_lists WHERE model = ? ORDER BY used_at DESC, list_hash LIMIT -1 OFFSET ?',
      )
      .pluck(),
    dropParts: db.prepare('DELETE FROM example_list_parts WHERE model = ? AND list_hash = ?'),
    dropHeader: db.prepare('DELETE FROM example_lists WHERE model = ? AND list_hash = ?'),
  };
}
