/**
 * `npm run bench`: every benchmark in one run, written to BENCHMARKS.md with the machine noted.
 * Figures are medians of several runs; end-to-end figures are ratios against direct-to-upstream
 * measured in the same run. Nothing here is asserted: targets are reported, not enforced.
 *   BENCH_ONLY=embedding,e2e,index,startup   run a subset (BENCH_ONLY= with none rewrites BENCHMARKS.md
 *                                            from bench/results.json, e.g. after editing its text)
 *   BENCH_RUNS=3                             runs per figure
 *   BENCH_MODELS=1,2,1x2                     end-to-end model set-ups: workers, or workers x wasm threads
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { embeddingTable, runEmbeddingBench, type EmbeddingRow } from './embedding-bench.js';
import { e2eTable, runE2EBench, type E2ERow } from './e2e-bench.js';
import { indexTable, runIndexBench, type IndexRow } from './index-bench.js';
import { runStartupBench, startupTable, type StartupRow } from './startup-bench.js';
import { DEFAULT_EF_SEARCH } from '../src/matching/vector-index.js';
import { benchRuns, fmt } from './stats.js';

const only = new Set((process.env.BENCH_ONLY ?? 'embedding,e2e,index,startup').split(',').filter(Boolean));
const SECTIONS = ['embedding', 'e2e', 'index', 'startup'];
const unknown = [...only].filter((name) => !SECTIONS.includes(name));
if (unknown.length)
  throw new Error(`BENCH_ONLY: unknown ${unknown.join(', ')} (the sections are ${SECTIONS.join(', ')})`);
const thisMachine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;

/** Figures of the last full run; a subset run (BENCH_ONLY) replaces only its own sections. */
const RESULTS = path.resolve(import.meta.dirname, 'results.json');
interface Results {
  machine: string;
  date: string;
  runs: number;
  embedding: EmbeddingRow[];
  e2e: E2ERow[];
  index: IndexRow[];
  startup?: StartupRow;
}
const previous: Partial<Results> = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Results) : {};
const runs = only.size === 0 ? (previous.runs ?? benchRuns()) : benchRuns();

const embedding: EmbeddingRow[] = only.has('embedding') ? await runEmbeddingBench(runs) : (previous.embedding ?? []);
const e2e: E2ERow[] = only.has('e2e') ? await runE2EBench(runs) : (previous.e2e ?? []);
const index: IndexRow[] = only.has('index')
  ? [...(await runIndexBench(undefined, 'uniform')), ...(await runIndexBench(undefined, 'clustered'))]
  : (previous.index ?? []);
const startup: StartupRow | undefined = only.has('startup') ? await runStartupBench(runs) : previous.startup;
// Rewriting the report from stored figures keeps the machine and date they were measured on.
const machine = only.size === 0 ? (previous.machine ?? thisMachine) : thisMachine;
const date = only.size === 0 ? (previous.date ?? '') : new Date().toISOString().slice(0, 10);
writeFileSync(
  RESULTS,
  JSON.stringify({ machine, date, runs, embedding, e2e, index, startup } satisfies Results, null, 2) + '\n',
);

