/**
 * End to end, in one run: the same load straight to an instantly answering upstream (the baseline)
 * and through railgate (forward action), non-streaming and streaming, 1 and 16 connections, with
 * distinct ("cold") and repeated messages; cold messages also with two model workers (one per core
 * here). Figures: req/s, latency p50/p99, and railgate's added latency in ms and as a ratio to direct.
 */
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { parseSettings } from '../src/settings.js';
import { startRailgate } from '../src/start.js';
import { startInstantUpstream } from './instant-upstream.js';
import { distinctMessages } from './messages.js';
import { fmt, median, percentile } from './stats.js';

export interface E2ERow {
  target: 'direct' | 'railgate';
  stream: boolean;
  connections: number;
  messages: 'cold' | 'repeated';
  /** railgate's model workers (`embedding.workers`); absent for direct. */
  workers?: number;
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

/** Model workers to measure cold messages with (`BENCH_WORKERS=1,2` by default); the first runs everything. */
function workerCounts(): number[] {
  return (process.env.BENCH_WORKERS ?? '1,2')
    .split(',')
    .map(Number)
    .filter((n) => n >= 1);
}

async function startProxy(dir: string, upstreamUrl: string, workers: number) {
  const settings = parseSettings({
    port: 0,
    rails: path.join(dir, 'rails'),
    db: path.join(dir, `railgate-${workers}.db`),
    watch: false,
    logLevel: 'silent',
    upstreams: { default: { url: upstreamUrl, apiKey: 'bench-key' } },
    embedding: { cacheDb: path.join(dir, 'embeddings.db'), workers },
  });
  const railgate = await startRailgate(settings, { logger: false });
  await railgate.guard;
  return { railgate, url: `${await railgate.app.listen({ host: '127.0.0.1', port: 0 })}/v1` };
}

export async function runE2EBench(runs = 3, seconds = 5): Promise<E2ERow[]> {
  const upstream = await startInstantUpstream();
  const dir = mkdtempSync(path.join(tmpdir(), 'railgate-bench-'));
  mkdirSync(path.join(dir, 'rails', 'bench'), { recursive: true });
  writeFileSync(path.join(dir, 'rails', 'bench', 'rail.yml'), RAIL);
  const [first, ...more] = workerCounts();
  const proxies = new Map<number, Awaited<ReturnType<typeof startProxy>>>();
  for (const workers of [first ?? 1, ...more]) proxies.set(workers, await startProxy(dir, upstream.url, workers));
  const scenarios: Omit<E2ERow, 'rps' | 'p50' | 'p99'>[] = [];
  for (const stream of [false, true])
    for (const connections of [1, 16]) {
      scenarios.push({ target: 'direct', stream, connections, messages: 'cold' });
      for (const messages of ['cold', 'repeated'] as const)
        scenarios.push({ target: 'railgate', stream, connections, messages, workers: first ?? 1 });
      for (const workers of more)
        scenarios.push({ target: 'railgate', stream, connections, messages: 'cold', workers });
    }
  const samples = new Map<number, { rps: number; p50: number; p99: number }[]>();
  for (let run = 0; run < runs; run++) {
    for (const [index, s] of scenarios.entries()) {
      const url = s.target === 'direct' ? upstream.url : proxies.get(s.workers!)!.url;
      const figures = await load(url, s.connections, s.stream, s.messages, seconds);
      samples.set(index, [...(samples.get(index) ?? []), figures]);
      process.stderr.write(`e2e run ${run + 1}/${runs}: ${JSON.stringify(s)} ${Math.round(figures.rps)} req/s\n`);
    }
  }
  for (const proxy of proxies.values()) await proxy.railgate.close();
  await upstream.close();
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
    '| mode | conns | target | model workers | messages | req/s | p50 (ms) | p99 (ms) | added p50 (ms) | p50 ratio to direct |',
    '|---|---:|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const direct = rows.find((d) => d.target === 'direct' && d.stream === r.stream && d.connections === r.connections)!;
    const added = r.target === 'direct' ? '—' : fmt(r.p50 - direct.p50);
    const ratio = r.target === 'direct' ? '1.00' : fmt(r.p50 / Math.max(direct.p50, 0.01));
    lines.push(
      `| ${r.stream ? 'stream' : 'json'} | ${r.connections} | ${r.target} | ${r.workers ?? '—'} | ${r.target === 'direct' ? '—' : r.messages} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${added} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(e2eTable(await runE2EBench(1, 2)));
