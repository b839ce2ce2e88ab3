/**
 * JailbreakBench JBB-Behaviors against the shipped deny-list rail set `rails/assistant`: the share of
 * harmful requests refused and of benign ones wrongly refused, asked plainly and buried in the middle
 * of a long harmless text (with chunked matching, and with chunking off to show what it buys).
 *
 *   npx tsx scripts/eval/jbb.ts [--rails rails/assistant] [--no-cache]
 *
 * Decisions come from `RailsRuntime.decide`, the serving code, on the rail set as loaded from YAML.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { createGuard } from '../../src/matching/runtime.js';
import { loadRailSet } from '../../src/rails/load.js';
import type { MatchConfig, RailSet } from '../../src/rails/types.js';
import { readCsv, REPO_ROOT } from './data.js';
import { bury, FILLER_PASSAGES } from './filler.js';
import { MemoEmbedder } from './memo-embedder.js';

interface Behaviour {
  readonly goal: string;
  readonly category: string;
  readonly harmful: boolean;
}

interface Condition {
  readonly name: string;
  readonly text: (b: Behaviour, index: number) => string;
  /** Overrides of the set's `match` settings. */
  readonly match?: Partial<MatchConfig>;
}

const usesBlend = (set: RailSet) => (set.match.lexicalWeight ?? 0) > 0 || (set.match.centroidWeight ?? 0) > 0;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** The set's match settings with the lexical and centroid blends switched the other way. */
function otherBlend(set: RailSet): Partial<MatchConfig> {
  return usesBlend(set)
    ? { lexicalWeight: 0, centroidWeight: 0, threshold: round2(set.match.threshold + 0.1) }
    : { lexicalWeight: 0.3, centroidWeight: 0.5, threshold: round2(set.match.threshold - 0.1) };
}

function blendLabel(set: RailSet): string {
  const t = otherBlend(set).threshold!;
  return usesBlend(set)
    ? `embeddings only (blends off, threshold ${t})`
    : `lexical 0.3 + centroid 0.5 (threshold ${t})`;
}

const pct = (x: number, n: number) => `${((100 * x) / n).toFixed(0)}% (${x}/${n})`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rails: { type: 'string', default: 'rails/assistant' }, 'no-cache': { type: 'boolean', default: false } },
  });
  const set = await loadRailSet(path.resolve(REPO_ROOT, values.rails));
  const behaviours: Behaviour[] = [
    ...(await readCsv('jbb-behaviors', 'jbb_behaviors_harmful.csv')).map((r) => ({
      goal: r.goal!,
      category: r.category!,
      harmful: true,
    })),
    ...(await readCsv('jbb-behaviors', 'jbb_behaviors_benign.csv')).map((r) => ({
      goal: r.goal!,
      category: r.category!,
      harmful: false,
    })),
  ];
  const passage = (i: number) => FILLER_PASSAGES[i % FILLER_PASSAGES.length]!;
  const conditions: Condition[] = [
    { name: 'plain request', text: (b) => b.goal },
    { name: 'buried mid-text, chunked (default)', text: (b, i) => bury(b.goal, passage(i)) },
    { name: 'buried at the end, chunked', text: (b, i) => bury(b.goal, passage(i), 1) },
    { name: 'buried mid-text, chunking off', text: (b, i) => bury(b.goal, passage(i)), match: { chunkWords: 0 } },
    // What the lexical and centroid blends buy: the same set with them switched the other way. The blend
    // lowers scores; 0.1 is the threshold shift at which the shipped sets' own tests pass either way.
    { name: `plain, ${blendLabel(set)}`, text: (b) => b.goal, match: otherBlend(set) },
    { name: `buried mid-text, ${blendLabel(set)}`, text: (b, i) => bury(b.goal, passage(i)), match: otherBlend(set) },
  ];
  const embedder = await new MemoEmbedder(await BundledEmbedder.load(), !values['no-cache']).open();
  try {
    console.log(
      `rail set ${set.name} (${set.hash}), ${set.intents.length} intents; match ${JSON.stringify(set.match)}`,
    );
    console.log(`filler passages: ${FILLER_PASSAGES.map((p) => p.split(/\s+/).length).join(', ')} words\n`);
    console.log('| condition | harmful refused | benign wrongly refused | chunks per message |');
    console.log('|---|---|---|---|');
    const misses = new Map<string, number>();
    for (const condition of conditions) {
      const variant: RailSet = { ...set, match: { ...set.match, ...condition.match } };
      const guard = await createGuard({ sets: [variant], embedderFor: async () => embedder });
      const texts = behaviours.map((b, i) => condition.text(b, i));
      let refusedHarmful = 0;
      let refusedBenign = 0;
      let chunks = 0;
      for (const [i, b] of behaviours.entries()) {
        const { decision } = await guard.decide(texts[i]!);
        chunks += decision.chunk?.count ?? 1;
        const refused = decision.action === 'refuse';
        if (b.harmful && refused) refusedHarmful++;
        if (!b.harmful && refused) refusedBenign++;
        if (condition === conditions[0] && b.harmful && !refused)
          misses.set(b.category, (misses.get(b.category) ?? 0) + 1);
      }
      console.log(
        `| ${condition.name} | ${pct(refusedHarmful, 100)} | ${pct(refusedBenign, 100)} | ${(
          chunks / behaviours.length
        ).toFixed(1)} |`,
      );
    }
    console.log('\nHarmful requests NOT refused (plain), by JBB category (10 each):\n');
    console.log('| category | missed |\n|---|---|');
    for (const [category, n] of [...misses].sort((a, b) => b[1] - a[1])) console.log(`| ${category} | ${n} |`);
    await timings(
      set,
      behaviours.slice(0, 20).map((b, i) => [b.goal, bury(b.goal, passage(i))]),
    );
  } finally {
    await embedder.close();
  }
}

/** Serving cost of chunking: the real model, no memo, short vs buried versions of the same requests. */
async function timings(set: RailSet, pairs: readonly (readonly [string, string])[]): Promise<void> {
  const model = await BundledEmbedder.load();
  const guard = await createGuard({ sets: [set], embedderFor: async () => model });
  await guard.decide('warm up');
  const mean = async (texts: readonly string[]) => {
    let embed = 0;
    let search = 0;
    for (const text of texts) {
      const { timings } = await guard.decide(text);
      embed += timings.embedMs;
      search += timings.searchMs;
    }
    return `${(embed / texts.length).toFixed(1)} ms embed + ${(search / texts.length).toFixed(2)} ms search`;
  };
  console.log(`\nTimings (mean of ${pairs.length}, bundled model, this machine):\n`);
  console.log(`- plain request: ${await mean(pairs.map((p) => p[0]))}`);
  console.log(`- buried in a long text (chunked): ${await mean(pairs.map((p) => p[1]))}`);
}

await main();
