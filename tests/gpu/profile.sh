#!/usr/bin/env bash
# Where the GPT-2 small training step's GPU time goes, thaw against PyTorch, on a GPU machine
# (a diagnostic, not part of the validation run):
#
#   tests/gpu/profile.sh OUTDIR [BUILD_DIR]
#
# thaw: bench_cuda_gpt_step --profile (GPU time per backend op and per GEMM shape, the phases,
# and the GPU's idle time waiting for the host) under the bf16 and tf32 policies; PyTorch:
# torch_gpt_step.py --profile (torch.profiler's kernel table); and GPT-2's GEMM shapes in
# cuBLAS under tf32, bf16 compute with fp32 storage (thaw's bf16 policy) and bf16 storage.
# Everything goes to OUTDIR/profile.log.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: tests/gpu/profile.sh OUTDIR [BUILD_DIR]}
build=${2:-$root/build-gpu}
mkdir -p "$out"
export LD_LIBRARY_PATH="$build/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  for policy in bf16 tf32; do
    timeout 90 "$build/bin/bench_cuda_gpt_step" --config gpt2 --policy "$policy" --variant a --batch 8 \
      --steps 5 --warmup 2 --profile
  done
  timeout 120 python3 "$root/tests/gpu/torch_gpt_step.py" --config gpt2 --policy bf16 --variant a --batch 8 \
    --steps 5 --warmup 2 --profile
  timeout 120 "$build/bin/bench_cuda_gemm" --benchmark_filter=gpt2 --benchmark_min_time=0.01 \
    --benchmark_counters_tabular=true
} 2>&1 | tee "$out/profile.log"
