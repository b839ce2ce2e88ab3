import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What a CLI command may touch: its output streams and environment, injected so tests capture them. */
export interface CliIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** A command: argv after the command name → exit code. Usage errors exit 2, failures 1. */
export type CliCommand = (args: readonly string[], io: CliIO) => Promise<number>;

export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

export function writeLine(stream: NodeJS.WritableStream, line = ''): void {
  stream.write(line + '\n');
}

/**
 * A usage error (exit 2) as JSON on stdout when the arguments ask for `--json`, so a script reading
 * JSON reads JSON whatever happens. The arguments may be what failed to parse: they are read again
 * leniently with the command's `options` (so `--text --json` is a text, not the flag); without them,
 * any `--json` before `--` counts. `oneLine` for a command whose --json output is one object per line.
 */
export function usageErrorAsJson(
  io: CliIO,
  args: readonly string[],
  message: string,
  how: { readonly options?: NonNullable<ParseArgsConfig['options']>; readonly oneLine?: boolean } = {},
): void {
  if (asksForJson(args, how.options))
    writeLine(io.stdout, JSON.stringify({ error: { message } }, null, how.oneLine ? undefined : 2));
}

/** Whether `args` ask for `--json`, read with the command's `options` (any `--json` before `--` without). */
export function asksForJson(args: readonly string[], options?: ParseArgsConfig['options']): boolean {
  if (!options) {
    const end = args.indexOf('--');
    return (end === -1 ? args : args.slice(0, end)).includes('--json');
  }
  try {
    return parseArgs({ args: [...args], options, strict: false, allowPositionals: true }).values.json === true;
  } catch {
    return false;
  }
}

/**
 * Text from the decision log (what clients sent) as a JSON string literal that is safe on a terminal:
 * JSON escapes C0 controls; this also escapes C1 controls, bidirectional overrides and other invisible
 * format characters, which would reorder or hide what a reviewer reads. The zero-width joiner is
 * kept (wherever it is): it holds emoji sequences together, and hides nothing on its own.
 */
export function quotedForTerminal(text: string): string {
  return JSON.stringify(text).replace(
    /(?!\u200d)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    // Each UTF-16 unit: a character past U+FFFF (the tag characters of hidden prompts) as its
    // surrogate pair, which JSON and YAML read back; `\\u` takes exactly four digits.
    (c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

/**
 * A message for a report's line: white space made single spaces (a newline must not break the
 * layout), cut at `width` characters, and quoted as quotedForTerminal does.
 */
export function quotedLine(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return quotedForTerminal(flat.length > width ? `${flat.slice(0, width - 1)}…` : flat);
}
