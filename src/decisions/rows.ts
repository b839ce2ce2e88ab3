/**
 * DecisionRecord ⇄ SQLite row. The log stores the decision flat (one column per field a reviewer filters
 * or sorts on) and the nested parts (neighbours, chunk) as JSON, and rebuilds the exact record on read.
 */
import type { Decision, DecisionReason, Neighbour } from '../matching/decision.js';
import type { IntentAction } from '../rails/types.js';
import type { DecisionEndpoint, DecisionRecord, LoggedDecision } from './types.js';

/** The named parameters of the insert statement, in column order. */
export interface DecisionRow {
  time: number;
  request_id: string;
  endpoint: string;
  stream: number;
  rail_set: string;
  rails_hash: string;
  decision: string;
  intent: string | null;
  reason: string;
  candidate: string | null;
  score: number | null;
  threshold: number | null;
  runner_up: string | null;
  runner_up_score: number | null;
  margin: number | null;
  message: string;
  neighbours: string;
  chunk: string | null;
  upstream_status: number | null;
  error_code: string | null;
  embed_ms: number | null;
  search_ms: number | null;
  upstream_ms: number | null;
  total_ms: number | null;
}

export interface StoredDecisionRow extends DecisionRow {
  id: number;
}

export const ROW_COLUMNS = [
  'time',
  'request_id',
  'endpoint',
  'stream',
  'rail_set',
  'rails_hash',
  'decision',
  'intent',
  'reason',
  'candidate',
  'score',
  'threshold',
  'runner_up',
  'runner_up_score',
  'margin',
  'message',
  'neighbours',
  'chunk',
  'upstream_status',
  'error_code',
  'embed_ms',
  'search_ms',
  'upstream_ms',
  'total_ms',
] as const satisfies readonly (keyof DecisionRow)[];

const PLACEHOLDERS = ROW_COLUMNS.map((column) => `@${column}`).join(', ');
export const INSERT_SQL = `INSERT INTO decisions (${ROW_COLUMNS.join(', ')}) VALUES (${PLACEHOLDERS})`;

/** SQLite keeps NaN as NULL anyway; say so explicitly so a bad score never fails a whole batch. */
function finite(value: number | null | undefined): number | null {
  return typeof value === 'number' && !Number.isNaN(value) ? value : null;
}

export function toRow(record: DecisionRecord): DecisionRow {
  const d = record.decision;
  return {
    time: Math.round(record.time),
    request_id: String(record.requestId ?? ''),
    endpoint: String(record.endpoint),
    stream: record.stream ? 1 : 0,
    rail_set: String(d.railSet ?? ''),
    rails_hash: String(d.railsHash ?? ''),
    decision: String(d.action),
    intent: d.intent ?? null,
    reason: String(d.reason),
    candidate: d.candidate ?? null,
    score: finite(d.score),
    threshold: finite(d.threshold),
    runner_up: d.runnerUp?.intent ?? null,
    runner_up_score: finite(d.runnerUp?.score),
    margin: finite(d.margin),
    message: String(record.message ?? ''),
    neighbours: JSON.stringify(
      (d.neighbours ?? []).map((n) => ({ intent: n.intent, example: n.example, score: n.score, negative: n.negative })),
    ),
    chunk: d.chunk ? JSON.stringify({ index: d.chunk.index, count: d.chunk.count, text: d.chunk.text }) : null,
    upstream_status: finite(record.upstreamStatus),
    error_code: record.errorCode ?? null,
    embed_ms: finite(record.latency?.embedMs),
    search_ms: finite(record.latency?.searchMs),
    upstream_ms: finite(record.latency?.upstreamMs),
    total_ms: finite(record.latency?.totalMs),
  };
}

export function fromRow(row: StoredDecisionRow): LoggedDecision {
  const decision: Decision = {
    action: row.decision as IntentAction,
    intent: row.intent,
    reason: row.reason as DecisionReason,
    score: row.score ?? Number.NaN,
    threshold: row.threshold ?? Number.NaN,
    candidate: row.candidate,
    runnerUp: row.runner_up === null ? null : { intent: row.runner_up, score: row.runner_up_score ?? Number.NaN },
    margin: row.margin,
    railSet: row.rail_set,
    railsHash: row.rails_hash,
    neighbours: JSON.parse(row.neighbours) as Neighbour[],
    chunk: row.chunk === null ? null : (JSON.parse(row.chunk) as Decision['chunk']),
  };
  return {
    id: row.id,
    time: row.time,
    requestId: row.request_id,
    endpoint: row.endpoint as DecisionEndpoint,
    stream: row.stream === 1,
    message: row.message,
    decision,
    upstreamStatus: row.upstream_status,
    errorCode: row.error_code,
    latency: {
      embedMs: row.embed_ms ?? Number.NaN,
      searchMs: row.search_ms ?? Number.NaN,
      upstreamMs: row.upstream_ms,
      totalMs: row.total_ms ?? Number.NaN,
    },
  };
}
