/**
 * Sending a chat request upstream and relaying the answer: JSON (with the `railgate` object added to
 * a successful completion), an upstream error (status and body untouched), or an event stream passed
 * through as it arrives. The upstream request is aborted as soon as the client goes away.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RailgateError } from '../errors.js';
import type { RailgateView } from './decision-view.js';
import { SSE_HEADERS, relayEventStream } from './sse.js';
import { answerBrokeOff, SHUTDOWN_CUT, shutdownCut, upstreamCallSignal, type DecisionTrace } from './trace.js';
import { clientCredentials, isAbort, upstreamFailure, type UpstreamResponse, type Upstreams } from './upstream.js';

export interface RelayInput {
  readonly upstreams: Upstreams;
  readonly upstream: string;
  /** The JSON text sent upstream: the client's own for a passthrough, the vetted request for a forward. */
  readonly body: string;
  readonly stream: boolean;
  /** The client asked for a usage chunk at the end of the stream (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
  readonly view: RailgateView;
  readonly trace: DecisionTrace;
  /** limits.streamEventBytes */
  readonly maxEventBytes: number;
  /** Aborted when the client leaves (`clientLeaving`; at once if it already has): the upstream is then never called. */
  readonly signal: AbortSignal;
}

/**
 * Upstream headers worth passing on: rate limits and the like help clients back off correctly. Not
 * `openai-organization` or `openai-project`: they name the operator's account, not the client's.
 */
const RELAYED = new Set(['retry-after', 'retry-after-ms', 'x-should-retry', 'openai-processing-ms', 'openai-version']);

function relayedHeaders(headers: UpstreamResponse['headers'], mask: (text: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // Whatever the upstream puts in them, the operator's key never reaches a client.
    const text = mask(Array.isArray(value) ? value.join(', ') : value);
    if (RELAYED.has(name) || name.startsWith('x-ratelimit-')) out[name] = text;
    else if (name === 'x-request-id') out['x-upstream-request-id'] = text;
  }
  return out;
}

function headerValue(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function relayChat(request: FastifyRequest, reply: FastifyReply, input: RelayInput): Promise<unknown> {
  const { upstreams, upstream, trace, signal } = input;
  // The call is given up when the client leaves, or when the shutdown's grace period ends: then the
  // client is told so (`shutdownCut`), where a client gone is told nothing.
  const { signal: calling, cutByShutdown } = upstreamCallSignal(request, reply, signal);

  let response: UpstreamResponse;
  try {
    response = await upstreams.request(upstream, {
      method: 'POST',
      path: '/chat/completions',
      body: input.body,
      stream: input.stream,
      client: clientCredentials(request.headers),
      signal: calling,
      onSend: () => trace.upstreamStarted(),
    });
  } catch (error) {
    if (cutByShutdown()) throw shutdownCut();
    if (isAbort(error, signal)) return clientGone(reply);
    throw error;
  }
  trace.upstreamAnswered(response.status);
  const mask = (text: string) => upstreams.redact(upstream, text);
  const contentType = headerValue(response.headers, 'content-type');

  if (input.stream && response.status < 400) {
    // A 200 that is not an event stream would reach the SDK as an empty, successful-looking stream.
    if (!/^text\/event-stream\b/i.test(contentType ?? '')) {
      response.body.destroy();
      throw new RailgateError(
        'RG_ERR_UPSTREAM_BAD_RESPONSE',
        `Upstream "${upstream}" answered a streaming request with ${contentType ? `content-type ${contentType}` : 'no content-type'}, not an event stream.`,
      );
    }
    reply
      .code(response.status)
      .headers({ ...relayedHeaders(response.headers, mask), ...SSE_HEADERS, 'content-type': contentType! });
    const failed = (failure: RailgateError) => {
      trace.failed(failure.code);
      // The upstream's fault, said in the failure's message: a stack trace would only say where we noticed.
      request.log.warn({ code: failure.code, cause: failure.message }, 'upstream stream failed');
      return failure;
    };
    const payload = relayEventStream(response.body, {
      maxEventBytes: input.maxEventBytes,
      expectUsage: input.includeUsage,
      redact: mask,
      onFailure: (error) => {
        if (cutByShutdown()) {
          trace.failed(SHUTDOWN_CUT);
          return shutdownCut();
        }
        return isAbort(error, signal) ? undefined : failed(upstreamFailure(upstream, error, 'answer'));
      },
      onUpstreamError: () => trace.failed('RG_ERR_UPSTREAM_STREAM_ERROR'),
      cut: () => response.body.destroy(),
      onIncomplete: () => {
        const failure = new RailgateError(
          'RG_ERR_UPSTREAM_BAD_RESPONSE',
          `Upstream "${upstream}" ended its stream before the answer was complete: no [DONE], and no finish_reason for every choice${input.includeUsage ? ' followed by the usage chunk include_usage asks for' : ''}.`,
        );
        return failed(failure);
      },
    });
    // fastify sets a stream's headers and pipes it; node would hold them back until the first event.
    // Sent now, the client sees the stream open when the upstream's did, however long the model thinks.
    reply.raw.once('pipe', () => {
      if (!reply.raw.headersSent) reply.raw.flushHeaders();
    });
    return reply.send(payload);
  }

  const text = await answerText(response, upstream, signal, reply, cutByShutdown);
  if (text === undefined) return undefined;
  // The upstream's own error: relayed as it was given, but for the operator's key.
  if (response.status >= 400) return relayAsIs(reply, response, text, mask);
  // Checked before any upstream header is set: railgate's own 502 must not carry the upstream's.
  const completion = withDecision(mask(text), input.view, upstream);
  return reply
    .code(response.status)
    .headers(relayedHeaders(response.headers, mask))
    .type('application/json; charset=utf-8')
    .send(completion);
}

/**
 * A successful completion with the `railgate` object added at the top level. It is spliced into the
 * upstream's own text before the closing brace, so every other byte reaches the client as sent
 * (re-serialising would rewrite numbers: round 64-bit integers, drop the `.0` of `1.0`).
 */
function withDecision(text: string, view: RailgateView, upstream: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RailgateError(
      'RG_ERR_UPSTREAM_BAD_RESPONSE',
      `Upstream "${upstream}" answered with a body that is not a JSON object.`,
    );
  }
  const close = text.lastIndexOf('}');
  const empty = Object.keys(body).length === 0;
  return `${text.slice(0, close)}${empty ? '' : ','}"railgate":${JSON.stringify(view)}${text.slice(close)}`;
}

