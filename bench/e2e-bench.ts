/**
 * End to end, in one run: the same load straight to an instantly answering upstream (the baseline)
 * and through railgate (forward action), non-streaming and streaming, 1 and 16 connections, with
 * distinct ("cold") and repeated messages; cold messages also with other model set-ups (two model
 * workers, one per core here; one worker on two wasm threads). Figures: req/s, latency p50/p99, and
 * railgate's added latency in ms and as a ratio to direct. railgate runs as users run it, as its own
 * `railgate serve` process: in the bench's process, autocannon's work would share its event loop.
 */
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startInstantUpstream } from './instant-upstream.js';
import { distinctMessages } from './messages.js';
import { startServeProcess } from './serve-process.js';
import { fmt, median, percentile } from './stats.js';

export interface E2ERow {
  target: 'direct' | 'railgate';
  stream: boolean;
  connections: number;
  messages: 'cold' | 'repeated';
  /** railgate's model workers (`embedding.workers`) and their wasm threads; absent for direct. */
  workers?: number;
  threads?: number;
  rps: number;
  p50: number;
  p99: number;
}

const RAIL = `name: bench
match: { threshold: 0.3 }
on_no_match: { action: passthrough }
intents:
  - id: support
    action: forward
    examples:
${[...new Set(distinctMessages(40, 1).map((m) => m.replace(/ \(ref.*\)$/, '')))]
  .map((m) => `      - "${m}"`)
  .join('\n')}
    prompt:
      - { role: system, content: "You are the bank's support assistant. Answer briefly." }
      - { role: user, content: "{{user_message}}" }
    user_message_slot: true
`;

/** Every load gets its own messages, so a "cold" run never hits what an earlier run cached. */
let loads = 0;

