/**
 * `GET /v1/models` and `GET /v1/models/:id`: the default upstream's answers, relayed (so clients that
 * list or look up models before choosing one keep working). Without an upstream, one entry per loaded
 * rail set a client may choose; with one that cannot be reached, the list still falls back to those, a
 * lookup fails (502).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RailgateError } from '../../errors.js';
import { DEFAULT_UPSTREAM } from '../../rails/set-level.js';
import { railSetAccess } from '../rail-set.js';
import { answerText, isJson, unlabelledType } from '../relay.js';
import { clientLeaving } from '../trace.js';
import { clientCredentials } from '../upstream.js';

export const modelsRoutes = fp(
  async (app: FastifyInstance, options: { clock: () => number; clientRailSets: readonly string[] }) => {
    const access = railSetAccess(options.clientRailSets);
    /** The rail sets a client may choose, as models: the others are not named to clients here either. */
    function railSetModels() {
      const created = Math.floor(options.clock() / 1000);
      const guard = app.guardGate.current;
      const sets = guard?.list().filter((set) => access(set.name, guard)) ?? [];
      return sets.map((set) => ({ id: set.name, object: 'model', created, owned_by: 'railgate' }));
    }

    /**
     * The upstream's answer to `GET path`, relayed as is; `fallback` when there is no upstream, and
     * also when it cannot be reached if `whenDown` (logged: the client sees rail sets, the operator
     * sees why). A lookup must not fall back: "no such model" for a model the upstream has, because
     * it was down, is an answer clients cache and do not retry.
     */
    async function relayOr(
      request: FastifyRequest,
      reply: FastifyReply,
      path: string,
      fallback: () => unknown,
      whenDown: boolean,
    ) {
      const upstream = app.upstreams.get(DEFAULT_UPSTREAM);
      if (!upstream) return fallback();
      const signal = clientLeaving(request, reply);
      try {
        const response = await app.upstreams.request(DEFAULT_UPSTREAM, {
          method: 'GET',
          path,
          client: clientCredentials(request.headers),
          signal,
          headersTimeoutMs: upstream.modelsTimeoutMs,
        });
        // Broken off, stalled or undecodable: the upstream's fault (502/504), as on the chat route.
        const text = await answerText(response, DEFAULT_UPSTREAM, signal, reply);
        if (text === undefined) return undefined;
        // A success that is not JSON (an HTML page from a proxy on the way, a wrong path) is no model
        // list: relayed as a 200, the SDK fails to parse it, where chat answers it with a 502.
        if (response.status < 300 && !isJson(text))
          throw new RailgateError(
            'RG_ERR_UPSTREAM_BAD_RESPONSE',
            `Upstream "${DEFAULT_UPSTREAM}" answered GET ${path} with a body that is not JSON.`,
          );
        const body = app.upstreams.redact(DEFAULT_UPSTREAM, text);
        const type = response.headers['content-type'];
        return reply
          .code(response.status)
          .type((Array.isArray(type) ? type[0] : type) ?? unlabelledType(body))
          .send(body);
      } catch (error) {
        if (signal.aborted || !whenDown) throw error;
        request.log.warn({ err: error }, 'upstream model list unavailable; answering with rail sets instead');
        return fallback();
      }
    }

    app.get('/v1/models', (request, reply) =>
      relayOr(request, reply, '/models', () => ({ object: 'list', data: railSetModels() }), true),
    );

    app.get<{ Params: { id: string } }>('/v1/models/:id', (request, reply) => {
      const { id } = request.params;
      // `%2E%2E` decodes to a dot segment, which the upstream's URL (or a proxy in front of it that
      // decodes `%2F`) would resolve, with the operator's key, to another path; an empty id asks for the list.
      if (id === '' || id.split('/').some((segment) => segment === '.' || segment === '..'))
        throw new RailgateError('RG_ERR_NOT_FOUND', `The model '${id}' does not exist`, { param: 'model' });
      return relayOr(
        request,
        reply,
        `/models/${encodeURIComponent(id)}`,
        () => {
          const model = railSetModels().find((m) => m.id === id);
          if (!model)
            throw new RailgateError('RG_ERR_NOT_FOUND', `The model '${id}' does not exist`, { param: 'model' });
          return model;
        },
        false,
      );
    });
  },
  { name: 'railgate-models-routes', fastify: '5.x', dependencies: ['railgate-guard-gate', 'railgate-upstreams'] },
);
