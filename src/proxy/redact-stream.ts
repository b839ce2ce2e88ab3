/**
 * Masking a secret in a body relayed as it arrives. The body comes in pieces, and a secret can be
 * split across two of them: the last `secret.length - 1` characters of what has arrived are held
 * back until the next piece shows whether they begin the secret.
 */
import { StringDecoder } from 'node:string_decoder';

export async function* redactPieces(
  source: AsyncIterable<Buffer | string>,
  secret: string,
  replacement: string,
): AsyncGenerator<Buffer> {
  const mask = (text: string) => text.split(secret).join(replacement);
  // Pieces are bytes: a character split across two of them is decoded once whole.
  const decoder = new StringDecoder('utf8');
  let held = '';
  for await (const piece of source) {
    const text = held + (typeof piece === 'string' ? piece : decoder.write(piece));
    let cut = Math.max(0, text.length - (secret.length - 1));
    // An occurrence that begins before the cut and ends after it is passed on whole, masked.
    const last = cut === 0 ? -1 : text.lastIndexOf(secret, cut - 1);
    if (last >= 0 && last + secret.length > cut) cut = last + secret.length;
    held = text.slice(cut);
    if (cut > 0) yield Buffer.from(mask(text.slice(0, cut)));
  }
  const rest = held + decoder.end();
  if (rest.length > 0) yield Buffer.from(mask(rest));
}
