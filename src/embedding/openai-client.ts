/**
 * The HTTP side of the `openai` embedding provider: one `POST {baseURL}/embeddings` per batch over a
 * keep-alive pool, with timeouts, clear errors (the key never in them) and every answer validated,
 * put back in order by `index` and L2-normalised.
 */
import { Pool, type Dispatcher } from 'undici';
import { causeCodes, RailgateError } from '../errors.js';
import { normalizeInPlace } from './embedder.js';

export interface OpenAIEmbedderOptions {
  /** e.g. `https://api.openai.com/v1` or `http://tei:8080/v1`; `/embeddings` is appended. */
  baseURL: string;
  /** Sent as `Authorization: Bearer …`; never logged or put in an error message. */
  apiKey?: string;
  model: string;
  /** Per HTTP request, from sending to the last byte of the answer. Default 30 s. */
  timeoutMs?: number;
  /** Most texts in one request. Default 32, Text Embeddings Inference's default client batch limit. */
  batchSize?: number;
  /** Requests in flight at once for one `embed` call. Default 4. */
  concurrency?: number;
  /**
   * The vector size. When given it is sent as OpenAI's `dimensions` request field (models that can shorten
   * their output honour it) and no probe request is made at creation; otherwise one probe learns it.
   */
  dimensions?: number;
  /** A caller-owned undici dispatcher (Agent/Pool); by default the embedder creates and closes its own Pool. */
  dispatcher?: Dispatcher;
  /**
   * How often the start-up probe tries again when the server refuses or drops the connection or answers
   * 429/5xx (a GPU embedding server restarting beside railgate), waiting `probeBackoffMs` doubling: by
   * default 4 more tries, 7.5 s of waiting. Anything else (401, a wrong host or model, a timeout, an
   * invalid request) fails at once.
   */
  probeRetries?: number;
  probeBackoffMs?: number;
  /** Stops the probe's retries (railgate closing while it starts). */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONCURRENCY = 4;

/** Failures that may pass by themselves: the server not listening (yet), or saying it is busy. */
const transient = new WeakSet<RailgateError>();

/** Whether `error` may pass by itself (see `transient`): worth another try at start-up. */
export function isTransient(error: unknown): boolean {
  return error instanceof RailgateError && transient.has(error);
}
/**
 * Connection failures of a server starting or restarting. Not a name that does not resolve, a TLS
 * mismatch or an invalid request (a key with a newline in it): those are configuration, and wait for
 * nothing.
 */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'EAI_AGAIN', 'UND_ERR_SOCKET']);
const SUMMARY_CHARS = 300;

interface EmbeddingItem {
  index?: unknown;
  embedding?: unknown;
}

