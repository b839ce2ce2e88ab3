/**
 * Prometheus metrics (prom-client), one registry per app instance so tests and several apps in one
 * process never share counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionLogStats } from './decisions/log.js';
import { ERROR_CODES } from './errors.js';
import type { DecisionSink } from './decisions/types.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'rail_set' | 'decision' | 'intent' | 'endpoint'>;
  readonly stageSeconds: Histogram<'stage'>;
  readonly embedBatchSize: Histogram;
  readonly embedCacheLookups: Counter<'result'>;
  readonly embedQueueDepth: Gauge;
  readonly errors: Counter<'code'>;
  readonly upstreamResponses: Counter<'rail_set' | 'status'>;
  readonly railsReloads: Counter<'result'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'railgate_' });
  const metrics = {
    registry,
    requests: new Counter({
      name: 'railgate_requests_total',
      help: 'Decided requests by rail set, decision (action), matched intent ("none" if no match) and endpoint',
      labelNames: ['rail_set', 'decision', 'intent', 'endpoint'],
      registers: [registry],
    }),
    stageSeconds: new Histogram({
      name: 'railgate_stage_duration_seconds',
      help: 'Latency per stage: embed, search, upstream (to response headers), total',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    }),
    embedBatchSize: new Histogram({
      name: 'railgate_embed_batch_size',
      help: 'Messages per model call on the request path',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    }),
    embedCacheLookups: new Counter({
      name: 'railgate_embed_cache_lookups_total',
      help: 'Message-embedding cache lookups by result (hit, miss); hit ratio = hit / (hit + miss)',
      labelNames: ['result'],
      registers: [registry],
    }),
    embedQueueDepth: new Gauge({
      name: 'railgate_embed_queue_depth',
      help: 'Messages waiting for the embedding model',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'railgate_errors_total',
      help: 'Requests that ended in an error, by RG_ERR_* code',
      labelNames: ['code'],
      registers: [registry],
    }),
    upstreamResponses: new Counter({
      name: 'railgate_upstream_responses_total',
      help: 'Upstream answers by rail set and HTTP status (a wrong operator key shows as 401, rate limits as 429)',
      labelNames: ['rail_set', 'status'],
      registers: [registry],
    }),
    railsReloads: new Counter({
      name: 'railgate_rails_reloads_total',
      help: 'Hot reloads of the rails by result: ok; partial (sets with issues keep their previous version, the others were swapped in); failed (the previous rails keep serving)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
  // Every series an alert may name exists from the start, at 0: a rate over a series that appears
  // only with its first event stays empty until then (alerts would need `or vector(0)`).
  for (const code of Object.keys(ERROR_CODES)) metrics.errors.inc({ code }, 0);
  for (const result of ['ok', 'partial', 'failed']) metrics.railsReloads.inc({ result }, 0);
  return metrics;
}

/**
 * Every logged decision also feeds the metrics: one place sees each request's rail set, decision,
 * intent and latency split, so the routes need no metrics code of their own.
 */
export function withMetrics(metrics: Metrics, sink: DecisionSink): DecisionSink {
  return {
    write(record) {
      const { decision, latency } = record;
      metrics.requests.inc({
        rail_set: decision.railSet,
        decision: decision.action,
        intent: decision.intent ?? 'none',
        endpoint: record.endpoint,
      });
      if (record.upstreamStatus !== null)
        metrics.upstreamResponses.inc({ rail_set: decision.railSet, status: String(record.upstreamStatus) });
      metrics.stageSeconds.observe({ stage: 'embed' }, latency.embedMs / 1000);
      metrics.stageSeconds.observe({ stage: 'search' }, latency.searchMs / 1000);
      // Time to the response headers of calls that were answered: a timeout or a client that gave up
      // while waiting (logged with how long railgate waited) is no upstream latency.
      if (latency.upstreamMs !== null && record.upstreamStatus !== null)
        metrics.stageSeconds.observe({ stage: 'upstream' }, latency.upstreamMs / 1000);
      metrics.stageSeconds.observe({ stage: 'total' }, latency.totalMs / 1000);
      sink.write(record);
    },
  };
}

/**
 * The decision log's own counts, read when /metrics is scraped: a log that cannot write (a full disk)
 * or drops records shows up in monitoring, not only in a warning line. What only grows is a counter
 * (for rate() and increase()); what is queued now is a gauge.
 */
export function watchDecisionLog(metrics: Metrics, stats: () => DecisionLogStats): void {
  const counters: [keyof DecisionLogStats, string, string][] = [
    ['written', 'railgate_decision_log_written_total', 'Decisions written to the decision log'],
    [
      'dropped',
      'railgate_decision_log_dropped_total',
      'Decisions lost (queue overflow while writes failed, unstorable records, a failed final write)',
    ],
    [
      'failedFlushes',
      'railgate_decision_log_failed_writes_total',
      'Decision log writes that failed (and were retried)',
    ],
    ['pruned', 'railgate_decision_log_pruned_total', 'Decisions deleted for being older than decisionRetentionDays'],
  ];
  for (const [key, name, help] of counters) {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [metrics.registry],
      collect() {
        const now = stats()[key];
        if (now > reported) this.inc(now - reported);
        reported = now;
      },
    });
  }
  new Gauge({
    name: 'railgate_decision_log_pending',
    help: 'Decisions queued for the decision log, not yet written',
    registers: [metrics.registry],
    collect() {
      this.set(stats().pending);
    },
  });
}

/**
 * `railgate_rails_loaded_info{rail_set, hash} 1` for each rail set serving now, read when /metrics is
 * scraped: after a failed reload, the hash still being the old one is what an alert can see.
 */
export function reportLoadedRails(metrics: Metrics, loaded: () => readonly { name: string; hash: string }[]): void {
  new Gauge({
    name: 'railgate_rails_loaded_info',
    help: 'The rail sets serving now, with their content hash (value 1)',
    labelNames: ['rail_set', 'hash'],
    registers: [metrics.registry],
    collect() {
      this.reset();
      for (const set of loaded()) this.set({ rail_set: set.name, hash: set.hash }, 1);
    },
  });
}
