/** In-memory rail sets for evaluations: the same RailSet objects the YAML loader produces. */
import { DEFAULT_MATCH } from '../../src/rails/set-level.js';
import type { Intent, IntentAction, MatchConfig, NoMatchConfig, RailSet } from '../../src/rails/types.js';

export interface IntentSpec {
  readonly id: string;
  readonly action?: IntentAction;
  readonly examples: readonly string[];
  readonly notExamples?: readonly string[];
  readonly threshold?: number;
}

export function evalIntent(spec: IntentSpec): Intent {
  const action = spec.action ?? 'passthrough';
  return {
    id: spec.id,
    description: undefined,
    action,
    examples: spec.examples,
    notExamples: spec.notExamples ?? [],
    prompt: action === 'forward' ? [{ role: 'system', content: 'You are a helpful assistant.' }] : undefined,
    userMessageSlot: false,
    model: undefined,
    response: action === 'respond' ? 'OK.' : undefined,
    message: undefined,
    threshold: spec.threshold,
    source: { file: '<eval>', line: 0, column: 0 },
  };
}

export function evalRailSet(
  name: string,
  intents: readonly Intent[],
  match: Partial<MatchConfig>,
  onNoMatch: NoMatchConfig['action'] = 'refuse',
): RailSet {
  return {
    name,
    description: undefined,
    dir: '<eval>',
    files: [],
    embedding: { provider: 'bundled', model: undefined, quantized: false },
    match: { ...DEFAULT_MATCH, ...match },
    onNoMatch: { action: onNoMatch, message: undefined },
    refusal: 'Sorry.',
    upstream: 'default',
    intents,
    tests: [],
    hash: name,
    loadedAt: new Date(0),
  };
}
