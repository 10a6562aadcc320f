#!/usr/bin/env bash
# Runs test files with the node test runner inside a temp directory of their own: every scratch file a
# test, or a program it starts, writes under TMPDIR (checkpoints, venv caches, server state) goes there
# and is removed when the run ends, however it ends, so repeated runs do not fill the disk.
# EVOLVE_KEEP_TEST_ARTIFACTS=1 keeps it and prints where it is.
set -euo pipefail
scratch="$(mktemp -d "${TMPDIR:-/tmp}/evolve-tests-XXXXXX")"
finish() {
  if [ "${EVOLVE_KEEP_TEST_ARTIFACTS:-}" = 1 ]; then
    echo "tests: kept their temp files in $scratch" >&2
  else
    rm -rf "$scratch"
  fi
}
trap finish EXIT
TMPDIR="$scratch" node --import tsx --test --test-concurrency=1 "$@"
