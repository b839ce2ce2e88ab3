import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalReport } from '../../src/authoring/metrics.js';
import { railgate, workspace } from './helpers.js';

let ws: Awaited<ReturnType<typeof workspace>>;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

async function evalJson(args: string[]): Promise<EvalReport> {
  const run = await railgate(ws.dir, ['eval', '--rails', 'rails', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as EvalReport;
}

// labelled.*: three in-scope items that are examples verbatim (matched), "Good morning" labelled
// password_reset (it is a greeting example: a confusion that matches), the capital of France (matches
// nothing) and "Hi there" labelled out of scope (a greeting example: a false match).
const EXPECTED = {
  n: 6,
  n_in_scope: 4,
  n_oos: 2,
  in_scope_accuracy: 0.75,
  top1_accuracy: 0.75,
  oos_recall: 0.5,
  balanced: 0.625,
  threshold: 0.5,
};

describe('railgate eval', () => {
  it('measures JSON lines data', async () => {
    const report = await evalJson(['--data', 'labelled.jsonl']);
    expect(report).toMatchObject(EXPECTED);
    const byIntent = Object.fromEntries(report.per_intent.map((i) => [i.intent, i]));
    expect(byIntent.password_reset).toMatchObject({ support: 3, predicted: 2, correct: 2, precision: 1 });
    expect(byIntent.password_reset!.recall).toBeCloseTo(2 / 3);
    expect(byIntent.greeting).toMatchObject({ support: 1, predicted: 3, correct: 1, recall: 1 });
    expect(byIntent.greeting!.precision).toBeCloseTo(1 / 3);
    expect(report.confusions).toEqual([{ expected: 'password_reset', got: 'greeting', count: 1, matched: 1 }]);
    expect(report.sweep.map((s) => s.threshold)).toEqual([
      0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9,
    ]);
  });

  it('reads CSV with quoted fields and named columns, and any unknown label means out of scope', async () => {
    const report = await evalJson(['--data', 'labelled.csv', '--text-column', 'message', '--label-column', 'intent']);
    expect(report).toMatchObject(EXPECTED);
    expect(report.oos_labels).toEqual({ oos: 1, out_of_scope: 1 });
  });

  it('prints the headline figures, per-intent table, confusions and sweep for people', async () => {
    const run = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'labelled.jsonl']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/in-scope accuracy\s+75\.0%\s+3\/4/);
    expect(run.stdout).toMatch(/top-1 accuracy\s+75\.0%/);
    expect(run.stdout).toMatch(/out-of-scope recall\s+50\.0%\s+1\/2/);
    expect(run.stdout).toContain('password_reset -> greeting: 1 (1 matched the wrong intent)');
    expect(run.stdout).toMatch(/0\.50\s+75\.0%\s+50\.0%\s+62\.5%\s+\(current\)/);
  });

  it('lists the items it decided wrongly, by file line, with what matched and the score', async () => {
    const report = await evalJson(['--data', 'labelled.jsonl']);
    expect(report.mistakes).toEqual([
      expect.objectContaining({ line: 5, text: 'Good morning', label: 'password_reset', matched: 'greeting' }),
      expect.objectContaining({ line: 7, text: 'Hi there', label: 'oos', expected: null, matched: 'greeting' }),
    ]);
    const data = [
      { text: 'Hello', label: 'greeting' },
      { text: 'What is the capital of France?', label: 'greeting' },
      { text: 'Hi there', label: 'nothing' },
    ];
    await writeFile(path.join(ws.dir, 'missed.jsonl'), data.map((d) => JSON.stringify(d)).join('\n'));
    const [missed] = (await evalJson(['--data', 'missed.jsonl'])).mistakes;
    expect(missed).toMatchObject({ line: 2, expected: 'greeting', matched: null });
    expect(missed!.score).toBeLessThan(0.5);

    const text = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'missed.jsonl']);
    expect(text.stdout).toContain('wrong decisions (2):');
    expect(text.stdout).toMatch(
      /line 2: "What is the capital of France\?" expected greeting, matched nothing \(best \w+ 0\.\d{3}\)/,
    );
    expect(text.stdout).toMatch(/line 3: "Hi there" expected nothing, matched greeting \(1\.000\)/);
    const first = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'missed.jsonl', '--mistakes', '1']);
    expect(first.stdout).toContain('wrong decisions (first 1 of 2; --mistakes N shows more, --json lists all):');
    expect(first.stdout).not.toContain('line 3:');
    const none = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'missed.jsonl', '--mistakes', '0']);
    expect(none.stdout).not.toContain('wrong decisions');
    const bad = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'missed.jsonl', '--mistakes', 'all']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--mistakes must be a number');
    const half = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'missed.jsonl', '--mistakes', '0.5']);
    expect([half.code, half.stderr.split('\n')[0]]).toEqual([
      2,
      'railgate eval: --mistakes must be a whole number, got "0.5"',
    ]);
    // Data is often logged traffic: a control character in it is shown escaped, never sent to the terminal.
    await writeFile(path.join(ws.dir, 'rtl.jsonl'), JSON.stringify({ text: 'Hi \u202e there', label: 'oos' }));
    const rtl = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'rtl.jsonl']);
    expect(rtl.stdout).not.toContain('\u202e');
    expect(rtl.stdout).toMatch(/line 1: "Hi \\u202e there" expected nothing, matched greeting/);
  });

  it('names the intent a label that is not one probably meant, so a typo is not counted out of scope unseen', async () => {
    const data = [
      { text: 'hello there', label: 'greetng' },
      { text: 'I forgot my password', label: 'Password_Reset' },
      { text: 'what is the weather', label: 'oos' },
      { text: 'tell me a joke', label: 'none' },
    ];
    await writeFile(path.join(ws.dir, 'typos.jsonl'), data.map((d) => JSON.stringify(d)).join('\n'));
    const run = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'typos.jsonl']);
    expect(run.stdout).toContain(
      'labels read as out of scope: greetng (1; did you mean greeting?), Password_Reset (1; did you mean password_reset?), oos (1), none (1)',
    );
  });

  it('sweeps thresholds with the same decisions a real run at that threshold makes', async () => {
    const report = await evalJson(['--data', 'sweep.jsonl']);
    const rates = (r: { in_scope_accuracy: number | null; oos_recall: number | null }) => [
      r.in_scope_accuracy,
      r.oos_recall,
    ];
    // Not a flat table: the data straddles the swept thresholds.
    expect(new Set(report.sweep.map((s) => JSON.stringify(rates(s)))).size).toBeGreaterThan(1);

    const file = path.join(ws.rails, 'support', 'support.yml');
    const original = await readFile(file, 'utf8');
    try {
      for (const row of report.sweep.filter((_, i) => i % 3 === 0)) {
        await writeFile(file, original.replace('threshold: 0.5 #', `threshold: ${row.threshold} #`));
        const rerun = await evalJson(['--data', 'sweep.jsonl']);
        expect(rerun.threshold).toBe(row.threshold);
        expect(rates(rerun)).toEqual(rates(row));
      }
    } finally {
      await writeFile(file, original);
    }
  });

  it('shows balanced as n/a when the data has no in-scope items, as accuracy is', async () => {
    await writeFile(
      path.join(ws.dir, 'oos-only.jsonl'),
      '{"text":"What is the capital of France?","label":"oos"}\n{"text":"Hi there","label":"oos"}\n',
    );
    const run = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'oos-only.jsonl']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^in-scope accuracy +n\/a {2}0\/0 /m);
    expect(run.stdout).toMatch(/^balanced +n\/a {2}\(accuracy \+ recall\) \/ 2$/m);
    expect(run.stdout).toMatch(/^ +0\.50 +n\/a +50\.0% +n\/a {2}\(current\)$/m);
    const report = await evalJson(['--data', 'oos-only.jsonl']);
    expect(report).toMatchObject({ n_in_scope: 0, n_oos: 2, in_scope_accuracy: null, oos_recall: 0.5, balanced: null });
    expect(report.sweep.every((s) => s.balanced === null)).toBe(true);
  });

  it('fails on a CSV row with more fields than the header, naming its line', async () => {
    await writeFile(path.join(ws.dir, 'extra.csv'), 'text,label\nhello,greeting\nhello, is anyone there,greeting\n');
    const run = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'extra.csv']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`railgate eval: ${path.join(ws.dir, 'extra.csv')}:3: expected 2 columns, found 3\n`);
  });

  it('fails with a usage error without --data, and exit 1 on a missing file or unknown set', async () => {
    const noData = await railgate(ws.dir, ['eval', '--rails', 'rails']);
    expect(noData.code).toBe(2);
    expect(noData.stderr).toContain('--data FILE is required');
    const missing = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'nope.jsonl']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const unknown = await railgate(ws.dir, ['eval', '--rails', 'rails', '--data', 'labelled.jsonl', '--set', 'x']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown rail set "x"');
  });
});
