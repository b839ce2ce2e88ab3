/**
 * The rail author's workbench: the rails loaded as the proxy loads them, and each set compiled on
 * demand through the Guard runtime (the serving code path) with the proxy's stores.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { borrowed, type Embedder } from '../embedding/embedder.js';
import { ExampleCache } from '../embedding/example-cache.js';
import { createEmbedder } from '../embedding/providers.js';
import { ExampleCachedEmbedder } from '../embedding/stack.js';
import { storedCompileOptions, type CompiledRailSet } from '../matching/compile.js';
import { createGuard, embedderKey } from '../matching/runtime.js';
import { displayPath, RailsInvalidError, validateRails } from '../rails/load.js';
import type { EmbeddingConfig, RailIssue, RailSet } from '../rails/types.js';
import type { Settings } from '../settings.js';
import { writeLine, type CliIO } from '../cli/io.js';
import { CommandFailure, progress, settingsOf, UsageError, type Progress } from './cli.js';

/**
 * Loaded rails and the embedders they need. Sets are compiled one at a time, on demand, through
 * `createGuard`, exactly as the proxy compiles them, and with the proxy's stores: rail-example vectors
 * come from the persistent example cache (`embedding.cacheDb`), HNSW graphs and fitted classifiers
 * from beside it, so an author's second `railgate test` embeds nothing the proxy or the first run did.
 */
export class Workbench {
  readonly #embedders = new Map<string, Promise<Embedder>>();
  #exampleCache: ExampleCache | undefined;
  /** The example cache file, resolved against the working folder (or `:memory:`). */
  readonly #cacheDb: string;

  private constructor(
    readonly settings: Settings,
    readonly railsDir: string,
    /** The sets that validated; with `issues`, some did not. */
    readonly valid: readonly RailSet[],
    /** Issues of sets that did not validate (railgate check lists them). */
    private readonly issues: readonly RailIssue[],
    private readonly io: CliIO,
  ) {
    const file = settings.embedding.cacheDb;
    this.#cacheDb = file === ':memory:' ? file : path.resolve(io.cwd, file);
  }

  /**
   * Loads every set under `railsDir` (default: the `rails` setting). Throws RailsInvalidError when no
   * set validates; a set that does can be picked by name while another has issues (another team's
   * edit in progress), but `sets` and the default set need every set valid.
   */
  static async open(io: CliIO, railsDir?: string, flags: RailFlags = FOLDER_AND_SET): Promise<Workbench> {
    const settings = settingsOf(io);
    const dir = path.resolve(io.cwd, railsDir ?? settings.rails);
    // A set's name given for the folder (`logs` takes `--rails bank`): say which flag names a set.
    if (railsDir !== undefined && !existsSync(dir) && !/[/\\]/.test(railsDir)) {
      if (existsSync(path.resolve(io.cwd, settings.rails, railsDir)))
        throw new UsageError(
          `${flags.folder} names the rails folder, and there is no folder "${railsDir}"; ` +
            `for the rail set ${railsDir} in ${settings.rails}, use ${flags.set} ${railsDir}`,
        );
    }
    const { sets, issues } = await validateRails(dir);
    if (sets.length === 0 && issues.length > 0) throw new RailsInvalidError(issues);
    return new Workbench(settings, dir, sets, issues, io);
  }

  /** Every set: all of them must be valid (what `test` without `--set`, or `replay`, work on). */
  get sets(): readonly RailSet[] {
    if (this.issues.length > 0) throw new RailsInvalidError(this.issues);
    return this.valid;
  }

