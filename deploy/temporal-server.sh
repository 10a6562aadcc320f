#!/usr/bin/env bash
# Builds the Temporal server and its SQL tool from the Go module go.temporal.io/server into
# $EVOLVE_HOME/temporal-server, with the module's schema and config files, for the opt-in
# production-Temporal test (EVOLVE_PROD_TEMPORAL=1). Idempotent: a second run checks the version.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.32.2
dir="${EVOLVE_HOME:-.evolve}/temporal-server"
if [ -x "$dir/server" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$version" ]; then
  echo "==> Temporal server $version: ready ($dir)"
  exit 0
fi
mkdir -p "$dir"
# v1.32 needs Go 1.26.10 or newer: the go command takes the toolchain from the module proxy.
export GOTOOLCHAIN=go1.27.3 GOFLAGS=-buildvcs=false
started=$(date +%s)
echo "==> building the Temporal server $version and its SQL tool from go.temporal.io/server into $dir (a cold build takes long; the Go cache keeps what is compiled)"
GOBIN="$(cd "$dir" && pwd)" go install "go.temporal.io/server/cmd/server@$version" "go.temporal.io/server/cmd/tools/sql@$version"
src="$(go env GOMODCACHE)/go.temporal.io/server@$version"
rm -rf "$dir/schema" "$dir/config"
cp -r "$src/schema" "$src/config" "$dir/"
chmod -R u+w "$dir/schema" "$dir/config"
echo "$version" > "$dir/.version"
echo "==> Temporal server $version built in $(( $(date +%s) - started ))s ($dir)"
