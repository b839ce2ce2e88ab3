/**
 * Adds one example (or not_example) to an intent, in the rail file that defines the intent: how a
 * reviewer turns a logged message into a rail. The new item is spliced in after the list's last one,
 * in the list's own style (block `- item` lines or a flow `[a, b]`), so nothing else in the file moves.
 * The whole set is validated with the edit before the file is replaced.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAlias, isScalar, isSeq, parse, parseDocument, stringify, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import { quotedForTerminal } from '../cli/io.js';
import { formatIssue, loadRailSet, RailsInvalidError } from '../rails/load.js';
import { normalizeExample } from '../rails/merge.js';
import type { Intent, RailSet } from '../rails/types.js';
import {
  applySplices,
  eolOf,
  indentAt,
  insertPair,
  intentNode,
  lineStart,
  newLines,
  nextLine,
  pairOf,
  RailEditError,
  replaceFile,
  type EditedText,
  type Splice,
} from './yaml-splice.js';

export type ExampleList = 'examples' | 'not_examples';

export interface ExampleAddition {
  readonly railSet: string;
  readonly intent: string;
  readonly list: ExampleList;
  readonly text: string;
  readonly file: string;
  /** 1-based line of the new item. */
  readonly line: number;
}

/**
 * Why the text cannot join the list, by the loader's rules: one sentence is the example of one intent
 * only, and never both an example and a not_example of the same intent.
 */
function conflict(set: RailSet, target: Intent, text: string, list: ExampleList): string | undefined {
  const key = normalizeExample(text);
  const has = (items: readonly string[]) => items.some((item) => normalizeExample(item) === key);
  if (list === 'not_examples') {
    if (has(target.notExamples)) return `it is already a not_example of intent \`${target.id}\``;
    if (has(target.examples)) return `it is an example of intent \`${target.id}\`; remove it there first`;
    return undefined;
  }
  const owner = set.intents.find((intent) => has(intent.examples));
  if (owner) return `it is already an example of intent \`${owner.id}\``;
  if (has(target.notExamples)) return `it is a not_example of intent \`${target.id}\`; remove it there first`;
  return undefined;
}

/**
 * Whether YAML 1.1 readers (PyYAML and other tools a rails repository's scripts may use) read `written`
 * as `text` too: they take a plain `yes`, `off` or `1:20` for a boolean or a number, where railgate's
 * YAML 1.2 reads text.
 */
function sameInYaml11(written: string, text: string): boolean {
  try {
    return parse(written, { version: '1.1' }) === text;
  } catch {
    return false;
  }
}

/**
 * The item as YAML: plain or quoted as the `yaml` package would write it in a block list, and always
 * double-quoted (JSON syntax, which YAML reads the same) in a flow list or when the text spans lines.
 */
function scalarText(text: string, flow: boolean): string {
  // Invisible and reordering characters from a client's message are written as \u escapes, so a
  // diff of the rail file shows them.
  const escaped = quotedForTerminal(text);
  if (escaped !== JSON.stringify(text))
    // A character past U+FFFF as YAML's own 8-digit escape: a surrogate pair in `\u`s is JSON's way,
    // which some YAML readers take as two broken halves.
    return escaped.replace(/\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})/g, (_, high: string, low: string) => {
      const codePoint = 0x10000 + ((parseInt(high, 16) - 0xd800) << 10) + (parseInt(low, 16) - 0xdc00);
      return `\\U${codePoint.toString(16).padStart(8, '0')}`;
    });
  if (!flow && !/[\n\r]/.test(text)) {
    const written = stringify(text, { lineWidth: 0 }).replace(/\n$/, '');
    if (!written.includes('\n') && sameInYaml11(written, text)) return written;
  }
  return JSON.stringify(text);
}

/** Where the line after a node starts (a block scalar's range already ends with its line break). */
function afterNode(text: string, node: Node): number {
  const end = node.range![1];
  return text[end - 1] === '\n' ? end : nextLine(text, end);
}

/** The `  - ` that starts a block list's items, copied from its last item. */
function dashPrefix(edited: EditedText, item: Node): string {
  const start = item.range![0];
  const prefix = edited.text.slice(lineStart(edited.text, start), start);
  if (!/^\s*-\s+$/.test(prefix))
    throw new RailEditError(`${edited.file}: cannot tell how the list's items are written; add the example by hand`);
  return prefix;
}

