#!/usr/bin/env bash
# The README's second command: installs what is missing, builds and runs the whole test suite:
#  1. the Release build, every test (unit, compile-fail, install, interop, fuzz);
#  2. the same unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer;
#  3. the backend tests (every op against reference, bit-exactness across thread counts,
#     alignments and chunkings) and the end-to-end thread-count test, built for x86-64-v3
#     (AVX2 + FMA, no AVX-512): the code paths of AVX2-only CPUs on any machine (issue 13).
# Ends with ctest's summary of the Release run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
mkdir -p "$root/build-test" "$root/build-asan"
jobs=${THAW_JOBS:-$(nproc)}

echo "== sanitizer build (ASan + UBSan) =="
# -O0 -g1 (line tables, no variable info): measured on this machine, the sanitizer tests build in
# 4.5 min and run in 2 min at -O0, against 13 min and 1 min at -O1 -g1 (and twice that at -O2 -g).
"$root/scripts/build.sh" "$root/build-asan" -DTHAW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_CXX_FLAGS_SANITIZE="-O0 -g1" \
  -DTHAW_BUILD_BENCHMARKS=OFF -DTHAW_BUILD_EXAMPLES=OFF -DTHAW_ENABLE_CUDA=OFF
(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -j "$jobs" -L unit -LE compile_fail --output-on-failure)

if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  echo "== x86-64-v3 (AVX2) build: backend ops and determinism =="
  "$root/scripts/build.sh" "$root/build-v3" -DTHAW_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 \
    -DTHAW_BUILD_BENCHMARKS=OFF -DTHAW_BUILD_EXAMPLES=OFF -DTHAW_ENABLE_CUDA=OFF \
    --target thaw_backend_tests thaw_train_tests
  "$root/build-v3/tests/thaw_backend_tests"
  (cd "$root/build-v3/tests" && ./thaw_train_tests "[threads]")
else
  echo "== x86-64-v3 build skipped: this CPU has no AVX2 + FMA =="
fi

echo "== release build =="
"$root/scripts/build.sh" "$root/build-test"
cd "$root/build-test"
ctest -j "$jobs" --output-on-failure
