/**
 * Fitted intent classifiers kept across restarts: a set whose examples did not change reads its model
 * back (milliseconds) instead of fitting it again (seconds for tens of intents).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { IntentClassifier, type ClassifierOptions, type TrainingExample } from './classifier.js';
import { replaceStoredFile, storedFileName } from './stored-files.js';

export interface StoredClassifier {
  readonly model: IntentClassifier;
  /** True when read from `dir` rather than fitted now. */
  readonly fromDisk: boolean;
}

/** The set's classifier from `dir` when one was fitted on exactly these examples; else fitted and stored. */
export async function loadOrFitClassifier(
  name: string,
  examples: readonly TrainingExample[],
  classes: number,
  options: ClassifierOptions,
  dir: string | undefined,
): Promise<StoredClassifier> {
  if (!dir) return { model: await IntentClassifier.fit(examples, classes, options), fromDisk: false };
  const key = IntentClassifier.fitKey(examples, classes, options);
  const bytes = await readFile(path.join(dir, storedFileName(name, key, 'classifier'))).catch(() => undefined);
  if (bytes) {
    try {
      return { model: IntentClassifier.fromBytes(bytes), fromDisk: true };
    } catch {
      // Damaged or from another version: fitted again below, and replaced.
    }
  }
  const model = await IntentClassifier.fit(examples, classes, options);
  await replaceStoredFile(dir, name, key, 'classifier', (partial) => writeFile(partial, model.toBytes()));
  return { model, fromDisk: false };
}
