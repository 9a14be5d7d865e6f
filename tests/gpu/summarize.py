#!/usr/bin/env python3
"""Summarises a GPU validation run (tests/gpu/run.sh): a short table on stdout and the markdown
entry OUTDIR/gpu-validation-entry.md that is appended to docs/gpu-validation.md.

Reads OUTDIR/bench_cuda_*.json (Google Benchmark) and OUTDIR/torch_compare.json. The torch rate
of an op is the thaw benchmark's rate scaled by the time ratio (both do the same work).
Standard library only.
"""
import argparse
import glob
import json
import os
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        print(f"summarize: cannot read {path}: {exc}", file=sys.stderr)
        return None


def thaw_results(outdir):
    """name -> (microseconds, rate, unit) from every bench_cuda_*.json, in file order."""
    rows, errors = {}, {}
    for path in sorted(glob.glob(os.path.join(outdir, "bench_cuda_*.json"))):
        data = load_json(path)
        if not data:
            continue
        for b in data.get("benchmarks", []):
            name = b.get("run_name", b.get("name", "?")).replace("/manual_time", "")
            if b.get("error_occurred"):
                errors[name] = b.get("error_message", "error")
                continue
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}.get(b.get("time_unit", "ns"), 1.0)
            us = b["real_time"] * scale
            unit = "TFLOP/s" if "TFLOP/s" in b else "GB/s" if "GB/s" in b else ""
            rows[name] = (us, b.get(unit) if unit else None, unit)
    return rows, errors


def fmt(v, digits=1):
    return "-" if v is None else f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--date", default="")
    ap.add_argument("--gpu", default="?")
    ap.add_argument("--driver", default="?")
    ap.add_argument("--cublas", default="?")
    ap.add_argument("--build-info", default="")
    ap.add_argument("--tests", default="?", help="one line: status and Catch2's summary")
    ap.add_argument("--steps", default="", help="'name=status;...' of the run's steps")
    ap.add_argument("--elapsed", default="?")
    args = ap.parse_args()

    thaw, thaw_errors = thaw_results(args.out)
    torch_data = load_json(os.path.join(args.out, "torch_compare.json")) or {}
    torch = torch_data.get("results", {})

    header = ["op", "thaw µs", "thaw rate", "torch µs", "torch rate", "torch/thaw time"]
    table = []
    for name, (us, rate, unit) in thaw.items():
        t = torch.get(name, {}).get("us")
        torch_rate = rate * us / t if (rate is not None and t) else None
        ratio = f"{t / us:.2f}x" if t else "-"
        note = torch.get(name, {}).get("note")
        table.append([name + (f" ({note})" if note else ""), fmt(us, 2), f"{fmt(rate, 2)} {unit}".strip(),
                      fmt(t, 2), f"{fmt(torch_rate, 2)} {unit}".strip() if t else "-", ratio])

    def markdown(rows):
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    build_info = ""
    if args.build_info and os.path.exists(args.build_info):
        build_info = open(args.build_info).read().strip()

    lines = [
        f"### {args.date} — {args.gpu}, driver {args.driver}",
        "",
        f"- tests (thaw_cuda_tests): {args.tests}",
        f"- steps: {args.steps.replace(';', ', ')}; whole run {args.elapsed} s",
        f"- cuBLAS loaded from: `{args.cublas}`",
        f"- PyTorch: {torch_data.get('torch', '?')} (CUDA {torch_data.get('cuda', '?')})",
    ]
    if build_info:
        lines += ["- build:", "", "```", build_info, "```"]
    lines += ["", "GPU time per call (CUDA events, mean of back-to-back launches); rates count the minimal",
              "work (2MNK FLOP; bytes each input read once and each output written once). The last",
              "column above 1 means thaw is faster.", "", markdown(table) if table else "(no benchmark results)"]
    if thaw_errors:
        lines += ["", "thaw benchmarks that failed: " + ", ".join(f"{k}: {v}" for k, v in thaw_errors.items())]
    if torch_data.get("errors"):
        lines += ["", "PyTorch timings that failed: " + ", ".join(f"{k}: {v}" for k, v in torch_data["errors"].items())]
    entry = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "gpu-validation-entry.md"), "w") as f:
        f.write(entry)

    # Short plain table for the end of the log.
    widths = [max(len(str(r[i])) for r in table + [header]) for i in range(len(header))] if table else []
    print(f"GPU: {args.gpu}, driver {args.driver}; tests: {args.tests}")
    print(f"steps: {args.steps}; whole run {args.elapsed} s")
    for r in [header] + table:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
