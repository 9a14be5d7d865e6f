#!/usr/bin/env bash
# The GPU validation run, on a GPU machine, over the folder tests/gpu/build.sh made:
#
#   tests/gpu/run.sh OUTDIR [BUILD_DIR]          (default BUILD_DIR: <repo>/build-gpu)
#
# Through the device tool, from the repository root here:
#   run(command="bash tests/gpu/run.sh $OUT", carry=["build-gpu"], timeout_s=420)
#
# Steps (each under its own time limit, about 5 minutes in all): the GPU and driver
# (nvidia-smi), the CUDA tests (thaw_cuda_tests, which must not skip here), the CUDA benchmarks
# (bench_cuda_*), the same GEMMs and ops timed in PyTorch (tests/gpu/torch_compare.py, the
# machine's own python3), then a short table. Writes into OUTDIR (at most 8 files, as the
# device tool returns): run.log (everything), bench_cuda_*.json, torch_compare.json and
# gpu-validation-entry.md, the markdown to append to docs/gpu-validation.md.
# THAW_GPU_SANITIZE=1 adds a run of the tests under compute-sanitizer (memcheck), up to 4 minutes.
# Exit status: 0 when the tests passed and every step ran, 1 otherwise.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: tests/gpu/run.sh OUTDIR [BUILD_DIR]}
build=${2:-$root/build-gpu}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/run.log

main() {
t0=$(date +%s)
steps=()
step() { steps+=("$1=$2"); echo "-- step $1: $2"; }

echo "== thaw GPU validation, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(hostname)"
[[ -d $build/bin ]] || { echo "run.sh: no $build/bin: build with tests/gpu/build.sh and carry build-gpu"; return 1; }
[[ -f $build/BUILD_INFO.txt ]] && sed 's/^/  /' "$build/BUILD_INFO.txt"

echo "== GPU"
gpu="?" driver="?"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi || true
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm,clocks.max.mem,power.limit \
    --format=csv 2>/dev/null || true
else
  echo "run.sh: nvidia-smi not found"
fi

echo "== cuBLAS"
find_cublas() {
  local dirs=()
  [[ -n ${THAW_CUBLAS_DIR:-} ]] && dirs+=("$THAW_CUBLAS_DIR")
  dirs+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib)
  # PyTorch's pip package nvidia-cublas (nvidia/cublas/lib, or nvidia/cu13/lib for CUDA 13 wheels)
  while read -r d; do [[ -n $d ]] && dirs+=("$d"); done < <(python3 - 2>/dev/null <<'EOF'
import importlib, os
for mod in ("nvidia.cublas", "nvidia.cu13", "nvidia"):
    try:
        m = importlib.import_module(mod)
    except Exception:
        continue
    for base in getattr(m, "__path__", []):
        for sub in ("lib", os.path.join("cu13", "lib"), os.path.join("cublas", "lib")):
            print(os.path.join(base, sub))
EOF
)
  while read -r f; do dirs+=("$(dirname "$f")"); done < <(ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13 /{print $NF}')
  for d in "${dirs[@]}"; do
    if [[ -e $d/libcublas.so.13 && -e $d/libcublasLt.so.13 ]]; then echo "$d"; return 0; fi
  done
  local f
  f=$(timeout 30 find / -xdev -name libcublas.so.13 -not -path '*/proc/*' 2>/dev/null | head -n 1)
  [[ -n $f ]] && { dirname "$f"; return 0; }
  return 1
}
cublas_dir=$(find_cublas) || cublas_dir=""
if [[ -z $cublas_dir ]]; then
  echo "run.sh: libcublas.so.13 not found (set THAW_CUBLAS_DIR)"
else
  echo "libcublas.so.13 from $cublas_dir"
fi
export LD_LIBRARY_PATH="$build/lib${cublas_dir:+:$cublas_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$build/bin/thaw_cuda_tests" | sed 's/^/  /'
if ldd "$build"/bin/* | grep -q 'not found'; then
  echo "run.sh: a library is missing (above)"
fi

echo "== tests (thaw_cuda_tests)"
tests_out=$(mktemp)
THAW_CUDA_REQUIRE_GPU=1 timeout 120 "$build/bin/thaw_cuda_tests" --durations yes 2>&1 | tee "$tests_out"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^(All tests passed|test cases:)' "$tests_out" | tail -n 1)
case $rc in
  0) tests_status="PASSED: ${summary:-?}" ;;
  124) tests_status="TIMEOUT after 120 s: ${summary:-no summary}" ;;
  *) tests_status="FAILED (exit $rc): ${summary:-no summary}" ;;
esac
rm -f "$tests_out"
step tests "$([[ $rc == 0 ]] && echo ok || echo "exit $rc")"

# Optional (THAW_GPU_SANITIZE=1): the tests again under compute-sanitizer's memcheck, which
# names any out-of-bounds or misaligned access of a kernel (slower; not part of the default run).
if [[ ${THAW_GPU_SANITIZE:-0} != 0 ]]; then
  echo "== tests under compute-sanitizer (memcheck)"
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  THAW_CUDA_REQUIRE_GPU=1 timeout 240 "$sanitizer" --tool memcheck --error-exitcode 3 \
    "$build/bin/thaw_cuda_tests" 2>&1 | tail -n 40
  rc=${PIPESTATUS[0]}
  step memcheck "$([[ $rc == 0 ]] && echo ok || echo "exit $rc")"
fi

echo "== benchmarks"
for bench in "$build"/bin/bench_cuda_*; do
  name=$(basename "$bench")
  timeout 60 "$bench" --benchmark_min_time=0.1 --benchmark_counters_tabular=true \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json
  rc=$?
  step "$name" "$([[ $rc == 0 ]] && echo ok || echo "exit $rc")"
done

echo "== PyTorch comparison"
timeout 90 python3 "$root/tests/gpu/torch_compare.py" --out "$out/torch_compare.json"
rc=$?
step torch_compare "$([[ $rc == 0 ]] && echo ok || echo "exit $rc")"

elapsed=$(( $(date +%s) - t0 ))
echo "== summary"
steps_joined=$(IFS=';'; echo "${steps[*]}")
python3 "$root/tests/gpu/summarize.py" --out "$out" --date "$(date -u +%F)" --gpu "$gpu" --driver "$driver" \
  --cublas "${cublas_dir:-not found}" --build-info "$build/BUILD_INFO.txt" --tests "$tests_status" \
  --steps "$steps_joined" --elapsed "$elapsed"
echo "markdown entry for docs/gpu-validation.md: $out/gpu-validation-entry.md"
for s in "${steps[@]}"; do [[ $s == *=ok ]] || return 1; done
return 0
}

main 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
