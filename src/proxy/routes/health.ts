/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the guard is loaded). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RailgateError } from '../../errors.js';
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
      if (!options.detailed) {
        // Why loading failed names rail files and intents: the log has it, an open probe does not.
        if (!app.guardGate.current) throw new RailgateError('RG_ERR_NOT_READY', 'railgate is not ready.');
        return { status: 'ready' };
      }
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
