#!/usr/bin/env bash
# Builds a real Kubernetes control plane's two programs from their Go modules into $EVOLVE_HOME/kube:
# kube-apiserver (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3), for the Kubernetes
# backend's test against a real API server (test/integration/kubernetes-apiserver.test.ts).
# Idempotent: a second run checks the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
kubernetes=v1.34.4
etcd=v3.6.16
dir="${EVOLVE_HOME:-.evolve}/kube"
want="kube-apiserver $kubernetes, etcd $etcd"
if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$want" ]; then
  echo "==> $want: ready ($dir)"
  exit 0
fi
export GOFLAGS=-buildvcs=false
started=$(date +%s)
mkdir -p "$dir/src/apiserver" "$dir/src/etcd"
bin="$(cd "$dir" && pwd)"

# A wrapper module per program: `go install pkg@version` refuses a module whose go.mod has replace lines.
wrapper() { # <dir> <package> <version of its module> <program>
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$2" > "$1/tools.go"
  (cd "$1" && go get "$2@$3" && go build -trimpath -o "$bin/$4" "$2")
}

echo "==> building kube-apiserver $kubernetes from k8s.io/kubernetes into $dir (a cold build takes long; the Go cache keeps what is compiled)"
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/apiserver, ...) with ./staging
# directories its module zip leaves out; the wrapper takes each one's published v0.x.y instead.
go mod download "k8s.io/kubernetes@$kubernetes"
{
  printf 'module evolve.local/kube-apiserver\n\ngo 1.24.0\n\nreplace (\n'
  sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 v0${kubernetes#v1}#p" \
    "$(go env GOMODCACHE)/k8s.io/kubernetes@$kubernetes/go.mod"
  printf ')\n'
} > "$dir/src/apiserver/go.mod"
wrapper "$dir/src/apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$kubernetes" kube-apiserver

echo "==> building etcd $etcd from go.etcd.io/etcd/server/v3 into $dir"
printf 'module evolve.local/etcd\n\ngo 1.24.0\n' > "$dir/src/etcd/go.mod"
wrapper "$dir/src/etcd" go.etcd.io/etcd/server/v3 "$etcd" etcd

echo "$want" > "$dir/.version"
echo "==> $want built in $(( $(date +%s) - started ))s ($dir)"
