#!/usr/bin/env bash
# Configures and builds one build tree: scripts/build.sh <build-dir> [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
jobs=${THAW_JOBS:-$(nproc)}
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" > "$dir.configure.log" 2>&1 || {
  cat "$dir.configure.log"; exit 1; }
grep -E '^-- thaw:' "$dir.configure.log" || true
cmake --build "$dir" -j "$jobs"
