/** Rail sets built in code, for tests of matching that need no YAML. */
import type { Intent, MatchConfig, NoMatchAction, RailSet } from '../../src/rails/types.js';

export function makeIntent(
  id: string,
  action: Intent['action'],
  examples: readonly string[],
  extra: Partial<Intent> = {},
): Intent {
  return {
    id,
    action,
    examples,
    description: undefined,
    notExamples: [],
    prompt: action === 'forward' ? [{ role: 'system', content: 'Be helpful.' }] : undefined,
    userMessageSlot: false,
    model: undefined,
    response: action === 'respond' ? 'Hello!' : undefined,
    message: undefined,
    threshold: undefined,
    source: { file: 'inline.yml', line: 1, column: 1 },
    ...extra,
  };
}

export function makeRailSet(
  name: string,
  intents: readonly Intent[],
  options: { match?: Partial<MatchConfig>; onNoMatch?: NoMatchAction } = {},
): RailSet {
  return {
    name,
    description: undefined,
    dir: '/tmp',
    files: [],
    embedding: { provider: 'bundled', model: undefined, quantized: false },
    match: { threshold: 0.5, k: 10, aggregate: 'max', topK: 3, margin: 0, ...options.match },
    onNoMatch: { action: options.onNoMatch ?? 'refuse', message: undefined },
    refusal: 'No.',
    upstream: 'default',
    intents,
    tests: [],
    hash: `hash-${name}`,
    loadedAt: new Date(0),
  };
}
