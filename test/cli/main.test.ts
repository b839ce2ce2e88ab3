/** `railgate` itself: the command list, help for one command, the version, unknown commands. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../helpers/cli-io.js';

async function railgate(...args: string[]) {
  const io = captureIO(process.cwd());
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe('railgate', () => {
  it('prints the version of the package', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const args of [['--version'], ['-V'], ['help', '--version']])
      expect(await railgate(...args)).toEqual({ code: 0, out: `railgate ${version}\n`, err: '' });
  });

  it('`help COMMAND` is `COMMAND --help`', async () => {
    const viaHelp = await railgate('help', 'test');
    expect(viaHelp).toEqual(await railgate('test', '--help'));
    expect(viaHelp.out).toContain('usage: railgate test');
    const typo = await railgate('help', 'tset');
    expect(typo.code).toBe(2);
    expect(typo.err).toContain('unknown command "tset"; did you mean test?');
  });

  it('a usage error under --json is JSON on stdout too, whichever command and however it failed', async () => {
    const cases = [
      [['check', '--bogus', '--json'], 'Unknown option'],
      [['logs', '--since', '1x', '--json'], '1x'],
      [['replay', '--since', '1x', '--json'], '1x'],
      [['eval', '--json', '--bogus'], 'Unknown option'],
      [['calibrate', '--data', 'x.jsonl', '--target', 'fpr=2', '--json'], 'fpr=2'],
    ] as const;
    for (const [args, says] of cases) {
      const run = await railgate(...args);
      expect(run.code, args.join(' ')).toBe(2);
      const printed = JSON.parse(run.out) as { error: { message: string } };
      expect(printed.error.message).toContain(says);
      expect(run.err).toContain(printed.error.message);
    }
    // Without --json, stdout stays empty; a `--json` after `--`, or as another flag's value, is not the flag.
    expect((await railgate('check', '--bogus')).out).toBe('');
    expect((await railgate('check', '--bogus', '--', '--json')).out).toBe('');
    expect((await railgate('add-example', '--text', '--json', '--intent', 'x')).out).toBe('');
    // logs --json prints one object per line, its usage error too.
    expect((await railgate('logs', '--since', '1x', '--json')).out.trimEnd().split('\n')).toHaveLength(1);
    // An unknown command asked for JSON: the error on stdout, the command list on stderr.
    const unknown = await railgate('tset', '--json');
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.out)).toEqual({ error: { message: 'unknown command "tset"; did you mean test?' } });
    expect(unknown.err).toContain('usage: railgate <command>');
  });

  it('lists the commands, and an unknown one is a usage error (exit 2)', async () => {
    expect((await railgate('help')).out).toMatch(/^ {2}add-example +add a logged message/m);
    const unknown = await railgate('serv');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('railgate: unknown command "serv"; did you mean serve?');
  });
});
