/**
 * Settings: parsed once at start-up from an optional config file (`railgate.config.json`, or the file
 * named by `RAILGATE_CONFIG`) and the environment (which wins), validated with zod into a frozen,
 * typed object. Nothing reads `process.env` after this.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RailgateError } from './errors.js';
import { deepFreeze } from './deep-freeze.js';
import { DEFAULT_MAX_CHUNKS } from './matching/chunk.js';
import {
  DEFAULT_EF_CONSTRUCTION,
  DEFAULT_EF_SEARCH,
  DEFAULT_EXACT_BELOW,
  DEFAULT_M,
  DEFAULT_MIN_RECALL,
} from './matching/vector-index.js';
import { DEFAULT_MAX_EF_SEARCH } from './matching/index-recall.js';
import { DECISION_DETAILS } from './proxy/decision-view.js';

/** Node's timers take at most 2^31 − 1 ms; a longer one fires after 1 ms, the opposite of "never". */
const MAX_TIMER_MS = 2_147_483_647;
/**
 * An upstream answer read whole: 16 MiB holds chat completions short of many choices of long answers
 * with `top_logprobs` (the README says to raise it then), and bounds what one request makes railgate hold.
 */
export const DEFAULT_ANSWER_BYTES = 16_777_216;
const TIMER_MESSAGE = 'must be at most 2147483647 ms (about 24.8 days), the longest timer Node can set';
import { fromEnv, type Env } from './settings-env.js';

/**
 * A server's base URL, without credentials: `https://user:pass@host` would be silently dropped by the
 * HTTP client (no Authorization sent), so it is refused here, without echoing the URL (it is a secret).
 */
function serviceUrl(keySetting: string) {
  return z
    .string()
    .url()
    .refine((url) => {
      if (!URL.canParse(url)) return true; // .url() has said so
      const { username, password } = new URL(url);
      return username === '' && password === '';
    }, `must not contain credentials (user:password@): give the key as ${keySetting}`)
    .refine(
      (url) => !URL.canParse(url) || /^https?:$/.test(new URL(url).protocol),
      'must be an http:// or https:// URL',
    )
    .refine(
      (url) => !URL.canParse(url) || !/\/(chat\/completions|embeddings)\/?$/i.test(new URL(url).pathname),
      "must be the API's base URL (such as https://api.openai.com/v1), not one of its endpoints: railgate adds the path",
    );
}

/**
 * An API key: trimmed (a key read from a file or a Kubernetes secret often ends in a newline), and
 * refused with whitespace or control characters inside, which no key has and which HTTP forbids in a
 * header (undici then fails every request, and leaks a pooled connection each time).
 */
function secret() {
  return z
    .string()
    .trim()
    .refine((key) => !/[\s\p{Cc}]/u.test(key), 'must not contain spaces or control characters');
}

const upstreamSchema = z
  .object({
    url: serviceUrl('apiKey (RAILGATE_UPSTREAM_API_KEY for the default upstream)'),
    apiKey: secret().optional(),
    /** Forward the client's own Authorization header instead of `apiKey`. */
    forwardClientAuth: z.boolean().default(false),
    connectTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(5_000),
    /**
     * Time to the response headers (and the first byte of a stream). A non-streaming completion's
     * headers come when the whole answer is written, which for a long answer or a reasoning model
     * takes minutes: the default is the OpenAI SDK's own 10 minutes.
     */
    headersTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(600_000),
    /**
     * Time to the answer of a model list or lookup (`GET /v1/models`), which an upstream gives at
     * once: one that hangs falls back to the rail sets (list) or is a 504 (lookup) after this, not
     * after `headersTimeoutMs`, which allows for minutes of generation.
     */
    modelsTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(10_000),
    /** Longest silence between body chunks. */
    bodyTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(120_000),
    connections: z.number().int().positive().default(64),
  })
  .strict();

const settingsSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8787),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Folder of rail sets: each subfolder with `*.yml` files is one set. */
    rails: z.string().default('rails'),
    /** The rail set used when a request names none (header `x-railgate-rails`). */
    defaultRailSet: z.string().optional(),
    /**
     * Rail sets besides the default that a client may choose (header `x-railgate-rails`, `/v1/guard`'s
     * `rails`); `*`: any loaded set. None by default: a client cannot pick a more lenient policy.
     */
    clientRailSets: z.array(z.string().min(1)).default([]),
    /** SQLite decision log path; `:memory:` keeps it in memory. */
    db: z.string().default('data/railgate.db'),
    /** Decisions older than this many days are deleted from the log (hourly); 0 keeps them forever. */
    decisionRetentionDays: z.number().min(0).default(30),
    /**
     * Keys clients must present (`Authorization: Bearer <key>`) on every route but /healthz, /readyz
     * and /metrics; none: no check. Without them, anyone who can reach the port spends the upstream key.
     */
    clientApiKeys: z
      .array(secret().pipe(z.string().min(16, 'a client API key needs at least 16 characters')))
      .default([]),
    /**
     * Web origins whose pages may call railgate from a browser (CORS), e.g. `https://app.example.com`;
     * `*`: any. None by default: no CORS headers, and browsers keep other sites' pages out.
     */
    corsOrigins: z
      .array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, 'an origin is scheme://host[:port] with no path, or *'))
      .default([]),
    /**
     * What clients are shown of a decision: `full` (scores, runner-up, nearest rail examples) or
     * `brief` (decision, intent, reason); see proxy/decision-view.ts. The decision log keeps it all.
     */
    decisionDetails: z.enum(DECISION_DETAILS).default('full'),
    /** Behind a reverse proxy: take the client address from X-Forwarded-For (fastify's trustProxy). */
    trustProxy: z.boolean().default(false),
    /** Named upstreams; a rail set picks one with `upstream:` (default `default`). */
    upstreams: z.record(z.string(), upstreamSchema).default({}),
    limits: z
      .object({
        bodyBytes: z.number().int().positive().default(1_048_576),
        messageChars: z.number().int().positive().default(32_000),
        messages: z.number().int().positive().default(512),
        /** Most chunks a long message is split into for matching (each one a model input). */
        messageChunks: z.number().int().positive().default(DEFAULT_MAX_CHUNKS),
        /** The most bytes one event of an upstream's stream may take (held until it is complete). */
        streamEventBytes: z.number().int().positive().default(4_194_304),
        /** The most bytes of an upstream answer read whole (a completion, an error), after decoding. */
        upstreamAnswerBytes: z.number().int().positive().default(DEFAULT_ANSWER_BYTES),
        /** Earlier user messages checked for `refuse` intents before a passthrough (the most recent ones). */
        earlierMessages: z.number().int().min(0).default(16),
        /** How deep a request body's JSON may nest (objects and arrays); deeper is a 400. */
        jsonDepth: z.number().int().positive().default(64),
        /** How long a client may take to send its whole request (headers and body); then 408. */
        requestTimeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(30_000),
      })
      .strict()
      .default({}),
    embedding: z
      .object({
        /**
         * Micro-batching: how long a message waits for company when a model is free, and the largest
         * batch. Messages that arrive while every model is busy are batched whatever the window; with
         * the default 0, a message never waits for a free model (measured here against 2 ms: about
         * 3 ms less at one connection, the same throughput at 16).
         */
        batchWindowMs: z.number().min(0).max(MAX_TIMER_MS, TIMER_MESSAGE).default(0),
        maxBatch: z.number().int().positive().default(64),
        /** Texts (messages, or the chunks of long ones) waiting for the model before new ones get 503. */
        maxQueue: z.number().int().positive().default(1_024),
        /** In-memory LRU of message embeddings. */
        cacheSize: z.number().int().min(0).default(10_000),
        /** Run local models (bundled, transformers) in worker threads, off the event loop. */
        worker: z.boolean().default(true),
        /** How many model workers (bundled model): each embeds one batch at a time. */
        workers: z.number().int().min(1).max(64).default(1),
        /**
         * wasm threads per bundled-model worker. More than 1 splits each model call across cores
         * (lower single-message latency) at the cost of a little CPU spent while idle.
         */
        threads: z.number().int().min(1).max(8).default(1),
        /** SQLite file caching rail-example embeddings across restarts; `:memory:` disables persistence. */
        cacheDb: z.string().default('data/embeddings.db'),
        /** transformers provider: where models are cached, and whether the hub may be contacted. */
        cacheDir: z.string().optional(),
        allowRemoteModels: z.boolean().default(true),
        /** openai provider. */
        openaiUrl: serviceUrl('embedding.openaiApiKey (RAILGATE_EMBEDDINGS_API_KEY)').optional(),
        openaiApiKey: secret().optional(),
        timeoutMs: z.number().int().positive().max(MAX_TIMER_MS, TIMER_MESSAGE).default(30_000),
      })
      .strict()
      .default({}),
    /** Example search: exact scan below `exactBelow` examples per set, HNSW graph (these settings) above. */
    index: z
      .object({
        exactBelow: z.number().int().min(0).default(DEFAULT_EXACT_BELOW),
        m: z.number().int().min(2).max(128).default(DEFAULT_M),
        efConstruction: z.number().int().positive().default(DEFAULT_EF_CONSTRUCTION),
        efSearch: z.number().int().positive().default(DEFAULT_EF_SEARCH),
        /**
         * A graph is checked once against the exact scan as it is built, with some of the set's own
         * vectors held out of it as queries: its search widened (doubling efSearch, at most
         * maxEfSearch) until recall@10 reaches minRecall, else not used.
         */
        minRecall: z.number().min(0).max(1).default(DEFAULT_MIN_RECALL),
        maxEfSearch: z.number().int().positive().default(DEFAULT_MAX_EF_SEARCH),
      })
      .strict()
      .default({}),
    /** On shutdown, how long requests in flight may finish before their connections are cut. */
    shutdownGraceMs: z.number().int().min(0).max(MAX_TIMER_MS, TIMER_MESSAGE).default(10_000),
    /** Watch the rails folder and reload on change. */
    watch: z.boolean().default(true),
  })
  .strict()
  .superRefine((settings, context) => {
    if (settings.clientApiKeys.length === 0) return;
    for (const [name, upstream] of Object.entries(settings.upstreams))
      if (upstream.forwardClientAuth)
        context.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['upstreams', name, 'forwardClientAuth'],
          message: "cannot be used with clientApiKeys: both read the client's Authorization header",
        });
  });