  /**
   * The set by name, or the default one: the `defaultRailSet` setting when that set is in this folder,
   * else a set named `default`, else the first (as the proxy picks). `folderFlag`: the command's
   * option for a rails folder, named when `name` looks like one.
   */
  pick(name?: string, folderFlag = '--rails'): RailSet {
    if (name !== undefined) {
      const set = this.valid.find((s) => s.name === name);
      if (set && this.issues.length > 0) {
        const others = new Set(this.issues.map((issue) => displayPath(issue.file, this.io.cwd)));
        writeLine(
          this.io.stderr,
          `note: other rail sets have issues (${[...others].join(', ')}; railgate check lists them); ${name} is valid`,
        );
      }
      if (!set) {
        // The set may be the one with issues, its name unreadable: those are the error to see.
        if (this.issues.length > 0) throw new RailsInvalidError(this.issues);
        const known = this.valid.map((s) => s.name).join(', ') || 'none';
        // `explain --rails ./my-rails`: a folder where a set's name goes.
        const folder =
          /[/\\]/.test(name) || name.startsWith('.') ? `; that looks like a folder: give it with ${folderFlag}` : '';
        throw new CommandFailure(`unknown rail set "${name}" in ${this.railsDir} (sets: ${known})${folder}`);
      }
      return set;
    }
    const configured = this.settings.defaultRailSet;
    const set =
      this.sets.find((s) => s.name === configured) ?? this.sets.find((s) => s.name === 'default') ?? this.sets[0];
    if (!set) throw new CommandFailure(`no rail sets in ${this.railsDir}`);
    return set;
  }

  /**
   * Compiles one set. Examples missing from the cache are embedded with a progress bar, unless the
   * caller is showing a bar of its own (`progress: false`; two bars on one terminal garble each other).
   */
  async compile(set: RailSet, options: { progress?: boolean } = {}): Promise<CompiledRailSet> {
    const showProgress = options.progress ?? true;
    let bar: Progress | undefined;
    const runtime = await createGuard({
      sets: [set],
      // The workbench owns its models and shares them between sets: the runtime only borrows them.
      embedderFor: async (config) => borrowed(await this.embedder(config, set.dir)),
      compile: {
        ...storedCompileOptions(this.settings.index, this.#cacheDb),
        maxChunks: this.settings.limits.messageChunks,
        onProgress: (_set, done, total) => {
          if (!showProgress) return;
          bar ??= progress(this.io, `embedding ${set.name} examples`, total);
          bar.update(done);
        },
      },
    }).finally(() => bar?.stop());
    return runtime.compiled(set.name);
  }

  embedder(config: EmbeddingConfig, baseDir: string): Promise<Embedder> {
    const key = embedderKey(config, baseDir);
    let embedder = this.#embedders.get(key);
    if (!embedder) {
      const cache = this.#cache();
      embedder = createEmbedder(config, this.settings.embedding, { baseDir }).then((model) =>
        cache ? new ExampleCachedEmbedder(model, cache) : model,
      );
      this.#embedders.set(key, embedder);
    }
    return embedder;
  }

  async close(): Promise<void> {
    const loaded = await Promise.allSettled(this.#embedders.values());
    for (const result of loaded) if (result.status === 'fulfilled') await result.value.close();
    this.#embedders.clear();
    this.#exampleCache?.close();
    this.#exampleCache = undefined;
  }

  #cache(): ExampleCache | undefined {
    if (this.#cacheDb === ':memory:') return undefined;
    this.#exampleCache ??= ExampleCache.open(this.#cacheDb, {
      onWriteError: (error) =>
        writeLine(this.io.stderr, `note: example vectors not cached (embedded again next time): ${error.message}`),
    });
    return this.#exampleCache;
  }
}

/** The command's flags for a rails folder and for one set in it, named in its messages. */
export interface RailFlags {
  readonly folder: string;
  readonly set: string;
}
const FOLDER_AND_SET: RailFlags = { folder: '--rails', set: '--set' };

/** Runs `work` with an opened workbench and always closes it (model handles, worker threads). */
export async function withWorkbench<T>(
  io: CliIO,
  railsDir: string | undefined,
  work: (w: Workbench) => Promise<T>,
  flags?: RailFlags,
): Promise<T> {
  const workbench = await Workbench.open(io, railsDir, flags);
  try {
    return await work(workbench);
  } finally {
    await workbench.close();
  }
}
