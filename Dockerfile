# railgate: the proxy with the bundled embedding model (no network needed at run time).
# Node 22 (LTS): Node 20, which the repository's development machine runs, left maintenance in 2026.
FROM node:22-bookworm-slim AS build
WORKDIR /app
# hnswlib-node and better-sqlite3 build native addons.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
# `prepare` compiles src/ into dist/ during the install.
RUN npm ci && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
# RAILGATE_DEFAULT_RAILS: the example rails' allow-list set; name yours when you mount your own rails.
# RAILGATE_MODEL_CACHE: a transformers model downloaded by hub id goes to the volume (the image's own
# folders are not the node user's to write).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787 RAILGATE_RAILS=/rails RAILGATE_DEFAULT_RAILS=bank \
    RAILGATE_DB=/data/railgate.db RAILGATE_EMBED_CACHE_DB=/data/embeddings.db RAILGATE_MODEL_CACHE=/data/models
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY rails /rails
# Not root: the data folder (decision log, example cache) is the one place it writes.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself is PID 1 and handles SIGTERM (requests finish within RAILGATE_SHUTDOWN_GRACE_MS, the
# decision log is flushed): give it longer than that to stop (`docker stop -t 20`).
CMD ["node", "dist/cli/bin.js", "serve"]
