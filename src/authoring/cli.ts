/**
 * What the rail author's commands (explain, test, eval, calibrate, replay) share: argument parsing with
 * the 0 / 1 / 2 exit-code convention, a progress bar on stderr when a person is watching, and plain
 * tables. Loading rails and compiling a set as the proxy does is workbench.ts.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import cliProgress from 'cli-progress';
import { isRailgateError } from '../errors.js';
import { displayPath, formatIssue, RailsInvalidError } from '../rails/load.js';
import type { RailIssue } from '../rails/types.js';
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
