import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/authoring/explain.js';
import { railgate, workspace } from './helpers.js';

let ws: Awaited<ReturnType<typeof workspace>>;
beforeAll(async () => {
  ws = await workspace();
});
afterAll(() => ws.cleanup());

describe('railgate explain', () => {
  it('shows the decision, the intents with score, threshold and margin, and their nearest examples', async () => {
    const run = await railgate(ws.dir, ['explain', 'I lost my password', '--rails-dir', 'rails']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^decision: respond \(intent password_reset, score 0\.\d{3} >= threshold 0\.500\)/);
    expect(run.stdout).toMatch(/runner-up: greeting/);
    expect(run.stdout).toMatch(/password_reset\s+0\.\d{3}\s+0\.500\s+pass\s+\+0\.\d{3}/);
    expect(run.stdout).toMatch(/greeting\s+0\.\d{3}\s+0\.500\s+fail\s+-0\.\d{3}/);
    expect(run.stdout).toContain('nearest examples:');
    expect(run.stdout).toMatch(/0\.\d{3} {2}"I forgot my password"/);
  });

  it('marks not_examples and explains a veto', async () => {
    const run = await railgate(ws.dir, ['explain', 'How do I reset my wifi router', '--rails-dir', 'rails']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^decision: refuse \(no match: .*not_examples/);
    expect(run.stdout).toMatch(/password_reset\s+0\.\d{3}\s+0\.500\s+veto/);
    expect(run.stdout).toContain('[not_example] "How do I reset my wifi router"');

    const json = await railgate(ws.dir, ['explain', 'How do I reset my wifi router', '--rails-dir', 'rails', '--json']);
    const explanation = JSON.parse(json.stdout) as Explanation;
    expect(explanation.decision).toMatchObject({ action: 'refuse', intent: null, reason: 'not_example' });
    // snake_case throughout, as the HTTP API's `railgate` object.
    expect(Object.keys(explanation.decision)).toEqual(expect.arrayContaining(['runner_up', 'rail_set', 'rails_hash']));
    expect(json.stdout).not.toMatch(/"[a-z]+[A-Z]\w*":/);
    const password = explanation.intents.find((i) => i.intent === 'password_reset')!;
    expect(password.vetoed).toBe(true);
    expect(password.not_example_score).toBeCloseTo(1, 5);
    expect(password.neighbours).toContainEqual(
      expect.objectContaining({ example: 'How do I reset my wifi router', not_example: true }),
    );
  });

  it('picks the set by name, and says which sets exist when the name is wrong', async () => {
    const ok = await railgate(ws.dir, ['explain', 'hi', '--rails', 'support', '--rails-dir', 'rails', '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { decision: { rail_set: string } }).decision.rail_set).toBe('support');
    const bad = await railgate(ws.dir, ['explain', 'hi', '--rails', 'bank', '--rails-dir', 'rails']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown rail set "bank"');
    expect(bad.stderr).toContain('sets: support');
    expect(bad.stderr).not.toContain('--rails-dir');
    const folder = await railgate(ws.dir, ['explain', 'hi', '--rails', './rails']);
    expect(folder.stderr).toContain('unknown rail set "./rails"');
    expect(folder.stderr).toContain('that looks like a folder: give it with --rails-dir');
  });

  it('finds the rails folder from the settings, and exits 2 without a message', async () => {
    const fromEnv = await railgate(ws.dir, ['explain', 'Hello'], { RAILGATE_RAILS: 'rails' });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain('intent greeting');
    const usage = await railgate(ws.dir, ['explain', '--rails-dir', 'rails']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: railgate explain');
  });

  it('says a message over limits.messageChars is not decided, with what the proxy answers, exit 1', async () => {
    const long = 'x'.repeat(32_001);
    const run = await railgate(ws.dir, ['explain', long, '--rails-dir', 'rails']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'railgate explain: the message is 32001 characters, over limits.messageChars (32000): the proxy decides ' +
        'nothing and answers 400 RG_ERR_MESSAGE_TOO_LONG ("The last user message is 32001 characters long; ' +
        'the limit is 32000.")\n',
    );
    // The limit is the setting's, and a message at it is decided.
    const env = { RAILGATE_MAX_MESSAGE_CHARS: '5' };
    const over = await railgate(ws.dir, ['explain', 'Hello!', '--rails-dir', 'rails'], env);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain('the message is 6 characters, over limits.messageChars (5)');
    // A mistyped set is the error to see first.
    const mistyped = await railgate(ws.dir, ['explain', 'Hello!', '--rails', 'nosuch', '--rails-dir', 'rails'], env);
    expect(mistyped.stderr).toContain('unknown rail set "nosuch"');
    const at = await railgate(ws.dir, ['explain', 'Hello', '--rails-dir', 'rails'], env);
    expect(at.code).toBe(0);
    expect(at.stdout).toContain('intent greeting');
  });

  it('lists --top in its usage line', async () => {
    const help = await railgate(ws.dir, ['explain', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.split('\n')[0]).toBe(
      'usage: railgate explain "<message>" [--rails SET] [--rails-dir DIR] [--top N] [--json]',
    );
  });

  it('says which chunk of a long message decided, and shows that chunk', async () => {
    const filler = Array.from({ length: 12 }, (_, i) => `Sentence ${i} is about the weather today.`).join(' ');
    const long = `${filler} I forgot my password and cannot log in. ${filler}`;
    const run = await railgate(ws.dir, ['explain', long, '--rails-dir', 'rails']);
    expect(run.code).toBe(0);
    const json = await railgate(ws.dir, ['explain', long, '--rails-dir', 'rails', '--json']);
    const { chunk } = (JSON.parse(json.stdout) as Explanation).decision;
    expect(chunk!.text).toContain('I forgot my password');
    expect(run.stdout).toContain(
      `decided by chunk ${chunk!.index + 1} of ${chunk!.count} (the scores below are its own): ${JSON.stringify(chunk!.text)}`,
    );
    expect((await railgate(ws.dir, ['explain', 'I lost my password', '--rails-dir', 'rails'])).stdout).not.toContain(
      'decided by chunk',
    );
  });

  it('chunks a long message as the proxy does, within limits.messageChunks', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `Sentence ${i} is about the weather today.`).join(' ');
    const chunksOf = async () => {
      const run = await railgate(ws.dir, ['explain', long, '--rails-dir', 'rails', '--json']);
      return (JSON.parse(run.stdout) as { decision: { chunk: { count: number } | null } }).decision.chunk!.count;
    };
    expect(await chunksOf()).toBeGreaterThan(4);
    await writeFile(path.join(ws.dir, 'railgate.config.json'), JSON.stringify({ limits: { messageChunks: 4 } }));
    expect(await chunksOf()).toBe(4);
  });
});
