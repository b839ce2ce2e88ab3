/**
 * The real app with real parts, for proxy tests: rails loaded from YAML (the proxy fixture set by
 * default), the bundled embedding model (loaded once per test file), the real Guard, a real SQLite
 * decision log in a temporary folder, and settings parsed by `parseSettings`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { DecisionLog } from '../../src/decisions/log.js';
import type { LoggedDecision } from '../../src/decisions/types.js';
import { BundledEmbedder } from '../../src/embedding/bundled.js';
import { borrowed, type Embedder } from '../../src/embedding/embedder.js';
import type { Guard } from '../../src/matching/guard.js';
import { createGuard } from '../../src/matching/runtime.js';
import { loadRails } from '../../src/rails/load.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { parseSettings, type Settings, type SettingsInput } from '../../src/settings.js';

export const PROXY_RAILS = fileURLToPath(new URL('../fixtures/proxy-rails', import.meta.url));

let embedder: Promise<Embedder> | undefined;

/** The bundled model, loaded once per test file; closing an app must not dispose it. */
export function sharedEmbedder(): Promise<Embedder> {
  embedder ??= BundledEmbedder.load().then(borrowed);
  return embedder;
}

export interface TestAppOptions {
  /** Base URL of the default upstream (e.g. the fake upstream's `url`); omitted: no upstream configured. */
  readonly upstreamUrl?: string;
  readonly apiKey?: string;
  /** Extra upstream settings (timeouts, forwardClientAuth). */
  readonly upstream?: Partial<NonNullable<SettingsInput['upstreams']>[string]>;
  readonly limits?: SettingsInput['limits'];
  /** Keys clients must present (`clientApiKeys`). */
  readonly clientApiKeys?: readonly string[];
  readonly rails?: string;
  readonly defaultRailSet?: string;
  /** Sets besides the default a client may choose (`clientRailSets`). */
  readonly clientRailSets?: readonly string[];
  /** Web origins allowed to call from a browser (`corsOrigins`). */
  readonly corsOrigins?: readonly string[];
  /** What clients are shown of a decision (`decisionDetails`). */
  readonly decisionDetails?: 'full' | 'brief';
  /** Replaces the real guard (e.g. a promise that never resolves, to test readiness). */
  readonly guard?: Promise<Guard>;
  /** Listen on 127.0.0.1, port 0, and report the URL. */
  readonly listen?: boolean;
}

export interface TestApp {
  readonly app: FastifyInstance;
  /** `http://127.0.0.1:<port>` when listening, else ''. */
  readonly url: string;
  readonly settings: Settings;
  readonly log: DecisionLog;
  readonly metrics: Metrics;
  /** `railgate_errors_total` for one RG_ERR_* code, as /metrics reports it. */
  errorCount(code: string): Promise<number>;
  /** Flushes the decision log and returns every row, oldest first. */
  rows(): LoggedDecision[];
  close(): Promise<void>;
}

export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const rails = options.rails ?? PROXY_RAILS;
  const dir = mkdtempSync(path.join(tmpdir(), 'railgate-proxy-'));
  const settings = parseSettings({
    rails,
    db: path.join(dir, 'decisions.db'),
    watch: false,
    logLevel: 'silent',
    limits: options.limits ?? {},
    clientApiKeys: [...(options.clientApiKeys ?? [])],
    clientRailSets: [...(options.clientRailSets ?? [])],
    corsOrigins: [...(options.corsOrigins ?? [])],
    ...(options.defaultRailSet ? { defaultRailSet: options.defaultRailSet } : {}),
    ...(options.decisionDetails ? { decisionDetails: options.decisionDetails } : {}),
    upstreams: options.upstreamUrl
      ? { default: { url: options.upstreamUrl, apiKey: options.apiKey ?? 'sk-upstream-test', ...options.upstream } }
      : {},
  });
  const log = DecisionLog.open(settings.db, { flushIntervalMs: 5 });
  const runtime = options.guard
    ? undefined
    : createGuard({
        sets: await loadRails(rails),
        embedderFor: sharedEmbedder,
        defaultRailSet: settings.defaultRailSet,
      });
  const guard: Promise<Guard> = options.guard ?? runtime!;
  // A real guard is awaited, so tests start against a ready proxy.
  if (runtime) await runtime;
  const metrics = createMetrics({ defaultMetrics: false });
  const app = await buildApp({ settings, guard, decisions: log, metrics, logger: false });
  const url = options.listen ? await app.listen({ host: '127.0.0.1', port: 0 }) : '';
  if (!options.listen) await app.ready();

  return {
    app,
    url,
    settings,
    log,
    metrics,
    async errorCount(code) {
      const { values } = await metrics.errors.get();
      return values.find((v) => v.labels.code === code)?.value ?? 0;
    },
    rows() {
      log.flush();
      return log.query({ limit: 10_000 }).sort((a, b) => a.id - b.id);
    },
    async close() {
      // app.close() waits for open connections; a client socket that connected but never sent a
      // request (undici opens spares) would hold it until Node's own timeouts, so cut those after a grace.
      const cutStragglers = setTimeout(() => app.server.closeAllConnections(), 1_000);
      await app.close();
      clearTimeout(cutStragglers);
      if (runtime) await (await runtime).close();
      log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
