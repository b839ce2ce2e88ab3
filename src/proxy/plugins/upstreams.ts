/** The upstream pools, shared by the routes and closed with the app. */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Settings } from '../../settings.js';
import { Upstreams } from '../upstream.js';

declare module 'fastify' {
  interface FastifyInstance {
    upstreams: Upstreams;
  }
}

export const upstreamsPlugin = fp(
  async (app: FastifyInstance, options: { upstreams: Settings['upstreams']; maxAnswerBytes: number }) => {
    const upstreams = new Upstreams(options.upstreams, options.maxAnswerBytes);
    app.decorate('upstreams', upstreams);
    app.addHook('onClose', async () => upstreams.close());
  },
  { name: 'railgate-upstreams', fastify: '5.x' },
);
