/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the guard is loaded). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { railSetView } from './rails.js';

export const healthRoutes = fp(
  /**
   * `detailed`: /readyz also lists the loaded sets (as /v1/rails does). Off when client keys guard
   * /v1/rails, since the probe is open: set names, hashes and models are no one else's business.
   */
  async (app: FastifyInstance, options: { detailed: boolean }) => {
    // Probed every few seconds: their request lines would drown the log at info.
    app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));

    app.get('/readyz', { logLevel: 'warn' }, async () => {
      const guard = app.guardGate.require();
      if (!options.detailed) return { status: 'ready' };
      return {
        status: 'ready',
        default_rails: guard.defaultRailSet,
        rails: guard.list().map(railSetView),
      };
    });
  },
  { name: 'railgate-health-routes', fastify: '5.x', dependencies: ['railgate-guard-gate'] },
);
