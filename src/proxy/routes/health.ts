/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the guard is loaded). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { railSetView } from './rails.js';

export const healthRoutes = fp(
  async (app: FastifyInstance) => {
    // Probed every few seconds: their request lines would drown the log at info.
    app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));

    app.get('/readyz', { logLevel: 'warn' }, async () => {
      const guard = app.guardGate.require();
      return {
        status: 'ready',
        default_rails: guard.defaultRailSet,
        rails: guard.list().map(railSetView),
      };
    });
  },
  { name: 'railgate-health-routes', fastify: '5.x', dependencies: ['railgate-guard-gate'] },
);
