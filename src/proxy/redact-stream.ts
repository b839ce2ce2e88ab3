/**
 * Masking a secret in text, whole or as it arrives in pieces. Every character of every occurrence
 * is masked, overlapping occurrences included (a key whose end repeats its start could otherwise
 * survive whole between two masked copies); each run of overlapping occurrences becomes one
 * replacement. In pieces, a secret can be split across two of them, so the last characters that
 * could still begin one are held back until the next piece shows whether they do; a run that may
 * still grow is replaced at once, and only its last characters are kept, marked as already masked.
 * Nothing beyond secret.length - 1 characters is ever held.
 */
import { StringDecoder } from 'node:string_decoder';

/** Runs of occurrences of `secret` in `text`, in order: [start, end), overlapping copies joined. */
function* runsOf(text: string, secret: string): Generator<[number, number]> {
  let start = -1;
  let end = -1;
  for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
    if (at < end) {
      end = at + secret.length;
      continue;
    }
    if (end >= 0) yield [start, end];
    start = at;
    end = at + secret.length;
  }
  if (end >= 0) yield [start, end];
}

interface Masked {
  /** What can be passed on now. */
  readonly out: string;
  /** The characters held back: they could begin an occurrence the next piece completes. */
  readonly held: string;
  /** How many of `held`'s first characters belong to a run already replaced in `out`. */
  readonly covered: number;
}

/**
 * Masks `text` (held characters, then a new piece) up to where an occurrence could still be
 * completed by what follows; all of it when `final`. Its first `covered` characters belong to a run
 * replaced earlier: an occurrence that begins among them continues that run.
 */
function maskUpTo(text: string, secret: string, replacement: string, covered: number, final: boolean): Masked {
  const parts: string[] = [];
  let from = covered;
  for (const [start, end] of runsOf(text, secret)) {
    if (start < covered) {
      from = Math.max(from, end);
      continue;
    }
    parts.push(text.slice(from, start), replacement);
    from = end;
  }
  // An occurrence not yet whole in `text` can only begin in its last secret.length - 1 characters.
  let cut = final ? text.length : Math.max(0, text.length - (secret.length - 1));
  if (from >= cut) return { out: parts.join(''), held: text.slice(cut), covered: from - cut };
  // Nor is a character outside the BMP split between its two UTF-16 halves.
  const before = text.charCodeAt(cut - 1);
  if (cut < text.length && cut - 1 >= from && before >= 0xd800 && before <= 0xdbff) cut--;
  parts.push(text.slice(from, cut));
  return { out: parts.join(''), held: text.slice(cut), covered: 0 };
}

/** `text` with every occurrence of `secret` replaced. */
export function maskSecret(text: string, secret: string, replacement: string): string {
  return text.includes(secret) ? maskUpTo(text, secret, replacement, 0, true).out : text;
}

export async function* redactPieces(
  source: AsyncIterable<Buffer | string>,
  secret: string,
  replacement: string,
): AsyncGenerator<Buffer> {
  // Pieces are bytes: a character split across two of them is decoded once whole.
  const decoder = new StringDecoder('utf8');
  let held = '';
  let covered = 0;
  for await (const piece of source) {
    const text = held + (typeof piece === 'string' ? piece : decoder.write(piece));
    const masked = maskUpTo(text, secret, replacement, covered, false);
    ({ held, covered } = masked);
    if (masked.out.length > 0) yield Buffer.from(masked.out);
  }
  const last = maskUpTo(held + decoder.end(), secret, replacement, covered, true);
  if (last.out.length > 0) yield Buffer.from(last.out);
}
