# syntax=docker/dockerfile:1
# The evolve worker: every workflow and activity on one task queue; the same image runs the codec
# server and the evolve CLI. Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t evolve-worker .
# Node 22 LTS; CI also runs the sources on Node 20.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# The AlpacaEval 2 suite reads alpaca-eval's own annotator config and template at judge time
# (activities/official/configs.ts): its files only, where the worker looks by default (.evolve/ in /app).
FROM ${PYTHON_IMAGE} AS annotator
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps --target /alpaca-eval-0.6.6 alpaca-eval==0.6.6

# Production dependencies only: the built worker needs no TypeScript compiler or bundler at run time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# `npm run build`: the compiled code in dist/ with its workflow bundle, made once here rather than by
# webpack at every worker start, and the trainer's Python entry points beside it.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM ${NODE_IMAGE}
# tini reaps the children the worker leaves (the local training backend's trainers) and passes
# SIGTERM on to node.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Owned by root and run as uid 1000 (`node`): the code cannot be changed by the process running it.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=annotator /alpaca-eval-0.6.6 ./.evolve/alpaca-eval-0.6.6
COPY deploy/docker/worker-entrypoint.sh ./deploy/docker/
ENV NODE_ENV=production \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default \
    EVOLVE_TASK_QUEUE=evolve \
    EVOLVE_WORKER_HEAP_MB=256 \
    EVOLVE_METRICS_HOST=0.0.0.0 \
    EVOLVE_METRICS_PORT=9464 \
    EVOLVE_LOG_FORMAT=json
USER 1000:1000
EXPOSE 9464
# The Prometheus endpoint answers once the worker's runtime is up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.EVOLVE_METRICS_PORT}/metrics`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/app/deploy/docker/worker-entrypoint.sh"]
CMD ["worker"]
