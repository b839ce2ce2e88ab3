/**
 * `railgate cache prune`: the example cache keeps every example ever embedded (an edited example's
 * old vector stays, for a rollback), and each large set's whole list; this removes what the rails on
 * disk no longer embed, and the stored graphs and classifiers of sets that are gone.
 */
import { stat, rm } from 'node:fs/promises';
import path from 'node:path';
import { CommandFailure, defineCommand, relativePath, settingsOf, UsageError } from '../../authoring/cli.js';
import {
  compactExampleCache,
  NotAnExampleCache,
  openForPrune,
  pruneExampleCache,
  type PruneKeep,
  type PruneResult,
} from '../../embedding/cache-prune.js';
import { ExampleCache, WHOLE_LIST_MIN } from '../../embedding/example-cache.js';
import { embeddedTexts, storedCompileOptions } from '../../matching/compile.js';
import { staleStoredFiles } from '../../matching/stored-files.js';
import { RailsInvalidError, validateRails } from '../../rails/load.js';
import type { RailSet } from '../../rails/types.js';
import { writeLine, type CliIO } from '../io.js';

const HELP = `usage: railgate cache prune [--rails DIR]... [--dry-run] [--no-compact] [--json]

Removes from the example cache (the \`embedding.cacheDb\` setting, RAILGATE_EMBED_CACHE_DB) the vectors
of texts that no rail set under DIR embeds (kept by text, whatever their model), whole lists of sets
removed, renamed or changed since, and the stored HNSW graphs and classifiers of sets that are gone
(in the cache file's folder, for every cache file there); then compacts the file. Every set must be
valid (a set with issues would lose its vectors). Vectors removed are embedded again if their
examples come back.

Beside a proxy running on the same rails: pruning waits for its cache writes (5 s at most) and
removes nothing it uses; compacting rewrites the file (about a second per 100 MB here, and free disk
of up to twice what is kept), and a proxy embedding examples meanwhile (at a start or a reload)
skips caching some of them, with a warning: they are embedded again at its next start.

  --rails DIR    rails folder to keep (default: the \`rails\` setting, RAILGATE_RAILS or ./rails); give
                 it once per rails folder that shares this cache, or their vectors are removed
  --dry-run      report what would be removed; change nothing (the file is opened read-only)
  --no-compact   remove, but leave the file its size (SQLite reuses the space)
  --json         print the report as JSON
  -h, --help     show this help`;

