/**
 * Start-up to ready with 10,000 rail examples: a first start (every example embedded) and a cached
 * restart (examples from the persistent cache), each as the real `railgate serve` process, plus its
 * resident memory once loaded.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseCsv } from '../src/authoring/csv.js';
import { distinctMessages } from './messages.js';
import { startServeProcess } from './serve-process.js';
import { fmt, median } from './stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BANKING77 = path.resolve(ROOT, '../shared/datasets/banking77/train.csv');

/** 10,000 examples: BANKING77's training utterances where present, else generated messages. */
function examplesByIntent(): Map<string, string[]> {
  const byIntent = new Map<string, string[]>();
  if (existsSync(BANKING77)) {
    const [, ...rows] = parseCsv(readFileSync(BANKING77, 'utf8'));
    const seen = new Set<string>();
    for (const {
      fields: [text, category],
    } of rows) {
      // A rail set may not list one example twice, even under two intents.
      const example = text?.trim();
      if (!example || !category || seen.has(example.toLowerCase())) continue;
      seen.add(example.toLowerCase());
      // BANKING77 has two labels that are not valid intent ids (`Refund_not_showing_up`, `…payment?`).
      const id = category.toLowerCase().replace(/[^a-z0-9_.-]/g, '');
      byIntent.set(id, [...(byIntent.get(id) ?? []), example]);
    }
  } else {
    distinctMessages(10_000, 3).forEach((m, i) =>
      byIntent.set(`intent_${i % 77}`, [...(byIntent.get(`intent_${i % 77}`) ?? []), m]),
    );
  }
  for (const [id, list] of byIntent) byIntent.set(id, [...new Set(list)]);
  return byIntent;
}

function writeRails(dir: string): number {
  const byIntent = examplesByIntent();
  const intents = [...byIntent].map(([id, examples]) => ({
    id,
    action: 'respond',
    response: `About ${id}.`,
    examples,
  }));
  mkdirSync(path.join(dir, 'big'), { recursive: true });
  writeFileSync(path.join(dir, 'big', 'rail.yml'), stringify({ name: 'big', match: { threshold: 0.5 }, intents }));
  return intents.reduce((n, i) => n + i.examples.length, 0);
}

async function startOnce(railsDir: string, dataDir: string): Promise<{ readyMs: number; rssMb: number }> {
  const railgate = await startServeProcess({ railsDir, dataDir });
  try {
    const metrics = await (await fetch(`${railgate.origin}/metrics`)).text();
    const rss = Number(/^railgate_process_resident_memory_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
    return { readyMs: railgate.readyMs, rssMb: rss / 2 ** 20 };
  } finally {
    await railgate.close();
  }
}

export interface StartupRow {
  examples: number;
  firstMs: number;
  cachedMs: number;
  rssMb: number;
}

export async function runStartupBench(runs = 3): Promise<StartupRow> {
  const dir = mkdtempSync(path.join(tmpdir(), 'railgate-startup-'));
  const railsDir = path.join(dir, 'rails');
  const examples = writeRails(railsDir);
  const first: number[] = [];
  const cached: number[] = [];
  const rss: number[] = [];
  // A first start embeds all 10,000 examples (minutes here): once; the cached restarts `runs` times.
  const dataDir = path.join(dir, 'data');
  rmSync(dataDir, { recursive: true, force: true });
  first.push((await startOnce(railsDir, dataDir)).readyMs);
  for (let run = 0; run < runs; run++) {
    const restart = await startOnce(railsDir, dataDir);
    cached.push(restart.readyMs);
    rss.push(restart.rssMb);
    process.stderr.write(
      `startup: first ${Math.round(first[0]!)} ms, cached restart ${Math.round(restart.readyMs)} ms\n`,
    );
  }
  return { examples, firstMs: median(first), cachedMs: median(cached), rssMb: median(rss) };
}

export function startupTable(row: StartupRow): string {
  return [
    '| examples | first start to ready (s) | cached restart to ready (s) | RSS after load (MB) |',
    '|---:|---:|---:|---:|',
    `| ${row.examples} | ${fmt(row.firstMs / 1000)} | ${fmt(row.cachedMs / 1000)} | ${fmt(row.rssMb, 0)} |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(startupTable(await runStartupBench(1)));
