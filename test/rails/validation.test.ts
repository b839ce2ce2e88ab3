/**
 * Every rail mistake is reported at the exact file:line:column of the node it is about, with a message
 * that says what to do. Line N of a fixture is entry N-1 of its array.
 */
import { describe, expect, it } from 'vitest';
import { issuesOf, VALID_INTENT } from './helpers.js';

describe('YAML syntax', () => {
  it('reports a syntax error at its position, and only that for the broken file', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                 1
        '  - id: lost', //             2
        '    action: refuse', //       3
        '    examples: [one, two', //  4
        '    bogus_key: 1', //         5
      ],
    });
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]).toMatch(/^rail\.yml:5:\d+: YAML: /);
    expect(issues.join('\n')).not.toMatch(/unknown key/);
  });

  it('says a rail file holds one YAML document, at the second one', async () => {
    const issues = await issuesOf({
      'rail.yml': ['intents:', ...VALID_INTENT, '---', 'intents:', ...VALID_INTENT],
    });
    expect(issues).toEqual([
      'rail.yml:6:1: a rail file holds one YAML document; this is a second one (a `---` line starts one)',
    ]);
    // A `---` before the first (and only) document is fine.
    expect(await issuesOf({ 'rail.yml': ['---', 'intents:', ...VALID_INTENT] })).toEqual([]);
  });

  it('says merge keys (<<) are not supported, once, at the key', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                  1
        '  - &defaults', //             2
        '    id: base', //              3
        '    action: respond', //       4
        '    response: Hello!', //      5
        '    examples: [hello]', //     6
        '  - <<: *defaults', //         7
        '    id: greet', //             8
        '    examples: [hi there]', //  9
      ],
    });
    expect(issues).toEqual(['rail.yml:7:5: YAML merge keys (<<) are not supported; write the keys out']);
    const topLevel = await issuesOf({
      'rail.yml': ['base: &base', '  threshold: 0.5', 'match:', '  <<: *base', '  k: 5', 'intents:', ...VALID_INTENT],
    });
    expect(topLevel).toEqual([
      expect.stringMatching(/^rail\.yml:1:1: unknown key `base` in a rail file/),
      'rail.yml:4:3: YAML merge keys (<<) are not supported; write the keys out',
    ]);
  });

  it('reports a key given twice in one mapping', async () => {
    const issues = await issuesOf({
      'rail.yml': ['refusal: one', 'refusal: two', 'intents:', ...VALID_INTENT],
    });
    expect(issues).toEqual([expect.stringMatching(/^rail\.yml:2:1: YAML: Map keys must be unique/)]);
  });
});

describe('keys', () => {
  it('names the unknown key, suggests the closest allowed one and lists them all', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //               1
        '  - id: lost', //           2
        '    action: refuse', //     3
        '    exmaples: [a, b]', //   4
      ],
    });
    expect(issues).toContain(
      'rail.yml:4:5: unknown key `exmaples` in an intent; did you mean `examples`? (allowed: id, description, ' +
        'action, examples, not_examples, prompt, user_message_slot, model, response, message, threshold)',
    );
    expect(issues).toContain('rail.yml:2:5: intent `lost` is missing the required key `examples`');
  });

  it('suggests the snake_case key for a camelCase one, at the top level too', async () => {
    const issues = await issuesOf({
      'rail.yml': ['onNoMatch: passthrough', 'intent:', ...VALID_INTENT],
    });
    expect(issues[0]).toMatch(/^rail\.yml:1:1: unknown key `onNoMatch` in a rail file; did you mean `on_no_match`\?/);
    expect(issues[1]).toMatch(/^rail\.yml:2:1: unknown key `intent` in a rail file; did you mean `intents`\?/);
  });

  it('reports each missing required key at the start of the intent', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //              1
        '  - description: x', //   2
        '    examples: [a]', //    3
      ],
    });
    expect(issues).toEqual([
      'rail.yml:2:5: an intent is missing the required key `id`',
      'rail.yml:2:5: an intent is missing the required key `action`',
    ]);
  });
});

