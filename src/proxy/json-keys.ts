/**
 * Chat bodies whose keys other JSON parsers read differently from railgate. railgate decides on the
 * body as JavaScript parses it, then sends the client's own bytes (passthrough) or the body with
 * `messages` replaced (forward) upstream. Two kinds of key would let the upstream read a message
 * railgate never decided on:
 * - a key twice in one object: JavaScript keeps the last, some parsers keep the first;
 * - keys that differ only in letter case (`messages` and `Messages`, `content` and `Content`): Go's
 *   encoding/json (Ollama, many gateways) matches keys regardless of case, so the later one wins.
 * Both are refused with a 400 before anything is decided; no client of OpenAI's API sends either.
 */
import { RailgateError } from '../errors.js';

/** Where a quoted string that starts at `start` ends (just past its closing quote). */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The first key that one object of `text` (valid JSON) holds twice, as decoded (`"a"` and `"\u0061"` are one key). */
export function repeatedKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      const keys = open.at(-1);
      if (expectKey && keys) {
        const quoted = text.slice(i, end);
        const key = quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b) {
      open.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) open.push(null);
    else if (c === 0x7d || c === 0x5d) open.pop();
    else if (c === 0x2c) expectKey = (open.at(-1) ?? null) !== null;
    i++;
  }
  return undefined;
}

/** Case folding close to Unicode simple folding: `ſ` is `s`, the Kelvin sign `k`, as Go's EqualFold has it. */
const fold = (key: string) => key.toUpperCase().toLowerCase();

/** Two keys of `object` that differ only in letter case, if any. */
function caseTwins(object: object): [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const key of Object.keys(object)) {
    const other = seen.get(fold(key));
    if (other !== undefined) return [other, key];
    seen.set(fold(key), key);
  }
  return undefined;
}

const isObject = (value: unknown): value is object =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The objects railgate reads a decision from, with their `param` path: the body, each message and
 * each content part.
 */
function* decisionObjects(body: object): Generator<[object, string | null]> {
  yield [body, null];
  const messages = (body as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) return;
  for (const [m, message] of messages.entries()) {
    if (!isObject(message)) continue;
    yield [message, `messages[${m}]`];
    const content = (message as { content?: unknown }).content;
    if (!Array.isArray(content)) continue;
    for (const [p, part] of content.entries()) if (isObject(part)) yield [part, `messages[${m}].content[${p}]`];
  }
}

/** Throws RG_ERR_INVALID_REQUEST for a chat body whose keys an upstream could read otherwise (see above). */
export function checkKeysUnambiguous(body: unknown, raw: string | undefined): void {
  if (!isObject(body)) return;
  for (const [object, param] of decisionObjects(body)) {
    const found = caseTwins(object);
    if (!found) continue;
    const twins = found.map((key) => key.slice(0, 64));
    throw new RailgateError(
      'RG_ERR_INVALID_REQUEST',
      `Invalid request: the keys '${twins[0]}' and '${twins[1]}'${param ? ` in '${param}'` : ''} differ only in letter case; ` +
        'servers that match keys regardless of case would read another message than the one railgate decided on. Send one.',
      { param: param ? `${param}.${twins[1]}` : twins[1] },
    );
  }
  const repeated = raw === undefined ? undefined : repeatedKey(raw);
  if (repeated !== undefined) {
    throw new RailgateError(
      'RG_ERR_INVALID_REQUEST',
      `Invalid request: the key '${repeated.slice(0, 64)}' appears twice in one object; JSON parsers disagree on which ` +
        'one counts, so the upstream could read another message than the one railgate decided on. Send it once.',
      { param: repeated.slice(0, 64) },
    );
  }
}