function appendTo(edited: EditedText, seq: YAMLSeq, text: string): Splice {
  if (seq.anchor)
    throw new RailEditError(
      `${edited.file}: the list is the anchor &${seq.anchor}, which aliases may reuse (another intent would change too); add the example by hand`,
    );
  const last = seq.items.at(-1) as Node | undefined;
  if (seq.flow) {
    const item = scalarText(text, true);
    if (last?.range) return { at: last.range[1], end: last.range[1], text: `, ${item}` };
    const close = (seq.range?.[1] ?? 0) - 1;
    if (edited.text[close] !== ']') throw new RailEditError(`${edited.file}: cannot find the end of a flow list`);
    return { at: close, end: close, text: item };
  }
  if (!last?.range) throw new RailEditError(`${edited.file}: an empty block list; add the example by hand`);
  return newLines(edited, afterNode(edited.text, last), [`${dashPrefix(edited, last)}${scalarText(text, false)}`]);
}

/** A new `not_examples` key with one item, on the lines after the intent's `examples`, in their style. */
function addNotExamples(edited: EditedText, intent: YAMLMap, text: string): Splice {
  const examples = pairOf(intent, 'examples');
  const seq = examples?.value;
  if (intent.flow || !examples || !isSeq(seq) || !seq.range)
    return insertPair(edited, intent, 'not_examples', `[${scalarText(text, true)}]`);
  const keyIndent = indentAt(edited.text, (examples.key as Node).range![0]);
  if (seq.flow)
    return newLines(edited, nextLine(edited.text, seq.range[1]), [
      `${keyIndent}not_examples: [${scalarText(text, true)}]`,
    ]);
  const last = seq.items.at(-1) as Node | undefined;
  if (!last?.range) throw new RailEditError(`${edited.file}: \`examples\` is empty; add the not_example by hand`);
  return newLines(edited, afterNode(edited.text, last), [
    `${keyIndent}not_examples:`,
    `${dashPrefix(edited, last)}${scalarText(text, false)}`,
  ]);
}

/**
 * Loads the set from a copy of its folder holding the edited file: the edit must leave a valid set,
 * and nothing invalid is ever written where a watching proxy would read it.
 */
async function checkSet(set: RailSet, file: string, text: string): Promise<void> {
  const temp = await mkdtemp(path.join(os.tmpdir(), 'railgate-edit-'));
  const copy = path.join(temp, path.basename(set.dir));
  try {
    await mkdir(copy);
    for (const source of set.files) await copyFile(source, path.join(copy, path.basename(source)));
    await writeFile(path.join(copy, path.basename(file)), text, 'utf8');
    await loadRailSet(copy);
  } catch (error) {
    if (!(error instanceof RailsInvalidError)) throw error;
    const first = error.issues[0];
    const where = first ? formatIssue({ ...first, file: path.join(set.dir, path.relative(copy, first.file)) }) : '';
    throw new RailEditError(`the set would not load with this example: ${where}`);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * Adds `text` to `list` of intent `intentId` in `set`, writing the file that defines the intent
 * (with `dryRun`, everything but the write: the returned file and line say where it would go).
 */
export async function addExample(
  set: RailSet,
  intentId: string,
  rawText: string,
  list: ExampleList,
  options: { readonly dryRun?: boolean } = {},
): Promise<ExampleAddition> {
  const intent = set.intents.find((i) => i.id === intentId);
  if (!intent)
    throw new RailEditError(
      `rail set "${set.name}" has no intent "${intentId}" (intents: ${set.intents.map((i) => i.id).join(', ')})`,
    );
  const text = rawText.trim();
  if (text === '') throw new RailEditError('the text is empty');
  const why = conflict(set, intent, text, list);
  if (why) throw new RailEditError(`not added: ${why}`);

  const file = intent.source.file;
  const original = await readFile(file, 'utf8');
  const doc = parseDocument(original);
  if (doc.errors.length) throw new RailEditError(`${file}: ${doc.errors[0]!.message}`);
  const edited: EditedText = { file, text: original, eol: eolOf(original) };
  const { node, index } = intentNode(file, doc.contents, intentId);
  const current = pairOf(node, list);
  let splice: Splice;
  if (current && isAlias(current.value))
    throw new RailEditError(
      `${file}: \`${list}\` of intent \`${intentId}\` is the alias *${current.value.source}; add the example to the anchored list by hand`,
    );
  if (current && isSeq(current.value)) splice = appendTo(edited, current.value, text);
  else if (current || list === 'examples')
    throw new RailEditError(`${file}: \`${list}\` of intent \`${intentId}\` is not a list; add the example by hand`);
  else splice = addNotExamples(edited, node, text);

  const updated = applySplices(original, [splice]);
  const check = parseDocument(updated);
  const seq = check.getIn(['intents', index, list], true);
  const added = isSeq(seq) ? seq.items.at(-1) : undefined;
  if (check.errors.length || !isScalar(added) || added.value !== text || !added.range)
    throw new RailEditError(`${file}: could not place the example; add it by hand`);
  await checkSet(set, file, updated);
  if (!options.dryRun) await replaceFile(file, updated);
  const line = updated.slice(0, added.range[0]).split('\n').length;
  return { railSet: set.name, intent: intentId, list, text, file, line };
}
