import type { Decision } from '../matching/decision.js';

/** Where a decision was asked for. */
export const DECISION_ENDPOINTS = ['chat', 'guard'] as const;
export type DecisionEndpoint = (typeof DECISION_ENDPOINTS)[number];

/** One row of the decision log, as written by the proxy and read by `railgate logs` / `replay`. */
export interface DecisionRecord {
  /** Epoch milliseconds. */
  readonly time: number;
  readonly requestId: string;
  readonly endpoint: DecisionEndpoint;
  readonly stream: boolean;
  /** The text that was matched (the last user message). */
  readonly message: string;
  readonly decision: Decision;
  /** HTTP status the upstream answered with; null when upstream was not called or unreachable. */
  readonly upstreamStatus: number | null;
  /** The RG_ERR_* code when the request ended in an error (upstream down, client abort, …). */
  readonly errorCode: string | null;
  readonly latency: {
    readonly embedMs: number;
    readonly searchMs: number;
    readonly upstreamMs: number | null;
    readonly totalMs: number;
  };
}

export interface DecisionQuery {
  /** Only these actions (forward, passthrough, respond, refuse). */
  readonly decision?: string;
  readonly railSet?: string;
  /** Epoch milliseconds: rows at or after this time. */
  readonly since?: number;
  /** Epoch milliseconds: rows before this time (exclusive). */
  readonly until?: number;
  /** Only rows whose matched intent is this one. */
  readonly intent?: string;
  /** Only rows decided for this reason (`below_threshold`, `earlier_message`, …). */
  readonly reason?: string;
  /** The one request a client saw (its `x-request-id`). */
  readonly requestId?: string;
  /** The one log row with this id (`#N` in `railgate logs`). */
  readonly id?: number;
  /** Only requests through this door: the proxy (`chat`) or the dry-run `/v1/guard`. */
  readonly endpoint?: DecisionEndpoint;
  /** Only messages containing this text (ASCII letters in any case). */
  readonly text?: string;
  /**
   * Only rows older than this one in the newest-first order (`time`, then `id`): the next page after
   * it. A time alone cannot say it: many rows share a millisecond under load.
   */
  readonly before?: { readonly time: number; readonly id: number };
  readonly limit?: number;
}

export interface LoggedDecision extends DecisionRecord {
  readonly id: number;
}

/** The sink the proxy writes to; `write` never blocks the request path and never throws. */
export interface DecisionSink {
  write(record: DecisionRecord): void;
}
