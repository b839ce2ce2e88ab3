/**
 * Small allow-lists drawn from BANKING77: `n` intents with 10 training examples each, the other
 * intents out of scope, split into two disjoint halves: one joins the validation texts (where the
 * threshold is chosen), the other the test texts, so the test's out-of-scope topics are unseen. Compares
 * `scoring: classifier` scores (`classifier_score` probability, probability × nearest-example
 * similarity, and that with `lexical_weight` 0.3) and similarity scoring with the blends, on many
 * seeded draws; the first (the probability) is the baseline the last column counts wins against.
 *
 *   npx tsx scripts/eval/small-sets.ts [--intents 5,10,20] [--draws 20]
 *
 * Every text is decided by `RailsRuntime.decide`, the serving code, once with threshold 0; the test
 * score at the threshold chosen on validation is read from those decisions (thresholds.ts).
 */
import { parseArgs } from 'node:util';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { createGuard } from '../../src/matching/runtime.js';
import type { MatchConfig } from '../../src/rails/types.js';
import { readCsv, seededRandom, shuffled } from './data.js';
import { MemoEmbedder } from './memo-embedder.js';
import { evalIntent, evalRailSet } from './rail-set.js';
import { fitGlobal, observe, scoreWith, type Observation } from './thresholds.js';

interface Labelled {
  readonly text: string;
  /** The intent, null when out of scope. */
  readonly gold: string | null;
}

const VARIANTS: readonly [string, Partial<MatchConfig>][] = [
  ['probability', { scoring: 'classifier', classifierC: 100 }],
  ['similarity scoring, lexical 0.3 + centroid 0.5', { lexicalWeight: 0.3, centroidWeight: 0.5 }],
  ['× nearest similarity', { scoring: 'classifier', classifierC: 100, classifierScore: 'probability_similarity' }],
  [
    '× nearest similarity, lexical 0.3',
    { scoring: 'classifier', classifierC: 100, classifierScore: 'probability_similarity', lexicalWeight: 0.3 },
  ],
];
const EXAMPLES_PER_INTENT = 10;

const { values } = parseArgs({
  options: { intents: { type: 'string', default: '5,10,20' }, draws: { type: 'string', default: '20' } },
});
const sizes = values.intents.split(',').map(Number);
const draws = Number(values.draws);

const embedder = await new MemoEmbedder(await BundledEmbedder.load(), true).open();
const train = await readCsv('banking77', 'train.csv');
const test = await readCsv('banking77', 'test.csv');
const categories = [...new Set(train.map((row) => row.category!))].sort();

console.log(`| intents | score | val balanced | test balanced | draws better on test than probability |`);
console.log('|---|---|---|---|---|');
for (const n of sizes) {
  const sums = VARIANTS.map(() => ({ val: 0, test: 0, better: 0 }));
  for (let draw = 0; draw < draws; draw++) {
    const random = seededRandom(1000 + draw);
    const order = shuffled(categories, random);
    const inScope = order.slice(0, n).sort();
    const rest = order.slice(n);
    const valOos = new Set(rest.slice(0, rest.length / 2));
    const testOos = new Set(rest.slice(rest.length / 2));
    const examples = new Map<string, string[]>();
    const validation: Labelled[] = [];
    for (const intent of inScope) {
      const texts = shuffled(
        train.filter((row) => row.category === intent).map((row) => row.text!),
        random,
      );
      examples.set(intent, texts.slice(0, EXAMPLES_PER_INTENT));
      for (const text of texts.slice(EXAMPLES_PER_INTENT)) validation.push({ text, gold: intent });
    }
    for (const row of train) if (valOos.has(row.category!)) validation.push({ text: row.text!, gold: null });
    const testing: Labelled[] = test.flatMap((row): Labelled[] =>
      inScope.includes(row.category!)
        ? [{ text: row.text!, gold: row.category! }]
        : testOos.has(row.category!)
          ? [{ text: row.text!, gold: null }]
          : [],
    );
    let probability = 0;
    const line: string[] = [];
    for (const [v, [name, match]] of VARIANTS.entries()) {
      const intents = inScope.map((id) => evalIntent({ id, examples: examples.get(id)! }));
      const guard = await createGuard({
        sets: [evalRailSet('small', intents, { ...match, threshold: 0 })],
        embedderFor: async () => embedder,
      });
      const observed = async (items: readonly Labelled[]) => {
        const out: Observation[] = [];
        for (const item of items) out.push(observe(item.gold, (await guard.decide(item.text)).decision));
        return out;
      };
      const onValidation = await observed(validation);
      const chosen = fitGlobal(onValidation, false);
      const valBalanced = scoreWith(onValidation, chosen).balanced;
      const testBalanced = scoreWith(await observed(testing), chosen).balanced;
      await guard.close();
      sums[v]!.val += valBalanced / draws;
      sums[v]!.test += testBalanced / draws;
      if (v === 0) probability = testBalanced;
      else if (testBalanced > probability) sums[v]!.better++;
      line.push(`${name} ${valBalanced.toFixed(3)}/${testBalanced.toFixed(3)}`);
    }
    process.stderr.write(`${n} intents, draw ${draw}: ${line.join(' | ')}\n`);
  }
  for (const [v, [name]] of VARIANTS.entries())
    console.log(
      `| ${n} | ${name} | ${sums[v]!.val.toFixed(3)} | ${sums[v]!.test.toFixed(3)} | ${v === 0 ? '—' : `${sums[v]!.better}/${draws}`} |`,
    );
}
await embedder.close();
