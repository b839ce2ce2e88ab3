/**
 * The HTTP app: named fastify plugins, each one concern.
 *   railgate-errors        every error in OpenAI's shape; unknown routes 404
 *   railgate-guard-gate    the guard, which may still be loading (→ /readyz, 503 RG_ERR_NOT_READY)
 *   railgate-upstreams     undici pools per upstream origin, closed with the app
 *   railgate-*-routes      /v1/chat/completions, /v1/guard, /v1/models, /v1/rails, /healthz, /readyz,
 *                          /metrics (with the metrics dependency)
 * Listening and shutdown live in server.ts; building the guard and the log in start.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { DecisionSink } from './decisions/types.js';
import { RailgateError, toOpenAIError } from './errors.js';
import type { Guard } from './matching/guard.js';
import { clientAuthPlugin } from './proxy/plugins/client-auth.js';
import { corsPlugin } from './proxy/plugins/cors.js';
import { answerClientError, errorsPlugin, sendError } from './proxy/plugins/errors.js';
import { guardGatePlugin } from './proxy/plugins/guard-gate.js';
import { upstreamsPlugin } from './proxy/plugins/upstreams.js';
import { chatRoutes } from './proxy/routes/chat.js';
import { guardRoutes } from './proxy/routes/guard.js';
import { healthRoutes } from './proxy/routes/health.js';
import { embeddingsRoutes } from './proxy/routes/embeddings.js';
import { modelsRoutes } from './proxy/routes/models.js';
import { metricsRoutes } from './proxy/routes/metrics.js';
import { railsRoutes } from './proxy/routes/rails.js';
import { markArrival } from './proxy/trace.js';
import { withMetrics, type Metrics } from './metrics.js';
import type { Settings } from './settings.js';

/** Fastify's logger options (pino's, plus fastify's serializers). */
export type AppLoggerOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;

export interface AppDeps {
  settings: Settings;
  /** /healthz answers at once; /readyz and the decision routes answer 503 until this resolves. */
  guard: Guard | Promise<Guard>;
  /** Every decision is written here when its response is over. */
  decisions: DecisionSink;
  /** Pino through fastify: `true` logs at `settings.logLevel`; default off. Credentials are redacted either way. */
  logger?: boolean | AppLoggerOptions;
  /** Epoch milliseconds; defaults to Date.now. */
  clock?: () => number;
  /** Prometheus metrics; serves `GET /metrics` and counts decisions and errors when given. */
  metrics?: Metrics;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A JSON body's text as the client sent it. */
    rawBody?: string;
  }
}

/** Credentials must never reach a log line, whatever a serializer or a debug statement includes. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  '*.apiKey',
  '*.openaiApiKey',
];

/**
 * A URL as logged: no railgate route reads a query string, but some clients put their key in one
 * (`?key=`, `?api_key=`), so its values (and names without a value) are never logged.
 */
function loggedUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const pairs = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? (pair === '' ? '' : CENSOR) : `${pair.slice(0, eq)}=${CENSOR}`;
    });
  return `${url.slice(0, at)}?${pairs.join('&')}`;
}

const CENSOR = '[redacted]';

function loggerOptions(logger: AppDeps['logger'], settings: Settings): false | AppLoggerOptions {
  if (!logger) return false;
  const options: AppLoggerOptions = logger === true ? { level: settings.logLevel } : logger;
  const redact = Array.isArray(options.redact) ? options.redact : (options.redact?.paths ?? []);
  return {
    ...options,
    // fastify's own request serializer, with the query's values masked.
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        url: loggedUrl(request.url),
        version: [request.headers['accept-version']].flat()[0],
        host: request.host,
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
      ...options.serializers,
    },
    redact: { paths: [...new Set([...REDACT, ...redact])], censor: CENSOR },
  };
}

/** How often node looks for requests past their deadline: a tenth of it, between 100 ms and 30 s. */
function checkingInterval(requestTimeoutMs: number): number {
  return Math.min(30_000, Math.max(100, Math.round(requestTimeoutMs / 10)));
}

/** A client's own `x-request-id` is kept when it looks like an id; otherwise one is made, OpenAI style. */
const SANE_REQUEST_ID = /^[\w.:/+=-]{1,128}$/;

