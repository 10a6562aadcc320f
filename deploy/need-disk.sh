#!/usr/bin/env bash
# need-disk.sh DIR GB WHAT: fails, before anything is written, when the filesystem holding DIR has less
# than GB gigabytes free, saying what needs them. A pip install that runs out of space half-way leaves a
# broken venv behind and says only "No space left on device".
set -euo pipefail
dir="$1" need_gb="$2" what="$3"
probe="$dir"
until [ -d "$probe" ]; do probe="$(dirname "$probe")"; done
free_kb="$(df -Pk "$probe" | awk 'NR == 2 { print $4 }')"
if [ "$free_kb" -lt $((need_gb * 1024 * 1024)) ]; then
  echo "$what needs about $need_gb GB free in $dir; $(awk -v k="$free_kb" 'BEGIN { printf "%.1f", k / 1048576 }') GB are free there. Free some space, or set EVOLVE_HOME to a larger disk." >&2
  exit 1
fi
