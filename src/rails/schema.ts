/**
 * The rail file format: which keys exist, their types and per-action rules. `readRailFile` checks one
 * parsed file on its own and returns what it contributes to its set; set-level keys are read by
 * set-level.ts, and rules that span files (duplicate ids, set-level keys in two files, test
 * expectations) live in merge.ts.
 */
import { isScalar, type Node } from 'yaml';
import { hasUserMessageSlot, unknownPlaceholders } from './prompt.js';
import type { YamlSource } from './positions.js';
import { NodeReader, type Field } from './reader.js';
import { readSetLevel, SET_KEYS, SIMILARITY_NOTE, type SetKey, type SetLevel } from './set-level.js';
import {
  INTENT_ACTIONS,
  NO_MATCH,
  USER_MESSAGE_SLOT,
  type Intent,
  type IntentAction,
  type PromptMessage,
  type RailIssue,
  type RailTest,
  type SourceLocation,
} from './types.js';

const FILE_KEYS = [...SET_KEYS, 'intents', 'tests'];
const INTENT_KEYS = [
  'id',
  'description',
  'action',
  'examples',
  'not_examples',
  'prompt',
  'user_message_slot',
  'model',
  'response',
  'message',
  'threshold',
];
/** Keys that only make sense for one action. */
const ACTION_OF_KEY: Readonly<Record<string, IntentAction>> = {
  prompt: 'forward',
  user_message_slot: 'forward',
  model: 'forward',
  response: 'respond',
  message: 'refuse',
};
const PROMPT_ROLES = ['system', 'developer', 'user', 'assistant'] as const;
const INTENT_ID = /^[a-z][a-z0-9_.-]*$/;
/** `no_match` is what tests expect when nothing matches; `oos` (out of scope) is kept for the same role in data sets. */
const RESERVED_IDS = [NO_MATCH, 'oos'];

export interface LocatedText {
  readonly value: string;
  readonly location: SourceLocation;
}

export interface IntentEntry {
  /** The id as written, when it is a valid one (kept even when the rest of the intent is not). */
  readonly id: string | undefined;
  readonly idLocation: SourceLocation;
  /** The intent, or undefined when it has issues. */
  readonly intent: Intent | undefined;
  readonly examples: readonly LocatedText[];
  readonly notExamples: readonly LocatedText[];
}

export interface TestEntry {
  readonly test: RailTest | undefined;
  readonly expect: LocatedText | undefined;
}

export interface FileContribution {
  readonly file: string;
  /** The set-level keys this file sets (valid or not), with where each key is. */
  readonly setKeys: ReadonlyMap<SetKey, SourceLocation>;
  readonly setLevel: SetLevel;
  readonly intents: readonly IntentEntry[];
  readonly tests: readonly TestEntry[];
  readonly issues: readonly RailIssue[];
}

/** Checks one parsed rail file on its own. */
export function readRailFile(source: YamlSource): FileContribution {
  const r = new NodeReader(source);
  const setKeys = new Map<SetKey, SourceLocation>();
  const setLevel: SetLevel = {};
  const intents: IntentEntry[] = [];
  const tests: TestEntry[] = [];
  const result = { file: source.file, setKeys, setLevel, intents, tests, issues: r.issues };

  const root = source.doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) {
    r.issues.push({ file: source.file, line: 1, column: 1, message: 'the file is empty; expected a mapping' });
    return result;
  }
  const fields = r.fields(root, 'a rail file', FILE_KEYS, root);
  if (!fields) return result;

  for (const key of SET_KEYS) {
    const field = fields.get(key);
    if (field) setKeys.set(key, r.at(field.key));
  }
  readSetLevel(r, fields, setLevel);

  const intentsField = fields.get('intents');
  if (intentsField) for (const node of r.list(intentsField) ?? []) intents.push(readIntent(r, node));
  const testsField = fields.get('tests');
  if (testsField) for (const node of r.list(testsField) ?? []) tests.push(readTest(r, node));
  return result;
}

