/**
 * Writes calibrated thresholds back into the rail files where they are defined, changing nothing else
 * (the new values are spliced into the original text; see yaml-splice.ts).
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, parseDocument, type Document, type YAMLMap } from 'yaml';
import type { RailSet } from '../rails/types.js';
import { thresholdsOf, type ThresholdPlan } from './scored.js';
import {
  applySplices,
  eolOf,
  insertPair,
  intentNode,
  pairOf,
  RailEditError,
  replaceFile,
  type EditedText,
  type Splice,
} from './yaml-splice.js';

export interface ThresholdEdit {
  readonly file: string;
  /** `match.threshold`, or the intent id whose `threshold` changed. */
  readonly what: string;
  readonly before: number | undefined;
  readonly after: number;
}

interface FileState extends EditedText {
  readonly doc: Document.Parsed;
  readonly splices: Splice[];
  /** What the file must read back as after the edit: [path, value]. */
  readonly expected: [readonly (string | number)[], number][];
}

export class ThresholdWriteError extends RailEditError {
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdWriteError';
  }
}

/** Thresholds are written with at most 3 decimals. */
function formatThreshold(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

/** Sets `key` in `map`: rewrites the scalar in place, or inserts a new pair. */
function setKey(state: FileState, map: YAMLMap, key: string, value: number): void {
  const formatted = formatThreshold(value);
  const pair = pairOf(map, key);
  if (pair && isScalar(pair.value) && pair.value.anchor) {
    // Aliases (`*name`) elsewhere would take the new value too.
    throw new ThresholdWriteError(
      `${state.file}: \`${key}\` is the anchor &${pair.value.anchor}, which aliases may reuse; set it by hand`,
    );
  } else if (pair && isScalar(pair.value) && pair.value.range) {
    const [start, end] = pair.value.range;
    state.splices.push({ at: start, end, text: formatted });
  } else if (pair) {
    throw new ThresholdWriteError(`${state.file}: \`${key}\` is not a plain number; set it by hand`);
  } else {
    state.splices.push(insertPair(state, map, key, formatted));
  }
}

function rootMap(state: FileState): YAMLMap {
  const root = state.doc.contents;
  if (!isMap(root)) throw new ThresholdWriteError(`${state.file}: the file is not a mapping`);
  return root;
}

function setSetThreshold(states: readonly FileState[], value: number): string {
  const owner = states.find((s) => pairOf(rootMap(s), 'match')) ?? states.find((s) => pairOf(rootMap(s), 'name'));
  const state = owner ?? states[0]!;
  const root = rootMap(state);
  const match = pairOf(root, 'match');
  if (match && isMap(match.value)) setKey(state, match.value, 'threshold', value);
  else if (match) throw new ThresholdWriteError(`${state.file}: \`match\` is not a mapping`);
  else state.splices.push(insertPair(state, root, 'match', `{ threshold: ${formatThreshold(value)} }`));
  state.expected.push([['match', 'threshold'], value]);
  return state.file;
}

function setIntentThreshold(state: FileState, intentId: string, value: number): void {
  const { node, index } = intentNode(state.file, rootMap(state), intentId);
  setKey(state, node, 'threshold', value);
  state.expected.push([['intents', index, 'threshold'], value]);
}

/** Every threshold a rail file holds, aliases resolved: the set's and each intent's, by path. */
function thresholdsIn(doc: Document.Parsed): Map<string, unknown> {
  const data = doc.toJS() as { match?: { threshold?: unknown }; intents?: unknown } | null;
  const found = new Map<string, unknown>([['match.threshold', data?.match?.threshold]]);
  if (Array.isArray(data?.intents))
    data.intents.forEach((intent: unknown, index) =>
      found.set(`intents.${index}.threshold`, (intent as { threshold?: unknown } | null)?.threshold),
    );
  return found;
}

/**
 * Writes `plan` into the set's YAML files: `match.threshold`, and each intent's `threshold` that differs
 * from what is on disk (an intent dropped from the plan's overrides gets the set threshold written into
 * its existing key). Returns the edits made; files are replaced atomically, all checked before any is written.
 */
export async function writeThresholds(set: RailSet, plan: ThresholdPlan): Promise<ThresholdEdit[]> {
  const states: FileState[] = [];
  for (const file of set.files) {
    const text = await readFile(file, 'utf8');
    const doc = parseDocument(text);
    if (doc.errors.length) throw new ThresholdWriteError(`${file}: ${doc.errors[0]!.message}`);
    states.push({ file, text, doc, eol: eolOf(text), splices: [], expected: [] });
  }
  const stateOf = (file: string): FileState => {
    const state = states.find((s) => s.file === file);
    if (!state) throw new ThresholdWriteError(`${file} is not a file of rail set "${set.name}"`);
    return state;
  };

  const before = thresholdsOf(set);
  const edits: ThresholdEdit[] = [];
  const round = (v: number): number => Number(formatThreshold(v));
  if (round(before.set) !== round(plan.set)) {
    const file = setSetThreshold(states, plan.set);
    edits.push({ file, what: 'match.threshold', before: before.set, after: round(plan.set) });
  }
  for (const intent of set.intents) {
    const old = before.intents.get(intent.id);
    const next = plan.intents.get(intent.id) ?? (old === undefined ? undefined : plan.set);
    if (next === undefined || (old !== undefined && round(old) === round(next))) continue;
    setIntentThreshold(stateOf(intent.source.file), intent.id, next);
    edits.push({ file: intent.source.file, what: intent.id, before: old, after: round(next) });
  }

  const outputs = states
    .filter((s) => s.splices.length > 0)
    .map((state) => {
      const text = applySplices(state.text, state.splices);
      const check = parseDocument(text);
      for (const [path, value] of state.expected)
        if (check.errors.length || check.getIn(path) !== round(value))
          throw new ThresholdWriteError(`${state.file}: could not place ${path.join('.')}; set it by hand`);
      // Nothing else may move: a threshold reached some other way (an alias, a merge key) would.
      const planned = new Set(state.expected.map(([path]) => path.join('.')));
      const after = thresholdsIn(check);
      for (const [path, value] of thresholdsIn(state.doc))
        if (!planned.has(path) && after.get(path) !== value)
          throw new ThresholdWriteError(
            `${state.file}: writing the new values would also change ${path}; set them by hand`,
          );
      return { file: state.file, text };
    });
  for (const { file, text } of outputs) await replaceFile(file, text);
  return edits;
}