describe('types and values', () => {
  it('says what type was expected and what was found, at the value', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'match:', //                        1
        '  k: ten', //                      2
        'intents:', //                      3
        '  - id: greeting', //              4
        '    action: respond', //           5
        '    response: Hello!', //          6
        '    examples: hello', //           7
        '  - id: slot', //                  8
        '    action: forward', //           9
        '    user_message_slot: "yes"', //  10
        '    prompt: [{ role: system, content: Hi }]', // 11
        '    examples: [42, "fine", true]', // 12
      ],
    });
    expect(issues).toEqual([
      'rail.yml:2:6: `k` must be a whole number of at least 1, got a string',
      'rail.yml:7:15: `examples` must be a list, got a string',
      'rail.yml:10:24: `user_message_slot` must be true or false, got a string',
      'rail.yml:12:16: each entry of `examples` must be a string, got the number 42 (put it in quotes to make it text)',
      'rail.yml:12:28: each entry of `examples` must be a string, got the boolean true (put it in quotes to make it text)',
    ]);
  });

  it('explains that ": " inside unquoted text made a mapping', async () => {
    const issues = await issuesOf({
      'rail.yml': ['intents:', '  - id: a', '    action: refuse', '    examples:', '      - note: this is text'],
    });
    expect(issues).toEqual([
      'rail.yml:5:9: each entry of `examples` must be a string, got a mapping ' +
        '(a ": " inside text starts a mapping: put the text in quotes)',
    ]);
  });

  it('rejects thresholds and margins outside [0, 1], calling them similarities', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'match:', //                1
        '  threshold: 1.2', //      2
        '  margin: -0.1', //        3
        'intents:', //              4
        '  - id: a', //             5
        '    action: refuse', //    6
        '    threshold: 7', //      7
        '    examples: [x]', //     8
      ],
    });
    expect(issues).toEqual([
      'rail.yml:2:14: `threshold` must be a number between 0 and 1 (a cosine similarity: higher is stricter), got 1.2',
      'rail.yml:3:11: `margin` must be a number between 0 and 1, got -0.1',
      'rail.yml:7:16: `threshold` must be a number between 0 and 1 (a cosine similarity: higher is stricter), got 7',
    ]);
  });

  it('rejects top_k larger than k, an unknown aggregate and an unknown provider', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'embedding: { provider: bundeld }', // 1
        'match:', //                            2
        '  k: 2', //                            3
        '  top_k: 5', //                        4
        '  aggregate: mean', //                 5
        'intents:',
        ...VALID_INTENT,
      ],
    });
    expect(issues).toEqual([
      'rail.yml:1:24: `provider` must be one of bundled, transformers, openai, got "bundeld"; did you mean `bundled`?',
      'rail.yml:4:10: `top_k` (5) must not exceed `k` (2), the neighbours retrieved',
      'rail.yml:5:14: `aggregate` must be one of max, mean_top_k, got "mean"; did you mean `mean_top_k`?',
    ]);
  });

  it('rejects empty example lists, empty examples and empty strings', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'refusal: ""', //            1
        'intents:', //               2
        '  - id: a', //              3
        '    action: refuse', //     4
        '    examples: []', //       5
        '  - id: b', //              6
        '    action: respond', //    7
        "    response: '  '", //     8
        '    examples:', //          9
        '      - fine', //           10
        '      - ""', //             11
        '      -', //                12
      ],
    });
    expect(issues).toEqual([
      'rail.yml:1:10: `refusal` must not be empty',
      'rail.yml:5:15: `examples` must list at least one entry',
      'rail.yml:8:15: `response` must not be empty',
      'rail.yml:11:9: entries of `examples` must not be empty',
      expect.stringMatching(/^rail\.yml:12:8: each entry of `examples` must be a string, got an empty value/),
    ]);
  });

  it('rejects a key with no value, pointing at the key', async () => {
    const issues = await issuesOf({ 'rail.yml': ['intents:', '  - id: a', '    action: refuse', '    examples:'] });
    expect(issues).toEqual(['rail.yml:4:5: `examples` must be a list, got an empty value']);
  });

  it('rejects reserved and malformed intent ids', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                                    1
        '  - { id: no_match, action: refuse, examples: [a] }', // 2
        '  - { id: Card Lost, action: refuse, examples: [b] }', // 3
      ],
    });
    expect(issues).toEqual([
      'rail.yml:2:11: intent id `no_match` is reserved (tests use `no_match` for "matches nothing")',
      'rail.yml:3:11: intent id "Card Lost" must start with a lowercase letter and hold only a-z, 0-9, "_", "." and "-"',
    ]);
  });

  it('follows YAML aliases and reports an unknown one', async () => {
    const ok = await issuesOf({
      'rail.yml': [
        'intents:',
        '  - id: a',
        '    action: refuse',
        '    examples: &shared [one, two]',
        '  - id: b',
        '    action: refuse',
        '    examples: [three]',
        '    not_examples: *shared',
      ],
    });
    expect(ok).toEqual([]);
    const issues = await issuesOf({
      'rail.yml': ['intents:', '  - id: a', '    action: refuse', '    examples: *nope'],
    });
    expect(issues).toEqual(['rail.yml:4:15: unknown alias `*nope`']);
  });
});

