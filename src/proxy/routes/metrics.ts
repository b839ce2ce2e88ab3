/**
 * `GET /metrics` in Prometheus text format, and a count of every error by RG_ERR_* code: error
 * responses, unknown routes, streams that failed after they had begun (status 200 by then),
 * relayed answers whose upstream broke off midway, answers cut by railgate's shutdown, and answers
 * whose client left before they were complete (once each, as the decision log marks them).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from '../../metrics.js';
import { requestFailure } from '../plugins/errors.js';
import { brokenAnswer, CLIENT_CLOSED, SHUTDOWN_CUT, traceOf, unfinishedBecause } from '../trace.js';

export const metricsRoutes = fp(
  async (app: FastifyInstance, options: { metrics: Metrics; bodyLimit: number }) => {
    const { metrics } = options;
    // A client that leaves before its answer is complete is counted once, as the decision log marks
    // it, whichever of the hooks below hears of it first (an error while deciding, a stream's close).
    const leftEarly = new WeakSet<FastifyRequest>();
    const countLeftEarly = (request: FastifyRequest) => {
      if (leftEarly.has(request)) return;
      leftEarly.add(request);
      metrics.errors.inc({ code: CLIENT_CLOSED });
    };
    app.addHook('onError', async (request, _reply, error) => {
      // A readiness probe answered 503 while railgate starts is the probe working, not an error:
      // counted, it would fire error-rate alerts on every deploy.
      if (request.routeOptions.url === '/readyz') return;
      const { code } = requestFailure(error, request, options.bodyLimit);
      if (code === CLIENT_CLOSED) countLeftEarly(request);
      else if (code !== SHUTDOWN_CUT) metrics.errors.inc({ code });
    });
    // An answer cut by the shutdown, or one whose upstream broke off once it was under way, never
    // finishes, so no onResponse hook runs for it: its connection's close is where it is counted
    // (once, whether or not its handler then failed).
    app.addHook('onRequest', async (request, reply) => {
      reply.raw.once('close', () => {
        // A break before anything was sent still got its 502, counted by the error hook.
        const why = unfinishedBecause(reply);
        const code = why === SHUTDOWN_CUT ? SHUTDOWN_CUT : why === null ? undefined : brokenAnswer(request);
        if (code) metrics.errors.inc({ code });
        // Only a decided request (one with a decision-log row): a request whose body never came
        // whole (a 408, a 413) is counted under its own code.
        else if (why === CLIENT_CLOSED && traceOf(request)) countLeftEarly(request);
      });
    });
    // What the error handler never sees: the not-found handler's answer, and a stream's late failure.
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode === 404 && request.routeOptions.url === undefined) {
        metrics.errors.inc({ code: 'RG_ERR_NOT_FOUND' });
      }
      const late = traceOf(request)?.errorCode;
      // A shutdown cut answered whole (a 503, or a stream's last event) is counted here, not on error.
      if (late === CLIENT_CLOSED) countLeftEarly(request);
      else if (late === SHUTDOWN_CUT || (reply.statusCode < 400 && late)) metrics.errors.inc({ code: late });
    });
    // Scraped every few seconds: kept out of the info-level request log.
    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  },
  { name: 'railgate-metrics-routes', fastify: '5.x' },
);
