/**
 * Start-up wiring shared by `railgate serve`, the benchmarks and the tests: settings → decision log →
 * app (listening early, so /healthz answers and /readyz says "not yet") → embedders → rails → guard →
 * rails watcher.
 */
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp, type AppLoggerOptions } from './app.js';
import { LoadCancelled, RailgateError } from './errors.js';
import { warnOfExactFallbacks } from './matching/index-recall.js';
import { DecisionLog, stderrWarnings, type DecisionLogLogger } from './decisions/log.js';
import type { Embedder } from './embedding/embedder.js';
import { ExampleCache } from './embedding/example-cache.js';
import { onnxHost } from './embedding/onnx-host.js';
import { createEmbedder } from './embedding/providers.js';
import { EmbeddingStack } from './embedding/stack.js';
import { WorkerEmbedder } from './embedding/worker-host.js';
import { WorkerPool } from './embedding/worker-pool.js';
import { storedCompileOptions } from './matching/compile.js';
import { createGuard, type RailsRuntime } from './matching/runtime.js';
import { createMetrics, reportLoadedRails, watchDecisionLog, type Metrics } from './metrics.js';
import { markShutdownCut } from './proxy/trace.js';
import { loadRails } from './rails/load.js';
import type { EmbeddingConfig } from './rails/types.js';
import { watchRails, type RailsWatcher } from './reload.js';
import type { Settings } from './settings.js';

export interface Railgate {
  readonly app: FastifyInstance;
  readonly log: DecisionLog;
  readonly metrics: Metrics;
  /** Resolves once the model and every rail set's index are loaded. */
  readonly guard: Promise<RailsRuntime>;
  /** Stops accepting requests, lets in-flight ones finish, flushes the log. */
  close(): Promise<void>;
  /**
   * Reloads the rails from disk now, as a watched change does (SIGHUP): resolves to whether new rails
   * went live; false while still loading or closing.
   */
  reloadRails(): Promise<boolean>;
}

export interface StartOptions {
  /** Fastify/pino logging: true logs at settings.logLevel; options (e.g. a destination stream) pass through. */
  readonly logger?: boolean | AppLoggerOptions;
  /** Where relative paths in settings resolve; defaults to the process's cwd. */
  readonly cwd?: string;
  /**
   * The model behind each embedding config (a relative model folder resolves against `setDir`, the
   * set's folder); defaults to the configured providers (in a worker).
   */
  readonly modelFor?: (config: EmbeddingConfig, setDir: string, signal?: AbortSignal) => Promise<Embedder>;
  /** Progress of first-time example embedding (a terminal progress bar); log lines are always written. */
  readonly onProgress?: (set: string, done: number, total: number) => void;
}

/**
 * Local models run in worker threads, off the event loop: the bundled model in its own (one per
 * `embedding.workers`), every transformers model in the process's one long-lived model worker
 * (onnxruntime-node 1.21 must stay in one thread for the process's life: see onnx-host.ts). A remote
 * embeddings API is I/O and stays on the main thread.
 */
function defaultModelFor(settings: Settings['embedding']) {
  return (config: EmbeddingConfig, setDir: string, signal?: AbortSignal): Promise<Embedder> => {
    if (settings.worker && config.provider === 'bundled') return startWorkers(config, settings);
    if (settings.worker && config.provider === 'transformers') return onnxHost().load(config, settings, setDir);
    return createEmbedder(config, settings, { baseDir: setDir, ...(signal ? { signal } : {}) });
  };
}

async function startWorkers(config: EmbeddingConfig, settings: Settings['embedding']): Promise<Embedder> {
  const workers = await Promise.all(
    Array.from({ length: settings.workers }, () => WorkerEmbedder.start(config, settings)),
  );
  return workers.length === 1 ? workers[0]! : new WorkerPool(workers);
}