describe('across files of one set', () => {
  it('names the first definition of a duplicate intent id', async () => {
    const issues = await issuesOf({
      'a.yml': ['intents:', '  - id: lost', '    action: refuse', '    examples: [one]'],
      'b.yml': [
        'intents:',
        '  - id: other',
        '    action: refuse',
        '    examples: [two]',
        '  - id: lost',
        '    action: refuse',
        '    examples: [three]',
      ],
    });
    expect(issues).toEqual(['b.yml:5:9: duplicate intent id `lost`; first defined at a.yml:2:9']);
  });

  it('allows a set-level key in only one file, naming both places', async () => {
    const issues = await issuesOf({
      'rail.yml': ['name: shop', 'match:', '  threshold: 0.5'],
      'support.yml': ['intents:', ...VALID_INTENT, 'match:', '  threshold: 0.6'],
    });
    expect(issues).toEqual([
      'support.yml:6:1: `match` is already set at rail.yml:2:1; set-level keys (name, description, embedding, ' +
        'match, on_no_match, refusal, upstream) may appear in only one file of a set',
    ]);
  });

  it('rejects a test expecting an unknown intent, suggesting the closest id', async () => {
    const issues = await issuesOf({
      'rail.yml': ['tests:', '  - { input: hello, expect: greting }', '  - { input: weather?, expect: no_match }'],
      'intents.yml': ['intents:', ...VALID_INTENT],
    });
    expect(issues).toEqual([
      'rail.yml:2:29: `expect` "greting" is not an intent of this set nor `no_match`; did you mean `greeting`?',
    ]);
  });

  it('rejects one example claimed by two intents, an example that is also a not_example, a not_example twice', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                                    1
        '  - id: a', //                                   2
        '    action: refuse', //                          3
        '    examples: [Reset my PIN, other]', //          4
        '    not_examples: [other, near, "Near "]', //    5
        '  - id: b', //                                   6
        '    action: refuse', //                          7
        '    examples: ["reset  my pin"]', //             8
      ],
    });
    expect(issues).toEqual([
      'rail.yml:5:20: not_example is also an example of intent `a`',
      'rail.yml:5:33: duplicate not_example; already listed at rail.yml:5:27',
      'rail.yml:8:16: example of intent `b` is also an example of intent `a` (rail.yml:4:16); one sentence cannot mean two intents',
    ]);
  });

  it('names both intents when one example list is shared through a YAML alias', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:',
        '  - id: a',
        '    action: refuse',
        '    examples: &shared [Reset my PIN]',
        '  - id: b',
        '    action: refuse',
        '    examples: *shared',
      ],
    });
    expect(issues).toEqual([
      'rail.yml:4:24: example of intent `b` is also an example of intent `a` (the same YAML node, reused through an alias); one sentence cannot mean two intents',
    ]);
  });

  it('collects every issue of every file instead of stopping at the first', async () => {
    const issues = await issuesOf({
      'a.yml': ['intents:', '  - id: a', '    action: forward', '    examples: []'],
      'b.yml': ['match: { threshold: 2 }', 'tests: [{ input: x, expect: nope }]'],
      'c.yml': 'intents: [',
    });
    expect(issues.map((i) => i.split(':')[0])).toEqual(['a.yml', 'a.yml', 'b.yml', 'c.yml']);
  });
});

describe('folders', () => {
  it('reports a folder without rail files', async () => {
    const issues = await issuesOf({ 'README.md': '# not rails' });
    expect(issues).toEqual(['.: no rail sets here: expected *.yml files, or subfolders holding them']);
  });

  it('reports an empty rail file', async () => {
    const issues = await issuesOf({ 'rail.yml': '# only a comment\n' });
    expect(issues).toEqual(['rail.yml:1:1: the file is empty; expected a mapping']);
  });
});
