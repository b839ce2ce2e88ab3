/**
 * One decision's log record, completed while the request runs (upstream status, error code, time to
 * upstream headers) and written once when the response is over: finished, failed or abandoned by the
 * client. Writing only queues (DecisionSink), so the request path never waits on the disk.
 */
import { setMaxListeners } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DecisionEndpoint, DecisionSink } from '../decisions/types.js';
import type { GuardResult } from '../matching/guard.js';
import { RailgateError, type ErrorCode } from '../errors.js';

/** Logged when the client went away before its response was complete (never sent to a client). */
export const CLIENT_CLOSED: ErrorCode = 'RG_ERR_CLIENT_CLOSED';
/** Logged and counted when railgate's shutdown cut a response short at the end of its grace period. */
export const SHUTDOWN_CUT: ErrorCode = 'RG_ERR_SHUTDOWN_CUT';

/** Servers whose remaining connections are being cut at the end of the shutdown grace period. */
const cutting = new WeakSet<object>();
const shutdowns = new WeakMap<object, AbortController>();

/**
 * Marks `server`'s open connections as cut by railgate itself (their requests are logged as such),
 * and gives up the upstream calls still running for them (`shutdownSignal`).
 */
export function markShutdownCut(server: object): void {
  cutting.add(server);
  shutdowns.get(server)?.abort();
}

/**
 * Aborted when the shutdown grace period of `server` ends: an upstream call still running then is
 * given up, and its client told why (RG_ERR_SHUTDOWN_CUT: a 503, or a stream's last event) before
 * the connections are cut, rather than left to see a network error.
 */
export function shutdownSignal(server: object): AbortSignal {
  let controller = shutdowns.get(server);
  if (!controller) {
    controller = new AbortController();
    setMaxListeners(0, controller.signal);
    shutdowns.set(server, controller);
  }
  return controller.signal;
}

/**
 * The signal one upstream call runs under: aborted when its client leaves (`client`) or when the
 * shutdown's grace period ends; `cutByShutdown` tells the two apart. Its listener on the server-wide
 * shutdown signal goes when the response is over (AbortSignal.any would keep every request's signal
 * reachable from the server's for good: nodejs/node#55351).
 */
export function upstreamCallSignal(
  request: FastifyRequest,
  reply: FastifyReply,
  client: AbortSignal,
): { readonly signal: AbortSignal; cutByShutdown(): boolean } {
  const shutdown = shutdownSignal(request.server.server);
  const controller = new AbortController();
  const cutByShutdown = () => shutdown.aborted && !client.aborted;
  if (client.aborted || shutdown.aborted) {
    controller.abort();
    return { signal: controller.signal, cutByShutdown };
  }
  const abort = () => controller.abort();
  client.addEventListener('abort', abort, { once: true });
  shutdown.addEventListener('abort', abort, { once: true });
  reply.raw.once('close', () => {
    client.removeEventListener('abort', abort);
    shutdown.removeEventListener('abort', abort);
  });
  return { signal: controller.signal, cutByShutdown };
}

/** The connection was cut by railgate's own shutdown, at the end of its grace period. */
export function shutdownCut(): RailgateError {
  return new RailgateError('RG_ERR_SHUTDOWN_CUT', 'railgate shut down before the request was answered.');
}

/**
 * Why a response that ended unfinished did: railgate's shutdown cut it, or else the client left.
 * Null for a response that went out whole.
 */
export function unfinishedBecause(reply: FastifyReply): ErrorCode | null {
  if (reply.raw.writableFinished) return null;
  return cutByShutdown(reply.server.server) ? SHUTDOWN_CUT : CLIENT_CLOSED;
}

const brokenAnswers = new WeakMap<FastifyRequest, ErrorCode>();

/**
 * A relayed answer already under way broke off (its upstream failed mid-body): the client's
 * connection is cut, and this is why, for the metrics. Chat answers record theirs in their trace.
 */
export function answerBrokeOff(request: FastifyRequest, code: ErrorCode): void {
  brokenAnswers.set(request, code);
}

/** Why a relayed answer broke off, if it did (`answerBrokeOff`). */
export function brokenAnswer(request: FastifyRequest): ErrorCode | undefined {
  return brokenAnswers.get(request);
}

