#!/usr/bin/env bash
# The README's first command: installs what is missing, builds and runs the main example, the
# continual pre-training study (examples/continual_pretraining.cpp). Arguments go to it
# (e.g. --scale 4, --out DIR); results land in ./continual-pretraining by default.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
mkdir -p "$root/build"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DTHAW_BUILD_TESTS=OFF \
  -DTHAW_BUILD_BENCHMARKS=OFF > "$root/build.configure.log" 2>&1 || { cat "$root/build.configure.log"; exit 1; }
grep -E '^-- thaw:' "$root/build.configure.log" || true
# Only the main example: the other tools and the guide's programs are not needed to run it.
cmake --build "$root/build" --target continual-pretraining -j "${THAW_JOBS:-$(nproc)}"
"$root/build/examples/continual-pretraining" "$@"
