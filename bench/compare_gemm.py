#!/usr/bin/python3
"""Compare thaw's cpu GEMM policies with the libraries they wrap, interleaved.

Runs bench_gemm's gemm/<impl>/ benchmarks one implementation per process, in the order
thaw_blas, openblas, thaw_eigen, eigen and back (A B C D D C B A ...), for each thread count,
so that every ratio compares runs made minutes apart at most. Per shape it prints the median
GFLOP/s of each implementation and the ratios thaw-blas / OpenBLAS and thaw-eigen / Eigen
(median and min-max over the rounds, each round's ratio taken within that round) as a markdown
table, with the done-when criteria (>= 0.95 and >= 0.90) checked.

The machine is shared and noisy (see /work/shared/BENCHMARKING.md): before each process the
script waits (up to --quiet-wait seconds) for the CPUs to be idle, measures how much CPU time
other processes took while it ran, repeats runs that others disturbed, and reports how many
disturbed runs it had to keep.

Usage: bench/compare_gemm.py [--bench build/bench/bench_gemm] [--rounds 3] [--threads 2,1]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

IMPLS = ["thaw_blas", "openblas", "thaw_eigen", "eigen"]
PAIRS = [("thaw_blas", "openblas", 0.95), ("thaw_eigen", "eigen", 0.90)]


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return idle, sum(fields)


def busy_fraction(interval=0.5):
    idle0, total0 = cpu_times()
    time.sleep(interval)
    idle1, total1 = cpu_times()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(max_wait, threshold=0.05):
    """Waits (at most max_wait seconds) until less than `threshold` of the CPUs is busy."""
    deadline = time.time() + max_wait
    while busy_fraction() >= threshold and time.time() < deadline:
        pass


def run_impl(bench, impl, threads, min_time):
    """One process; returns (GFLOP/s per shape, context, share of the CPUs others used meanwhile)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    idle0, total0 = cpu_times()
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [bench, f"--benchmark_filter=^gemm/{impl}/", f"--benchmark_min_time={min_time}",
         "--benchmark_format=json"],
        env=env, check=True, capture_output=True, text=True).stdout
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    idle1, total1 = cpu_times()
    ticks = os.sysconf("SC_CLK_TCK")
    ours = (child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime) * ticks
    busy = (total1 - total0) - (idle1 - idle0)
    others = max(0.0, busy - ours) / max(1, total1 - total0)
    report = json.loads(out)
    results = {b["name"].split("/")[2]: b["GFLOP/s"] for b in report["benchmarks"]}
    return results, report["context"], others


def spread(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default="build/bench/bench_gemm", help="path to bench_gemm")
    parser.add_argument("--rounds", type=int, default=3, help="processes per implementation and thread count")
    parser.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per benchmark")
    parser.add_argument("--quiet-wait", type=float, default=120, help="max seconds to wait for an idle machine")
    parser.add_argument("--max-others", type=float, default=0.03,
                        help="share of the CPUs other processes may use during a run before it is repeated")
    parser.add_argument("--retries", type=int, default=4, help="repeats of a disturbed run")
    args = parser.parse_args()

    if "OPENBLAS_CORETYPE" not in os.environ:
        print("note: OPENBLAS_CORETYPE is unset; OpenBLAS 0.3.21 falls back to its generic Prescott "
              "kernels on CPUs it does not know (see bench/README.md)", file=sys.stderr)

    context = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        gflops = {impl: {} for impl in IMPLS}  # impl -> shape -> [per round]
        disturbed = 0
        for rnd in range(args.rounds):
            order = IMPLS if rnd % 2 == 0 else IMPLS[::-1]
            for impl in order:
                # Runs during which other processes took more than --max-others of the CPUs
                # are repeated (up to --retries times); the last one counts regardless.
                for attempt in range(args.retries + 1):
                    wait_for_quiet(args.quiet_wait)
                    results, context, others = run_impl(args.bench, impl, threads, args.min_time)
                    print(f"  threads={threads} round={rnd + 1} {impl}: "
                          + " ".join(f"{v:.1f}" for v in results.values())
                          + f"  (others used {others:.0%})", file=sys.stderr)
                    if others <= args.max_others:
                        break
                else:
                    disturbed += 1
                for shape, value in results.items():
                    gflops[impl].setdefault(shape, []).append(value)

        print(f"\n### {threads} thread{'s' if threads > 1 else ''} "
              f"(OMP_NUM_THREADS=OPENBLAS_NUM_THREADS={threads}), {args.rounds} interleaved rounds, "
              f"OpenBLAS core {context.get('openblas_core', '?')}, {context.get('date', '')}\n")
        print("| M x K x N | thaw blas | OpenBLAS | thaw-blas / OpenBLAS | thaw eigen | Eigen "
              "| thaw-eigen / Eigen |")
        print("|---|---:|---:|---|---:|---:|---|")
        failures = []
        for shape in gflops["openblas"]:
            cells = []
            for ours, theirs, bar in PAIRS:
                ratios = [a / b for a, b in zip(gflops[ours][shape], gflops[theirs][shape])]
                ok = statistics.median(ratios) >= bar
                if not ok:
                    failures.append(f"{ours} at {shape}: median ratio {statistics.median(ratios):.3f} < {bar}")
                cells += [f"{statistics.median(gflops[ours][shape]):.1f}",
                          f"{statistics.median(gflops[theirs][shape]):.1f}",
                          spread(ratios) + ("" if ok else " **below bar**")]
            print(f"| {shape} | " + " | ".join(cells) + " |")
        print(f"\nGFLOP/s are medians over rounds; ratios are per round, median (min–max). "
              f"Bars: thaw-blas >= 0.95 x OpenBLAS, thaw-eigen >= 0.90 x Eigen. "
              f"{disturbed} of {args.rounds * len(IMPLS)} processes ran while other processes used "
              f"more than {args.max_others:.0%} of the CPUs.")
        for failure in failures:
            print(f"- FAILS: {failure}")


if __name__ == "__main__":
    main()
