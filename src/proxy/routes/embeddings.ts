/**
 * `POST /v1/embeddings`, relayed to the default upstream as is: an app whose OpenAI base URL points at
 * railgate (OPENAI_BASE_URL serves every client of a process, LangChain's embeddings included) keeps
 * working. Nothing is decided: embeddings generate no text, so there is no answer to guard and no
 * way around the rails through them. Other generating endpoints (`/v1/responses`, `/v1/completions`)
 * are not relayed: they would be exactly that way around.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DEFAULT_UPSTREAM } from '../../rails/set-level.js';
import { requestObject } from '../chat-request.js';
import { clientGone, relayPiped } from '../relay.js';
import { clientLeaving } from '../trace.js';
import { clientCredentials, isAbort, type UpstreamResponse } from '../upstream.js';

export const embeddingsRoutes = fp(
  async (app: FastifyInstance) => {
    app.post('/v1/embeddings', async (request: FastifyRequest, reply: FastifyReply) => {
      const body = requestObject(request.body);
      const signal = clientLeaving(request, reply);
      let response: UpstreamResponse;
      try {
        response = await app.upstreams.request(DEFAULT_UPSTREAM, {
          method: 'POST',
          path: '/embeddings',
          // The client's own bytes: re-serialising could change numbers (`dimensions`, token arrays).
          body: request.rawBody ?? JSON.stringify(body),
          client: clientCredentials(request.headers),
          signal,
        });
      } catch (error) {
        if (isAbort(error, signal)) return clientGone(reply);
        throw error;
      }
      return relayPiped(reply, response, { upstreams: app.upstreams, upstream: DEFAULT_UPSTREAM, signal });
    });
  },
  { name: 'railgate-embeddings-routes', fastify: '5.x', dependencies: ['railgate-upstreams'] },
);
