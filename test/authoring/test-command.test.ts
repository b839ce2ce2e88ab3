import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { railgate, workspace } from './helpers.js';

let ws: Awaited<ReturnType<typeof workspace>>;
beforeEach(async () => {
  ws = await workspace();
});
afterEach(() => ws.cleanup());

describe('railgate test', () => {
  it('passes when every case decides as expected', async () => {
    const run = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('3 passed, 0 failed');
  });

  it('fails with file:line, what was expected and what matched instead', async () => {
    const file = path.join(ws.rails, 'support', 'support.yml');
    await appendFile(file, '  - input: I forgot my password\n    expect: greeting\n');
    const line = (await readFile(file, 'utf8')).split('\n').indexOf('  - input: I forgot my password') + 1;

    const run = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`rails/support/support.yml:${line}:5: FAIL "I forgot my password"`);
    expect(run.stdout).toMatch(
      /expected greeting \(its score 0\.\d{3}, threshold 0\.500\), matched password_reset \(score 1\.000 >= threshold 0\.500; runner-up greeting 0\.\d{3}\)/,
    );
    expect(run.stdout).toMatch(/^3 passed, 1 failed$/m);

    const json = await railgate(ws.dir, ['test', '--rails', 'rails', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as {
      passed: number;
      failed: number;
      cases: { pass: boolean; got: string; line: number }[];
    };
    expect(report).toMatchObject({ passed: 3, failed: 1 });
    expect(report.cases.find((c) => !c.pass)).toMatchObject({ got: 'password_reset', line });
  });

  it('fails a case whose input is over limits.messageChars: the proxy would answer 400, not decide', async () => {
    const file = path.join(ws.rails, 'support', 'support.yml');
    const long = 'I forgot my password and I cannot sign in to my account any more';
    await appendFile(file, `  - input: ${long}\n    expect: password_reset\n`);
    expect((await railgate(ws.dir, ['test', '--rails', 'rails'])).code).toBe(0);

    await writeFile(path.join(ws.dir, 'railgate.config.json'), JSON.stringify({ limits: { messageChars: 40 } }));
    const run = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `the input is ${long.length} characters, over limits.messageChars (40): the proxy decides nothing and answers 400 RG_ERR_MESSAGE_TOO_LONG`,
    );
    expect(run.stdout).toMatch(/^3 passed, 1 failed$/m);
  });

  it('lists near misses: passing cases close to the threshold or the runner-up', async () => {
    const none = await railgate(ws.dir, ['test', '--rails', 'rails', '--near-miss', '0']);
    expect(none.stdout).not.toContain('near miss');
    const all = await railgate(ws.dir, ['test', '--rails', 'rails', '--near-miss', '1']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(
      /support\.yml:\d+:5: near miss "What is the capital of France\?": \w+ scored 0\.\d{3}, only 0\.\d{3} below its threshold/,
    );
    expect(all.stdout).toMatch(/near miss "Hello": .*runner-up password_reset 0\.\d{3} is only 0\.\d{3} behind/);
    expect(all.stdout.trimEnd().split('\n').at(-1)).toBe('3 passed, 0 failed');
  });

  it('measures a near miss against match.margin when the set has one', async () => {
    const report = JSON.parse((await railgate(ws.dir, ['test', '--rails', 'rails', '--json'])).stdout) as {
      cases: { input: string; expect: string; score: number; runner_up: { score: number } | null }[];
    };
    const matched = report.cases.filter((c) => c.expect !== 'no_match' && c.runner_up);
    const leads = matched.map((c) => ({ input: c.input, lead: c.score - c.runner_up!.score }));
    const closest = leads.reduce((a, b) => (b.lead < a.lead ? b : a));
    expect(closest.lead).toBeGreaterThan(0.05);
    const near = ['test', '--rails', 'rails', '--near-miss', '0.02'];
    expect((await railgate(ws.dir, near)).stdout).not.toContain(`near miss ${JSON.stringify(closest.input)}`);
    // With a margin just under the smallest lead, that case is 0.01 from becoming a no-match.
    const file = path.join(ws.rails, 'support', 'support.yml');
    const yaml = await readFile(file, 'utf8');
    await writeFile(file, yaml.replace('  k: 10', `  k: 10\n  margin: ${(closest.lead - 0.01).toFixed(4)}`));
    const run = await railgate(ws.dir, near);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`near miss ${JSON.stringify(closest.input)}: `);
    expect(run.stdout).toMatch(/is only 0\.\d{3} behind \(match\.margin 0\.\d{3}\)/);
  });

  it('fails and says so when there is no test case to run', async () => {
    const file = path.join(ws.rails, 'support', 'support.yml');
    const yaml = await readFile(file, 'utf8');
    await writeFile(file, yaml.slice(0, yaml.indexOf('tests:')));
    const run = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no tests in rail set: support');
    expect(run.stderr).toContain('no test cases to run');
    // A CI step reading --json still gets JSON: the failure.
    const json = await railgate(ws.dir, ['test', '--rails', 'rails', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ error: { message: expect.stringContaining('no test cases to run') } });
  });

  it('with --json, prints the rails issues as JSON when the rails do not load', async () => {
    const file = path.join(ws.rails, 'support', 'support.yml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('action: respond', 'action: reply'));
    const run = await railgate(ws.dir, ['test', '--rails', 'rails', '--json']);
    expect(run.code).toBe(1);
    const { error } = JSON.parse(run.stdout) as { error: { code: string; issues: { file: string; line: number }[] } };
    expect(error.code).toBe('RG_ERR_RAILS_INVALID');
    expect(error.issues[0]).toMatchObject({ file: file, line: expect.any(Number) });
  });

  it("reads rail-example vectors from the proxy's example cache (embedding.cacheDb)", async () => {
    expect((await railgate(ws.dir, ['test', '--rails', 'rails'])).code).toBe(0);
    const db = new Database(path.join(ws.dir, 'data', 'embeddings.db'));
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM example_embeddings').get() as { n: number };
    expect(n).toBeGreaterThan(3);
    // Give every cached example the same vector: a run that reads the cache can no longer tell intents apart.
    db.prepare('UPDATE example_embeddings SET vector = (SELECT vector FROM example_embeddings LIMIT 1)').run();
    db.close();
    const cached = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(cached.code).toBe(1);
    const uncached = await railgate(ws.dir, ['test', '--rails', 'rails'], { RAILGATE_EMBED_CACHE_DB: ':memory:' });
    expect(uncached.code).toBe(0);
  });

  it("tests one named set while another team's set is broken, saying so; all sets still need all valid", async () => {
    await mkdir(path.join(ws.rails, 'drafts'));
    await writeFile(path.join(ws.rails, 'drafts', 'rail.yml'), 'intents:\n  - id: x\n    action: reply\n');
    const one = await railgate(ws.dir, ['test', '--rails', 'rails', '--set', 'support']);
    expect(one.code).toBe(0);
    expect(one.stdout.trimEnd().split('\n').at(-1)).toBe('3 passed, 0 failed');
    expect(one.stderr).toContain(
      'note: other rail sets have issues (rails/drafts/rail.yml; railgate check lists them)',
    );
    const all = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/drafts\/rail\.yml:3:13: .*reply/);
    // The broken set itself named: its issues are what to see.
    const broken = await railgate(ws.dir, ['test', '--rails', 'rails', '--set', 'drafts']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/drafts\/rail\.yml:3:13: /);
  });

  it('exits 2 on a bad option and 1 on invalid rails', async () => {
    expect((await railgate(ws.dir, ['test', '--rails', 'rails', '--near-miss', 'lots'])).code).toBe(2);
    await appendFile(path.join(ws.rails, 'support', 'support.yml'), '  - input: x\n    expect: no_such_intent\n');
    const invalid = await railgate(ws.dir, ['test', '--rails', 'rails']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/support\.yml:\d+:\d+: .*no_such_intent/);
  });
});
