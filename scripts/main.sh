#!/usr/bin/env bash
# The README's first command: installs what is missing, builds and runs the main example.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
mkdir -p "$root/build"
"$root/scripts/build.sh" "$root/build" -DTHAW_BUILD_TESTS=OFF -DTHAW_BUILD_BENCHMARKS=OFF
"$root/build/examples/thaw-smoke" "$@"
