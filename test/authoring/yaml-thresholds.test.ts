import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeThresholds } from '../../src/authoring/yaml-thresholds.js';
import { loadRailSet } from '../../src/rails/load.js';
import { workspace } from './helpers.js';

let ws: Awaited<ReturnType<typeof workspace>>;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  return { removed: a.filter((l) => !b.includes(l)), added: b.filter((l) => !a.includes(l)) };
}

describe('writeThresholds', () => {
  it('changes only the threshold lines and keeps every comment and the layout', async () => {
    const dir = path.join(ws.rails, 'support');
    const file = path.join(dir, 'support.yml');
    const before = await readFile(file, 'utf8');
    const set = await loadRailSet(dir);

    const edits = await writeThresholds(set, { set: 0.62, intents: new Map([['password_reset', 0.55]]) });

    const after = await readFile(file, 'utf8');
    expect(changedLines(before, after)).toEqual({
      removed: ['  threshold: 0.5 # hand-tuned, before any data'],
      added: ['  threshold: 0.62 # hand-tuned, before any data', '    threshold: 0.55'],
    });
    for (const line of before.split('\n').filter((l) => l.includes('#')))
      expect(after).toContain(line.slice(line.indexOf('#')));
    // The new key sits in the password_reset intent, right under its id.
    expect(after).toContain('  - id: password_reset\n    threshold: 0.55\n    action: respond');
    expect(edits.map((e) => [e.what, e.before, e.after])).toEqual([
      ['match.threshold', 0.5, 0.62],
      ['password_reset', undefined, 0.55],
    ]);
    const reloaded = await loadRailSet(dir);
    expect(reloaded.match.threshold).toBe(0.62);
    expect(reloaded.intents.find((i) => i.id === 'password_reset')?.threshold).toBe(0.55);
    expect(reloaded.intents.find((i) => i.id === 'greeting')?.threshold).toBeUndefined();
  });

  it('writes into the file that defines each threshold, in flow and block style, across files', async () => {
    const dir = path.join(ws.dir, 'multi');
    await mkdir(dir);
    const setFile = path.join(dir, 'a-set.yml');
    const intentsFile = path.join(dir, 'b-intents.yml');
    await writeFile(setFile, '# the set\nname: multi # set name\nrefusal: No.\n');
    const intentsText = [
      '# intents, one per style',
      'intents:',
      '  - { id: hello, action: refuse, examples: [hi] } # flow style',
      '  - id: bye',
      '    action: refuse',
      '    threshold: 0.7 # was hand-set',
      '    examples:',
      '      - goodbye',
      '  - id: thanks',
      '    action: refuse',
      '    threshold: 0.8',
      '    examples: [thank you]',
      '',
    ].join('\n');
    await writeFile(intentsFile, intentsText);
    const set = await loadRailSet(dir);

    // `thanks` is not in the plan's overrides any more: it follows the set, written into its existing key.
    await writeThresholds(set, {
      set: 0.45,
      intents: new Map([
        ['hello', 0.6],
        ['bye', 0.71],
      ]),
    });

    expect(await readFile(setFile, 'utf8')).toBe(
      '# the set\nname: multi # set name\nmatch: { threshold: 0.45 }\nrefusal: No.\n',
    );
    const intents = await readFile(intentsFile, 'utf8');
    expect(intents).toContain('  - { id: hello, action: refuse, examples: [hi], threshold: 0.6 } # flow style');
    expect(intents).toContain('    threshold: 0.71 # was hand-set');
    expect(intents).toContain('    threshold: 0.45\n    examples: [thank you]');
    const reloaded = await loadRailSet(dir);
    expect(reloaded.match.threshold).toBe(0.45);
    expect(Object.fromEntries(reloaded.intents.map((i) => [i.id, i.threshold]))).toEqual({
      hello: 0.6,
      bye: 0.71,
      thanks: 0.45,
    });
  });

  it('writes nothing when the files already hold the plan', async () => {
    const dir = path.join(ws.rails, 'support');
    const before = await readFile(path.join(dir, 'support.yml'), 'utf8');
    const edits = await writeThresholds(await loadRailSet(dir), { set: 0.5, intents: new Map() });
    expect(edits).toEqual([]);
    expect(await readFile(path.join(dir, 'support.yml'), 'utf8')).toBe(before);
  });

  it('keeps a CRLF file CRLF, also on the lines it adds', async () => {
    const dir = path.join(ws.dir, 'crlf');
    await mkdir(dir);
    const file = path.join(dir, 'rail.yml');
    const lines = ['name: crlf', 'intents:', '  - id: bye', '    action: refuse', '    examples: [goodbye]', ''];
    await writeFile(file, lines.join('\r\n'));
    await writeThresholds(await loadRailSet(dir), { set: 0.6, intents: new Map([['bye', 0.7]]) });
    const text = await readFile(file, 'utf8');
    expect(text.split('\r\n')).toEqual([
      'name: crlf',
      'match: { threshold: 0.6 }',
      'intents:',
      '  - id: bye',
      '    threshold: 0.7',
      '    action: refuse',
      '    examples: [goodbye]',
      '',
    ]);
  });

  it('refuses to write through a YAML anchor that aliases share, and writes nothing', async () => {
    const dir = path.join(ws.dir, 'anchored');
    await mkdir(dir);
    const file = path.join(dir, 'rail.yml');
    const text = [
      'intents:',
      '  - id: status',
      '    action: refuse',
      '    threshold: &strict 0.7',
      '    examples: [where is my order]',
      '  - id: returns',
      '    action: refuse',
      '    threshold: *strict',
      '    examples: [I want to return this]',
      '',
    ].join('\n');
    await writeFile(file, text);
    const set = await loadRailSet(dir);
    // The plan keeps `returns` at 0.7: moving the anchored number would move it too.
    await expect(
      writeThresholds(set, {
        set: 0.5,
        intents: new Map([
          ['status', 0.51],
          ['returns', 0.7],
        ]),
      }),
    ).rejects.toThrow(/anchor &strict.*set it by hand/);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});
