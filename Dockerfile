# Maestro: one image for the API replicas, the workers and the CLI.
# Build:  docker build -t maestro .
# Run:    docker run -e REDIS_URL=redis://redis:6379 maestro              (API, port 3000)
#         docker run -e REDIS_URL=redis://redis:6379 maestro node dist/worker/index.js

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-slim AS runtime
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0 MAESTRO_CLI_PATH=/app/dist/cli/index.js
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
RUN ln -s /app/dist/cli/index.js /usr/local/bin/maestro \
  && mkdir -p /data/sessions /data/backups && chown -R node:node /data
USER node
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/api/server.js"]
