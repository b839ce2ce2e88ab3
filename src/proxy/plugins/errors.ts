/**
 * The one place errors become responses: everything, from fastify's body parser to an upstream
 * timeout, leaves in OpenAI's error shape with an RG_ERR_* code, and nothing internal (stack traces,
 * exception text) reaches a client. Unknown routes answer 404 in the same shape.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RailgateError, isRailgateError, toOpenAIError } from '../../errors.js';
import { clientLeft, cutByShutdown, shutdownCut, traceOf } from '../trace.js';

/** Fastify's own errors (body parsing, limits) as railgate errors; anything else is internal. */
export function asRailgateError(error: unknown, bodyLimit: number): RailgateError {
  if (isRailgateError(error)) return error;
  const { code, statusCode } = (error ?? {}) as Partial<FastifyError>;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      // Named for the app's developer, who cannot see the proxy's settings, to ask its operator.
      return new RailgateError(
        'RG_ERR_BODY_TOO_LARGE',
        `The request body is larger than ${bodyLimit} bytes, this proxy's limit (limits.bodyBytes, RAILGATE_BODY_LIMIT).`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RailgateError(
        'RG_ERR_UNSUPPORTED_MEDIA_TYPE',
        "Unsupported Content-Type: send the request body as JSON with 'Content-Type: application/json'.",
      );
    // Raised before routing, through `frameworkErrors` (app.ts).
    case 'FST_ERR_BAD_URL':
      return new RailgateError('RG_ERR_INVALID_REQUEST', 'The request URL is malformed.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new RailgateError('RG_ERR_INVALID_REQUEST', 'A path segment of the URL is too long.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new RailgateError(
        'RG_ERR_INVALID_JSON',
        'We could not parse the JSON body of your request. The body must be valid JSON with Content-Type: application/json.',
      );
    default:
      break;
  }
  if (error instanceof SyntaxError && statusCode === 400) {
    return new RailgateError(
      'RG_ERR_INVALID_JSON',
      `We could not parse the JSON body of your request: ${error.message}`,
    );
  }
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const message = error instanceof Error ? error.message : 'Invalid request.';
    if (statusCode === 413) return new RailgateError('RG_ERR_BODY_TOO_LARGE', message);
    if (statusCode === 415) return new RailgateError('RG_ERR_UNSUPPORTED_MEDIA_TYPE', message);
    if (statusCode === 404) return new RailgateError('RG_ERR_NOT_FOUND', message);
    return new RailgateError('RG_ERR_INVALID_REQUEST', message);
  }
  return new RailgateError('RG_ERR_INTERNAL', 'The server had an error while processing your request.', {
    cause: error,
  });
}

/**
 * Connections node cut for `limits.requestTimeoutMs` (it answered 408 through `answerClientError`):
 * the bodies their requests were reading break off, which is the timeout, not a malformed request.
 */
const timedOut = new WeakSet<Duplex>();

/**
 * A request body that broke off (node's "aborted"): the request timed out, or the client went away
 * before sending it all. Either way no bad input, which fastify's 400 would have it be.
 */
function bodyCutOff(error: unknown, request: FastifyRequest): RailgateError | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ECONNRESET' || message !== 'aborted') return undefined;
  if (timedOut.has(request.raw.socket))
    return new RailgateError('RG_ERR_REQUEST_TIMEOUT', 'The request was not received in time.');
  return cutByShutdown(request.server.server)
    ? shutdownCut()
    : new RailgateError('RG_ERR_CLIENT_CLOSED', 'The client closed the connection before its request arrived.');
}

/** What an error raised while serving `request` is, as the reply and the metrics both name it. */
export function requestFailure(error: unknown, request: FastifyRequest, bodyLimit: number): RailgateError {
  return bodyCutOff(error, request) ?? cutShortByDeparture(error, request) ?? asRailgateError(error, bodyLimit);
}

const ABORT_CODES: ReadonlySet<unknown> = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR', 'UND_ERR_ABORTED']);

/**
 * Work the client's departure cut short: an answer stream closed under fastify (a canned answer
 * whose client left while its message was decided), an upstream call aborted on its behalf. That is
 * the client leaving, not a fault of ours (or railgate's shutdown cutting the connection, at the end
 * of its grace period). Any other error stays what it is, gone client or not.
 */
function cutShortByDeparture(error: unknown, request: FastifyRequest): RailgateError | undefined {
  if (isRailgateError(error) || !clientLeft(request)) return undefined;
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  if (!ABORT_CODES.has(code) && name !== 'AbortError') return undefined;
  if (cutByShutdown(request.server.server)) return shutdownCut();
  return new RailgateError('RG_ERR_CLIENT_CLOSED', 'The client closed the connection before its answer was sent.');
}

