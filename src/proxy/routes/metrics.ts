/**
 * `GET /metrics` in Prometheus text format, and a count of every error by RG_ERR_* code: error
 * responses, unknown routes, and streams that failed after they had begun (status 200 by then).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from '../../metrics.js';
import { requestFailure } from '../plugins/errors.js';
import { CLIENT_CLOSED, traceOf } from '../trace.js';

export const metricsRoutes = fp(
  async (app: FastifyInstance, options: { metrics: Metrics; bodyLimit: number }) => {
    const { metrics } = options;
    app.addHook('onError', async (request, _reply, error) => {
      // A readiness probe answered 503 while railgate starts is the probe working, not an error:
      // counted, it would fire error-rate alerts on every deploy.
      if (request.routeOptions.url === '/readyz') return;
      metrics.errors.inc({ code: requestFailure(error, request, options.bodyLimit).code });
    });
    // What the error handler never sees: the not-found handler's answer, and a stream's late failure.
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode === 404 && request.routeOptions.url === undefined) {
        metrics.errors.inc({ code: 'RG_ERR_NOT_FOUND' });
      }
      const late = traceOf(request)?.errorCode;
      if (reply.statusCode < 400 && late && late !== CLIENT_CLOSED) metrics.errors.inc({ code: late });
    });
    // Scraped every few seconds: kept out of the info-level request log.
    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  },
  { name: 'railgate-metrics-routes', fastify: '5.x' },
);
