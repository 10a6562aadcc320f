#!/bin/sh
# The worker image's entry point, under tini (PID 1). `exec` hands this shell's place to node, so
# SIGTERM from `docker stop` or the kubelet reaches the worker, which then shuts down gracefully.
set -eu
if [ "$#" -eq 0 ] || [ "$1" = worker ]; then
  exec node --max-old-space-size="${EVOLVE_WORKER_HEAP_MB:-256}" --import tsx workers/main.ts
fi
# Anything else is an evolve command: `codec-server --host 0.0.0.0`, `run <config>`, `doctor <config>`.
exec node --import tsx client/cli.ts "$@"
