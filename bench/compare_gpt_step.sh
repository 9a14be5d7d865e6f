#!/usr/bin/env bash
# Forward + backward of the reference GPT: thaw (bench_gpt_step) against PyTorch
# (gpt_step_torch.py), interleaved A B A B ... in separate processes, at 2 threads (PyTorch with
# OMP_WAIT_POLICY=PASSIVE, as ../shared/BENCHMARKING.md prescribes) and at 1 thread.
# Prints a markdown table: median and min-max step time of each, and the ratio PyTorch / thaw
# (> 1: thaw is faster), each round's ratio taken within the round; and the GEMM floor (the
# step's own matrix products replayed alone) with thaw's step over it (1.00: nothing but GEMMs),
# both from bench_gpt_step's gpt_step_over_floor, which runs the step and the replay in turns in
# one process so that the ratio does not carry the host's drift.
#
# Usage: bench/compare_gpt_step.sh [--boost] [build-dir] [rounds]
#   --boost runs every process in its own session (so its own scheduler autogroup) at nice -20,
#   ahead of other sessions' work on a shared machine, as compare_gemm.py --boost does (root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
boost=()
if [ "${1:-}" = --boost ]; then
  boost=(setsid bash -c 'echo -20 > /proc/self/autogroup && exec nice -n -20 "$@"' boost)
  shift
fi
build=${1:-$root/build}
rounds=${2:-3}
bench=$build/bench/bench_gpt_step
[ -x "$bench" ] || { echo "missing $bench: build the benchmarks first" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for threads in 2 1; do
  for r in $(seq "$rounds"); do
    OMP_NUM_THREADS=$threads "${boost[@]}" "$bench" --benchmark_format=json \
      --benchmark_filter=gpt_step_over_floor > "$out/thaw_${threads}_$r.json" 2> /dev/null
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE \
      "${boost[@]}" /usr/bin/python3 "$root/bench/gpt_step_torch.py" --threads "$threads" --steps 3 --warmup 1 \
      > "$out/torch_${threads}_$r.json"
  done
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys, glob, os
out, rounds = sys.argv[1], int(sys.argv[2])
print("| threads | thaw ms (median, min-max) | PyTorch ms (median, min-max) | PyTorch / thaw (median, min-max) | GEMM floor ms | thaw / floor |")
print("|---|---|---|---|---|---|")
def step(path):
    b = json.load(open(path))["benchmarks"][0]
    t = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
    return t, b["floor_ms"], b["step_over_floor"]
for threads in (2, 1):
    thaw, torch, ratios, floor, over = [], [], [], [], []
    for r in range(1, rounds + 1):
        t_ms, f_ms, t_over_f = step(f"{out}/thaw_{threads}_{r}.json")
        p_ms = statistics.median(json.load(open(f"{out}/torch_{threads}_{r}.json"))["ms"])
        thaw.append(t_ms); torch.append(p_ms); ratios.append(p_ms / t_ms)
        floor.append(f_ms); over.append(t_over_f)
    fmt = lambda v: f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"
    fr = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
    print(f"| {threads} | {fmt(thaw)} | {fmt(torch)} | {fr(ratios)} | {fmt(floor)} | {fr(over)} |")
PY
