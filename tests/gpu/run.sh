#!/usr/bin/env bash
# The GPU validation run, on a GPU machine, over the folder tests/gpu/build.sh made:
#
#   tests/gpu/run.sh OUTDIR [BUILD_DIR]          (default BUILD_DIR: <repo>/build-gpu)
#
# Through the device tool, from the repository root here:
#   run(command="bash tests/gpu/run.sh $OUT", carry=["build-gpu"], timeout_s=420)
#
# Steps, each under its own time limit and all within one budget (285 s; THAW_GPU_BUDGET_S):
#  1. the GPU and driver (nvidia-smi), cuBLAS;
#  2. the CUDA tests (thaw_cuda_tests, which must not skip here);
#  3. the GPT training step (forward + backward + AdamW) in thaw (bench_cuda_gpt_step) and in
#     PyTorch (tests/gpu/torch_gpt_step.py: eager, fused attention, autocast bf16): the
#     reference config under fp32 / tf32 / bf16, and GPT-2 small in bf16 under the freeze
#     variants a-e (a: full training, the headline thaw-vs-PyTorch number), and variant a at
#     batch 16 as well;
#  4. the op benchmarks (bench_cuda_gemm, bench_cuda_ops) and the same GEMMs and ops timed in
#     PyTorch (tests/gpu/torch_compare.py);
#  5. the summary: tables of ops and of GPT steps (tokens/s both sides, ratio, MFU), last.
# A step that fails, times out or finds the budget spent is recorded and the run goes on; any
# of them makes the exit status 1. Writes into OUTDIR (at most 8 files, as the device tool
# returns): run.log (everything), bench_cuda_gemm.json, bench_cuda_ops.json,
# torch_compare.json, gpt_thaw.jsonl, gpt_torch.jsonl and gpu-validation-entry.md, the
# markdown to append to docs/gpu-validation.md.
# THAW_GPU_SANITIZE=1 adds a run of the tests under compute-sanitizer (memcheck), up to 4
# minutes more (the budget grows by 240 s; give the device tool timeout_s=600).
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
sanitize=$([[ ${THAW_GPU_SANITIZE:-0} != 0 ]] && echo 1 || echo 0)
budget=${THAW_GPU_BUDGET_S:-$(( sanitize ? 525 : 285 ))}
steps=()
step() { steps+=("$1=$2"); echo "-- step $1: $2"; }
# limit SECONDS: the step's own limit, cut to what is left of the budget (15 s kept for the
# summary); prints 0 when too little is left to start a step.
limit() {
  local left=$(( budget - ($(date +%s) - t0) - 15 ))
  if (( left < 10 )); then echo 0; elif (( left < $1 )); then echo "$left"; else echo "$1"; fi
}
status_of() {  # status_of RC LIMIT: ok, or why not
  case $1 in
    0) echo ok ;;
    124) echo "timeout after $2 s" ;;
    *) echo "exit $1" ;;
  esac
}

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
lim=$(limit 120)
(( lim > 0 )) || lim=10  # never 0: `timeout 0` would mean no limit
THAW_CUDA_REQUIRE_GPU=1 timeout "$lim" "$build/bin/thaw_cuda_tests" --durations yes 2>&1 | tee "$tests_out"
rc=${PIPESTATUS[0]}
summary=$(grep -E '^(All tests passed|test cases:)' "$tests_out" | tail -n 1)
case $rc in
  0) tests_status="PASSED: ${summary:-?}" ;;
  124) tests_status="TIMEOUT after $lim s: ${summary:-no summary}" ;;
  *) tests_status="FAILED (exit $rc): ${summary:-no summary}" ;;
esac
rm -f "$tests_out"
step tests "$(status_of "$rc" "$lim")"

# Optional (THAW_GPU_SANITIZE=1): the tests again under compute-sanitizer's memcheck, which
# names any out-of-bounds or misaligned access of a kernel (slower; not part of the default run).
if (( sanitize )); then
  echo "== tests under compute-sanitizer (memcheck)"
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  lim=$(limit 240)
  if (( lim == 0 )); then
    step memcheck "skipped: run time budget spent"
  else
    THAW_CUDA_REQUIRE_GPU=1 timeout "$lim" "$sanitizer" --tool memcheck --error-exitcode 3 \
      "$build/bin/thaw_cuda_tests" 2>&1 | tail -n 40
    rc=${PIPESTATUS[0]}
    step memcheck "$(status_of "$rc" "$lim")"
  fi
