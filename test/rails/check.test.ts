/** `railgate check`: what a rail author sees in the terminal and CI, and the exit codes. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureIO, VALID_INTENT, writeTree } from './helpers.js';

const BROKEN = {
  'shop/rail.yml': ['match:', '  threshold: 5', 'intents:', ...VALID_INTENT],
  'shop/more.yml': ['intents:', '  - id: greeting', '    action: refuse', '    examples: [hello]'],
};

describe('railgate check', () => {
  it('prints a summary line per valid set and exits 0', async () => {
    const root = writeTree({
      'b/rail.yml': ['intents:', ...VALID_INTENT, 'tests: [{ input: hey, expect: greeting }]'],
      'a/rail.yml': ['name: alpha', 'intents:', ...VALID_INTENT],
    });
    const io = captureIO(root);
    expect(await main(['check', '--rails', '.'], io)).toBe(0);
    const lines = io.out().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ok alpha: 1 intent, 1 example, 0 tests, hash [0-9a-f]{16} \(a\)$/);
    expect(lines[1]).toMatch(/^ok b: 1 intent, 1 example, 1 test, hash [0-9a-f]{16} \(b\)$/);
    expect(io.err()).toBe('');
  });

  it('prints every issue as file:line:column: message relative to the working directory and exits 1', async () => {
    const root = writeTree(BROKEN);
    const io = captureIO(root);
    expect(await main(['check', '--rails', 'shop'], io)).toBe(1);
    expect(io.out().trim().split('\n')).toEqual([
      'shop/rail.yml:2:14: `threshold` must be a number between 0 and 1 (a cosine similarity: higher is stricter), got 5',
      // Files are read in name order, so more.yml holds the first definition.
      'shop/rail.yml:4:9: duplicate intent id `greeting`; first defined at more.yml:2:9',
    ]);
    expect(io.err()).toMatch(/2 issues/);
  });

  it('--json reports sets and issues for tools', async () => {
    const root = writeTree({ ...BROKEN, 'good/rail.yml': ['intents:', ...VALID_INTENT] });
    const io = captureIO(root);
    expect(await main(['check', '--rails', root, '--json'], io)).toBe(1);
    const report = JSON.parse(io.out()) as {
      ok: boolean;
      sets: { name: string; intents: number; examples: number; tests: number; hash: string }[];
      issues: { file: string; line: number; column: number; message: string; text: string }[];
    };
    expect(report.ok).toBe(false);
    expect(report.sets).toEqual([
      { name: 'good', dir: path.join(root, 'good'), intents: 1, examples: 1, tests: 0, hash: expect.any(String) },
    ]);
    expect(report.issues[1]).toMatchObject({ file: path.join(root, 'shop/rail.yml'), line: 4, column: 9 });
    expect(report.issues[1]!.text).toMatch(/^shop\/rail\.yml:4:9: duplicate intent id/);
  });

  it('defaults to the rails setting: RAILGATE_RAILS, else ./rails, relative to the working directory', async () => {
    const root = writeTree({
      'custom/x/rail.yml': ['intents:', ...VALID_INTENT],
      'rails/y/rail.yml': BROKEN['shop/rail.yml'],
    });
    const fromEnv = captureIO(root, { RAILGATE_RAILS: 'custom' });
    expect(await main(['check'], fromEnv)).toBe(0);
    expect(fromEnv.out()).toMatch(/^ok x: /);
    const fromDefault = captureIO(root);
    expect(await main(['check'], fromDefault)).toBe(1);
    expect(fromDefault.out()).toMatch(/^rails\/y\/rail\.yml:2:14: /);
  });

  it('reports a missing rails folder', async () => {
    const root = writeTree({});
    const io = captureIO(root);
    expect(await main(['check', '--rails', 'nowhere'], io)).toBe(1);
    expect(io.out()).toMatch(/^nowhere: rails folder not found \(looked for \/.*\/nowhere\)\n$/);
    // A folder outside the working folder is shown whole, not as ../../ steps.
    const outside = path.join(path.dirname(root), 'railgate-nowhere');
    const far = captureIO(root);
    expect(await main(['check', '--rails', outside], far)).toBe(1);
    expect(far.out()).toBe(`${outside}: rails folder not found (looked for ${outside})\n`);
  });

  it('says a rail file given as the rails folder is a file, and names its folder', async () => {
    const root = writeTree({ 'shop/rail.yml': ['intents:', ...VALID_INTENT] });
    const io = captureIO(root);
    expect(await main(['check', '--rails', 'shop/rail.yml'], io)).toBe(1);
    expect(io.out()).toBe(
      `shop/rail.yml: is a file, not a rails folder: give the folder that holds it (${path.join(root, 'shop')})\n`,
    );
    const folder = captureIO(root);
    expect(await main(['check', '--rails', 'shop'], folder)).toBe(0);
  });

  it('passes on the shipped example rails', async () => {
    const io = captureIO(process.cwd());
    expect(await main(['check', '--rails', 'rails'], io)).toBe(0);
    expect(io.out()).toMatch(/^ok assistant: .*\(rails\/assistant\)\nok bank: .*\(rails\/bank\)\n$/);
  });

  it('exits 2 on a usage error and 0 with --help', async () => {
    const io = captureIO(process.cwd());
    expect(await main(['check', '--rail', 'x'], io)).toBe(2);
    expect(io.err()).toMatch(/Unknown option '--rail'/);
    expect(await main(['check', 'extra'], captureIO(process.cwd()))).toBe(2);
    const help = captureIO(process.cwd());
    expect(await main(['check', '--help'], help)).toBe(0);
    expect(help.out()).toMatch(/^usage: railgate check \[--rails DIR\] \[--json\]/);
  });
});
