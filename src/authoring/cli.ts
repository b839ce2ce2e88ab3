/**
 * What the rail author's commands (explain, test, eval, calibrate, replay) share: argument parsing with
 * the 0 / 1 / 2 exit-code convention, loading rails and compiling a set through the Guard runtime (the
 * serving code path), and a progress bar on stderr when a person is watching.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import cliProgress from 'cli-progress';
import { isRailgateError } from '../errors.js';
import { borrowed, type Embedder } from '../embedding/embedder.js';
import { ExampleCache } from '../embedding/example-cache.js';
import { createEmbedder } from '../embedding/providers.js';
import { ExampleCachedEmbedder } from '../embedding/stack.js';
import { storedCompileOptions, type CompiledRailSet } from '../matching/compile.js';
import { createGuard, embedderKey } from '../matching/runtime.js';
import { displayPath, formatIssue, RailsInvalidError, validateRails } from '../rails/load.js';
import type { EmbeddingConfig, RailIssue, RailSet } from '../rails/types.js';
import { loadSettings, type Settings } from '../settings.js';
import { usageErrorAsJson, writeLine, type CliCommand, type CliIO } from '../cli/io.js';

/** Bad arguments: the command prints its help and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure to report in one line and exit 1 (missing file, bad data, unknown set…). */
export class CommandFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailure';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec<O extends Options> {
  readonly name: string;
  readonly help: string;
  readonly options: O;
  readonly positionals?: boolean;
  readonly body: (parsed: { values: ParsedValues<O>; positionals: string[] }, io: CliIO) => Promise<number>;
}

export type ParsedValues<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true }>
>['values'];

/**
 * Wraps a command body: parses its arguments (`--help` prints the help), turns UsageError into exit 2
 * and expected failures (invalid rails, unreadable data, unknown set) into a message and exit 1.
 */
export function defineCommand<O extends Options>(spec: CommandSpec<O>): CliCommand {
  return async (args, io) => {
    const prefix = `railgate ${spec.name}`;
    let parsed;
    try {
      parsed = parseArgs({
        args: [...args],
        options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
      if (!spec.positionals && parsed.positionals.length > 0)
        throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
    } catch (error) {
      writeLine(io.stderr, `${prefix}: ${(error as Error).message}\n`);
      writeLine(io.stderr, spec.help);
      usageErrorAsJson(io, args, (error as Error).message, { options: spec.options });
      return 2;
    }
    if ((parsed.values as { help?: boolean }).help) {
      writeLine(io.stdout, spec.help);
      return 0;
    }
    // A script reading --json gets JSON on stdout whatever happens: the failure, as an error object.
    const json = (parsed.values as { json?: boolean }).json === true;
    const failed = (error: { message: string; code?: string; issues?: readonly RailIssue[] }) => {
      if (json) writeLine(io.stdout, JSON.stringify({ error }, null, 2));
      return 1;
    };
    try {
      return await spec.body(parsed as { values: ParsedValues<O>; positionals: string[] }, io);
    } catch (error) {
      if (error instanceof UsageError) {
        writeLine(io.stderr, `${prefix}: ${error.message}\n`);
        writeLine(io.stderr, spec.help);
        usageErrorAsJson(io, args, error.message, { options: spec.options });
        return 2;
      }
      if (error instanceof RailsInvalidError) {
        for (const issue of error.issues) writeLine(io.stderr, formatIssue(issue, io.cwd));
        const message = 'cannot load the rails (`railgate check` lists every issue)';
        writeLine(io.stderr, `${prefix}: ${message}`);
        return failed({ message, code: error.code, issues: error.issues });
      }
      if (error instanceof CommandFailure || isRailgateError(error) || isExpected(error)) {
        const { message } = error as Error;
        writeLine(io.stderr, `${prefix}: ${message}`);
        return failed({ message, ...(isRailgateError(error) && { code: error.code }) });
      }
      throw error;
    }
  };
}

/** Errors from the authoring room that carry a message fit for people. */
const EXPECTED = new Set(['DataFileError', 'CalibrationError', 'ThresholdWriteError', 'RailEditError']);
function isExpected(error: unknown): boolean {
  return error instanceof Error && EXPECTED.has(error.name);
}

/** A number option: `--near-miss 0.05`. */
export function numberOption(name: string, raw: string | undefined, fallback: number, min = 0, max = Infinity): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max)
    throw new UsageError(
      `--${name} must be a number${max < Infinity ? ` in [${min}, ${max}]` : ` >= ${min}`}, got "${raw}"`,
    );
  return value;
}

export function settingsOf(io: CliIO): Settings {
  return loadSettings(io.env, io.cwd);
}

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
    this.#exampleCache ??= ExampleCache.open(this.#cacheDb);
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

export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** A progress bar on stderr when it is a terminal; silent otherwise (CI logs, pipes, tests). */
export function progress(io: CliIO, label: string, total: number): Progress {
  if (!io.stderr.isTTY || total <= 0) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      format: `${label} [{bar}] {value}/{total} {eta_formatted}`,
      clearOnComplete: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}

export function percent(value: number | null, digits = 1): string {
  return value === null ? 'n/a' : `${(value * 100).toFixed(digits)}%`;
}

export function similarity(value: number): string {
  return value.toFixed(3);
}

/** Left-aligned text columns, right-aligned numbers: a plain table for terminals and CI logs. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.]+%?$|^n\/a$|^$/.test(r[i] ?? '')),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function relativePath(io: CliIO, file: string): string {
  return displayPath(file, io.cwd);
}
