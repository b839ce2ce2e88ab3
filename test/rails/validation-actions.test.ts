/**
 * Rail mistakes about what an intent or a set does and what that needs: an action's prompt, response
 * or message, placeholders, the upstream, the embedding provider, a value YAML reads otherwise than
 * meant, an example the model reads nothing of. Each is reported at the file:line:column of the node
 * it is about; line N of a fixture is entry N-1 of its array.
 */
import { describe, expect, it } from 'vitest';
import { issuesOf, VALID_INTENT } from './helpers.js';

describe('actions', () => {
  it('requires a prompt for forward and a response for respond, reported at the action', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                  1
        '  - id: lost', //              2
        '    action: forward', //       3
        '    examples: [a]', //         4
        '  - id: hours', //             5
        '    action: respond', //       6
        '    examples: [b]', //         7
      ],
    });
    expect(issues).toEqual([
      "rail.yml:3:13: intent `lost` has action `forward` but no `prompt`: the vetted messages sent upstream instead of the user's",
      'rail.yml:6:13: intent `hours` has action `respond` but no `response`: the canned answer',
    ]);
  });

  it('reports prompt, response and message on an action that does not use them', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                               1
        '  - id: a', //                              2
        '    action: passthrough', //                3
        '    examples: [x]', //                      4
        '    prompt: [{ role: user, content: hi }]', // 5
        '    message: no', //                        6
        '  - id: b', //                              7
        '    action: refuse', //                     8
        '    examples: [y]', //                      9
        '    response: hello', //                    10
        '    user_message_slot: true', //            11
      ],
    });
    expect(issues).toEqual([
      'rail.yml:5:5: `prompt` is only used by action `forward`; intent `a` has action `passthrough`',
      'rail.yml:6:5: `message` is only used by action `refuse`; intent `a` has action `passthrough`',
      'rail.yml:10:5: `response` is only used by action `respond`; intent `b` has action `refuse`',
      'rail.yml:11:5: `user_message_slot` is only used by action `forward`; intent `b` has action `refuse`',
    ]);
  });

  it('rejects {{user_message}} without user_message_slot: true, at the prompt content', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                                     1
        '  - id: lost', //                                 2
        '    action: forward', //                          3
        '    examples: [a]', //                            4
        '    prompt:', //                                  5
        '      - role: system', //                         6
        '        content: Be brief.', //                   7
        '      - role: user', //                           8
        '        content: "Customer: {{user_message}}"', // 9
      ],
    });
    expect(issues).toEqual([
      'rail.yml:9:18: {{user_message}} is used but intent `lost` does not set `user_message_slot: true` ' +
        "(opt-in, so that the user's text never reaches a vetted prompt by accident)",
    ]);
  });

  it('rejects misspelt placeholders, a slot that is never used, and unknown prompt roles', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:', //                                              1
        '  - id: a', //                                             2
        '    action: forward', //                                   3
        '    user_message_slot: true', //                           4
        '    examples: [x]', //                                     5
        '    prompt: [{ role: system, content: Be brief. }]', //    6
        '  - id: b', //                                             7
        '    action: forward', //                                   8
        '    examples: [y]', //                                     9
        '    prompt: [{ role: human, content: "{{ user_message }}" }]', // 10
      ],
    });
    expect(issues).toEqual([
      'rail.yml:4:5: `user_message_slot` is true but no prompt message contains {{user_message}}',
      'rail.yml:10:22: `role` must be one of system, developer, user, assistant, got "human"',
      'rail.yml:10:38: unknown placeholder `{{ user_message }}`; the only placeholder is {{user_message}}',
    ]);
  });

  it('rejects placeholders in canned texts, which are sent as written', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'refusal: "Sorry {{name}}"', //                                       1
        'on_no_match: { action: respond, message: "You said {{user_message}}" }', // 2
        'intents:', //                                                        3
        '  - id: hi', //                                                      4
        '    action: respond', //                                             5
        '    response: "Hi {{user_message}}, welcome"', //                    6
        '    examples: [hello]', //                                           7
      ],
    });
    const literally =
      "would reach users literally (only a `forward` prompt can carry the user's text, with `user_message_slot: true`)";
    expect(issues).toEqual([
      `rail.yml:1:10: \`refusal\` is sent as written: \`{{name}}\` ${literally}`,
      `rail.yml:2:42: \`message\` is sent as written: \`{{user_message}}\` ${literally}`,
      `rail.yml:6:15: \`response\` is sent as written: \`{{user_message}}\` ${literally}`,
    ]);
  });

  it("names an upstream that is not configured, where the set's upstream key is", async () => {
    const files = { 'rail.yml': ['upstream: opnai', 'intents:', ...VALID_INTENT] };
    expect(await issuesOf(files, { upstreams: ['default', 'openai'] })).toEqual([
      'rail.yml:1:1: upstream "opnai" is not configured (configured: default, openai); did you mean `openai`? ' +
        "name one of the config file's `upstreams`, or add it there",
    ]);
    expect(await issuesOf(files, { upstreams: ['default', 'opnai'] })).toEqual([]);
    // `default` without an upstream is the no-upstream mode: forwards answer 503, the rest works.
    expect(
      await issuesOf({ 'rail.yml': ['upstream: default', 'intents:', ...VALID_INTENT] }, { upstreams: [] }),
    ).toEqual([]);
  });

  it('names an openai embedding set where no embeddings server is configured, at its embedding key', async () => {
    const files = {
      'rail.yml': ['intents:', ...VALID_INTENT],
      'model.yml': ['embedding:', '  provider: openai', '  model: text-embedding-3-small'],
    };
    expect(await issuesOf(files, { embeddingsServer: false })).toEqual([
      'model.yml:1:1: embedding provider "openai" needs the embeddings server URL, and none is configured: set ' +
        'RAILGATE_EMBEDDINGS_URL (or embedding.openaiUrl in the config file), e.g. https://api.openai.com/v1',
    ]);
    expect(await issuesOf(files, { embeddingsServer: true })).toEqual([]);
    expect(await issuesOf(files)).toEqual([]);
  });

  it('names a transformers model folder that is not there, relative to the set, at the embedding key', async () => {
    const files = (model: string) => ({
      'rail.yml': ['intents:', ...VALID_INTENT],
      'model.yml': ['embedding:', '  provider: transformers', `  model: ${model}`],
    });
    const [issue] = await issuesOf(files('./models/minilm'));
    expect(issue).toMatch(
      /^model\.yml:1:1: embedding model folder not found: .*[/\\]models[/\\]minilm \(a local model needs/,
    );
    // A hub id cannot be told missing before it is fetched; a folder that is there is fine.
    expect(await issuesOf(files('Xenova/all-MiniLM-L6-v2'))).toEqual([]);
    expect(await issuesOf({ ...files('./models'), 'models/.keep': [''] })).toEqual([]);
  });

  it('says at the embedding key what a provider lacks, or what does nothing for it', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'embedding: { provider: transformers }', // 1
        'intents:', //                              2
        ...VALID_INTENT,
      ],
    });
    expect(issues).toEqual([
      'rail.yml:1:24: the `transformers` provider needs a `model`: a Hugging Face model id or a local folder',
    ]);
    const ignored = await issuesOf({
      'rail.yml': [
        'embedding: { provider: bundled, model: all-MiniLM-L6-v2, quantized: true }',
        'intents:',
        ...VALID_INTENT,
      ],
    });
    expect(ignored).toEqual([
      'rail.yml:1:33: `model` does nothing with the `bundled` provider',
      'rail.yml:1:58: `quantized` does nothing with the `bundled` provider',
    ]);
    // A model without a provider most likely lacks `provider: transformers`; `quantized: false` is harmless.
    const noProvider = await issuesOf({
      'rail.yml': ['embedding: { model: Xenova/all-MiniLM-L6-v2, quantized: false }', 'intents:', ...VALID_INTENT],
    });
    expect(noProvider).toEqual([
      'rail.yml:1:14: `model` does nothing with the `bundled` provider (the default; a `model` needs ' +
        '`provider: transformers` or `openai`)',
    ]);
  });

  it('says a value holding ": " must be quoted, where YAML reads it as a nested mapping', async () => {
    const issues = await issuesOf({
      'rail.yml': [
        'intents:',
        '  - id: hi',
        '    action: respond',
        '    response: Our hours: 9-5',
        '    examples: [hi]',
      ],
    });
    expect(issues).toEqual([
      'rail.yml:4:15: YAML: Nested mappings are not allowed in compact mappings; ' +
        'text holding ": " must be quoted: response: "…: …"',
    ]);
    // A test's input is user text too.
    const input = await issuesOf({
      'rail.yml': [
        'intents:',
        ...VALID_INTENT,
        'tests:',
        '  - input: What are your hours: today?',
        '    expect: greeting',
      ],
    });
    expect(input).toEqual([
      expect.stringMatching(/^rail\.yml:7:12: YAML: .*; text holding ": " must be quoted: input: "…: …"$/),
    ]);
    // Two keys run together on one line is another mistake: no advice to quote.
    const runTogether = await issuesOf({ 'rail.yml': ['intents:', '  - id: a action: respond'] });
    expect(runTogether).toEqual([
      expect.stringMatching(/^rail\.yml:2:9: YAML: Nested mappings are not allowed in compact mappings$/),
    ]);
  });

  it('refuses, at the line, an example the bundled model reads nothing of; other providers may read it', async () => {
    const lines = [
      'intents:', //                                 1
      '  - id: hello', //                            2
      '    action: respond', //                      3
      '    response: Hi!', //                        4
      '    examples:', //                            5
      '      - Hello', //                            6
      '      - "👋"', //                              7
      '      - 你好 👋', //                          8
      '      - hello 👋', //                         9
      '    not_examples: ["再见"]', //               10
    ];
    const unread = (list: string) =>
      `the bundled model reads nothing in this ${list} (no character it knows, e.g. only emoji or a script it ` +
      'was not trained on), so it could never match; write it in words the model reads, or use a provider ' +
      'whose model reads them';
    expect(await issuesOf({ 'rail.yml': lines })).toEqual([
      `rail.yml:7:9: ${unread('example')}`,
      `rail.yml:8:9: ${unread('example')}`,
      `rail.yml:10:20: ${unread('not_example')}`,
    ]);
    const multilingual = ['embedding: { provider: transformers, model: Xenova/multilingual-e5-small }', ...lines];
    expect(await issuesOf({ 'rail.yml': multilingual })).toEqual([]);
    // An embedding block with a mistake of its own says nothing of the model: only that mistake is told.
    const unfinished = ['embedding: { provider: transformers }', ...lines];
    expect(await issuesOf({ 'rail.yml': unfinished })).toEqual([
      expect.stringMatching(/^rail\.yml:1:24: the `transformers` provider needs a `model`/),
    ]);
  });

  it('requires a message for on_no_match respond', async () => {
    const issues = await issuesOf({
      'rail.yml': ['on_no_match:', '  action: respond', 'intents:', ...VALID_INTENT],
    });
    expect(issues).toEqual(['rail.yml:2:11: `on_no_match` action `respond` needs a `message`: the canned answer']);
  });
});
