/**
 * `railgate <command>`: each command lives in its own module under ./commands and is loaded on
 * demand, so `railgate check` never pays for the model or the HTTP stack.
 */
import { createRequire } from 'node:module';
import { asksForJson, processIO, usageErrorAsJson, writeLine, type CliCommand, type CliIO } from './io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: CliCommand }> }> = {
  serve: { summary: 'start the proxy', load: () => import('./commands/serve.js') },
  check: { summary: 'validate rails and print file:line errors', load: () => import('./commands/check.js') },
  logs: { summary: 'print logged decisions for review', load: () => import('./commands/logs.js') },
  explain: { summary: 'show how a message is decided', load: () => import('./commands/explain.js') },
  test: { summary: "run the rails' own test cases", load: () => import('./commands/test.js') },
  eval: { summary: 'measure accuracy on labelled data', load: () => import('./commands/eval.js') },
  calibrate: { summary: 'choose thresholds from labelled data', load: () => import('./commands/calibrate.js') },
  replay: { summary: 're-decide logged messages with the rails on disk', load: () => import('./commands/replay.js') },
  cache: { summary: 'remove cached vectors the rails no longer use', load: () => import('./commands/cache.js') },
  'add-example': {
    summary: "add a logged message to an intent's examples",
    load: () => import('./commands/add-example.js'),
  },
};

function usage(io: CliIO): void {
  writeLine(io.stdout, 'usage: railgate <command> [options]\n');
  for (const [name, { summary }] of Object.entries(COMMANDS)) writeLine(io.stdout, `  ${name.padEnd(12)} ${summary}`);
  writeLine(io.stdout, '\nrailgate <command> --help (or railgate help <command>) shows the options of one command;');
  writeLine(io.stdout, 'railgate --version prints the version.');
}

/** The version in package.json (dist/cli and src/cli both sit two folders below it). */
function version(): string {
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}

export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const [first, ...afterFirst] = argv;
  if (first === '--version' || first === '-V' || (first === 'help' && ['--version', '-V'].includes(afterFirst[0]!))) {
    writeLine(io.stdout, `railgate ${version()}`);
    return 0;
  }
  // `railgate help test` is `railgate test --help` (and `help tset` an unknown command, as `tset` is).
  const [name, ...rest] = first === 'help' && afterFirst[0] ? [afterFirst[0], '--help'] : argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    usage(io);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    // Loaded here only: the suggestion's module brings the YAML parser, which most commands never need.
    const { closest } = await import('../rails/reader.js');
    const meant = closest(name, Object.keys(COMMANDS));
    const message = `unknown command "${name}"${meant ? `; did you mean ${meant}?` : ''}`;
    writeLine(io.stderr, `railgate: ${message}`);
    if (asksForJson(rest)) {
      usage({ ...io, stdout: io.stderr });
      usageErrorAsJson(io, rest, message);
    } else usage(io);
    return 2;
  }
  const { run } = await command.load();
  return run(rest, io);
}
