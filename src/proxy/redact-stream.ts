/**
 * Masking a secret in text, whole or as it arrives in pieces. Every character of every occurrence
 * is masked, overlapping occurrences included (a key whose end repeats its start could otherwise
 * survive whole between two masked copies); each run of overlapping occurrences becomes one
 * replacement. In pieces, a secret can be split across two of them: the characters that could still
 * begin one are held back until the next piece shows whether they do.
 */
import { StringDecoder } from 'node:string_decoder';

/** Where occurrences of `secret` lie in `text`: merged [start, end) runs, overlapping ones joined. */
function occurrences(text: string, secret: string): [number, number][] {
  const runs: [number, number][] = [];
  for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
    const last = runs.at(-1);
    if (last && at < last[1]) last[1] = at + secret.length;
    else runs.push([at, at + secret.length]);
  }
  return runs;
}

/** `text` with every occurrence of `secret` replaced. */
export function maskSecret(text: string, secret: string, replacement: string): string {
  let out = '';
  let from = 0;
  for (const [start, end] of occurrences(text, secret)) {
    out += text.slice(from, start) + replacement;
    from = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** How much of `text` can be masked and passed on now: no occurrence or character is cut in two. */
function safeCut(text: string, secret: string): number {
  // An occurrence not yet whole in `text` can only begin in its last secret.length - 1 characters.
  let cut = Math.max(0, text.length - (secret.length - 1));
  // A run of occurrences across the cut is held back whole: one more copy overlapping its end may
  // still arrive, and would belong to the run.
  for (const [start, end] of occurrences(text, secret)) if (start < cut && end > cut) cut = start;
  // Nor is a character outside the BMP split between its two UTF-16 halves.
  const before = text.charCodeAt(cut - 1);
  if (cut > 0 && cut < text.length && before >= 0xd800 && before <= 0xdbff) cut--;
  return cut;
}

export async function* redactPieces(
  source: AsyncIterable<Buffer | string>,
  secret: string,
  replacement: string,
): AsyncGenerator<Buffer> {
  // Pieces are bytes: a character split across two of them is decoded once whole.
  const decoder = new StringDecoder('utf8');
  let held = '';
  for await (const piece of source) {
    const text = held + (typeof piece === 'string' ? piece : decoder.write(piece));
    const cut = safeCut(text, secret);
    held = text.slice(cut);
    if (cut > 0) yield Buffer.from(maskSecret(text.slice(0, cut), secret, replacement));
  }
  const rest = held + decoder.end();
  if (rest.length > 0) yield Buffer.from(maskSecret(rest, secret, replacement));
}