export type UpstreamSettings = Readonly<z.infer<typeof upstreamSchema>>;
export type Settings = Readonly<z.infer<typeof settingsSchema>>;
export type SettingsInput = z.input<typeof settingsSchema>;

export { SETTINGS_VARIABLES, unknownVariables } from './settings-env.js';

/** ` at line L, column C` when V8 says where the JSON broke. */
function jsonPosition(error: SyntaxError, file: string): string {
  const offset = /at position (\d+)/.exec(error.message)?.[1];
  if (offset === undefined) return '';
  const before = readFileSync(file, 'utf8').slice(0, Number(offset)).split('\n');
  return ` at line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

function readConfigFile(file: string): SettingsInput {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new RailgateError('RG_ERR_CONFIG_INVALID', `config file ${file} must hold a JSON object of settings`);
    return parsed as SettingsInput;
  } catch (error) {
    if (error instanceof RailgateError) throw error;
    // V8's JSON messages quote the text around the fault, which may be a key: say where, not what.
    if (error instanceof SyntaxError)
      throw new RailgateError(
        'RG_ERR_CONFIG_INVALID',
        `cannot read config file ${file}: not valid JSON${jsonPosition(error, file)}`,
      );
    throw new RailgateError('RG_ERR_CONFIG_INVALID', `cannot read config file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Validates settings given in code (tests, embedding railgate as a library). */
export function parseSettings(
  input: SettingsInput,
  origins: ReadonlyMap<string, string> = new Map(),
  file?: string,
): Settings {
  const result = settingsSchema.safeParse(input);
  if (!result.success) {
    let fromFile = false;
    const detail = result.error.issues
      .map((issue) => {
        const setting = issue.path.join('.');
        // An item of a list (clientApiKeys.0) came from the variable that set the list.
        const variable = origins.get(setting) ?? origins.get(issue.path.slice(0, -1).join('.'));
        fromFile ||= variable === undefined;
        return `${variable ? `${variable} (${setting})` : setting || '(root)'}: ${issue.message}`;
      })
      .join('; ');
    // A setting not named by its variable came from the settings file: say which one.
    const where = fromFile && file ? ` (settings file: ${file})` : '';
    throw new RailgateError('RG_ERR_CONFIG_INVALID', `invalid settings: ${detail}${where}`);
  }
  return deepFreeze(result.data);
}

/** Config file (optional) + environment → frozen settings. */
export function loadSettings(env: Env = process.env, cwd = process.cwd()): Settings {
  const explicit = env.RAILGATE_CONFIG?.trim() || undefined;
  const candidate = path.resolve(cwd, explicit ?? 'railgate.config.json');
  let file: SettingsInput = {};
  if (explicit) file = readConfigFile(candidate);
  else {
    try {
      file = readConfigFile(candidate);
    } catch (error) {
      if (!(error instanceof RailgateError && /ENOENT/.test(error.message))) throw error;
    }
  }
  const { input, origins } = fromEnv(env, file);
  return parseSettings(input, origins, Object.keys(file).length > 0 ? candidate : undefined);
}
