# syntax=docker/dockerfile:1
# Outrider's image: the compiled proxy (dist/), its production dependencies, the examples
# (bundled ONNX models included) and the config schema. `docker build -t outrider .`
# test/dockerfile.test.ts replays these steps outside Docker; keep the two in step.

# Build: every dependency (TypeScript), compile to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proxy ./proxy
COPY runtime ./runtime
COPY policies ./policies
RUN npx tsc -p tsconfig.build.json

# Production dependencies only. .npmrc skips onnxruntime-node's GPU download: the CPU
# binaries ship inside the npm package.
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    OUTRIDER_DATA=0.0.0.0:8080 \
    OUTRIDER_ADMIN=0.0.0.0:9901
WORKDIR /app
# Owned by root, run as `node` (uid 1000): the process cannot rewrite its own code or config.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
COPY proxy/config/outrider.schema.json ./proxy/config/outrider.schema.json
# Numeric, so Kubernetes can check runAsNonRoot (the injected sidecar runs as 1000:1000 too).
USER 1000:1000
EXPOSE 8080 9901
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const a = (process.env.OUTRIDER_ADMIN || '127.0.0.1:9901').replace(/^(0\\.0\\.0\\.0|\\[::\\]):/, '127.0.0.1:'); fetch('http://' + a + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# V8 heap sizing that keeps RSS near cache.maxBytes under unique keys (proxy/heap-flags.ts).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=25", "bin/outrider.js"]
CMD ["run", "-c", "/app/examples/outrider.yaml"]
