#!/bin/sh
# The worker image's entry point, under tini (PID 1). `exec` hands this shell's place to node, so
# SIGTERM from `docker stop` or the kubelet reaches the worker, which then shuts down gracefully.
set -eu
# The built code (npm run build): plain node, the workflow bundle read from dist/workflow-bundle.js.
dist="$(cd "$(dirname "$0")/../.." && pwd)/dist"
if [ "$#" -eq 0 ] || [ "$1" = worker ]; then
  exec node --max-old-space-size="${EVOLVE_WORKER_HEAP_MB:-256}" "$dist/workers/main.js"
fi
# Anything else is an evolve command: `codec-server --host 0.0.0.0`, `run <config>`, `doctor <config>`.
exec node "$dist/client/cli.js" "$@"
