/**
 * The environment's part of the settings: which variable sets which setting, how its text is read, and
 * the `RAILGATE_*` variables railgate does not read (typos). settings.ts lays the result over the
 * config file and validates the whole.
 */
import { RailgateError } from './errors.js';
import { editDistance } from './rails/reader.js';
import type { SettingsInput } from './settings.js';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every environment variable, the setting it sets and how its text is read; the README documents
 * each. Later rows win over earlier ones for the same setting: `RAILGATE_HOST` over the generic
 * `HOST` (which images and platforms set for their own reasons, this project's Dockerfile too).
 */
type EnvRead = 'string' | 'number' | 'boolean' | 'list';

const ENV_SETTINGS: readonly (readonly [env: string, setting: string, read: EnvRead])[] = [
  ['HOST', 'host', 'string'],
  ['RAILGATE_HOST', 'host', 'string'],
  ['PORT', 'port', 'number'],
  ['RAILGATE_LOG_LEVEL', 'logLevel', 'string'],
  ['RAILGATE_RAILS', 'rails', 'string'],
  ['RAILGATE_DEFAULT_RAILS', 'defaultRailSet', 'string'],
  ['RAILGATE_CLIENT_RAIL_SETS', 'clientRailSets', 'list'],
  ['RAILGATE_DB', 'db', 'string'],
  ['RAILGATE_WATCH', 'watch', 'boolean'],
  ['RAILGATE_SHUTDOWN_GRACE_MS', 'shutdownGraceMs', 'number'],
  ['RAILGATE_DECISION_RETENTION_DAYS', 'decisionRetentionDays', 'number'],
  ['RAILGATE_CLIENT_API_KEYS', 'clientApiKeys', 'list'],
  ['RAILGATE_TRUST_PROXY', 'trustProxy', 'boolean'],
  ['RAILGATE_CORS_ORIGINS', 'corsOrigins', 'list'],
  ['RAILGATE_DECISION_DETAILS', 'decisionDetails', 'string'],
  ['RAILGATE_REQUEST_TIMEOUT_MS', 'limits.requestTimeoutMs', 'number'],
  ['RAILGATE_UPSTREAM_URL', 'upstreams.default.url', 'string'],
  ['RAILGATE_UPSTREAM_API_KEY', 'upstreams.default.apiKey', 'string'],
  ['RAILGATE_FORWARD_CLIENT_AUTH', 'upstreams.default.forwardClientAuth', 'boolean'],
  ['RAILGATE_UPSTREAM_TIMEOUT_MS', 'upstreams.default.headersTimeoutMs', 'number'],
  ['RAILGATE_BODY_LIMIT', 'limits.bodyBytes', 'number'],
  ['RAILGATE_MAX_MESSAGE_CHARS', 'limits.messageChars', 'number'],
  ['RAILGATE_BATCH_WINDOW_MS', 'embedding.batchWindowMs', 'number'],
  ['RAILGATE_MAX_BATCH', 'embedding.maxBatch', 'number'],
  ['RAILGATE_MAX_QUEUE', 'embedding.maxQueue', 'number'],
  ['RAILGATE_EMBED_CACHE_SIZE', 'embedding.cacheSize', 'number'],
  ['RAILGATE_EMBED_WORKER', 'embedding.worker', 'boolean'],
  ['RAILGATE_EMBED_WORKERS', 'embedding.workers', 'number'],
  ['RAILGATE_EMBED_THREADS', 'embedding.threads', 'number'],
  ['RAILGATE_EMBED_CACHE_DB', 'embedding.cacheDb', 'string'],
  ['RAILGATE_MODEL_CACHE', 'embedding.cacheDir', 'string'],
  ['RAILGATE_ALLOW_REMOTE_MODELS', 'embedding.allowRemoteModels', 'boolean'],
  ['RAILGATE_EMBEDDINGS_URL', 'embedding.openaiUrl', 'string'],
  ['RAILGATE_EMBEDDINGS_API_KEY', 'embedding.openaiApiKey', 'string'],
];

/** The environment variables railgate reads settings from (besides RAILGATE_CONFIG, the file's name). */
export const SETTINGS_VARIABLES: readonly string[] = ENV_SETTINGS.map(([name]) => name);

/**
 * `RAILGATE_*` variables railgate does not read, each with the nearest one it does: a typo is
 * otherwise silent, and `RAILGATE_CLIENT_API_KEY` (singular) left the proxy open.
 */
export function unknownVariables(env: Env): { name: string; suggestion: string | undefined }[] {
  const known = [...SETTINGS_VARIABLES, 'RAILGATE_CONFIG'];
  return Object.keys(env)
    .filter((name) => name.startsWith('RAILGATE_') && !known.includes(name))
    .sort()
    .map((name) => ({ name, suggestion: meant(name, known) }));
}

const stem = (name: string) => name.replace(/^RAILGATE_/, '');

/**
 * The variable `name` most likely meant, or none when that is unclear: a wrong guess here can send a
 * secret to the wrong setting (an OpenAI key into the client keys), so no guess beats a loose one.
 */
function meant(name: string, known: readonly string[]): string | undefined {
  const rest = stem(name);
  // RAILGATE_PORT: the generic PORT.
  const same = known.find((k) => stem(k) === rest);
  if (same) return same;
  // Every word of the name starts, or starts with, a word of exactly one setting: RAILGATE_UPSTREAM_KEY,
  // RAILGATE_HOSTNAME. (HOST and RAILGATE_HOST set one setting: the RAILGATE_ one is named.)
  const words = rest.split('_').filter(Boolean);
  const holding = known.filter((k) =>
    words.every((w) =>
      stem(k)
        .split('_')
        .some((part) => part.startsWith(w) || w.startsWith(part)),
    ),
  );
  const stems = new Set(holding.map(stem));
  if (stems.size > 1) return undefined;
  if (stems.size === 1) return holding.find((k) => k.startsWith('RAILGATE_')) ?? holding[0];
  // A typo (two letters at most): RAILGATE_UPSTRAEM_URL. A word no setting has (FILE, CONNECT,
  // SECRET) is a different setting, not a typo of the nearest one.
  const squash = (text: string) => text.toLowerCase().replace(/_/g, '');
  const typos = known.filter((k) => editDistance(squash(rest), squash(stem(k))) <= 2);
  return new Set(typos.map(stem)).size === 1 ? (typos.find((k) => k.startsWith('RAILGATE_')) ?? typos[0]) : undefined;
}

function readEnv(name: string, raw: string, read: EnvRead): string | number | boolean | string[] {
  if (read === 'string') return raw;
  if (read === 'list') {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    // " , " is no list: for RAILGATE_CLIENT_API_KEYS, taking it as none would turn client auth off.
    if (items.length === 0)
      throw new RailgateError('RG_ERR_CONFIG_INVALID', `${name} holds no item (comma-separated), got "${raw}"`);
    return items;
  }
  if (read === 'number') {
    // Decimal only: `Number` would take "0x1F90" as 8080.
    if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(raw))
      throw new RailgateError(
        'RG_ERR_CONFIG_INVALID',
        `${name} must be a decimal number (digits, as in 8080 or 0.25), got "${raw}"`,
      );
    return Number(raw);
  }
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new RailgateError('RG_ERR_CONFIG_INVALID', `${name} must be true or false, got "${raw}"`);
}

