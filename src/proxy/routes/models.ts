/**
 * `GET /v1/models`: the default upstream's model list, relayed (so clients that list models before
 * choosing one keep working); without a reachable upstream, one entry per loaded rail set.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

const DEFAULT_UPSTREAM = 'default';

export const modelsRoutes = fp(
  async (app: FastifyInstance, options: { clock: () => number }) => {
    function railSetModels() {
      const created = Math.floor(options.clock() / 1000);
      const sets = app.guardGate.current?.list() ?? [];
      return {
        object: 'list',
        data: sets.map((set) => ({ id: set.name, object: 'model', created, owned_by: 'railgate' })),
      };
    }

    app.get('/v1/models', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!app.upstreams.get(DEFAULT_UPSTREAM)) return railSetModels();
      const controller = new AbortController();
      reply.raw.once('close', () => controller.abort());
      try {
        const response = await app.upstreams.request(DEFAULT_UPSTREAM, {
          method: 'GET',
          path: '/models',
          clientAuthorization: request.headers.authorization,
          signal: controller.signal,
        });
        const body = await response.body.text();
        const type = response.headers['content-type'];
        return reply
          .code(response.status)
          .type((Array.isArray(type) ? type[0] : type) ?? 'application/json')
          .send(body);
      } catch (error) {
        if (controller.signal.aborted) throw error;
        request.log.warn({ err: error }, 'upstream model list unavailable; listing rail sets instead');
        return railSetModels();
      }
    });
  },
  { name: 'railgate-models-routes', fastify: '5.x', dependencies: ['railgate-guard-gate', 'railgate-upstreams'] },
);
