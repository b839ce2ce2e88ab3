/**
 * `railgate check`: validates rails without loading a model, printing each problem as
 * `file:line:column: message` (the shape editors and CI annotations understand).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isRailgateError } from '../../errors.js';
import { displayPath, formatIssue, validateRails } from '../../rails/load.js';
import type { RailSet } from '../../rails/types.js';
import { loadSettings } from '../../settings.js';
import { usageErrorAsJson, writeLine, type CliCommand } from '../io.js';

const HELP = `usage: railgate check [--rails DIR] [--json]

Validates every rail set under DIR (default: the \`rails\` setting, i.e. RAILGATE_RAILS or ./rails)
and prints each issue as file:line:column: message. Exits 1 when there is any issue, 0 otherwise.

  --rails DIR   rails folder: one set per subfolder, or a single set's folder
  --json        print { ok, sets, issues } as JSON instead
  -h, --help    show this help`;

interface SetSummary {
  readonly name: string;
  readonly dir: string;
  readonly intents: number;
  readonly examples: number;
  readonly tests: number;
  readonly hash: string;
}

function summary(set: RailSet): SetSummary {
  return {
    name: set.name,
    dir: set.dir,
    intents: set.intents.length,
    examples: set.intents.reduce((sum, intent) => sum + intent.examples.length, 0),
    tests: set.tests.length,
    hash: set.hash,
  };
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

const CHECK_OPTIONS = {
  rails: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const run: CliCommand = async (args, io) => {
  let values: { rails?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: CHECK_OPTIONS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    writeLine(io.stderr, `railgate check: ${(error as Error).message}`);
    writeLine(io.stderr, HELP);
    usageErrorAsJson(io, args, (error as Error).message, { options: CHECK_OPTIONS });
    return 2;
  }
  if (values.help) {
    writeLine(io.stdout, HELP);
    return 0;
  }

  let railsDir = values.rails;
  let upstreams: string[] | undefined;
  try {
    const settings = loadSettings(io.env, io.cwd);
    railsDir ??= settings.rails;
    // Where no upstream is configured (a CI job without the service's environment, say), names are not
    // checked: `serve` checks them against its own settings.
    if (Object.keys(settings.upstreams).length > 0) upstreams = Object.keys(settings.upstreams);
  } catch (error) {
    if (!isRailgateError(error)) throw error;
    // With --rails, the rails are checked on their own; without, they cannot be found.
    if (railsDir === undefined) {
      writeLine(io.stderr, `railgate check: ${error.message}`);
      return 1;
    }
  }
  const { sets, issues } = await validateRails(path.resolve(io.cwd, railsDir), { upstreams });

  if (values.json) {
    const report = {
      ok: issues.length === 0,
      sets: sets.map(summary),
      issues: issues.map((issue) => ({ ...issue, text: formatIssue(issue, io.cwd) })),
    };
    writeLine(io.stdout, JSON.stringify(report, null, 2));
    return issues.length === 0 ? 0 : 1;
  }

  if (issues.length > 0) {
    for (const issue of issues) writeLine(io.stdout, formatIssue(issue, io.cwd));
    writeLine(io.stderr, `\n${plural(issues.length, 'issue')}`);
    return 1;
  }
  for (const set of sets) {
    const s = summary(set);
    writeLine(
      io.stdout,
      `ok ${s.name}: ${plural(s.intents, 'intent')}, ${plural(s.examples, 'example')}, ` +
        `${plural(s.tests, 'test')}, hash ${s.hash} (${displayPath(set.dir, io.cwd)})`,
    );
  }
  return 0;
};