type Tree = Record<string, unknown>;

function setAt(tree: Tree, setting: string, value: unknown): void {
  const keys = setting.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    const child = node[key];
    node = node[key] = typeof child === 'object' && child !== null ? { ...(child as Tree) } : {};
  }
  node[keys.at(-1)!] = value;
}

/**
 * The config file with the environment laid over it, and which variable set each setting (so an
 * invalid value is reported under the name the operator used). An empty (or blank) variable counts
 * as unset; surrounding whitespace is not part of a value.
 */
export function fromEnv(env: Env, file: SettingsInput): { input: SettingsInput; origins: Map<string, string> } {
  const input = { ...file } as Tree;
  const origins = new Map<string, string>();
  for (const [name, setting, read] of ENV_SETTINGS) {
    // A template or secret that rendered as a blank line, or with one at its end, means nothing more.
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    setAt(input, setting, readEnv(name, raw, read));
    origins.set(setting, name);
  }
  // The upstream variables describe the default upstream, whichever place its URL comes from.
  const upstreamVars = [...origins].filter(([setting]) => setting.startsWith('upstreams.')).map(([, name]) => name);
  const upstream = (input.upstreams as Tree | undefined)?.default as Tree | undefined;
  if (upstreamVars.length > 0 && upstream?.url === undefined) {
    throw new RailgateError(
      'RG_ERR_CONFIG_INVALID',
      `${upstreamVars.join(', ')} configure the default upstream, which has no URL: ` +
        'set RAILGATE_UPSTREAM_URL (or upstreams.default.url in the config file)',
    );
  }
  return { input: input as SettingsInput, origins };
}
