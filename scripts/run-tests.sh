#!/usr/bin/env bash
# Runs test files with the node test runner inside a temp directory of their own: every scratch file a
# test, or a program it starts, writes under TMPDIR (checkpoints, venv caches, server state) goes there
# and is removed when the run ends, however it ends, so repeated runs do not fill the disk.
# EVOLVE_KEEP_TEST_ARTIFACTS=1 keeps it and prints where it is.
set -euo pipefail
scratch="$(mktemp -d "${TMPDIR:-/tmp}/evolve-tests-XXXXXX")"
# Open to every user like /tmp itself: a test runs PostgreSQL as its own user, in a directory under it.
chmod 1777 "$scratch"
finish() {
  if [ "${EVOLVE_KEEP_TEST_ARTIFACTS:-}" = 1 ]; then
    echo "tests: kept their temp files in $scratch" >&2
  else
    rm -rf "$scratch"
  fi
}
trap finish EXIT
TMPDIR="$scratch" node --import tsx --test --test-concurrency=1 "$@"
