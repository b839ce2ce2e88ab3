/**
 * CORS for browser apps (`corsOrigins`), off unless origins are listed. Registered before the client
 * key check: a browser's preflight (OPTIONS) never carries the Authorization header, so it must be
 * answered without one; the request that follows is checked as any other. The decision headers are
 * exposed, so a page can read why it was answered as it was.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Response headers a page may read besides the CORS-safelisted ones. */
const EXPOSED = [
  'x-railgate-decision',
  'x-railgate-intent',
  'x-railgate-score',
  'x-railgate-rails',
  'x-request-id',
  'x-upstream-request-id',
  'retry-after',
  'x-should-retry',
];

export const corsPlugin = fp(
  async (app: FastifyInstance, options: { origins: readonly string[] }) => {
    if (options.origins.length === 0) return;
    await app.register(cors, {
      origin: options.origins.includes('*') ? '*' : [...options.origins],
      methods: ['GET', 'POST', 'OPTIONS'],
      exposedHeaders: EXPOSED,
      // Browsers may cache a preflight's answer for 10 minutes instead of asking before every request.
      maxAge: 600,
      // A bare OPTIONS (no Access-Control-Request-Method) gets the preflight answer too, not the
      // plugin's plain-text 400, which is not in OpenAI's error shape.
      strictPreflight: false,
    });
  },
  { name: 'railgate-cors', fastify: '5.x' },
);
