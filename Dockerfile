# railgate: the proxy with the bundled embedding model (no network needed at run time).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# hnswlib-node and better-sqlite3 build native addons.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
# `prepare` compiles src/ into dist/ during the install.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787 RAILGATE_RAILS=/rails RAILGATE_DB=/data/railgate.db \
    RAILGATE_EMBED_CACHE_DB=/data/embeddings.db
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY rails /rails
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/cli/bin.js", "serve"]
