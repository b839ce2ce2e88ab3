/**
 * The fixed BANKING77 protocol. 10 of the 77 intents are held out as out-of-scope (seeded shuffle);
 * the other 67 get a rail set of 10 TRAINING examples each. The rest of the training split is the
 * validation split (thresholds and other choices are made there); the test split is only scored.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DATASETS_DIR, readCsv, seededRandom, shuffled } from './data.js';

export interface Protocol {
  readonly seed: number;
  readonly oosIntents: number;
  readonly examplesPerIntent: number;
}

export const PROTOCOL: Protocol = Object.freeze({ seed: 77, oosIntents: 10, examplesPerIntent: 10 });

export interface LabelledText {
  readonly text: string;
  /** The true intent, or null for an out-of-scope text (its intent is not in the rail set). */
  readonly intent: string | null;
  /** The data set's label, also for out-of-scope texts. */
  readonly label: string;
}

export interface Banking77Split {
  readonly inScope: readonly string[];
  readonly outOfScope: readonly string[];
  /** Rail examples per in-scope intent, in the order they were drawn. */
  readonly examples: ReadonlyMap<string, readonly string[]>;
  readonly validation: readonly LabelledText[];
  readonly test: readonly LabelledText[];
}

export async function loadBanking77Split(protocol: Protocol = PROTOCOL): Promise<Banking77Split> {
  const dir = path.join(DATASETS_DIR, 'banking77');
  const categories = (JSON.parse(await readFile(path.join(dir, 'categories.json'), 'utf8')) as string[]).sort();
  const random = seededRandom(protocol.seed);
  const order = shuffled(categories, random);
  const outOfScope = order.slice(0, protocol.oosIntents).sort();
  const inScope = order.slice(protocol.oosIntents).sort();
  const oos = new Set(outOfScope);
  const label = (category: string, text: string): LabelledText => ({
    text,
    label: category,
    intent: oos.has(category) ? null : category,
  });

  const train = await readCsv('banking77', 'train.csv');
  const byIntent = new Map<string, string[]>(categories.map((c) => [c, []]));
  for (const row of train) byIntent.get(row.category!)?.push(row.text!);
  const examples = new Map<string, string[]>();
  const validation: LabelledText[] = [];
  for (const category of categories) {
    const texts = shuffled(byIntent.get(category)!, random);
    const taken = oos.has(category) ? 0 : protocol.examplesPerIntent;
    if (taken) examples.set(category, texts.slice(0, taken));
    for (const text of texts.slice(taken)) validation.push(label(category, text));
  }
  const test = (await readCsv('banking77', 'test.csv')).map((row) => label(row.category!, row.text!));
  return { inScope, outOfScope, examples, validation, test };
}