function readIntent(r: NodeReader, node: Node): IntentEntry {
  const before = r.issues.length;
  const fields = r.fields(node, 'an intent', INTENT_KEYS, node);
  if (!fields) return { id: undefined, idLocation: r.at(node), intent: undefined, examples: [], notExamples: [] };
  const optional = <T>(key: string, parse: (field: Field) => T | undefined): T | undefined => {
    const field = fields.get(key);
    return field ? parse(field) : undefined;
  };

  const idField = fields.get('id');
  const id = optional('id', (f) => readIntentId(r, f));
  const idLocation = idField ? r.at(r.valueNode(idField)) : r.at(node);
  const what = id ? `intent \`${id}\`` : 'an intent';
  r.requireKeys(fields, ['id', 'action', 'examples'], what, node);

  const actionField = fields.get('action');
  const action = optional('action', (f) => r.oneOf(f, INTENT_ACTIONS));
  const description = optional('description', (f) => r.string(f));
  const examples = located(
    r,
    optional('examples', (f) => r.stringList(f, true)),
  );
  const notExamples = located(
    r,
    optional('not_examples', (f) => r.stringList(f, false)),
  );
  const threshold = optional('threshold', (f) => r.number(f, { min: 0, max: 1, note: SIMILARITY_NOTE }));

  // Keys of another action are reported, since they would otherwise be silently ignored; with no
  // valid action, they are still type-checked.
  for (const [key, owner] of Object.entries(ACTION_OF_KEY)) {
    const field = fields.get(key);
    if (field && action && action !== owner)
      r.report(field.key, `\`${key}\` is only used by action \`${owner}\`; ${what} has action \`${action}\``);
  }
  const ownKey = <T>(key: string, parse: (field: Field) => T | undefined): T | undefined =>
    !action || action === ACTION_OF_KEY[key] ? optional(key, parse) : undefined;
  const slotField = fields.get('user_message_slot');
  const slot = ownKey('user_message_slot', (f) => r.boolean(f)) ?? false;
  const prompt = ownKey('prompt', (f) => readPrompt(r, f, slot, what));
  const model = ownKey('model', (f) => r.string(f));
  const response = ownKey('response', (f) => r.cannedText(f));
  const message = ownKey('message', (f) => r.cannedText(f));

  if (actionField && action === 'forward' && !fields.has('prompt'))
    r.report(
      r.valueNode(actionField),
      `${what} has action \`forward\` but no \`prompt\`: the vetted messages sent upstream instead of the user's`,
    );
  if (actionField && action === 'respond' && !fields.has('response'))
    r.report(r.valueNode(actionField), `${what} has action \`respond\` but no \`response\`: the canned answer`);
  if (slotField && slot && prompt && !prompt.some((m) => hasUserMessageSlot(m.content)))
    r.report(slotField.key, `\`user_message_slot\` is true but no prompt message contains ${USER_MESSAGE_SLOT}`);

  const entry = { id, idLocation, examples, notExamples };
  if (r.issues.length !== before || !id || !action) return { ...entry, intent: undefined };
  const intent: Intent = {
    id,
    description,
    action,
    examples: examples.map((e) => e.value),
    notExamples: notExamples.map((e) => e.value),
    prompt,
    userMessageSlot: slot,
    model,
    response,
    message,
    threshold,
    source: r.at(node),
  };
  return { ...entry, intent };
}

function located(r: NodeReader, list: { value: string; node: Node }[] | undefined): LocatedText[] {
  return (list ?? []).map(({ value, node }) => ({ value, location: r.at(node) }));
}

function readIntentId(r: NodeReader, field: Field): string | undefined {
  const id = r.string(field);
  if (id === undefined) return undefined;
  if (RESERVED_IDS.includes(id)) {
    r.report(r.valueNode(field), `intent id \`${id}\` is reserved (tests use \`${NO_MATCH}\` for "matches nothing")`);
    return undefined;
  }
  if (!INTENT_ID.test(id)) {
    r.report(
      r.valueNode(field),
      `intent id "${id}" must start with a lowercase letter and hold only a-z, 0-9, "_", "." and "-"`,
    );
    return undefined;
  }
  return id;
}

/** A forward prompt: a non-empty list of { role, content }; the slot rules are checked on each content. */
function readPrompt(r: NodeReader, field: Field, slot: boolean, what: string): PromptMessage[] | undefined {
  const items = r.list(field);
  if (!items) return undefined;
  if (items.length === 0) {
    r.report(r.valueNode(field), '`prompt` must list at least one message');
    return undefined;
  }
  const before = r.issues.length;
  const messages: PromptMessage[] = [];
  for (const item of items) {
    const fields = r.fields(item, 'a prompt message', ['role', 'content'], item);
    if (!fields || !r.requireKeys(fields, ['role', 'content'], 'a prompt message', item)) continue;
    const role = r.oneOf(fields.get('role')!, PROMPT_ROLES);
    const contentField = fields.get('content')!;
    const content = r.string(contentField);
    if (content === undefined) continue;
    const at = r.valueNode(contentField);
    if (hasUserMessageSlot(content) && !slot)
      r.report(
        at,
        `${USER_MESSAGE_SLOT} is used but ${what} does not set \`user_message_slot: true\` ` +
          "(opt-in, so that the user's text never reaches a vetted prompt by accident)",
      );
    for (const placeholder of unknownPlaceholders(content))
      r.report(at, `unknown placeholder \`${placeholder}\`; the only placeholder is ${USER_MESSAGE_SLOT}`);
    if (role !== undefined) messages.push({ role, content });
  }
  return r.issues.length === before ? messages : undefined;
}

function readTest(r: NodeReader, node: Node): TestEntry {
  const before = r.issues.length;
  const fields = r.fields(node, 'a test', ['input', 'expect'], node);
  if (!fields) return { test: undefined, expect: undefined };
  r.requireKeys(fields, ['input', 'expect'], 'a test', node);
  const inputField = fields.get('input');
  const expectField = fields.get('expect');
  const input = inputField ? r.string(inputField) : undefined;
  const expectValue = expectField ? r.string(expectField) : undefined;
  const expect =
    expectValue === undefined ? undefined : { value: expectValue, location: r.at(r.valueNode(expectField!)) };
  if (r.issues.length !== before || input === undefined || expect === undefined) return { test: undefined, expect };
  return { test: { input, expect: expect.value, source: r.at(node) }, expect };
}
