/** `GET /metrics` in Prometheus text format, and a count of every error response by RG_ERR_* code. */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from '../../metrics.js';
import { asRailgateError } from '../plugins/errors.js';

export const metricsRoutes = fp(
  async (app: FastifyInstance, options: { metrics: Metrics; bodyLimit: number }) => {
    const { metrics } = options;
    app.addHook('onError', async (_request, _reply, error) => {
      metrics.errors.inc({ code: asRailgateError(error, options.bodyLimit).code });
    });
    app.get('/metrics', async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  },
  { name: 'railgate-metrics-routes', fastify: '5.x' },
);