/** The URL as shown in messages: no user name, password or query string (which may hold a key). */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function parseBaseUrl(baseURL: string): URL {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new RailgateError('RG_ERR_CONFIG_INVALID', `embeddings URL is not a valid URL: "${baseURL}"`, {
      param: 'embedding.openaiUrl',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RailgateError('RG_ERR_CONFIG_INVALID', `embeddings URL must be http(s), got ${url.protocol}`, {
      param: 'embedding.openaiUrl',
    });
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/embeddings`;
  return url;
}

export function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new RailgateError('RG_ERR_CONFIG_INVALID', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** The useful part of an error answer: OpenAI-style `error.message`, else the start of the body. */
function summarizeBody(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    const error = parsed.error;
    if (typeof error === 'string') return error.slice(0, SUMMARY_CHARS);
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
      return (error as { message: string }).message.slice(0, SUMMARY_CHARS);
    }
    if (typeof parsed.message === 'string') return parsed.message.slice(0, SUMMARY_CHARS);
  } catch {
    // Not JSON: fall through to the raw text.
  }
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SUMMARY_CHARS ? `${flat.slice(0, SUMMARY_CHARS)}…` : flat || '(empty body)';
}

/** Servers asked for floats send arrays; a base64 string (little-endian float32) is accepted too. */
function toVector(embedding: unknown): Float32Array | undefined {
  if (Array.isArray(embedding)) {
    if (embedding.length === 0 || !embedding.every((x) => typeof x === 'number' && Number.isFinite(x)))
      return undefined;
    return Float32Array.from(embedding as number[]);
  }
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
    const vector = new Float32Array(bytes.length / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
    return vector.every(Number.isFinite) ? vector : undefined;
  }
  return undefined;
}

/** The HTTP side: one request per batch, validated and put in order. */
export class EmbeddingsClient {
  readonly url: URL;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(private readonly options: OpenAIEmbedderOptions) {
    this.url = parseBaseUrl(options.baseURL);
    this.timeoutMs = positiveInteger(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'embedding timeoutMs');
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ??
      new Pool(this.url.origin, {
        connections: positiveInteger(options.concurrency, DEFAULT_CONCURRENCY, 'embedding concurrency'),
      });
  }

  private fail(message: string, cause?: unknown): RailgateError {
    let text = `embeddings request to ${displayUrl(this.url)} (model ${this.options.model}) failed: ${message}`;
    // Belt and braces: a server may echo the request, headers included, back in its error body.
    if (this.options.apiKey) text = text.split(this.options.apiKey).join('***');
    return new RailgateError('RG_ERR_EMBEDDING_FAILED', text, cause === undefined ? {} : { cause });
  }

  async post(texts: readonly string[], dimension: number | undefined): Promise<Float32Array[]> {
    if (this.closed) throw this.fail('the embedder is closed');
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    const payload = {
      model: this.options.model,
      // OpenAI rejects empty strings; a single space embeds as "nothing" all the same.
      input: texts.map((text) => (text === '' ? ' ' : text)),
      encoding_format: 'float',
      ...(this.options.dimensions === undefined ? {} : { dimensions: this.options.dimensions }),
    };

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    let statusCode: number;
    let text: string;
    try {
      const response = await this.dispatcher.request({
        origin: this.url.origin,
        path: this.url.pathname + this.url.search,
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      statusCode = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      if (timedOut) {
        throw new RailgateError(
          'RG_ERR_EMBEDDING_TIMEOUT',
          `embeddings request to ${displayUrl(this.url)} (model ${this.options.model}) got no complete answer within ${this.timeoutMs} ms`,
          { cause: error },
        );
      }
      const code = (error as { code?: unknown }).code;
      const failure = this.fail(`${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`, error);
      if (causeCodes(error).some((c) => TRANSIENT_CODES.has(c))) transient.add(failure);
      throw failure;
    } finally {
      clearTimeout(timer);
    }

    if (statusCode < 200 || statusCode >= 300) {
      const failure = this.fail(`server answered ${statusCode}: ${summarizeBody(text)}`);
      if (statusCode === 429 || statusCode >= 500) transient.add(failure);
      throw failure;
    }
    return this.parse(text, texts.length, dimension);
  }

  private parse(text: string, expected: number, dimension: number | undefined): Float32Array[] {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw this.fail(`the answer is not JSON: ${summarizeBody(text)}`, error);
    }
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw this.fail('the answer has no `data` array of embeddings');
    if (data.length !== expected) throw this.fail(`sent ${expected} texts but got ${data.length} embeddings back`);
    const vectors: (Float32Array | undefined)[] = new Array<Float32Array | undefined>(expected);
    data.forEach((raw: unknown, position) => {
      const item = (raw ?? {}) as EmbeddingItem;
      // Servers that omit `index` answer in input order.
      const index = item.index === undefined ? position : item.index;
      if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= expected) {
        throw this.fail(`embedding ${position} has an invalid index ${JSON.stringify(item.index)}`);
      }
      if (vectors[index]) throw this.fail(`index ${index} appears twice in the answer`);
      const vector = toVector(item.embedding);
      if (!vector) throw this.fail(`embedding at index ${index} is not a non-empty list of finite numbers`);
      const want = dimension ?? vectors.find((v) => v !== undefined)?.length ?? vector.length;
      if (vector.length !== want) {
        throw this.fail(`embedding at index ${index} has ${vector.length} dimensions, expected ${want}`);
      }
      // A zero vector is similar to nothing: on a deny-list every message would pass. A broken server.
      if (vector.every((x) => x === 0)) throw this.fail(`embedding at index ${index} is all zeros`);
      vectors[index] = normalizeInPlace(vector);
    });
    return vectors as Float32Array[];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
