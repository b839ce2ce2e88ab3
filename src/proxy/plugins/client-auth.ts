/**
 * Optional inbound keys (`clientApiKeys`): when set, every request must carry one of them as
 * `Authorization: Bearer <key>`, or it is answered 401 before anything is decided or sent upstream.
 * Without keys railgate is open to whoever reaches its port (and spends its upstream key), which is
 * why it listens on 127.0.0.1 unless told otherwise. Health, readiness and metrics stay open: they
 * are for the platform and carry no user data (readiness then says only "ready"; metrics do name rail
 * sets and intents, so they belong on an internal network).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { RailgateError } from '../../errors.js';

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * The routes open without a key, by their route pattern: what fastify matched, not the raw target,
 * which can spell the same path other ways (`/%761/models`, `http://host/v1/models`).
 */
const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

export const clientAuthPlugin = fp(
  async (app: FastifyInstance, options: { keys: readonly string[] }) => {
    if (options.keys.length === 0) return;
    // Compared as digests of equal length, in constant time: no key is guessed byte by byte.
    const known = options.keys.map(digest);
    app.addHook('onRequest', async (request: FastifyRequest) => {
      const route = request.routeOptions.url;
      if (route !== undefined && OPEN_ROUTES.has(route)) return;
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (token === undefined)
        throw new RailgateError(
          'RG_ERR_UNAUTHORIZED',
          "You didn't provide an API key: send one of railgate's client keys as 'Authorization: Bearer <key>'.",
        );
      const given = digest(token);
      if (!known.some((key) => timingSafeEqual(key, given)))
        throw new RailgateError('RG_ERR_UNAUTHORIZED', 'Incorrect API key provided.');
    });
  },
  { name: 'railgate-client-auth', fastify: '5.x', dependencies: ['railgate-errors'] },
);