function progressLogger(logger: FastifyBaseLogger) {
  const lastDecile = new Map<string, number>();
  return (set: string, done: number, total: number) => {
    if (total === 0) return;
    const decile = Math.floor((done / total) * 10);
    if (decile === lastDecile.get(set)) return;
    lastDecile.set(set, decile);
    logger.info({ railSet: set, done, total }, `embedding rail examples ${Math.round((done / total) * 100)}%`);
  };
}

/** SQLite's own errors ("file is not a database") say neither which file nor which store. */
function openStore<T>(what: string, file: string, open: (file: string) => T): T {
  try {
    return open(file);
  } catch (error) {
    throw new RailgateError(
      'RG_ERR_CONFIG_INVALID',
      `cannot open ${what} at ${file}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * After the grace period, how long the answers given up by the shutdown have to reach their clients
 * (an error event or a 503 is a few bytes away) before every connection is cut.
 */
const SHUTDOWN_ANSWER_MS = 250;

const BUNDLED: EmbeddingConfig = { provider: 'bundled', model: undefined, quantized: false };

function both<A extends unknown[]>(a: (...args: A) => void, b: ((...args: A) => void) | undefined) {
  return b ? (...args: A) => (a(...args), b(...args)) : a;
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function startRailgate(settings: Settings, options: StartOptions = {}): Promise<Railgate> {
  const cwd = options.cwd ?? process.cwd();
  const resolve = (file: string) => (file === ':memory:' ? file : path.resolve(cwd, file));
  // Its warnings go to the app's logger once there is one (the log opens first, to fail fast).
  const warnings: { to?: DecisionLogLogger } = {};
  const log = openStore('the decision log (RAILGATE_DB / db)', resolve(settings.db), (file) =>
    DecisionLog.open(file, {
      retentionMs: settings.decisionRetentionDays * 86_400_000,
      logger: { warn: (obj, msg) => (warnings.to ?? stderrWarnings).warn(obj, msg) },
    }),
  );
  const cacheDb = resolve(settings.embedding.cacheDb);
  let exampleCache: ExampleCache;
  try {
    exampleCache = openStore('the example cache (RAILGATE_EMBED_CACHE_DB / embedding.cacheDb)', cacheDb, (file) =>
      ExampleCache.open(file, {
        onWriteError: (error) =>
          (warnings.to ?? stderrWarnings).warn(
            { err: error },
            `example vectors not cached (they are embedded again at the next start): ${error.message}`,
          ),
      }),
    );
  } catch (error) {
    log.close();
    throw error;
  }
  const metrics = createMetrics();
  const modelFor = options.modelFor ?? defaultModelFor(settings.embedding);
  // The bundled model (the default) starts loading while the rails are parsed, not after.
  let prewarmed: Promise<Embedder> | undefined = modelFor(BUNDLED, cwd);
  prewarmed.catch(() => undefined);
  // Closing during start-up stops the example embedding between batches instead of finishing it, and
  // a provider waiting for its server (the openai probe) at once.
  const loading = new AbortController();
  const takeModel = (config: EmbeddingConfig, setDir: string): Promise<Embedder> => {
    if (config.provider !== 'bundled' || !prewarmed) return modelFor(config, setDir, loading.signal);
    const model = prewarmed;
    prewarmed = undefined;
    return model;
  };
  const dropPrewarmed = async () => {
    const unused = prewarmed;
    prewarmed = undefined;
    await unused?.then((model) => model.close()).catch(() => undefined);
  };
  const railsDir = resolve(settings.rails);

  let watcher: RailsWatcher | undefined;
  let closing = false;
  // The app is built first (so /healthz answers during the model load) with the guard still pending.
  let settle!: { resolve(guard: RailsRuntime): void; reject(error: unknown): void };
  const guard = new Promise<RailsRuntime>((resolve, reject) => (settle = { resolve, reject }));
  // The app reports a failed load on /readyz; keep the rejection from killing the process first.
  guard.catch(() => undefined);
  const app = await buildApp({ settings, guard, decisions: log, metrics, logger: options.logger ?? false });
  warnings.to = app.log;
  // A blank RAILGATE_CLIENT_API_KEYS (an empty secret, a template) is no keys, as documented: said
  // where that opens the proxy beyond this machine.
  if (settings.clientApiKeys.length === 0 && !isLoopback(settings.host))
    app.log.warn(
      { host: settings.host },
      `no client API keys are set and railgate listens on ${settings.host}: whoever reaches it spends the ` +
        'upstream key; set RAILGATE_CLIENT_API_KEYS unless something in front of railgate checks clients',
    );
  watchDecisionLog(metrics, () => log.stats());

  const railsChecks = {
    upstreams: Object.keys(settings.upstreams),
    embeddingsServer: settings.embedding.openaiUrl !== undefined,
  };
  (async () => {
    const sets = await loadRails(railsDir, railsChecks);
    // Rails that never use the bundled model let go of the warm one now, not after they compile.
    if (!sets.some((set) => set.embedding.provider === 'bundled')) void dropPrewarmed();
    const runtime = await createGuard({
      sets,
      embedderFor: async (config, setDir) =>
        new EmbeddingStack(await takeModel(config, setDir), { settings: settings.embedding, exampleCache, metrics }),
      defaultRailSet: settings.defaultRailSet,
      compile: {
        maxChunks: settings.limits.messageChunks,
        ...storedCompileOptions(settings.index, cacheDb),
        onProgress: both(progressLogger(app.log), options.onProgress),
        signal: loading.signal,
      },
    });
    if (closing) {
      await runtime.close();
      throw new LoadCancelled('railgate closed while loading');
    }
    warnOfExactFallbacks(runtime.list(), app.log);
    // Picked by name, the default can change with the folders (a new `aaa/` sorts first): say which.
    const loaded = runtime.list();
    if (!settings.defaultRailSet && loaded.length > 1 && !loaded.some((set) => set.name === 'default'))
      app.log.warn(
        { defaultRailSet: runtime.defaultRailSet },
        `no default rail set is configured: requests that name none use "${runtime.defaultRailSet}" (the set ` +
          'named default, else the first by name); pin one with defaultRailSet (RAILGATE_DEFAULT_RAILS)',
      );
    // Not an error (the set may come with a reload), but a client asking for it gets a 404 meanwhile.
    const missing = settings.clientRailSets.filter((name) => name !== '*' && !loaded.some((set) => set.name === name));
    if (missing.length > 0)
      app.log.warn(
        { missing },
        `clientRailSets names ${missing.join(', ')}, which no loaded rail set is (loaded: ${loaded.map((set) => set.name).join(', ')})`,
      );
    reportLoadedRails(metrics, () => runtime.list());
    // Also without watching: a reload on demand (SIGHUP) goes through the same checks and swap.
    watcher = watchRails(railsDir, runtime, app.log, {
      load: railsChecks,
      onReload: (result) => metrics.railsReloads.inc({ result }),
      watch: settings.watch,
    });
    return runtime;
  })()
    .finally(dropPrewarmed)
    .then(settle.resolve, settle.reject);

  let closed: Promise<void> | undefined;
  return {
    app,
    log,
    metrics,
    guard,
    reloadRails: () => (watcher && !closing ? watcher.reload() : Promise.resolve(false)),
    close() {
      closing = true;
      loading.abort(new LoadCancelled('railgate closed while loading'));
      closed ??= (async () => {
        watcher?.close();
        // In-flight requests get a grace period. Then the upstream calls still running are given up,
        // their clients told so (a 503, or a stream's last event), and a moment later every
        // connection left (those answers, lingering keep-alive sockets, requests still arriving) is cut.
        let cut: NodeJS.Timeout | undefined;
        const grace = setTimeout(() => {
          markShutdownCut(app.server);
          cut = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_ANSWER_MS);
        }, settings.shutdownGraceMs);
        await app.close();
        clearTimeout(grace);
        clearTimeout(cut);
        // The log first: a platform's kill signal may follow soon, and the model workers take a while.
        log.close();
        await guard.then((g) => g.close()).catch(() => undefined);
        exampleCache.close();
      })();
      return closed;
    },
  };
}
