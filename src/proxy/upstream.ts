/**
 * The OpenAI-compatible servers railgate forwards to. One keep-alive undici Pool per origin (and
 * timeout settings), created on first use and closed with the app. Transport failures become
 * railgate errors (502 unreachable, 504 timeout); an HTTP answer from the upstream, error or not, is
 * returned as is (its body decoded when it came compressed): it is the upstream's to give.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Pool, type Dispatcher } from 'undici';
import { causeChain, causeCodes, RailgateError } from '../errors.js';
import { DEFAULT_ANSWER_BYTES, type Settings, type UpstreamSettings } from '../settings.js';
import { maskSecret, redactPieces } from './redact-stream.js';

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST';
  /** Appended to the upstream's base URL, e.g. `/chat/completions`. */
  readonly path: string;
  readonly body?: string;
  /** Expect an event stream (sets `accept`). */
  readonly stream?: boolean;
  /** The client's credentials, forwarded only when the upstream has `forwardClientAuth`. */
  readonly client?: ClientCredentials;
  readonly signal: AbortSignal;
  /** Called as the request is sent (not for an upstream that is not configured). */
  readonly onSend?: () => void;
  /** A deadline for the response headers shorter than the upstream's `headersTimeoutMs` (a model list). */
  readonly headersTimeoutMs?: number;
}

/**
 * Who the client says it is to OpenAI: its key, and the organization and project that key bills to.
 * They travel together: the client's key with the operator's organization would be refused or billed
 * to the wrong account.
 */
export interface ClientCredentials {
  readonly authorization?: string | undefined;
  readonly organization?: string | undefined;
  readonly project?: string | undefined;
}

const CLIENT_CREDENTIAL_HEADERS = {
  authorization: 'authorization',
  organization: 'openai-organization',
  project: 'openai-project',
} as const satisfies Record<keyof ClientCredentials, string>;

export function clientCredentials(headers: IncomingHttpHeaders): ClientCredentials {
  const one = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  return {
    authorization: one(CLIENT_CREDENTIAL_HEADERS.authorization),
    organization: one(CLIENT_CREDENTIAL_HEADERS.organization),
    project: one(CLIENT_CREDENTIAL_HEADERS.project),
  };
}

/** An upstream's body, decoded: read whole (up to the answer limit), or piece by piece as it arrives. */
export interface UpstreamBody extends AsyncIterable<Buffer> {
  /** The whole body; RG_ERR_UPSTREAM_BAD_RESPONSE past `limits.upstreamAnswerBytes` (decoded). */
  text(): Promise<string>;
  destroy(): void;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: UpstreamBody;
}

const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * railgate asks for an uncompressed answer (`accept-encoding: identity`), but a server or proxy on
 * the way may compress anyway; its body is decoded here, since what railgate relays or parses must be
 * the plain text. An encoding it cannot decode is a bad response, said as such.
 */
function decodedBody(
  name: string,
  body: Dispatcher.ResponseData['body'],
  encoding: string | undefined,
  maxBytes: number,
): UpstreamBody {
  // A body that is read reports its errors to the reader (iteration, text()); one that is discarded
  // unread (destroyed while still arriving) must not raise an unhandled 'error' and end the process.
  body.on('error', () => undefined);
  const coding = encoding?.trim().toLowerCase();
  if (!coding || coding === 'identity') return readableWhole(name, body, maxBytes);
  const decoder = DECODERS[coding];
  if (!decoder) {
    body.destroy();
    throw new RailgateError(
      'RG_ERR_UPSTREAM_BAD_RESPONSE',
      `Upstream "${name}" answered with content-encoding ${coding}, which railgate cannot decode.`,
    );
  }
  // Errors of the source (an abort, a timeout) reach whoever reads the decoded stream.
  return readableWhole(name, pipeline(body, decoder(), () => undefined) as unknown as Readable, maxBytes);
}

/**
 * `stream` with a `text()` that stops at `maxBytes`: an answer read whole is held in memory, and an
 * upstream that never ends its body (or a small gzip body that inflates to gigabytes) must not take
 * the process's memory with it. Counted after decoding.
 */
function readableWhole(name: string, stream: Readable, maxBytes: number): UpstreamBody {
  return Object.assign(stream, {
    async text(): Promise<string> {
      const pieces: Buffer[] = [];
      let size = 0;
      for await (const piece of stream) {
        size += (piece as Buffer).length;
        if (size > maxBytes) {
          stream.destroy();
          throw new RailgateError(
            'RG_ERR_UPSTREAM_BAD_RESPONSE',
            `Upstream "${name}" answered with more than ${maxBytes} bytes (limits.upstreamAnswerBytes).`,
          );
        }
        pieces.push(piece as Buffer);
      }
      return Buffer.concat(pieces).toString('utf8');
    },
  });
}

