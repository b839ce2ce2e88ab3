/**
 * Editing rail files without re-serialising them: the `yaml` Document API finds the nodes (with their
 * byte ranges) and new text is spliced into the original, so every comment, blank line, quote style
 * and line break survives. (Re-serialising the document would re-wrap long examples and re-space
 * comments.) Shared by `calibrate --write` (thresholds) and `add-example` (examples).
 */
import { chmod, chown, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml';

/** An edit that cannot be made safely; the message says what to do by hand. */
export class RailEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RailEditError';
  }
}

export interface Splice {
  readonly at: number;
  readonly end: number;
  readonly text: string;
}

/** A file being edited: its text and line ending (lines added to it use the file's own). */
export interface EditedText {
  readonly file: string;
  readonly text: string;
  readonly eol: '\n' | '\r\n';
}

export function eolOf(text: string): '\n' | '\r\n' {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

export function pairOf(map: YAMLMap, key: string): Pair<unknown, unknown> | undefined {
  return map.items.find((p) => isScalar(p.key) && p.key.value === key);
}

/** An intent's map in a rail file (the document's root), and its index in the file's `intents` list. */
export function intentNode(file: string, root: unknown, id: string): { node: YAMLMap; index: number } {
  const intents = isMap(root) ? pairOf(root, 'intents')?.value : undefined;
  const index = isSeq(intents) ? intents.items.findIndex((item) => isMap(item) && item.get('id') === id) : -1;
  if (!isSeq(intents) || index < 0) throw new RailEditError(`${file}: intent \`${id}\` not found`);
  return { node: intents.items[index] as YAMLMap, index };
}

export function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** The offset just past the newline ending the line that holds `offset`. */
export function nextLine(text: string, offset: number): number {
  const end = text.indexOf('\n', offset);
  return end < 0 ? text.length : end + 1;
}

/** The column of `offset` as spaces: the indent for a new line that lines up with it. */
export function indentAt(text: string, offset: number): string {
  return ' '.repeat(offset - lineStart(text, offset));
}

/** A splice that adds whole lines at `at` (a line start), with a line break first at the end of a file without one. */
export function newLines(edited: EditedText, at: number, lines: readonly string[]): Splice {
  const newline = at === edited.text.length && !edited.text.endsWith('\n') ? edited.eol : '';
  return { at, end: at, text: `${newline}${lines.map((line) => line + edited.eol).join('')}` };
}

/** A splice that inserts `key: value` into a map, in the map's own style. */
export function insertPair(edited: EditedText, map: YAMLMap, key: string, value: string): Splice {
  const { text } = edited;
  if (map.flow) {
    const close = (map.range?.[1] ?? 0) - 1;
    if (text[close] !== '}') throw new RailEditError(`${edited.file}: cannot find the end of a flow mapping`);
    // After the last entry (keeping the space before `}`), or inside `{}` when there is none.
    const last = map.items.at(-1);
    const lastEnd = (last?.value as Node | null | undefined)?.range?.[1] ?? (last?.key as Node | undefined)?.range?.[1];
    if (lastEnd === undefined) return { at: close, end: close, text: `${key}: ${value}` };
    return { at: lastEnd, end: lastEnd, text: `, ${key}: ${value}` };
  }
  // A block map: a new line after the first pair whose value is a one-line scalar, at that key's indent.
  const anchor = map.items.find((p) => {
    const [start, end] = [(p.key as Node).range?.[0], (p.value as Node | null)?.range?.[1]];
    return isScalar(p.value) && start !== undefined && end !== undefined && !text.slice(start, end).includes('\n');
  });
  if (!anchor) {
    // No one-line scalar to follow: put the new line before the first key, if that key starts its line.
    const first = (map.items[0]?.key as Node | undefined)?.range?.[0];
    const at = first === undefined ? -1 : lineStart(text, first);
    if (first === undefined || text.slice(at, first).trim() !== '')
      throw new RailEditError(`${edited.file}: no line to add \`${key}\` after`);
    return { at, end: at, text: `${indentAt(text, first)}${key}: ${value}${edited.eol}` };
  }
  const keyAt = (anchor.key as Node).range![0];
  return newLines(edited, nextLine(text, (anchor.value as Node).range![1]), [
    `${indentAt(text, keyAt)}${key}: ${value}`,
  ]);
}

export function applySplices(text: string, splices: readonly Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.at - a.at)) out = out.slice(0, s.at) + s.text + out.slice(s.end);
  return out;
}

/**
 * Replaces a file at once (write beside it, then rename): a watcher never reads half a file. A
 * symbolic link is followed, and its target replaced: renaming over the link would turn it into a
 * copy and leave the real file (a mounted ConfigMap's, a shared folder's) unchanged.
 */
export async function replaceFile(file: string, text: string): Promise<void> {
  const target = await realpath(file);
  const before = await stat(target);
  const temp = `${target}.railgate-${process.pid}.tmp`;
  // The new file keeps the old one's permissions from the start (a 640 rail file is never 644, not
  // even for a moment) and, where allowed, its owner: root editing a service's rails must leave them
  // readable by the service.
  await writeFile(temp, text, { encoding: 'utf8', mode: before.mode & 0o777 });
  await chmod(temp, before.mode & 0o777);
  // Another user's file: at least its group (the service's, through which it reads a 640 file).
  await chown(temp, before.uid, before.gid).catch(() => chown(temp, -1, before.gid).catch(() => undefined));
  await rename(temp, target);
}