fi

# The GPT training step, thaw then PyTorch, each measurement its own step. stdout (one JSON
# object per run) goes to the .jsonl files and the log; progress and errors (stderr) to the log.
gpt_thaw=$out/gpt_thaw.jsonl
gpt_torch=$out/gpt_torch.jsonl
: > "$gpt_thaw"
: > "$gpt_torch"
thaw_gpt() {  # thaw_gpt NAME LIMIT ARGS...: one bench_cuda_gpt_step run
  local name=$1 lim rc
  lim=$(limit "$2")
  shift 2
  if (( lim == 0 )); then step "$name" "skipped: run time budget spent"; return; fi
  timeout "$lim" "$build/bin/bench_cuda_gpt_step" "$@" | tee -a "$gpt_thaw"
  rc=${PIPESTATUS[0]}
  step "$name" "$(status_of "$rc" "$lim")"
}
torch_gpt() {  # torch_gpt NAME LIMIT ARGS...: one tests/gpu/torch_gpt_step.py process
  local name=$1 lim rc
  lim=$(limit "$2")
  shift 2
  if (( lim == 0 )); then step "$name" "skipped: run time budget spent"; return; fi
  timeout "$lim" python3 "$root/tests/gpu/torch_gpt_step.py" "$@" | tee -a "$gpt_torch"
  rc=${PIPESTATUS[0]}
  step "$name" "$(status_of "$rc" "$lim")"
}
echo "== GPT training step: thaw (bench_cuda_gpt_step)"
for policy in fp32 tf32 bf16; do
  thaw_gpt "gpt_thaw_ref_$policy" 45 --config ref --policy "$policy" --variant a --batch 8 --steps 10 --warmup 3
done
for variant in a b c d e; do
  # e: FreezeNet's saliency pass and top-1% selection over 124 M elements on the host first.
  # a: one more step under the op profiler, its table in the log (after the timed steps).
  thaw_gpt "gpt_thaw_gpt2_bf16_$variant" "$([[ $variant == e ]] && echo 120 || echo 60)" \
    --config gpt2 --policy bf16 --variant "$variant" --batch 8 --steps 5 --warmup 2 $([[ $variant == a ]] && echo --profile)
done
# GPT-2 small at batch 16 too (the fused attention leaves room; PyTorch gets the same batch).
thaw_gpt gpt_thaw_gpt2_bf16_a_batch16 60 --config gpt2 --policy bf16 --variant a --batch 16 --steps 5 --warmup 2
echo "== GPT training step: PyTorch (tests/gpu/torch_gpt_step.py)"
torch_gpt gpt_torch_ref 120 --config ref --policy fp32,tf32,bf16 --variant a --batch 8 --steps 10 --warmup 3
torch_gpt gpt_torch_gpt2_bf16 150 --config gpt2 --policy bf16 --variant a,b,c,d,e --batch 8 --steps 5 --warmup 2
torch_gpt gpt_torch_gpt2_bf16_batch16 60 --config gpt2 --policy bf16 --variant a --batch 16 --steps 5 --warmup 2

echo "== op benchmarks"
# Each benchmark iteration times 20 back-to-back launches, so --benchmark_min_time (GPU time)
# 0.01 s is about 0.2 s of wall time per case.
for name in bench_cuda_gemm bench_cuda_ops; do  # Google Benchmark programs (bench_cuda_gpt_step is not)
  lim=$(limit 90)
  if (( lim == 0 )); then step "$name" "skipped: run time budget spent"; continue; fi
  timeout "$lim" "$build/bin/$name" --benchmark_min_time=0.01 --benchmark_counters_tabular=true \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json
  rc=$?
  step "$name" "$(status_of "$rc" "$lim")"
done

echo "== PyTorch comparison of the ops"
lim=$(limit 90)
if (( lim == 0 )); then
  step torch_compare "skipped: run time budget spent"
else
  timeout "$lim" python3 "$root/tests/gpu/torch_compare.py" --out "$out/torch_compare.json"
  rc=$?
  step torch_compare "$(status_of "$rc" "$lim")"
fi

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
