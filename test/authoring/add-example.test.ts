import { chmod, lstat, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionLog } from '../../src/decisions/log.js';
import type { DecisionRecord } from '../../src/decisions/types.js';
import { loadRailSet } from '../../src/rails/load.js';
import { forwardedDecision, record, refusedDecision } from '../decisions/factory.js';
import { railgate, workspace } from './helpers.js';

let ws: Awaited<ReturnType<typeof workspace>>;
let db: string;
let supportFile: string;

function log(...records: Partial<DecisionRecord>[]): void {
  const decisions = DecisionLog.open(db);
  for (const r of records) decisions.write(record(r));
  decisions.close();
}

/** Lines of `after` that `before` lacks, and the reverse. */
function changedLines(before: string, after: string): { removed: string[]; added: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  return { removed: a.filter((l) => !b.includes(l)), added: b.filter((l) => !a.includes(l)) };
}

const add = (...argv: string[]) => railgate(ws.dir, ['add-example', ...argv, '--db', db, '--rails', ws.rails]);

beforeEach(async () => {
  ws = await workspace();
  db = path.join(ws.dir, 'railgate.db');
  supportFile = path.join(ws.rails, 'support', 'support.yml');
});
afterEach(() => ws.cleanup());

describe('railgate add-example', () => {
  it("adds a logged message to the intent's examples as one new line, keeping everything else", async () => {
    log({ requestId: 'req-lost', message: 'my password stopped working after the update' });
    const before = await readFile(supportFile, 'utf8');

    const run = await add('req-lost', '--intent', 'password_reset');

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const after = await readFile(supportFile, 'utf8');
    expect(changedLines(before, after)).toEqual({
      removed: [],
      added: ['      - my password stopped working after the update'],
    });
    // Right after the intent's last example, before its not_examples.
    expect(after).toContain(
      '      - I cannot log in, my password does not work\n      - my password stopped working after the update\n    not_examples:',
    );
    expect(run.stdout).toContain(
      'added to examples of intent password_reset (rail set support) at rails/support/support.yml:20',
    );
    // What to run next names the set: it runs while another set has issues, as add-example did.
    expect(run.stdout).toContain(
      'next: railgate test --rails rails --set support; railgate replay --rails rails --set support --since 7d',
    );
    const set = await loadRailSet(path.join(ws.rails, 'support'));
    expect(set.intents.find((i) => i.id === 'password_reset')?.examples).toContain(
      'my password stopped working after the update',
    );
  });

  it('turns a wrong match into a not_example, and the message is then no longer matched to that intent', async () => {
    const message = 'how do I reset the passcode on my phone';
    const explain = async () =>
      JSON.parse(
        (await railgate(ws.dir, ['explain', message, '--rails-dir', ws.rails, '--json'], { RAILGATE_DB: db })).stdout,
      ) as { decision: { intent: string | null; reason: string } };
    // The phone question borrows the intent's words: it matches password_reset before the edit.
    expect((await explain()).decision).toMatchObject({ intent: 'password_reset', reason: 'matched' });
    log({ requestId: 'req-phone', message });

    const run = await add('req-phone', '--intent', 'password_reset', '--not');

    expect(run.code).toBe(0);
    expect(await readFile(supportFile, 'utf8')).toContain(
      '    not_examples:\n      - How do I reset my wifi router\n      - how do I reset the passcode on my phone\n',
    );
    expect((await explain()).decision).toMatchObject({ intent: null, reason: 'not_example' });
  });

  it("writes in the list's own style: a flow list, or a new not_examples block after block examples", async () => {
    await writeFile(
      path.join(ws.rails, 'support', 'cards.yml'),
      [
        'intents:',
        '  - id: lost_card # cards go missing',
        '    action: respond',
        '    response: We have blocked it.',
        '    examples:',
        '      - I lost my card',
        '      - my card was stolen',
        '    # keep the next comment where it is',
        '',
        '  - id: card_limit',
        '    action: respond',
        '    response: See the app.',
        '    examples: [what is my card limit]',
        '',
      ].join('\n'),
    );
    const cards = path.join(ws.rails, 'support', 'cards.yml');

    expect((await add('--text', 'Hey, good evening!', '--intent', 'greeting')).code).toBe(0);
    expect((await add('--text', 'I lost my keys', '--intent', 'lost_card', '--not')).code).toBe(0);
    expect((await add('--text', 'my card: where is it?', '--intent', 'lost_card')).code).toBe(0);
    expect((await add('--text', 'limit on transfers', '--intent', 'card_limit', '--not')).code).toBe(0);

    expect(await readFile(supportFile, 'utf8')).toContain(
      '    examples: [Hello, Hi there, Good morning, "Hey, good evening!"]\n',
    );
    expect(await readFile(cards, 'utf8')).toBe(
      [
        'intents:',
        '  - id: lost_card # cards go missing',
        '    action: respond',
        '    response: We have blocked it.',
        '    examples:',
        '      - I lost my card',
        '      - my card was stolen',
        '      - "my card: where is it?"',
        '    not_examples:',
        '      - I lost my keys',
        '    # keep the next comment where it is',
        '',
        '  - id: card_limit',
        '    action: respond',
        '    response: See the app.',
        '    examples: [what is my card limit]',
        '    not_examples: ["limit on transfers"]',
        '',
      ].join('\n'),
    );
    const set = await loadRailSet(path.join(ws.rails, 'support'));
    expect(set.intents.find((i) => i.id === 'lost_card')).toMatchObject({
      examples: ['I lost my card', 'my card was stolen', 'my card: where is it?'],
      notExamples: ['I lost my keys'],
    });
  });

  it('shows where it would go with --dry-run, and escapes invisible characters so a diff shows them', async () => {
    const before = await readFile(supportFile, 'utf8');
    const dry = await add('--text', 'reset my PIN please', '--intent', 'password_reset', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would add to examples of intent password_reset');
    expect(dry.stdout).toContain('nothing written (--dry-run)');
    expect(await readFile(supportFile, 'utf8')).toBe(before);

    expect((await add('--text', 'reset \u202emy\u202c password\u200b', '--intent', 'password_reset')).code).toBe(0);
    const after = await readFile(supportFile, 'utf8');
    expect(after).toContain('      - "reset \\u202emy\\u202c password\\u200b"\n');
    expect(after).not.toMatch(/[\u202e\u200b]/);
    // Tag characters (past U+FFFF, the hidden-prompt kind) as YAML's 8-digit escape, which every YAML reader reads back.
    expect((await add('--text', 'reset my PIN \u{E0041}\u{E0042}', '--intent', 'password_reset')).code).toBe(0);
    expect(await readFile(supportFile, 'utf8')).toContain('"reset my PIN \\U000e0041\\U000e0042"');
    const set = await loadRailSet(path.join(ws.rails, 'support'));
    expect(set.intents.find((i) => i.id === 'password_reset')?.examples).toEqual(
      expect.arrayContaining(['reset \u202emy\u202c password\u200b', 'reset my PIN \u{E0041}\u{E0042}']),
    );
  });

  it('quotes a text that YAML 1.1 tools would read as a boolean or a number', async () => {
    for (const text of ['yes', 'off', '1:20'])
      expect((await add('--text', text, '--intent', 'password_reset')).code).toBe(0);
    const after = await readFile(supportFile, 'utf8');
    expect(after).toContain('      - "yes"\n      - "off"\n      - "1:20"\n');
    const set = await loadRailSet(path.join(ws.rails, 'support'));
    expect(set.intents.find((i) => i.id === 'password_reset')?.examples).toEqual(
      expect.arrayContaining(['yes', 'off', '1:20']),
    );
  });

  it('keeps a CRLF file in CRLF', async () => {
    const crlf = (await readFile(supportFile, 'utf8')).replace(/\n/g, '\r\n');
    await writeFile(supportFile, crlf);

    expect((await add('--text', 'I need a new password', '--intent', 'password_reset')).code).toBe(0);

    const after = await readFile(supportFile, 'utf8');
    expect(after).toContain('      - I need a new password\r\n');
    expect(after.replace(/\r\n/g, '')).not.toContain('\n');
  });

  it('adds only the chunk that decided a long message with --chunk, and says so without it', async () => {
    const chunk = 'I forgot the password for my online banking';
    log({
      requestId: 'req-long',
      message: `Some background first. ${chunk}. And more text after it.`,
      decision: forwardedDecision({ intent: 'password_reset', chunk: { index: 1, count: 3, text: chunk } }),
    });

    const whole = await add('req-long', '--intent', 'greeting', '--not');
    expect(whole.code).toBe(0);
    expect(whole.stdout).toMatch(/was made by chunk 2\/3; --chunk adds only that part/);

    const part = await add('req-long', '--intent', 'password_reset', '--chunk', '--json');
    expect(part.code).toBe(0);
    expect(JSON.parse(part.stdout)).toMatchObject({
      rail_set: 'support',
      intent: 'password_reset',
      list: 'examples',
      text: chunk,
      file: supportFile,
      request_id: 'req-long',
    });
  });

  it('says when the logged message is the earlier one that refused the request, not its last', async () => {
    log({
      requestId: 'req-earlier',
      message: 'how do I get into my ex-partner account without the password',
      decision: refusedDecision({ intent: 'password_reset', reason: 'earlier_message' }),
    });
    const dry = await add('req-earlier', '--intent', 'greeting', '--dry-run');
    expect(dry.stdout).toMatch(
      /refused the request for an earlier user message: this is that message, not the request's last one/,
    );
    const json = await add('req-earlier', '--intent', 'greeting', '--dry-run', '--json');
    expect(JSON.parse(json.stdout).notes).toEqual([expect.stringContaining('earlier user message')]);
  });

  it('writes through a symbolic link to the real file, and refuses an anchored list aliases share', async () => {
    const real = path.join(ws.dir, 'shared-support.yml');
    await rename(supportFile, real);
    await chmod(real, 0o640);
    await symlink(real, supportFile);
    expect((await add('--text', 'I need a new password', '--intent', 'password_reset')).code).toBe(0);
    expect((await lstat(supportFile)).isSymbolicLink()).toBe(true);
    expect(await readFile(real, 'utf8')).toContain('      - I need a new password\n');
    expect((await stat(real)).mode & 0o777).toBe(0o640);

    await writeFile(
      path.join(ws.rails, 'support', 'alias.yml'),
      'intents:\n  - id: a\n    action: respond\n    response: A.\n    examples: &shared [apples, pears]\n' +
        '  - id: b\n    action: respond\n    response: B.\n    examples: [bananas]\n    not_examples: *shared\n',
    );
    const anchored = await add('--text', 'plums', '--intent', 'a');
    expect(anchored.code).toBe(1);
    expect(anchored.stderr).toContain('the list is the anchor &shared');
    const alias = await add('--text', 'plums', '--intent', 'b', '--not');
    expect(alias.stderr).toContain('`not_examples` of intent `b` is the alias *shared');
  });

  it('refuses what the loader would reject, and leaves the file untouched', async () => {
    log(
      { requestId: 'req-dup', message: '  i FORGOT my   password ' },
      { requestId: 'req-wifi', message: 'How do I reset my wifi router' },
    );
    const before = await readFile(supportFile, 'utf8');

    const duplicate = await add('req-dup', '--intent', 'greeting');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('not added: it is already an example of intent `password_reset`');

    const contradiction = await add('req-wifi', '--intent', 'password_reset');
    expect(contradiction.code).toBe(1);
    expect(contradiction.stderr).toContain('it is a not_example of intent `password_reset`; remove it there first');
    expect(await readFile(supportFile, 'utf8')).toBe(before);

    // Another intent's example may well be a near-miss of this one.
    expect((await add('req-dup', '--intent', 'greeting', '--not')).code).toBe(0);
    expect(await readFile(supportFile, 'utf8')).not.toBe(before);
  });

  it('names what is missing: request, log row, intent, chunk; and bad arguments are usage errors', async () => {
    log({ requestId: 'req-1', message: 'hello again' });

    const unknownRequest = await add('req-nope', '--intent', 'greeting');
    expect([unknownRequest.code, unknownRequest.stderr]).toEqual([
      1,
      expect.stringContaining('no logged decision with request id "req-nope"'),
    ]);
    expect((await add('#99', '--intent', 'greeting')).stderr).toContain('no logged decision #99');
    const unknownIntent = await add('req-1', '--intent', 'weather');
    expect(unknownIntent.code).toBe(1);
    expect(unknownIntent.stderr).toContain(
      'rail set "support" has no intent "weather" (intents: password_reset, greeting)',
    );
    expect((await add('req-1', '--intent', 'greeting', '--chunk')).stderr).toContain('was not made by a chunk');
    expect((await add('#1', '--intent', 'greeting')).code).toBe(0);

    expect((await add('req-1')).code).toBe(2);
    expect((await add('req-1', '--text', 'hi', '--intent', 'greeting')).code).toBe(2);
    expect((await add('--intent', 'greeting')).code).toBe(2);
    expect((await add('req-1', 'extra', '--intent', 'greeting')).code).toBe(2);
  });
});
