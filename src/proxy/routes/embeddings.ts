/**
 * `POST /v1/embeddings`, relayed to the default upstream as is: an app whose OpenAI base URL points at
 * railgate (OPENAI_BASE_URL serves every client of a process, LangChain's embeddings included) keeps
 * working. Nothing is decided: embeddings generate no text, so there is no answer to guard and no
 * way around the rails through them. Other generating endpoints (`/v1/responses`, `/v1/completions`)
 * are not relayed: they would be exactly that way around.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RailgateError } from '../../errors.js';
import { clientGone, relayedHeaders, unlabelledType } from '../relay.js';
import { clientLeaving } from '../trace.js';
import { clientCredentials, isAbort, upstreamFailure, type UpstreamResponse } from '../upstream.js';

const DEFAULT_UPSTREAM = 'default';

export const embeddingsRoutes = fp(
  async (app: FastifyInstance) => {
    app.post('/v1/embeddings', async (request: FastifyRequest, reply: FastifyReply) => {
      const body = request.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new RailgateError(
          'RG_ERR_INVALID_REQUEST',
          body === undefined
            ? 'Invalid request: the request has no body; send it as JSON with Content-Type: application/json.'
            : 'Invalid request: the request body must be a JSON object.',
        );
      const signal = clientLeaving(request, reply);
      const mask = (text: string) => app.upstreams.redact(DEFAULT_UPSTREAM, text);
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
        throw upstreamFailure(DEFAULT_UPSTREAM, error);
      }
      let text: string;
      try {
        text = await response.body.text();
      } catch (error) {
        if (isAbort(error, signal)) return clientGone(reply);
        throw upstreamFailure(DEFAULT_UPSTREAM, error, 'answer');
      }
      const type = response.headers['content-type'];
      return reply
        .code(response.status)
        .headers(relayedHeaders(response.headers, mask))
        .type((Array.isArray(type) ? type[0] : type) ?? unlabelledType(text))
        .send(mask(text));
    });
  },
  { name: 'railgate-embeddings-routes', fastify: '5.x', dependencies: ['railgate-upstreams'] },
);