/** Whether `server`'s remaining connections are being cut by railgate's shutdown. */
export function cutByShutdown(server: object): boolean {
  return cutting.has(server);
}

const traces = new WeakMap<FastifyRequest, DecisionTrace>();
const arrivals = new WeakMap<FastifyRequest, number>();
const departed = new WeakSet<FastifyRequest>();

/**
 * An onRequest hook: total latency counts from here, body upload included. It also notes a client
 * that leaves before its response is complete, however early: one that leaves while its message is
 * still being decided is gone before any later listener could hear it.
 */
export async function markArrival(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  arrivals.set(request, performance.now());
  whenClientLeaves(request, reply, () => departed.add(request));
}

/** Whether the client has already gone away without its whole response. */
export function clientLeft(request: FastifyRequest): boolean {
  return departed.has(request);
}

/** Runs `then` once the client goes away without its whole response: at once if it already has. */
export function whenClientLeaves(request: FastifyRequest, reply: FastifyReply, then: () => void): void {
  if (clientLeft(request)) return then();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) then();
  });
}

/** Aborted when the client goes away without its whole response: work for it can stop. */
export function clientLeaving(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  // One listener per text being embedded (a conversation's earlier messages each add one): past
  // Node's default of 10 it would warn of a leak on every long conversation. They are all removed.
  setMaxListeners(0, controller.signal);
  whenClientLeaves(request, reply, () => controller.abort());
  return controller.signal;
}

/** The trace of a request that reached a decision (the error handler records its failure there). */
export function traceOf(request: FastifyRequest): DecisionTrace | undefined {
  return traces.get(request);
}

/** Starts tracing a decided request; the record is written when its response is over. */
export function startTrace(
  sink: DecisionSink,
  start: TraceStart,
  request: FastifyRequest,
  reply: FastifyReply,
): DecisionTrace {
  const trace = new DecisionTrace(sink, start, reply, arrivals.get(request) ?? performance.now());
  traces.set(request, trace);
  // Its 'close' has been and gone: the record is complete now.
  if (clientLeft(request)) {
    trace.failed(CLIENT_CLOSED);
    trace.write();
  }
  return trace;
}

export interface TraceStart {
  readonly endpoint: DecisionEndpoint;
  readonly stream: boolean;
  readonly message: string;
  readonly result: GuardResult;
  /** Epoch milliseconds when the request arrived. */
  readonly time: number;
  readonly requestId: string;
}

export class DecisionTrace {
  upstreamStatus: number | null = null;
  errorCode: string | null = null;
  upstreamMs: number | null = null;
  #upstreamStartedAt = 0;
  #written = false;

  constructor(
    private readonly sink: DecisionSink,
    private readonly start: TraceStart,
    reply: FastifyReply,
    private readonly arrivedAt: number,
  ) {
    // 'close' comes after 'finish' and also when the client aborts; either way the response is over.
    reply.raw.once('close', () => {
      this.errorCode ??= unfinishedBecause(reply);
      this.write();
    });
  }

  upstreamStarted(): void {
    this.#upstreamStartedAt = performance.now();
  }

  upstreamAnswered(status: number): void {
    this.upstreamStatus = status;
    this.upstreamMs = performance.now() - this.#upstreamStartedAt;
  }

  /** Keeps the first error: a later one (the client leaving after a failure) is a consequence. */
  failed(code: string): void {
    this.errorCode ??= code;
  }

  write(): void {
    if (this.#written) return;
    this.#written = true;
    const { result } = this.start;
    this.sink.write({
      time: this.start.time,
      requestId: this.start.requestId,
      endpoint: this.start.endpoint,
      stream: this.start.stream,
      message: this.start.message,
      decision: result.decision,
      upstreamStatus: this.upstreamStatus,
      errorCode: this.errorCode,
      latency: {
        embedMs: result.timings.embedMs,
        searchMs: result.timings.searchMs,
        // A call that failed or was given up has no answer time: how long railgate waited on it instead.
        upstreamMs:
          this.upstreamMs ?? (this.#upstreamStartedAt > 0 ? performance.now() - this.#upstreamStartedAt : null),
        totalMs: performance.now() - this.arrivedAt,
      },
    });
  }
}