export const run = defineCommand({
  name: 'cache',
  help: HELP,
  positionals: true,
  options: {
    rails: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    'no-compact': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  body: async ({ values, positionals }, io) => {
    const [action, extra] = positionals;
    if (action !== 'prune')
      throw new UsageError(action ? `unknown action "${action}"; try prune` : 'which action? prune');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const settings = settingsOf(io);
    const dryRun = values['dry-run'] === true;
    const folders = (values.rails ?? [settings.rails]).map((dir) => path.resolve(io.cwd, dir));
    const sets = await validSets(folders);
    const file = settings.embedding.cacheDb;
    if (file === ':memory:') {
      // Nothing outlives the process: the report a script reads, with nothing in it.
      const nothing: PruneResult = { rows: { kept: 0, removed: 0 }, lists: [], unfinishedListParts: 0, vectorBytes: 0 };
      if (values.json)
        writeLine(
          io.stdout,
          JSON.stringify(
            reportOf({ cacheDb: file, dryRun, sets, pruned: nothing, bytes: { before: 0, after: 0 } }),
            null,
            2,
          ),
        );
      else writeLine(io.stdout, 'nothing to prune: embedding.cacheDb is :memory:');
      return 0;
    }
    const cacheDb = path.resolve(io.cwd, file);
    // Not opened where it is missing: opening creates it.
    if (!(await stat(cacheDb).catch(() => undefined))?.isFile())
      throw new CommandFailure(`no example cache at ${relativePath(io, cacheDb)} (the embedding.cacheDb setting)`);

    const before = await fileBytes(cacheDb);
    let pruned: PruneResult;
    let logEmptied = true;
    let db: ReturnType<typeof openForPrune> | undefined;
    try {
      db = openForPrune(cacheDb, dryRun);
      pruned = pruneExampleCache(db, keepOf(sets), dryRun);
      if (!dryRun && !values['no-compact']) logEmptied = compactExampleCache(db);
    } catch (error) {
      if (error instanceof NotAnExampleCache) throw new CommandFailure(error.message);
      throw error;
    } finally {
      db?.close();
    }
    const { graphDir, classifierDir } = storedCompileOptions(settings.index, cacheDb);
    const names = sets.map((s) => s.name);
    const files = [...(await staleStoredFiles(graphDir!, names)), ...(await staleStoredFiles(classifierDir!, names))];
    if (!dryRun) await Promise.all(files.map((f) => rm(f, { force: true })));
    const after = dryRun ? before : await fileBytes(cacheDb);
    const report = reportOf({
      cacheDb: relativePath(io, cacheDb),
      dryRun,
      sets,
      pruned,
      filesRemoved: files.map((f) => relativePath(io, f)),
      bytes: { before, after },
      logEmptied,
    });
    if (values.json) writeLine(io.stdout, JSON.stringify(report, null, 2));
    else for (const line of renderPrune(report, folders, io)) writeLine(io.stdout, line);
    return 0;
  },
});

function reportOf(r: {
  readonly cacheDb: string;
  readonly dryRun: boolean;
  readonly sets: readonly RailSet[];
  readonly pruned: PruneResult;
  readonly filesRemoved?: readonly string[];
  readonly bytes: { readonly before: number; readonly after: number };
  readonly logEmptied?: boolean;
}): PruneReport {
  return {
    cache_db: r.cacheDb,
    dry_run: r.dryRun,
    sets: r.sets.map((s) => s.name),
    examples: r.pruned.rows,
    lists_removed: r.pruned.lists,
    unfinished_list_parts: r.pruned.unfinishedListParts,
    vector_bytes_removed: r.pruned.vectorBytes,
    files_removed: r.filesRemoved ?? [],
    file_bytes: r.bytes,
    // Another connection was reading: the database is compacted, its write-ahead log not yet emptied.
    log_pending: r.logEmptied === false,
  };
}

/** Every set of every folder; any issue stops the prune (a broken set's vectors would go). */
async function validSets(folders: readonly string[]): Promise<RailSet[]> {
  const sets: RailSet[] = [];
  for (const folder of folders) {
    const loaded = await validateRails(folder);
    if (loaded.issues.length > 0) throw new RailsInvalidError(loaded.issues);
    if (loaded.sets.length === 0) throw new CommandFailure(`no rail sets in ${folder}: nothing to keep`);
    sets.push(...loaded.sets);
  }
  return sets;
}

function keepOf(sets: readonly RailSet[]): PruneKeep {
  const hashes = new Set<string>();
  const lists = new Map<string, Set<string>>();
  for (const set of sets) {
    const texts = embeddedTexts(set);
    for (const text of texts) hashes.add(ExampleCache.hash(text));
    if (texts.length >= WHOLE_LIST_MIN) {
      const hashesOfName = lists.get(set.name) ?? new Set<string>();
      lists.set(set.name, hashesOfName.add(ExampleCache.listHash(texts)));
    }
  }
  return { hashes, lists };
}

/** The database and its write-ahead log. */
async function fileBytes(file: string): Promise<number> {
  const sizes = await Promise.all(
    ['', '-wal'].map((end) =>
      stat(file + end).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

interface PruneReport {
  readonly cache_db: string;
  readonly dry_run: boolean;
  readonly sets: readonly string[];
  readonly examples: PruneResult['rows'];
  readonly lists_removed: PruneResult['lists'];
  readonly unfinished_list_parts: number;
  readonly vector_bytes_removed: number;
  readonly files_removed: readonly string[];
  readonly file_bytes: { readonly before: number; readonly after: number };
  readonly log_pending: boolean;
}

function renderPrune(r: PruneReport, folders: readonly string[], io: CliIO): string[] {
  const verb = r.dry_run ? 'would remove' : 'removed';
  const lines = [
    `${r.cache_db}: keeping what ${r.sets.length === 1 ? 'the rail set embeds' : `${r.sets.length} rail sets embed`} ` +
      `(${r.sets.join(', ')}; ${folders.map((f) => relativePath(io, f)).join(', ')})`,
    `  example vectors: ${r.examples.kept} kept, ${r.examples.removed} ${verb}`,
    `  whole lists: ${
      r.lists_removed.length === 0
        ? `none to remove`
        : `${verb} ${r.lists_removed.map((l) => `${l.name} (${l.model})`).join(', ')}`
    }${r.unfinished_list_parts > 0 ? `; ${r.unfinished_list_parts} parts of unfinished lists` : ''}`,
    `  stored graphs and classifiers: ${r.files_removed.length === 0 ? 'none to remove' : `${verb} ${r.files_removed.join(', ')}`}`,
  ];
  lines.push(
    r.dry_run
      ? `  ${megabytes(r.vector_bytes_removed)} of vectors to remove (the file is ${megabytes(r.file_bytes.before)}); nothing changed`
      : `  file: ${megabytes(r.file_bytes.before)} -> ${megabytes(r.file_bytes.after)}` +
          (r.log_pending
            ? ' with its write-ahead log, which another process (a running proxy) was reading: it empties at a later checkpoint'
            : ''),
  );
  return lines;
}
