/**
 * Typed reads of YAML nodes that never throw: each reader returns the value when it is valid, and
 * otherwise records an issue at the offending node and returns undefined, so one pass over a file
 * finds every problem in it.
 */
import { isAlias, isMap, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { issueAt, locate, type Located, type YamlSource } from './positions.js';
import { placeholders } from './prompt.js';
import type { RailIssue, SourceLocation } from './types.js';

/** One `key: value` of a mapping; `value` is null when the key has no value at all. */
export interface Field {
  readonly name: string;
  readonly key: Located;
  readonly value: Node | null;
}

export type Fields = ReadonlyMap<string, Field>;

/** The longest key distance still worth a "did you mean" (longer keys tolerate more typos). */
function maxSuggestionDistance(word: string): number {
  return Math.max(2, Math.floor(word.length / 3));
}

/** Levenshtein distance: single-character insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate closest to `word` (ignoring case, `_` and `-`, so `userMessageSlot` finds `user_message_slot`). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const a = squash(word);
    const b = squash(candidate);
    // Same letters up to case and separators; then a cut-short word ("mean" for "mean_top_k"); then typos.
    const distance = a === b ? 0 : a.length >= 3 && b.startsWith(a) ? 1 : editDistance(a, b);
    if (distance <= maxSuggestionDistance(word) && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

export function describeNode(node: Node | null): string {
  if (node === null) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const value = node.value;
    if (value === null || value === undefined) return 'an empty value';
    if (typeof value === 'string') return `a string`;
    if (typeof value === 'number' || typeof value === 'bigint') return `the number ${String(value)}`;
    if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  }
  return 'an unsupported value';
}

/** Why text came out as something else, when YAML's rules are the likely cause. */
function quoteHint(node: Node | null): string {
  if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean'))
    return ' (put it in quotes to make it text)';
  if (isMap(node) && node.items.length === 1 && !node.flow)
    return ' (a ": " inside text starts a mapping: put the text in quotes)';
  return '';
}

function isEmptyScalar(node: Node | null): boolean {
  return node === null || (isScalar(node) && (node.value === null || node.value === undefined));
}

export class NodeReader {
  readonly issues: RailIssue[] = [];

  constructor(readonly source: YamlSource) {}

  at(node: Located): SourceLocation {
    return locate(this.source, node);
  }

  report(node: Located, message: string): void {
    this.issues.push(issueAt(this.at(node), message));
  }

  /** Follows `*alias` references to the anchored node, so authors may reuse lists with anchors. */
  deref(node: Node | null | undefined): Node | null {
    const target = this.resolve(node);
    if (!target && node && isAlias(node)) this.report(node, `unknown alias \`*${node.source}\``);
    return target;
  }

  /** `deref` without reporting: for describing a node whose problems are already reported. */
  private resolve(node: Node | null | undefined): Node | null {
    if (node === null || node === undefined) return null;
    return isAlias(node) ? (node.resolve(this.source.doc) ?? null) : node;
  }

  /** Where a field's value is, or its key when the value is missing (an empty value has no useful position). */
  valueNode(field: Field): Located {
    return field.value && !isEmptyScalar(field.value) ? field.value : field.key;
  }

  /** Reports a wrong type at the value, saying what was expected and what was found. */
  wrongType(field: Field, expected: string): undefined {
    const node = this.resolve(field.value);
    // An alias to nowhere is already reported as such.
    if (!node && field.value && isAlias(field.value)) return undefined;
    const found = describeNode(node);
    const hint = expected.startsWith('a string') ? quoteHint(node) : '';
    this.report(this.valueNode(field), `\`${field.name}\` must be ${expected}, got ${found}${hint}`);
    return undefined;
  }

  /**
   * Reads a mapping's keys. Unknown keys are reported at the key with the allowed ones and, when one is
   * close, a suggestion. Returns undefined (after reporting) when the node is not a mapping.
   */
  fields(node: Node | null, what: string, allowed: readonly string[], where: Located): Fields | undefined {
    const map = this.deref(node);
    if (!map && node && isAlias(node)) return undefined;
    if (!map || !isMap(map)) {
      this.report(map && !isEmptyScalar(map) ? map : where, `${what} must be a mapping, got ${describeNode(map)}`);
      return undefined;
    }
    // Merge keys are YAML 1.1, read here (YAML 1.2) as a key named `<<`: one issue says so, and the
    // mapping is not read further, as every key it lacks would be reported missing.
    const merge = map.items.find((pair) => isScalar(pair.key) && pair.key.value === '<<' && pair.key.type === 'PLAIN');
    if (merge) {
      this.report(merge.key as Node, 'YAML merge keys (<<) are not supported; write the keys out');
      return undefined;
    }
    const result = new Map<string, Field>();
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null;
      const name = isScalar(keyNode) ? String(keyNode.value) : '';
      const keyLocated: Located = keyNode ?? map;
      if (!allowed.includes(name)) {
        const suggestion = closest(name, allowed);
        const hint = suggestion ? `; did you mean \`${suggestion}\`?` : '';
        this.report(keyLocated, `unknown key \`${name}\` in ${what}${hint} (allowed: ${allowed.join(', ')})`);
        continue;
      }
      result.set(name, { name, key: keyLocated, value: (pair.value as Node | null) ?? null });
    }
    return result;
  }

  /** Reports each of `names` that the mapping lacks, at the mapping's first line. */
  requireKeys(fields: Fields, names: readonly string[], what: string, where: Located): boolean {
    let ok = true;
    for (const name of names) {
      if (fields.has(name)) continue;
      this.report(where, `${what} is missing the required key \`${name}\``);
      ok = false;
    }
    return ok;
  }

  /**
   * A canned text (a `respond` answer, a refusal): sent exactly as written, so a `{{ … }}`
   * placeholder in it, which would reach users literally, is a mistake to report.
   */
  cannedText(field: Field): string | undefined {
    const text = this.string(field);
    const found = text === undefined ? [] : placeholders(text);
    if (found.length > 0)
      this.report(
        this.valueNode(field),
        `\`${field.name}\` is sent as written: ${found.map((p) => `\`${p}\``).join(', ')} would reach users literally ` +
          "(only a `forward` prompt can carry the user's text, with `user_message_slot: true`)",
      );
    return text;
  }

  /** A non-empty string; empty strings are always a mistake in a rail file. */
  string(field: Field): string | undefined {
    const node = this.deref(field.value);
    if (!isScalar(node) || typeof node.value !== 'string') return this.wrongType(field, 'a string');
    if (node.value.trim() === '') {
      this.report(node, `\`${field.name}\` must not be empty`);
      return undefined;
    }
    return node.value;
  }

  boolean(field: Field): boolean | undefined {
    const node = this.deref(field.value);
    if (!isScalar(node) || typeof node.value !== 'boolean') return this.wrongType(field, 'true or false');
    return node.value;
  }

  number(field: Field, options: { min: number; max?: number; integer?: boolean; note?: string }): number | undefined {
    const node = this.deref(field.value);
    const { min, max, integer = false, note = '' } = options;
    const expected =
      (integer ? 'a whole number' : 'a number') +
      (max === undefined ? ` of at least ${min}` : ` between ${min} and ${max}`) +
      note;
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value))
      return this.wrongType(field, expected);
    const value = node.value;
    if ((integer && !Number.isInteger(value)) || value < min || (max !== undefined && value > max)) {
      this.report(node, `\`${field.name}\` must be ${expected}, got ${String(value)}`);
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(field: Field, values: readonly T[]): T | undefined {
    const node = this.deref(field.value);
    const expected = `one of ${values.join(', ')}`;
    if (!isScalar(node) || typeof node.value !== 'string') return this.wrongType(field, expected);
    const value = node.value;
    if ((values as readonly string[]).includes(value)) return value as T;
    const suggestion = closest(value, values);
    const hint = suggestion ? `; did you mean \`${suggestion}\`?` : '';
    this.report(node, `\`${field.name}\` must be ${expected}, got "${value}"${hint}`);
    return undefined;
  }

  /** The items of a list (aliases resolved), or undefined after reporting a wrong type. */
  list(field: Field): Node[] | undefined {
    const node = this.deref(field.value);
    if (!isSeq(node)) return this.wrongType(field, 'a list');
    return node.items.map((item) => this.deref(item as Node | null)).filter((item): item is Node => item !== null);
  }

  /**
   * A list of non-empty strings, each with its position. An empty list is an issue when `nonEmpty`.
   * Invalid items are reported and left out.
   */
  stringList(field: Field, nonEmpty: boolean): { value: string; node: Scalar }[] | undefined {
    const items = this.list(field);
    if (!items) return undefined;
    if (nonEmpty && items.length === 0) {
      this.report(this.valueNode(field), `\`${field.name}\` must list at least one entry`);
      return undefined;
    }
    const result: { value: string; node: Scalar }[] = [];
    let ok = true;
    for (const item of items) {
      if (!isScalar(item) || typeof item.value !== 'string') {
        this.report(
          item,
          `each entry of \`${field.name}\` must be a string, got ${describeNode(item)}${quoteHint(item)}`,
        );
        ok = false;
      } else if (item.value.trim() === '') {
        this.report(item, `entries of \`${field.name}\` must not be empty`);
        ok = false;
      } else result.push({ value: item.value, node: item });
    }
    return ok ? result : undefined;
  }
}