/** Each target of issue #3, with where this run stands. */
function targets(): string {
  const rows: [string, string, boolean | undefined][] = [];
  const bundledRows = embedding.filter((r) => r.provider.startsWith('bundled'));
  const bundled = bundledRows.reduce<EmbeddingRow | undefined>(
    (best, r) => (best && best.p50 <= r.p50 ? best : r),
    undefined,
  );
  const threadsOf = (r: { threads?: number | undefined }) =>
    `${r.threads ?? 1} wasm thread${(r.threads ?? 1) === 1 ? '' : 's'}`;
  rows.push([
    'bundled: one message embedded in ≤ 15 ms p50',
    bundled
      ? `${fmt(bundled.p50)} ms (${threadsOf(bundled)}` +
        bundledRows
          .filter((r) => r !== bundled)
          .map((r) => `; ${fmt(r.p50)} ms with ${threadsOf(r)}`)
          .join('') +
        ')'
      : 'not run',
    bundled && bundled.p50 <= 15,
  ]);
  const setupOf = (r: E2ERow) => `${r.workers ?? 1} model worker${r.workers === 1 ? '' : 's'} × ${threadsOf(r)}`;
  const colds = e2e.filter(
    (r) => r.target === 'railgate' && !r.stream && r.connections === 16 && r.messages === 'cold',
  );
  const cold = colds.reduce<E2ERow | undefined>((best, r) => (best && best.rps >= r.rps ? best : r), undefined);
  rows.push([
    '≥ 150 distinct messages/s through the proxy',
    cold
      ? `${fmt(cold.rps, 0)} req/s (16 connections, ${setupOf(cold)}` +
        colds
          .filter((r) => r !== cold)
          .map((r) => `; ${fmt(r.rps, 0)} with ${setupOf(r)}`)
          .join('') +
        ')'
      : 'not run',
    cold && cold.rps >= 150,
  ]);
  const repeated = e2e.find(
    (r) => r.target === 'railgate' && !r.stream && r.connections === 1 && r.messages === 'repeated',
  );
  const direct = e2e.find((r) => r.target === 'direct' && !r.stream && r.connections === 1);
  const added = repeated && direct ? repeated.p50 - direct.p50 : undefined;
  rows.push([
    'repeated (cached) messages add ≤ 1 ms p50 over direct',
    added === undefined ? 'not run' : `+${fmt(added)} ms (1 connection)`,
    added !== undefined && added <= 1,
  ]);
  // Where the default breadth falls short: the narrowest measured search that reaches recall 0.99.
  const widerSearch = (distribution: string) => {
    const at100k = index.filter((r) => r.size === 100_000 && r.distribution === distribution);
    const wide = at100k
      .filter((r) => r.kind === 'hnsw' && (r.efSearch ?? DEFAULT_EF_SEARCH) > DEFAULT_EF_SEARCH && r.recall >= 0.99)
      .sort((a, b) => a.efSearch! - b.efSearch!)[0];
    const exact = at100k.find((r) => r.kind === 'exact');
    return wide && exact
      ? ` (recall ${fmt(wide.recall, 3)} at efSearch ${wide.efSearch}: p99 ${fmt(wide.p99, 3)} ms; exact scan p99 ${fmt(exact.p99, 3)} ms)`
      : '';
  };
  // The issue's recall requirement on random unit vectors, whatever the search costs.
  const uniformHnsw = index
    .filter((r) => r.kind === 'hnsw' && r.size === 100_000 && r.distribution === 'uniform')
    .sort((a, b) => (a.efSearch ?? DEFAULT_EF_SEARCH) - (b.efSearch ?? DEFAULT_EF_SEARCH));
  const reaching = uniformHnsw.find((r) => r.recall >= 0.99);
  const uniformExact = index.find((r) => r.kind === 'exact' && r.size === 100_000 && r.distribution === 'uniform');
  rows.push([
    'recall@10 of the hnsw path ≥ 0.99 against exact on 100,000 random (uniform) unit vectors, any breadth',
    reaching
      ? `${fmt(reaching.recall, 3)} at efSearch ${reaching.efSearch ?? DEFAULT_EF_SEARCH} (p99 ${fmt(reaching.p99, 3)} ms` +
        (uniformExact
          ? `, where the exact scan takes ${fmt(uniformExact.p99, 3)} ms, so railgate serves the scan`
          : '') +
        `); ${uniformHnsw.map((r) => `${fmt(r.recall, 3)} at ${r.efSearch ?? DEFAULT_EF_SEARCH}`).join(', ')}`
      : uniformHnsw.length > 0
        ? `best ${fmt(Math.max(...uniformHnsw.map((r) => r.recall)), 3)}`
        : 'not run',
    uniformHnsw.length > 0 ? reaching !== undefined : undefined,
  ]);
  for (const distribution of ['uniform', 'clustered'] as const) {
    const hnsw = index.find(
      (r) =>
        r.kind === 'hnsw' &&
        r.size === 100_000 &&
        r.distribution === distribution &&
        (r.efSearch ?? DEFAULT_EF_SEARCH) === DEFAULT_EF_SEARCH,
    );
    const served = index.find((r) => r.kind === 'served' && r.size === 100_000 && r.distribution === distribution);
    const servedText = served
      ? `; served after the recall check: ${served.served === 'exact' ? 'the exact scan (graph set aside)' : `hnsw at efSearch ${served.efSearch}`}, p99 ${fmt(served.p99, 3)} ms, recall ${fmt(served.recall, 3)}`
      : '';
    rows.push([
      `100k-example index (${distribution}): search p99 ≤ 1 ms at recall@10 ≥ 0.99`,
      hnsw
        ? `p99 ${fmt(hnsw.p99, 3)} ms, recall ${fmt(hnsw.recall, 3)}${widerSearch(distribution)}${servedText}`
        : 'not run',
      // Judged on what railgate serves (the same graph and breadth, timed again after the recall
      // check): at the edge of 1 ms, one pass can land under and the other over.
      served ? served.p99 <= 1 && served.recall >= 0.99 : hnsw && hnsw.p99 <= 1 && hnsw.recall >= 0.99,
    ]);
  }
  rows.push([
    'cached restart with 10k examples ready in ≤ 2 s',
    startup ? `${fmt(startup.cachedMs / 1000)} s` : 'not run',
    startup && startup.cachedMs <= 2000,
  ]);
  rows.push([
    'RSS ≤ 400 MB with the bundled model loaded',
    startup ? `${fmt(startup.rssMb, 0)} MB` : 'not run',
    startup && startup.rssMb <= 400,
  ]);
  return [
    '| target | this run | met |',
    '|---|---|---|',
    ...rows.map(([what, value, met]) => `| ${what} | ${value} | ${met === undefined ? '—' : met ? 'yes' : '**no**'} |`),
  ].join('\n');
}