/**
 * Requests node's HTTP parser rejects before fastify sees them (headers over the limit, a malformed
 * request line, a body that never arrives) get OpenAI's error shape too, then the connection closes.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // A response already under way (a pipelined request went bad mid-stream) cannot take another one
  // on the same connection: close it, as node's own handler does.
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (current?.headersSent) {
    socket.destroy(error);
    return;
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut.add(socket);
  if (!socket.writable) return;
  const failure =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new RailgateError('RG_ERR_HEADERS_TOO_LARGE', 'The request headers are too large.')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new RailgateError('RG_ERR_REQUEST_TIMEOUT', 'The request was not received in time.')
        : new RailgateError('RG_ERR_INVALID_REQUEST', 'The HTTP request is malformed.');
  const body = JSON.stringify(toOpenAIError(failure));
  socket.end(
    `HTTP/1.1 ${failure.statusCode} ${STATUS_CODES[failure.statusCode]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function causeOf(error: unknown): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}

const LOGGED_IN_FULL: ReadonlySet<string> = new Set([
  'RG_ERR_INTERNAL',
  'RG_ERR_EMBEDDING_FAILED',
  'RG_ERR_EMBEDDING_TIMEOUT',
]);

const NOT_RETRYABLE: ReadonlySet<string> = new Set([
  'RG_ERR_UPSTREAM_NOT_CONFIGURED',
  'RG_ERR_CONFIG_INVALID',
  'RG_ERR_RAILS_INVALID',
]);

/**
 * Whether OpenAI's SDKs should be told not to retry. An upstream that timed out answering was
 * generating all that time: a retry pays for the whole generation again. One that never let us
 * connect costs nothing to try again, and that fault often passes.
 */
function notRetryable(error: RailgateError): boolean {
  if (error.code === 'RG_ERR_UPSTREAM_TIMEOUT')
    return (error.cause as { code?: unknown } | undefined)?.code !== 'UND_ERR_CONNECT_TIMEOUT';
  return NOT_RETRYABLE.has(error.code);
}

/**
 * Answers `error` in OpenAI's shape with its status, retry advice and log line, and returns it as a
 * railgate error: what the error handler does for every route, and app.ts for what fastify raises
 * before routing.
 */
export function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  bodyLimit: number,
): RailgateError {
  const railgateError = requestFailure(error, request, bodyLimit);
  traceOf(request)?.failed(railgateError.code);
  // Only a fault of ours is an error with a stack; an upstream down or a missing setting is a warning.
  if (railgateError.code === 'RG_ERR_NOT_READY') {
    // Readiness probes poll during start-up: expected, not worth a warning each time.
    request.log.debug({ code: railgateError.code }, railgateError.message);
  } else if (railgateError.code === 'RG_ERR_INTERNAL') {
    request.log.error({ err: error, code: railgateError.code }, railgateError.message);
  } else if (railgateError.statusCode >= 500) {
    request.log.warn({ code: railgateError.code, cause: causeOf(error) }, railgateError.message);
  } else {
    request.log.info({ code: railgateError.code }, railgateError.message);
  }
  if (railgateError.code === 'RG_ERR_OVERLOADED' || railgateError.code === 'RG_ERR_NOT_READY') {
    reply.header('retry-after', '1');
  }
  // OpenAI's SDKs retry every 5xx unless told otherwise: a missing upstream or a bad configuration
  // will not fix itself in a second.
  if (notRetryable(railgateError)) reply.header('x-should-retry', 'false');
  const body = toOpenAIError(railgateError);
  // Where the client is told less than the log has, the request id finds the log's line.
  if (LOGGED_IN_FULL.has(railgateError.code)) body.error.message += ` (request id ${request.id})`;
  void reply.code(railgateError.statusCode).type('application/json; charset=utf-8').send(body);
  return railgateError;
}

const SERVED_APIS =
  'railgate serves POST /v1/chat/completions (decided by the rails), POST /v1/guard, POST /v1/embeddings, ' +
  'GET /v1/models and GET /v1/rails; ' +
  'other OpenAI APIs (the Responses API, legacy completions) are not relayed, as they would go around the rails.';

/** A URL as an error message names it: a long one cut, so a 16 KB URL is not sent back whole. */
function shortUrl(url: string): string {
  return url.length <= 200 ? url : `${url.slice(0, 200)}… (${url.length} characters)`;
}

export const errorsPlugin = fp(
  async (app: FastifyInstance, options: { bodyLimit: number }) => {
    app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
      sendError(error, request, reply, options.bodyLimit);
      return reply;
    });

    app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
      // Clients that reach for another OpenAI API (LangChain switches to the Responses API by itself
      // for some models and tools) should learn what railgate serves, not suspect their model name.
      const hint = request.url.startsWith('/v1/') ? ` ${SERVED_APIS}` : '';
      const error = new RailgateError(
        'RG_ERR_NOT_FOUND',
        `Unknown request URL: ${request.method} ${shortUrl(request.url)}.${hint}`,
      );
      return reply.code(404).send(toOpenAIError(error));
    });
  },
  { name: 'railgate-errors', fastify: '5.x' },
);