/**
 * An upstream's answer read whole; undefined when the client left meanwhile (the reply is then given
 * up: nothing more is sent). A body that breaks off is the upstream's bad response; one the
 * shutdown gave up (`cutByShutdown`), RG_ERR_SHUTDOWN_CUT.
 */
export async function answerText(
  response: UpstreamResponse,
  upstream: string,
  signal: AbortSignal,
  reply: FastifyReply,
  cutByShutdown?: () => boolean,
): Promise<string | undefined> {
  try {
    return await response.body.text();
  } catch (error) {
    if (cutByShutdown?.()) throw shutdownCut();
    if (isAbort(error, signal)) return clientGone(reply);
    throw upstreamFailure(upstream, error, 'answer');
  }
}

/**
 * An upstream's answer relayed as it came: its status, the headers worth passing on, its body with its
 * content type (guessed when it sent none), the operator's key masked throughout.
 */
export function relayAsIs(
  reply: FastifyReply,
  response: UpstreamResponse,
  text: string,
  mask: (text: string) => string,
): FastifyReply {
  return reply
    .code(response.status)
    .headers(relayedHeaders(response.headers, mask))
    .type(headerValue(response.headers, 'content-type') ?? unlabelledType(text))
    .send(mask(text));
}

/**
 * A successful upstream answer relayed as it arrives, the operator's key masked: a large answer (a
 * batch of embeddings can be tens of MB) is never held whole. Without a content type to pass on it
 * is read whole instead, to tell JSON from text. An upstream that breaks off mid-body cuts the
 * client's connection too: a truncated body must not look complete.
 */
export async function relayPiped(
  reply: FastifyReply,
  response: UpstreamResponse,
  input: { readonly upstreams: Upstreams; readonly upstream: string; readonly signal: AbortSignal },
): Promise<FastifyReply | undefined> {
  const { upstreams, upstream, signal } = input;
  const mask = (text: string) => upstreams.redact(upstream, text);
  const contentType = headerValue(response.headers, 'content-type');
  if (response.status >= 400 || contentType === undefined) {
    const text = await answerText(response, upstream, signal, reply);
    return text === undefined ? undefined : relayAsIs(reply, response, text, mask);
  }
  async function* body(): AsyncGenerator<Buffer> {
    try {
      yield* upstreams.redactStream(upstream, response.body);
    } catch (error) {
      if (isAbort(error, signal)) throw error;
      const failure = upstreamFailure(upstream, error, 'answer');
      answerBrokeOff(reply.request, failure.code);
      throw failure;
    }
  }
  return reply
    .code(response.status)
    .headers(relayedHeaders(response.headers, mask))
    .type(contentType)
    .send(Readable.from(body(), { objectMode: false }));
}

/** The client left: nothing can be sent, and fastify must not try. */
export function clientGone(reply: FastifyReply): undefined {
  reply.hijack();
  if (!reply.raw.destroyed) reply.raw.destroy();
  return undefined;
}

/** Whether `text` parses as JSON. */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The type of an upstream body that came without one: JSON if it is JSON, else text (never called JSON). */
export function unlabelledType(text: string): string {
  return isJson(text) ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
}