const sections = [
  embedding.length && '## 1. Embedding\n\n' + embeddingTable(embedding),
  e2e.length &&
    '## 2. End to end (forward action, instant upstream)\n\nThe same load straight to the upstream (direct) and through railgate, in the same run; ' +
      'railgate runs as `railgate serve` (one child process per model set-up), the load generator (autocannon) and the upstream in the bench process. ' +
      '"cold": every message distinct (embedded); "repeated": 20 messages in rotation (message cache).\n\n' +
      e2eTable(e2e),
  index.length && '## 3. Index (512 dims, k = 10, 200 queries)\n\n' + indexTable(index),
  startup && '## 4. Start-up with 10,000 examples (`railgate serve` as a child process)\n\n' + startupTable(startup),
].filter(Boolean);

const report = `# railgate benchmarks

Generated by \`npm run bench\` (\`bench/run.ts\`). Machine: ${machine}. Date: ${date}.
Each figure is the median of ${runs} runs (the first start with 10,000 examples: one run; an index is built once and its searches timed in ${runs} passes of 200 queries).

## Targets

${targets()}

${sections.join('\n\n')}

## Reading these figures

- The machine is a shared 2-vCPU VM: the same single-message embedding measured 9–20 ms p50 across
  runs during one day. Compare figures within one run (as the direct-vs-railgate ratios do), not
  across runs. The index and start-up sections were re-run on their own on 2026-11-29, slow days
  for this VM (first start with 10,000 examples 115 s against 72 s in the last full run; the exact
  100k scan 21–29 ms p50 against 11.0). The cached restart measured 3.77 s on the first of them,
  2.06 s on the second and 1.71 s in this section's last re-run (first start 112 s, as slow), after
  cuts to the proxy's start-up found by profiling it (CPU profiles of the main thread and the model
  worker): the exact scan is filled from one file in hnswlib's layout instead of vector by vector
  through N-API (1.1 s of the main thread for 10,000 vectors → ~30 ms; the exact rows' build
  column), the model worker requires tfjs rather than importing it (Node's ESM loader scanned its
  multi-megabyte CommonJS files first: ~0.5 s of the worker's start-up CPU on a busy core), ASCII
  text is folded for matching without the Unicode steps and, in most texts, without a pass per word
  (10,000 examples ~400 → ~15 ms), and a large set's cached vectors are read as one stored list
  rather than a row and a hash per example (~250 → ~75 ms). RSS after load measured 363 MB before
  that cut and 287 and 333 MB in two re-runs after it (whose restarts read the list the same way):
  it moves by tens of MB between runs. What is left on the main thread: loading modules (~0.7 s) and
  parsing the set's one 10,000-line YAML file (~0.6 s), both mostly the libraries' code running
  for the first time.
- Distinct messages are bounded by the model: one model call on one wasm thread uses one core, and
  USE lite embeds ~80–140 texts/s per core here even batched. Two ways to use more cores, both
  measured above: more model workers (\`RAILGATE_EMBED_WORKERS\`, each embedding its own batch) and
  more wasm threads per worker (\`RAILGATE_EMBED_THREADS\`, each model call split across cores, which
  also shortens a single message). With several workers each model call takes an even share of the
  waiting messages, and a free worker holds a lone message for company while another call runs
  (batcher.ts): without that, 2 of 3 calls under the 16-connection load were of a single message
  (~22 ms each, against ~12 ms a message in a call of 8), and the same load gave ~12% fewer
  requests/s in alternating runs. Here both set-ups share two cores with the load generator and the proxy;
  machines with cores to spare gain more, and a GPU embedding server behind the \`openai\` provider is
  the way past that. Repeated messages cost a cache lookup (+0.3–0.5 ms).
- Where the model's time goes (a tfjs profile of one batch of 16 of these messages): matrix
  multiplications, 86% of kernel time, each at ~15.5 GMAC/s per wasm thread, about what 128-bit wasm
  SIMD without fused multiply-add allows. The feed-forward layers run on the real tokens only, the
  rest on the batch padded to its longest text; so a batch is run as calls of similar lengths (15
  short questions and one long sentence: 82 ms as one call, 39 ms as two). Each call also has a fixed
  cost of ~5.6 ms, whatever its size (~3.5 ms of it tfjs's graph execution in JavaScript; about 1 ms
  of that went when the graph's two data-dependent ops became inputs computed from the token counts,
  src/embedding/bundled-graph.ts, so that tfjs's synchronous \`execute\` runs it; the per-thread
  figures that follow were measured before). Under the 16-connection
  load, CPU per request measured thread by thread (/proc, one worker on two wasm threads): the
  model worker ~6.1 ms and its second wasm thread ~4.8 ms (partly spin-waiting between parallel
  kernels), V8's helper threads ~0.8 ms (garbage collection, compilation; a larger young generation
  for the worker changed neither), the proxy's own thread ~0.6 ms (HTTP both ways, the search, the
  decision log), the load generator and upstream ~0.3 ms: at 150 requests/s, ~95% of both cores.
- Uniform random 512-d vectors are the worst case for any graph index (all points nearly equidistant):
  at the default search breadth (\`index.efSearch\` ${DEFAULT_EF_SEARCH}) HNSW recall there is low, and wider searches
  (rows with a larger efSearch) raise it slowly while costing more than the exact scan: on such data
  the exact scan is the right index. The graph does reach the issue's recall of 0.99 on these
  vectors, at efSearch 16,384 (0.998; 0.983 at 8,192), where a search takes ~3.7× as long as the
  exact scan. On clustered vectors, closer to real sentence embeddings, the default breadth reaches
  recall 1.000 in about 1 ms (p99; below). Rail sets below 20,000 examples use the
  exact (native brute-force) scan, which needs no graph: its vectors are written to a temporary file
  in hnswlib's layout and read in natively (the exact rows' build column). Larger sets build their HNSW
  graph once and store it beside the example cache ("read stored"): a restart with unchanged examples
  reads a 100k-example graph in a fraction of a second instead of rebuilding it for minutes.
- "served" rows: what railgate actually searches with. A new graph's recall is checked once against
  the exact scan as it is built (\`index.minRecall\` 0.99): 50 of the set's vectors are held out of
  the graph, searched for as new messages would be, then added ("recall check" is its time, stored
  with the graph so a restart skips it). A search too narrow is widened while it still costs less
  than the exact scan, and a graph no such breadth makes good enough is set aside for the exact scan
  (uniform vectors; and at 1,000 vectors, where the scan costs less than any wider search), so a set
  is never served at low recall. Until 2026-11-29 the check searched for midpoints of neighbouring
  examples, already linked in the graph, which flattered it: on 20,000 evenly spread 32-d vectors it
  found 0.99 at efSearch 64 where new queries found 0.94 (and 0.99 at 16 on the clustered 100k graph,
  where these queries found 0.95); held-out vectors follow new queries' recall (four such sets,
  efSearch 16 to 256: within 0.05 where recall is low, within 0.01 near 0.99). The default breadth
  is 64 (it was 128): on clustered 100k vectors of three spreads it found all of these queries' true
  neighbours (32: 0.991-0.999) in about two thirds of 128's time. The clustered 100k target is judged
  on the served row, and its p99 follows this VM's speed of the day: earlier re-runs of this section
  with the exact 100k scan at 22.9, 21.0 and 26.8 ms p50 measured p99 1.17, 0.93 and 1.18 ms, and on
  2026-11-29 a standalone script over another 100k clustered graph 0.97 to 1.46 ms across runs
  minutes apart: at the edge of 1 ms. Since then each search refills one query array instead of
  allocating a new one (hnswlib-node takes plain arrays; the same script: p99 0.87-1.05 ms), and this
  run measured p99 0.85 ms, p50 0.57 (0.80 in the run before the change, the same day, with the
  exact scan at 26.8 ms against 25.1 now): under 1 ms with some room, on this VM. About 0.1 ms of
  each search is still hnswlib-node reading the query element by element through N-API. Tried and
  dropped on 2026-11-29: hnswlib-node
  built with AVX2/FMA (its build uses SSE only): the graph's search no faster (it waits on memory),
  the exact scan ~15% faster; efSearch 32 (p99 0.57-0.71 ms, recall 0.994 there) is left out of the
  default because the recall check's estimate is within 0.01 near 0.99, so a set could be served
  just under it.
`;
const out = path.resolve(import.meta.dirname, '../BENCHMARKS.md');
writeFileSync(out, report);
console.log(report);
console.error(`written to ${out}`);
