/** `GET /v1/rails`: the loaded rail sets, each with its content hash and load time (hot reload shows here). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { LoadedRailSetInfo } from '../../matching/guard.js';

/** One loaded rail set as the HTTP API shows it (`/v1/rails`, `/readyz`). */
export function railSetView(set: LoadedRailSetInfo) {
  const check = set.index.hnswCheck;
  return {
    name: set.name,
    hash: set.hash,
    loaded_at: set.loadedAt.toISOString(),
    intents: set.intents,
    examples: set.examples,
    embedding_model: set.embeddingModel,
    index: {
      kind: set.index.kind,
      vectors: set.index.vectors,
      from_disk: set.index.fromDisk,
      ...(check ? { hnsw_check: { ef_search: check.efSearch, recall: check.recall } } : {}),
    },
  };
}

export const railsRoutes = fp(
  async (app: FastifyInstance) => {
    app.get('/v1/rails', async () => {
      const guard = app.guardGate.require();
      return {
        object: 'list',
        default: guard.defaultRailSet,
        data: guard.list().map((set) => ({ object: 'railgate.rail_set', ...railSetView(set) })),
      };
    });
  },
  { name: 'railgate-rails-routes', fastify: '5.x', dependencies: ['railgate-guard-gate'] },
);
