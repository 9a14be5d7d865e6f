#!/usr/bin/env python3
"""Summarises a GPU validation run (tests/gpu/run.sh): short tables on stdout (the GPT training
step last) and the markdown entry OUTDIR/gpu-validation-entry.md that is appended to
docs/gpu-validation.md.

Reads OUTDIR/bench_cuda_*.json (Google Benchmark) and OUTDIR/torch_compare.json for the ops
(the torch rate of an op is the thaw benchmark's rate scaled by the time ratio: both do the
same work), and OUTDIR/gpt_thaw.jsonl / gpt_torch.jsonl (one JSON object per run, from
bench_cuda_gpt_step and tests/gpu/torch_gpt_step.py) for the GPT training step: tokens per
second on both sides, their ratio, and each side's model FLOP utilisation. Standard library
only.
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


def load_jsonl(path):
    """The JSON objects of a .jsonl file (lines that are not JSON objects are reported, skipped)."""
    records = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError as exc:
                    print(f"summarize: {path}:{n}: not JSON ({exc})", file=sys.stderr)
                    continue
                if isinstance(r, dict):
                    records.append(r)
    except OSError as exc:
        print(f"summarize: cannot read {path}: {exc}", file=sys.stderr)
    return records


GPT_HEADER = ["GPT step (config policy variant batch)", "thaw ms", "thaw tok/s", "torch ms", "torch tok/s",
              "thaw/torch tok/s", "thaw MFU", "torch MFU"]


def gpt_table(outdir):
    """Rows of the GPT training-step table, notes and errors, from gpt_thaw/gpt_torch.jsonl."""
    thaw = load_jsonl(os.path.join(outdir, "gpt_thaw.jsonl"))
    torch = load_jsonl(os.path.join(outdir, "gpt_torch.jsonl"))
    key = lambda r: (r.get("config", "?"), r.get("policy", "?"), r.get("variant", "?"),  # noqa: E731
                     f"x{r.get('batch', '?')}")
    by_thaw, by_torch, order = {}, {}, []
    for records, table in ((thaw, by_thaw), (torch, by_torch)):
        for r in records:
            k = key(r)
            table[k] = r
            if k not in order:
                order.append(k)

    def num(r, field):
        v = r.get(field) if r else None
        return v if isinstance(v, (int, float)) else None

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows, errors, notes = [], [], []
    for k in order:
        a, b = by_thaw.get(k), by_torch.get(k)
        for side, r in (("thaw", a), ("torch", b)):
            if r and r.get("error"):
                errors.append(f"{side} {' '.join(k)}: {r['error']}")
            if r and r.get("note"):
                notes.append(f"{side} {' '.join(k)}: {r['note']}")
        ta, tb = num(a, "tokens_per_s"), num(b, "tokens_per_s")
        rows.append([" ".join(k), fmt(num(a, "ms_per_step"), 2), fmt(ta, 0), fmt(num(b, "ms_per_step"), 2),
                     fmt(tb, 0), f"{ta / tb:.2f}x" if ta and tb else "-", pct(num(a, "mfu")), pct(num(b, "mfu"))])
    first = lambda records, field: next((r[field] for r in records if r.get(field)), None)  # noqa: E731
    peak_note = first(thaw, "peak_note") or first(torch, "peak_note")
    if peak_note:
        notes.insert(0, f"MFU against the card's dense bf16 peak ({peak_note}), for every policy")
    torch_desc = [first(torch, f) for f in ("torch", "attention", "optimizer")]
    if any(torch_desc):
        notes.insert(1 if peak_note else 0, "PyTorch " + ", ".join(str(x) for x in torch_desc if x) +
                     ", eager, autocast bf16 for the bf16 policy")
    return rows, errors, notes


def plain_table(header, rows):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header] + rows)


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
    gpt2_gemms = {}  # "layout/MxKxN" -> {policy: (us, rate)}: bench_cuda_gemm's GPT-2 shapes
    for name, (us, rate, unit) in thaw.items():
        if name.startswith("gpt2_gemm_"):
            policy, _, rest = name[len("gpt2_gemm_"):].partition("_")
            gpt2_gemms.setdefault(rest, {})[policy] = (us, rate)
            continue
        t = torch.get(name, {}).get("us")
        torch_rate = rate * us / t if (rate is not None and t) else None
        ratio = f"{t / us:.2f}x" if t else "-"
        note = torch.get(name, {}).get("note")
        table.append([name + (f" ({note})" if note else ""), fmt(us, 2), f"{fmt(rate, 2)} {unit}".strip(),
                      fmt(t, 2), f"{fmt(torch_rate, 2)} {unit}".strip() if t else "-", ratio])

    def markdown(rows, head=header):
        out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    gpt_rows, gpt_errors, gpt_notes = gpt_table(args.out)
    gemm_policies = ["tf32", "bf16", "bf16storage"]
    gemm_header = ["GPT-2 GEMM (layout/MxKxN)"] + [f"{p} µs (TFLOP/s)" for p in gemm_policies]
    gemm_rows = [[shape] + [f"{fmt(by[p][0], 1)} ({fmt(by[p][1], 0)})" if p in by else "-" for p in gemm_policies]
                 for shape, by in gpt2_gemms.items()]

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
    if gemm_rows:
        lines += ["", "GPT-2 small's GEMMs (8192 tokens) through the backend: tf32 = cuda<tf32>, bf16 = cuda<bf16>",
                  "(bf16 operand copies included in the time), bf16storage = cuBLAS on bf16 matrices, the ceiling.",
                  "", markdown(gemm_rows, gemm_header)]
    if thaw_errors:
        lines += ["", "thaw benchmarks that failed: " + ", ".join(f"{k}: {v}" for k, v in thaw_errors.items())]
    if torch_data.get("errors"):
        lines += ["", "PyTorch timings that failed: " + ", ".join(f"{k}: {v}" for k, v in torch_data["errors"].items())]
    lines += ["", "GPT training step (forward + backward + AdamW; batch 8; GPU time by CUDA events, mean over the",
              "timed steps): the reference config (vocab 256, context 256, 6 x 384) and GPT-2 small (vocab 50257,",
              "context 1024, 12 x 768); variants a full, b embeddings + bottom half frozen, c only ln_f + untied",
              "head, d rank-8 LoRA on attention, e FreezeNet 99% frozen. thaw/torch above 1 means thaw is faster.",
              "MFU counts a full training step's model FLOPs (nn/flops.hpp) for every variant, so for b-e it",
              "measures speed, not the utilisation of the FLOPs actually run (bench_cuda_gpt_step's hfu does).",
              "", markdown(gpt_rows, GPT_HEADER) if gpt_rows else "(no GPT step results)"]
    lines += [""] + [f"- {n}" for n in gpt_notes] if gpt_notes else []
    if gpt_errors:
        lines += ["", "GPT runs that failed: " + "; ".join(gpt_errors)]
    entry = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "gpu-validation-entry.md"), "w") as f:
        f.write(entry)

    # Short plain tables for the end of the log, the GPT training step last.
    print(f"GPU: {args.gpu}, driver {args.driver}; tests: {args.tests}")
    print(f"steps: {args.steps}; whole run {args.elapsed} s")
    print(plain_table(header, table) if table else "(no op benchmark results)")
    print()
    if gemm_rows:
        print(plain_table(gemm_header, gemm_rows))
        print()
    for n in gpt_notes:
        print(f"  {n}")
    for e in gpt_errors:
        print(f"  failed: {e}")
    print(plain_table(GPT_HEADER, gpt_rows) if gpt_rows else "(no GPT step results)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