const USER_AGENT = 'railgate/0.1';
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici wraps socket errors; the innermost cause says what really happened (ECONNREFUSED, …).
  const innermost = causeChain(error).at(-1) as Error & { code?: string; syscall?: string };
  const outer = error as Error & { code?: string };
  const code = innermost.code ?? outer.code;
  // Node's errors name the address they tried ("connect ECONNREFUSED 10.0.3.7:8000", a certificate's
  // "IP: 10.0.3.7 is not in the cert's list"): the client is told what failed, by its code, and the
  // log line (its cause) keeps where. undici's own messages ("other side closed") name no address.
  if (code && !code.startsWith('UND_ERR')) return innermost.syscall ? `${innermost.syscall} ${code}` : code;
  const message = innermost.message || outer.message;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** Whether a failure is the client going away (we aborted the upstream ourselves). */
export function isAbort(error: unknown, signal: AbortSignal): boolean {
  return (
    signal.aborted ||
    (error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED'))
  );
}

/**
 * A transport failure as the railgate error a client sees: `during` the request (no answer yet), or
 * during the `answer` (it came, then broke off).
 */
export function upstreamFailure(name: string, error: unknown, during: 'request' | 'answer' = 'request'): RailgateError {
  if (error instanceof RailgateError) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  if (TIMEOUT_CODES.has(code)) {
    const what =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connecting'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'waiting for the response headers'
          : 'waiting for the response body';
    return new RailgateError('RG_ERR_UPSTREAM_TIMEOUT', `Upstream "${name}" timed out ${what}.`, { cause: error });
  }
  // A compressed body that does not decompress (zlib's Z_DATA_ERROR, Z_BUF_ERROR…) is garbage, not an outage.
  if (causeCodes(error).some((c) => c.startsWith('Z_')))
    return new RailgateError(
      'RG_ERR_UPSTREAM_BAD_RESPONSE',
      `Upstream "${name}" sent a body that does not decode: ${causeOf(error)}`,
      { cause: error },
    );
  // Before any answer, something replied but not in HTTP: another service on that port, or https
  // spoken to as http. (Past the headers, a parser error is a broken body: below.)
  if (during === 'request' && causeChain(error).some((e) => e.name === 'HTTPParserError'))
    return new RailgateError(
      'RG_ERR_UPSTREAM_BAD_RESPONSE',
      `Upstream "${name}" answered with something that is not HTTP (check the URL's scheme and port): ${causeOf(error)}`,
      { cause: error },
    );
  // It answered, then broke off: reached, but its answer is incomplete.
  if (during === 'answer')
    return new RailgateError(
      'RG_ERR_UPSTREAM_BAD_RESPONSE',
      `Upstream "${name}" broke off its answer: ${causeOf(error)}`,
      {
        cause: error,
      },
    );
  return new RailgateError('RG_ERR_UPSTREAM_UNREACHABLE', `Upstream "${name}" is unreachable: ${causeOf(error)}`, {
    cause: error,
  });
}

/** Shorter keys are placeholders, not secrets (see `redact`). */
const MIN_MASKED_KEY = 8;
const MASK = '***';

export class Upstreams {
  readonly #pools = new Map<string, Pool>();

  /**
   * `maxAnswerBytes`: the most an answer read whole may hold (limits.upstreamAnswerBytes); streams
   * relayed as they arrive are not held, and not limited by it.
   */
  constructor(
    private readonly settings: Settings['upstreams'],
    private readonly maxAnswerBytes: number = DEFAULT_ANSWER_BYTES,
  ) {}

  /** The settings of a named upstream, or undefined when it is not configured. */
  get(name: string): UpstreamSettings | undefined {
    return Object.hasOwn(this.settings, name) ? this.settings[name] : undefined;
  }

  /**
   * An upstream's error text with the operator's key masked: some servers quote the key they were
   * sent ("Incorrect API key provided: sk-…"), and the client relaying it must never see it.
   */
  redact(name: string, text: string): string {
    const key = this.#secretKey(name);
    return key ? maskSecret(text, key, MASK) : text;
  }

  /** `redact` for a body relayed as it arrives, in pieces (a key split across two is masked too). */
  redactStream(name: string, body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    const key = this.#secretKey(name);
    return key ? redactPieces(body, key, MASK) : body;
  }

  /** The operator's key for an upstream, when it is one to keep from clients. */
  #secretKey(name: string): string | undefined {
    const config = this.get(name);
    const key = config && !config.forwardClientAuth ? config.apiKey : undefined;
    // Placeholder keys for local servers ("EMPTY", "x", "1") are no secret, and masking them would
    // corrupt the body ("code":401 → "code":40***).
    return key && key.length >= MIN_MASKED_KEY ? key : undefined;
  }

  #pool(config: UpstreamSettings): Pool {
    const origin = new URL(config.url).origin;
    const key = [
      origin,
      config.connections,
      config.connectTimeoutMs,
      config.headersTimeoutMs,
      config.bodyTimeoutMs,
    ].join('|');
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: config.connections,
        connectTimeout: config.connectTimeoutMs,
        headersTimeout: config.headersTimeoutMs,
        bodyTimeout: config.bodyTimeoutMs,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Sends one request to the named upstream and resolves at its response headers. Throws
   * RG_ERR_UPSTREAM_NOT_CONFIGURED, _UNREACHABLE or _TIMEOUT; an abort through `signal` rejects with
   * the abort error itself (check with `isAbort`).
   */
  async request(name: string, request: UpstreamRequest): Promise<UpstreamResponse> {
    const config = this.get(name);
    if (!config) {
      throw new RailgateError(
        'RG_ERR_UPSTREAM_NOT_CONFIGURED',
        name === 'default'
          ? 'No upstream "default" is configured; set RAILGATE_UPSTREAM_URL (or upstreams.default.url in railgate.config.json).'
          : `No upstream "${name}" is configured; add upstreams.${name}.url to railgate.config.json.`,
      );
    }
    const base = new URL(config.url);
    const headers: Record<string, string> = {
      accept: request.stream ? 'text/event-stream' : 'application/json',
      'accept-encoding': 'identity',
      'user-agent': USER_AGENT,
    };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (config.forwardClientAuth) {
      for (const [field, header] of Object.entries(CLIENT_CREDENTIAL_HEADERS)) {
        const value = request.client?.[field as keyof ClientCredentials];
        if (value) headers[header] = value;
      }
    } else if (config.apiKey) headers.authorization = `Bearer ${config.apiKey}`;
    request.onSend?.();
    // undici's headersTimeout starts once the request has a connection: one queued behind
    // `connections` busy ones waited that long on top, without bound, and its timers are coarse (a
    // 500 ms timeout fired after a second). This deadline counts from the call, on a precise timer.
    const calling = new AbortController();
    const leave = () => calling.abort(request.signal.reason);
    if (request.signal.aborted) leave();
    else request.signal.addEventListener('abort', leave, { once: true });
    let late = false;
    const timeoutMs = Math.min(config.headersTimeoutMs, request.headersTimeoutMs ?? Number.POSITIVE_INFINITY);
    const deadline = setTimeout(() => {
      late = true;
      calling.abort();
    }, timeoutMs);
    try {
      const response = await this.#pool(config).request({
        method: request.method,
        path: `${base.pathname.replace(/\/+$/, '')}${request.path}${base.search}`,
        headers,
        body: request.body ?? null,
        signal: calling.signal,
      });
      // undici does not follow redirects, and an API answer is never one: most often the base URL is
      // http:// where the server wants https://, or lacks a trailing path segment.
      if (response.statusCode >= 300 && response.statusCode < 400) {
        response.body.on('error', () => undefined); // discarded unread, as decodedBody says
        response.body.destroy();
        // Where it points is the operator's to read (the log): an internal host, a path or query with a key.
        const location = response.headers.location;
        const where = Array.isArray(location) ? location[0] : location;
        throw new RailgateError(
          'RG_ERR_UPSTREAM_BAD_RESPONSE',
          `Upstream "${name}" answered ${response.statusCode}, a redirect; railgate does not follow redirects: ` +
            "set the upstream URL to where it points (the log's cause says where).",
          { cause: new Error(`redirected to ${this.redact(name, where ?? '(no Location header)')}`) },
        );
      }
      const encoding = response.headers['content-encoding'];
      return {
        status: response.statusCode,
        headers: response.headers,
        body: decodedBody(
          name,
          response.body,
          Array.isArray(encoding) ? encoding.join(',') : encoding,
          this.maxAnswerBytes,
        ),
      };
    } catch (error) {
      if (late && !request.signal.aborted)
        throw new RailgateError(
          'RG_ERR_UPSTREAM_TIMEOUT',
          `Upstream "${name}" timed out waiting for the response headers (${timeoutMs} ms, waiting for a free connection included).`,
          { cause: error },
        );
      if (isAbort(error, request.signal)) throw error;
      throw upstreamFailure(name, error);
    } finally {
      clearTimeout(deadline);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.close()));
  }
}
