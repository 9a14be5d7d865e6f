#!/usr/bin/env bash
# Builds the CUDA backend's tests and benchmarks for the GPU machines (H100 / H200, sm_90) into
# one small folder that the device tool can carry (it carries at most 64 MiB in all):
#
#   tests/gpu/build.sh [OUT_DIR]        (default OUT_DIR: <repo>/build-gpu)
#
# OUT_DIR/bin   thaw_cuda_tests, bench_cuda_* (stripped; static CUDA runtime, sm_90 code + PTX)
# OUT_DIR/lib   libbenchmark.so.* (Debian ships no static Google Benchmark; the GPU machine has none)
# OUT_DIR/BUILD_INFO.txt
#
# cuBLAS is linked dynamically (the static library is hundreds of MB); tests/gpu/run.sh finds
# libcublas.so.13 on the GPU machine. The CMake tree lives beside, in <repo>/build-gpu-cmake (or
# $THAW_GPU_CMAKE_DIR), and is not carried. The script fails if a binary needs a library the GPU
# machine will not have, or if OUT_DIR is 64 MiB or more.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-gpu}
tree=${THAW_GPU_CMAKE_DIR:-$root/build-gpu-cmake}
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
jobs=${THAW_JOBS:-2}
limit_bytes=$((64 * 1024 * 1024))

[[ -x $nvcc ]] || { echo "build.sh: no nvcc at $nvcc (set CUDACXX)" >&2; exit 1; }

echo "== configure ($tree)"
mkdir -p "$tree"
cmake -S "$root" -B "$tree" \
  -DCMAKE_BUILD_TYPE=Release \
  -DTHAW_ENABLE_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_RUNTIME_LIBRARY=Static \
  -DTHAW_NATIVE=OFF \
  -DTHAW_BUILD_TESTS=ON -DTHAW_BUILD_BENCHMARKS=ON -DTHAW_BUILD_EXAMPLES=OFF \
  > "$tree/configure.log" 2>&1 || { cat "$tree/configure.log"; exit 1; }
grep -E '^-- thaw:' "$tree/configure.log" || true
grep -q 'thaw: CUDA .* found' "$tree/configure.log" || { echo "build.sh: CMake did not enable CUDA" >&2; exit 1; }

targets=(thaw_cuda_tests)
for src in "$root"/bench/cuda/*.cu; do
  targets+=("bench_cuda_$(basename "$src" .cu)")
done
echo "== build: ${targets[*]} (-j$jobs)"
cmake --build "$tree" -j "$jobs" --target "${targets[@]}"

echo "== collect into $out"
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
install -m 755 "$tree/tests/cuda/thaw_cuda_tests" "$out/bin/"
for t in "${targets[@]:1}"; do install -m 755 "$tree/bench/$t" "$out/bin/"; done
strip --strip-unneeded "$out"/bin/*

# Shared libraries the binaries need beyond the CUDA toolkit's and the C/C++ runtime's are
# shipped in lib/ (only Google Benchmark, today).
allowed='^(linux-vdso\.so|libcublas\.so\.13|libcublasLt\.so\.13|libstdc\+\+\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libc\.so\.6|ld-linux-x86-64\.so\.2|librt\.so\.1|libpthread\.so\.0|libdl\.so\.2)$'
for bin in "$out"/bin/*; do
  while read -r lib; do
    if [[ $lib == libbenchmark* ]]; then
      path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')
      [[ -f $out/lib/$lib ]] || cp -L "$path" "$out/lib/$lib"
    elif [[ ! $lib =~ $allowed ]]; then
      echo "build.sh: $(basename "$bin") needs $lib, which the GPU machine does not have" >&2
      exit 1
    fi
  done < <(readelf -d "$bin" | awk '/NEEDED/ {gsub(/[\[\]]/, "", $5); print $5}')
done
strip --strip-unneeded "$out"/lib/* 2>/dev/null || true

{
  echo "built: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "nvcc: $("$nvcc" --version | tail -n 2 | head -n 1)"
  echo "host compiler: $(c++ --version | head -n 1)"
  echo "target: sm_90 (+ compute_90 PTX); CUDA runtime static; cuBLAS shared (libcublas.so.13)"
  echo "max GLIBC symbol version: $(objdump -T "$out"/bin/* "$out"/lib/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)"
  echo "max GLIBCXX symbol version: $(objdump -T "$out"/bin/* "$out"/lib/* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n 1)"
} > "$out/BUILD_INFO.txt"

echo "== sizes"
(cd "$out" && du -b bin/* lib/* | awk '{printf "  %8.2f MiB  %s\n", $1 / 1048576, $2}')
total=$(du -sb "$out" | cut -f1)
awk -v t="$total" 'BEGIN { printf "  %8.2f MiB  total (limit 64 MiB for everything the device tool carries)\n", t / 1048576 }'
if (( total >= limit_bytes )); then
  echo "build.sh: $out is $total bytes, over the device tool's 64 MiB" >&2
  exit 1
fi
cat "$out/BUILD_INFO.txt"
echo "GPU build folder: $out"
