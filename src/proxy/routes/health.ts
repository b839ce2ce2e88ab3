/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the guard is loaded). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { railSetView } from './rails.js';

export const healthRoutes = fp(
  async (app: FastifyInstance) => {
    app.get('/healthz', async () => ({ status: 'ok' }));

    app.get('/readyz', async () => {
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
