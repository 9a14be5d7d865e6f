#!/usr/bin/env bash
# Configures and builds one build tree: scripts/build.sh <build-dir> [extra cmake args...]
# [--target T...] (only those targets; everything when absent)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
jobs=${THAW_JOBS:-$(nproc)}
cmake_args=() targets=()
while [ $# -gt 0 ]; do
  if [ "$1" = --target ]; then shift; targets=("$@"); break; fi
  cmake_args+=("$1"); shift
done
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" > "$dir.configure.log" 2>&1 || {
  cat "$dir.configure.log"; exit 1; }
grep -E '^-- thaw:' "$dir.configure.log" || true
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
else
  cmake --build "$dir" -j "$jobs"
fi