function requestId(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  const candidate = Array.isArray(sent) ? sent[0] : sent;
  if (candidate && SANE_REQUEST_ID.test(candidate)) return candidate;
  return `req_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Whether parsed JSON nests objects and arrays more than `limit` deep. Walked without recursion: the
 * point is to refuse bodies that would overflow the stack of a recursive walk (JSON.stringify of a
 * forward's body) before anything else touches them.
 */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  // Only objects and arrays are pushed (a 1 MiB array of numbers is one entry, not a million).
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(node))
      if (child !== null && typeof child === 'object') {
        nodes.push(child as object);
        depths.push(depth + 1);
      }
  }
  return false;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A JSON body's text: UTF-8, as JSON must be (RFC 8259), and without a byte-order mark, which JSON
 * parsers upstream (Python's among them) refuse: a passthrough sends this text as it is.
 */
function jsonText(body: Buffer | string): string | RailgateError {
  if (typeof body === 'string') return body.replace(/^\uFEFF/, '');
  try {
    return UTF8.decode(body); // drops a byte-order mark
  } catch {
    return new RailgateError('RG_ERR_INVALID_JSON', 'The body is not valid UTF-8, which JSON must be.');
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const clock = deps.clock ?? Date.now;
  const bodyLimit = settings.limits.bodyBytes;
  const app: FastifyInstance = Fastify({
    logger: loggerOptions(deps.logger, settings),
    bodyLimit,
    genReqId: requestId,
    requestIdHeader: false,
    clientErrorHandler: answerClientError,
    // Errors fastify raises before routing (a URL it cannot decode, `/v1/%zz`) skip the error handler
    // and the hooks: answered the handler's way here, and tagged and counted as the hooks would.
    frameworkErrors: (error, request, reply) => {
      void reply.header('x-request-id', request.id);
      const failure = sendError(error, request, reply as FastifyReply, bodyLimit);
      deps.metrics?.errors.inc({ code: failure.code });
    },
    // Model ids can be long (fine-tuned ids, ARNs): fastify's default 100 characters would refuse them.
    routerOptions: { maxParamLength: 1024 },
    requestTimeout: settings.limits.requestTimeoutMs,
    // Node enforces the request and header deadlines in a sweep, every 30 s by default: a request could
    // then take up to 30 s longer than the limit says. A tenth of the limit keeps the overshoot small.
    // Node answers a missing Host header itself, with an empty 400: checked in a hook instead.
    http: { connectionsCheckingInterval: checkingInterval(settings.limits.requestTimeoutMs), requireHostHeader: false },
    trustProxy: settings.trustProxy,
  });
  const log: FastifyBaseLogger = app.log;
  // Node's own default rule: the header deadline lies within the request's, and is at most 60 s.
  app.server.headersTimeout = Math.min(settings.limits.requestTimeoutMs, 60_000);

  // JSON only: OpenAI's API takes nothing else, and a text body must be a clear 415, not a 400.
  app.removeContentTypeParser('text/plain');
  // The body's own text is kept: a passthrough sends it upstream byte for byte (re-serialising would
  // round 64-bit integers such as a seed, and drop `1.0` or duplicate keys). `__proto__` keys are
  // removed from the parsed object only, as OpenAI accepts them in free-form fields like metadata.
  const parseJson = app.getDefaultJsonParser('remove', 'remove');
  app.removeContentTypeParser('application/json');
  const { jsonDepth } = settings.limits;
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // A compressed body would otherwise be read as text: "not valid UTF-8" for gzip, and a body
    // labelled `br` but sent plain would be passed on under a label the upstream never sees.
    const encoding = request.headers['content-encoding']?.trim();
    if (encoding && encoding.toLowerCase() !== 'identity')
      return done(
        new RailgateError(
          'RG_ERR_UNSUPPORTED_MEDIA_TYPE',
          `A request body with Content-Encoding: ${encoding.slice(0, 64)} is not supported; send it uncompressed.`,
        ),
        undefined,
      );
    const text = jsonText(body);
    if (text instanceof RailgateError) return done(text, undefined);
    request.rawBody = text;
    parseJson(request, text, (error, parsed) => {
      if (error || !nestsDeeperThan(parsed, jsonDepth)) return done(error, parsed);
      done(new RailgateError('RG_ERR_INVALID_JSON', `The JSON body nests deeper than ${jsonDepth} levels.`));
    });
  });
  app.addHook('onRequest', markArrival);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined)
      throw new RailgateError('RG_ERR_INVALID_REQUEST', 'The request has no Host header, which HTTP/1.1 requires.');
  });
  // Likewise an `Expect` other than 100-continue: node's own answer is an empty 417.
  app.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const failure = new RailgateError(
      'RG_ERR_EXPECTATION_FAILED',
      `Expect: ${String(request.headers.expect).slice(0, 64)} is not supported.`,
    );
    const body = JSON.stringify(toOpenAIError(failure));
    response.writeHead(failure.statusCode, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId(request),
      connection: 'close',
    });
    response.end(body);
    deps.metrics?.errors.inc({ code: failure.code });
  });

  await app.register(errorsPlugin, { bodyLimit });
  await app.register(corsPlugin, { origins: settings.corsOrigins });
  await app.register(clientAuthPlugin, { keys: settings.clientApiKeys });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics, bodyLimit });
  const decisions = deps.metrics ? withMetrics(deps.metrics, deps.decisions) : deps.decisions;
  await app.register(guardGatePlugin, { guard: deps.guard });
  await app.register(upstreamsPlugin, {
    upstreams: settings.upstreams,
    maxAnswerBytes: settings.limits.upstreamAnswerBytes,
  });
  await app.register(healthRoutes, { detailed: settings.clientApiKeys.length === 0 });
  await app.register(railsRoutes);
  await app.register(chatRoutes, { settings, decisions, clock });
  await app.register(guardRoutes, { settings, decisions, clock });
  await app.register(modelsRoutes, { clock, clientRailSets: settings.clientRailSets });
  await app.register(embeddingsRoutes);
  log.debug({ upstreams: Object.keys(settings.upstreams) }, 'railgate app built');
  return app;
}
