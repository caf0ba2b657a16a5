# The mammocad image for the API and the workers (docker-compose.yml runs both from it).
# Node 22 LTS; the CPU build of every dependency; nothing is downloaded at run time.

FROM node:22-bookworm-slim AS build
# better-sqlite3 compiles from source (no prebuilt binary is fetched).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The project's .npmrc points node-gyp at Debian's Node headers (/usr); the image has them here.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY bin ./bin
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
# The shipped default model (activated on a fresh install; research use only: docs/structured-reports.md).
COPY models ./models
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    MAMMOCAD_DATA_DIR=/var/lib/mammocad \
    MAMMOCAD_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /var/lib/mammocad && chown node:node /var/lib/mammocad
USER node
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.MAMMOCAD_PORT || 4000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/mammocad.mjs"]
CMD ["serve"]