async function load(url: string, connections: number, stream: boolean, messages: 'cold' | 'repeated', seconds: number) {
  const seed = 1_000 + ++loads;
  const fresh = distinctMessages(40_000, seed);
  const repeated = distinctMessages(20, 5);
  let i = 0;
  const times: number[] = [];
  let finish!: (result: autocannon.Result) => void;
  let fail!: (error: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => ((finish = resolve), (fail = reject)));
  const options: autocannon.Options = {
    url: `${url}/chat/completions`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
        setupRequest: (req) => {
          const text = messages === 'cold' ? fresh[i++ % fresh.length]! : repeated[i++ % repeated.length]!;
          return {
            ...req,
            body: JSON.stringify({ model: 'bench', stream, messages: [{ role: 'user', content: text }] }),
          };
        },
      },
    ],
  };
  const instance = autocannon(options, (error, result) => (error ? fail(error) : finish(result)));
  // autocannon's own histogram has 1 ms resolution; the per-response times are sub-millisecond.
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) =>
    times.push(responseTime),
  );
  const result = await done;
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx and ${result.errors} errors against ${url} (seed ${seed})`);
  }
  return { rps: result.requests.average, p50: percentile(times, 50), p99: percentile(times, 99) };
}

interface ModelSetup {
  readonly workers: number;
  readonly threads: number;
}

/**
 * Model set-ups to measure cold messages with: `BENCH_MODELS=1,2,1x2` by default, each "workers" or
 * "workers x threads". The first runs every scenario, the others the cold ones.
 */
function modelSetups(): ModelSetup[] {
  return (process.env.BENCH_MODELS ?? '1,2,1x2')
    .split(',')
    .map((spec) => spec.split('x').map(Number))
    .filter(([workers]) => workers! >= 1)
    .map(([workers, threads]) => ({ workers: workers!, threads: threads ?? 1 }));
}

const setupKey = (s: ModelSetup) => `${s.workers}x${s.threads}`;

/** One `railgate serve` process per model set-up, sharing the rails and the example cache. */
async function startProxy(dir: string, upstreamUrl: string, setup: ModelSetup) {
  const dataDir = path.join(dir, `data-${setupKey(setup)}`);
  mkdirSync(dataDir, { recursive: true });
  const railgate = await startServeProcess({
    railsDir: path.join(dir, 'rails'),
    dataDir,
    env: {
      RAILGATE_UPSTREAM_URL: upstreamUrl,
      RAILGATE_UPSTREAM_API_KEY: 'bench-key',
      RAILGATE_EMBED_WORKERS: String(setup.workers),
      RAILGATE_EMBED_THREADS: String(setup.threads),
    },
  });
  return { railgate, url: `${railgate.origin}/v1` };
}

export async function runE2EBench(runs = 3, seconds = 5): Promise<E2ERow[]> {
  const upstream = await startInstantUpstream();
  const dir = mkdtempSync(path.join(tmpdir(), 'railgate-bench-'));
  mkdirSync(path.join(dir, 'rails', 'bench'), { recursive: true });
  writeFileSync(path.join(dir, 'rails', 'bench', 'rail.yml'), RAIL);
  const [first = { workers: 1, threads: 1 }, ...more] = modelSetups();
  const proxies = new Map<string, Awaited<ReturnType<typeof startProxy>>>();
  const scenarios: Omit<E2ERow, 'rps' | 'p50' | 'p99'>[] = [];
  const samples = new Map<number, { rps: number; p50: number; p99: number }[]>();
  // The railgate processes outlive a failed or interrupted bench unless stopped here.
  try {
    for (const setup of [first, ...more]) proxies.set(setupKey(setup), await startProxy(dir, upstream.url, setup));
    // Unmeasured: the JIT and the wasm tiers warm up on the first seconds of load.
    for (const proxy of proxies.values()) await load(proxy.url, 16, false, 'cold', 2);
    for (const stream of [false, true])
      for (const connections of [1, 16]) {
        scenarios.push({ target: 'direct', stream, connections, messages: 'cold' });
        for (const messages of ['cold', 'repeated'] as const)
          scenarios.push({ target: 'railgate', stream, connections, messages, ...first });
        for (const setup of more)
          scenarios.push({ target: 'railgate', stream, connections, messages: 'cold', ...setup });
      }
    for (let run = 0; run < runs; run++) {
      for (const [index, s] of scenarios.entries()) {
        const url =
          s.target === 'direct'
            ? upstream.url
            : proxies.get(setupKey({ workers: s.workers!, threads: s.threads! }))!.url;
        const figures = await load(url, s.connections, s.stream, s.messages, seconds);
        samples.set(index, [...(samples.get(index) ?? []), figures]);
        process.stderr.write(`e2e run ${run + 1}/${runs}: ${JSON.stringify(s)} ${Math.round(figures.rps)} req/s\n`);
      }
    }
  } finally {
    for (const proxy of proxies.values()) await proxy.railgate.close();
    await upstream.close();
  }
  return scenarios.map((s, index) => {
    const list = samples.get(index)!;
    return {
      ...s,
      rps: median(list.map((f) => f.rps)),
      p50: median(list.map((f) => f.p50)),
      p99: median(list.map((f) => f.p99)),
    };
  });
}

export function e2eTable(rows: readonly E2ERow[]): string {
  const lines = [
    '| mode | conns | target | model workers × threads | messages | req/s | p50 (ms) | p99 (ms) | added p50 (ms) | p50 ratio to direct |',
    '|---|---:|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const direct = rows.find((d) => d.target === 'direct' && d.stream === r.stream && d.connections === r.connections)!;
    const added = r.target === 'direct' ? '—' : fmt(r.p50 - direct.p50);
    const ratio = r.target === 'direct' ? '1.00' : fmt(r.p50 / Math.max(direct.p50, 0.01));
    lines.push(
      `| ${r.stream ? 'stream' : 'json'} | ${r.connections} | ${r.target} | ${r.workers ? `${r.workers} × ${r.threads ?? 1}` : '—'} | ${r.target === 'direct' ? '—' : r.messages} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${added} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(e2eTable(await runE2EBench(1, 2)));
