#!/usr/bin/env bash
# `npm run build`: compiles the product (not tests or benchmarks) to dist/, copies the trainer's Python
# entry points and launcher configs beside the code that launches them, and prebuilds the workflow bundle, so that
# `npm run worker` (node dist/workers/main.js) needs neither tsx nor webpack at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
rm -rf dist
echo "==> compiling TypeScript into dist/"
npx tsc -p tsconfig.build.json
mkdir -p dist/deploy
cp -r deploy/trainer dist/deploy/
rm -rf dist/deploy/trainer/__pycache__
echo "==> bundling the workflows into dist/workflow-bundle.js"
node dist/workers/bundle-child.js dist/workflow-bundle.js
echo "==> built in $(( $(date +%s) - started ))s"
