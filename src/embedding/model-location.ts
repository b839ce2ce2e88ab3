/**
 * Whether a `transformers` model name is a Hugging Face hub id or a folder on disk: shared by the
 * provider, which loads it, and rail validation, which says at the set's `embedding` key that a folder
 * named is not there (without loading transformers.js).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** Hub ids as transformers.js recognises them: `name` or `owner/name`. */
export const HUB_ID = /^(?:[\w.-]+\/)?[\w.-]{1,96}$/;

export function isDirectory(candidate: string): boolean {
  return existsSync(candidate) && statSync(candidate).isDirectory();
}

/** A name only a folder can be (absolute, `./…`, `~…`, or not a hub id's shape). */
export function mustBeFolder(model: string): boolean {
  const looksLikePath = path.isAbsolute(model) || model.startsWith('.') || model.startsWith('~');
  return looksLikePath || !HUB_ID.test(model) || model.includes('..') || model.includes('--');
}

/** The message when `model`, resolved against `baseDir`, names a folder that is not there. */
export function missingModelFolder(model: string, baseDir: string): string | undefined {
  const resolved = path.resolve(baseDir, model);
  if (isDirectory(resolved) || !mustBeFolder(model)) return undefined;
  return `embedding model folder not found: ${resolved} (a local model needs config.json, tokenizer.json and onnx/model.onnx)`;
}
