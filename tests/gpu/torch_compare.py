#!/usr/bin/env python3
"""PyTorch timings of the same GEMMs and ops as bench/cuda/*.cu, on the GPU machine.

Run by tests/gpu/run.sh with the machine's own python3 (the one that holds PyTorch):

    python3 tests/gpu/torch_compare.py --out OUTDIR/torch_compare.json

Every entry has the name of the thaw benchmark it mirrors (gemm_fp32_nt/2048x384x1152,
layernorm_forward/2048x384, ...) and its mean GPU time per call in microseconds, measured like
bench/cuda/cuda_bench.cuh does: CUDA events around `inner` back-to-back calls, after a warm-up.
Rates are not computed here: tests/gpu/summarize.py derives them from the thaw benchmark's
counter (same work, so rate_torch = rate_thaw * time_thaw / time_torch). Ops PyTorch does not
fuse the same way carry a note (e.g. the causal softmax is masked_fill + softmax).
"""
import argparse
import json
import math
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

TOKENS, C, MLP, QKV, VOCAB = 2048, 384, 1536, 1152, 256
SEQ, HEADS = 256, 6
SCORE_ROWS = TOKENS // SEQ * HEADS * SEQ  # 12288
PARAMS = 6 * 12 * C * C
GEMM_SHAPES = [(2048, 384, 1152), (2048, 384, 384), (2048, 384, 1536), (2048, 1536, 384), (2048, 384, 256)]


def gpu_time_us(fn, inner=20, min_seconds=0.1, max_rounds=200):
    """Mean microseconds per call: rounds of `inner` calls between CUDA events, median round."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    rounds, spent = [], 0.0
    deadline = time.perf_counter() + 5.0
    while (spent < min_seconds or len(rounds) < 5) and len(rounds) < max_rounds and time.perf_counter() < deadline:
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        ms = start.elapsed_time(stop)
        rounds.append(ms * 1e3 / inner)
        spent += ms / 1e3
    return statistics.median(rounds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        print("torch_compare: SKIPPED: PyTorch sees no CUDA GPU", file=sys.stderr)
        json.dump({"error": "no CUDA GPU visible to PyTorch", "torch": torch.__version__}, open(args.out, "w"), indent=1)
        return 1

    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(2026)

    def rand(*shape, lo=-1.0, hi=1.0):
        return torch.empty(*shape, device=dev).uniform_(lo, hi, generator=gen)

    def ids(n, below):
        return torch.randint(0, below, (n,), device=dev, generator=gen)

    results, errors = {}, {}

    def bench(name, fn, note=None, inner=20):
        try:
            us = gpu_time_us(fn, inner=inner)
            results[name] = {"us": us}
            if note:
                results[name]["note"] = note
            print(f"  {name:40s} {us:10.2f} us" + (f"   ({note})" if note else ""), flush=True)
        except Exception as exc:  # one op failing (API change) must not stop the others
            errors[name] = f"{type(exc).__name__}: {exc}"
            print(f"  {name:40s} FAILED: {errors[name]}", flush=True)
            traceback.print_exc()

    props = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) on {props.name}, {props.multi_processor_count} SMs")

    # ---- GEMMs ----
    for precision in ("fp32", "tf32"):
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        for m, k, n in GEMM_SHAPES:
            dims = f"{m}x{k}x{n}"
            a, at, b, w = rand(m, k), rand(k, m), rand(k, n), rand(n, k)
            out = torch.empty(m, n, device=dev)
            bench(f"gemm_{precision}_nn/{dims}", lambda: torch.mm(a, b, out=out))
            bench(f"gemm_{precision}_nt/{dims}", lambda: torch.mm(a, w.t(), out=out))
            bench(f"gemm_{precision}_tn/{dims}", lambda: torch.mm(at.t(), b, out=out))
    torch.backends.cuda.matmul.allow_tf32 = False

    aten = torch.ops.aten
    tc = f"/{TOKENS}x{C}"

    # ---- normalisation ----
    x, w, bias, dy = rand(TOKENS, C), rand(C), rand(C), rand(TOKENS, C)
    bench("layernorm_forward" + tc, lambda: aten.native_layer_norm(x, [C], w, bias, 1e-5))
    _, mean, rstd = aten.native_layer_norm(x, [C], w, bias, 1e-5)
    bench("layernorm_backward" + tc,
          lambda: aten.native_layer_norm_backward(dy, x, [C], mean, rstd, w, bias, [True, True, True]))
    bench("rmsnorm_forward" + tc, lambda: F.rms_norm(x, [C], w, 1e-6), note="F.rms_norm")
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    yr = F.rms_norm(xr, [C], wr, 1e-6)
    bench("rmsnorm_backward" + tc, lambda: torch.autograd.grad(yr, (xr, wr), dy, retain_graph=True),
          note="autograd of F.rms_norm")

    # ---- GELU ----
    xg, dyg = rand(TOKENS, MLP, lo=-4, hi=4), rand(TOKENS, MLP)
    bench(f"gelu_forward/{TOKENS}x{MLP}", lambda: aten.gelu(xg, approximate="tanh"))
    bench(f"gelu_backward/{TOKENS}x{MLP}", lambda: aten.gelu_backward(dyg, xg, approximate="tanh"))

    # ---- softmax (attention scores, scale 1/8 folded into the input for PyTorch) ----
    s = rand(SCORE_ROWS, SEQ, lo=-4, hi=4) * 0.125
    dys = rand(SCORE_ROWS, SEQ)
    bench(f"softmax_forward/{SCORE_ROWS}x{SEQ}", lambda: aten._softmax(s, -1, False), note="scale pre-applied")
    mask = torch.ones(SEQ, SEQ, device=dev, dtype=torch.bool).triu(1).repeat(SCORE_ROWS // SEQ, 1)
    bench(f"softmax_forward_causal/{SCORE_ROWS}x{SEQ}",
          lambda: aten._softmax(s.masked_fill(mask, -math.inf), -1, False), note="masked_fill + softmax")
    ys = aten._softmax(s.masked_fill(mask, -math.inf), -1, False)
    bench(f"softmax_backward/{SCORE_ROWS}x{SEQ}", lambda: aten._softmax_backward_data(dys, ys, -1, torch.float32))

    # ---- cross-entropy ----
    logits, targets = rand(TOKENS, VOCAB, lo=-5, hi=5), ids(TOKENS, VOCAB)
    bench(f"cross_entropy_forward/{TOKENS}x{VOCAB}", lambda: F.cross_entropy(logits, targets, reduction="none"),
          note="log_softmax + nll")
    lr_ = logits.clone().requires_grad_()
    loss = F.cross_entropy(lr_, targets)
    bench(f"cross_entropy_backward/{TOKENS}x{VOCAB}", lambda: torch.autograd.grad(loss, lr_, retain_graph=True),
          note="autograd of F.cross_entropy")

    # ---- embeddings ----
    table, tok = rand(VOCAB, C), ids(TOKENS, VOCAB)
    bench("embedding_forward" + tc, lambda: F.embedding(tok, table))
    dye = rand(TOKENS, C)
    bench("embedding_backward" + tc, lambda: aten.embedding_dense_backward(dye, tok, VOCAB, -1, False))

    # ---- elementwise and reductions ----
    a, b2, y = rand(TOKENS, C), rand(TOKENS, C), torch.empty(TOKENS, C, device=dev)
    bench("add" + tc, lambda: torch.add(a, b2, out=y))
    bench("axpy" + tc, lambda: y.add_(a, alpha=1e-3))
    yb, bb = rand(TOKENS, QKV), rand(QKV)
    bench(f"add_bias/{TOKENS}x{QKV}", lambda: yb.add_(bb))
    out = torch.empty(QKV, device=dev)
    bench(f"sum_rows/{TOKENS}x{QKV}", lambda: torch.sum(yb, 0, out=out), note="overwrites (thaw accumulates)")
    g = rand(PARAMS)
    bench(f"sum_squares/{PARAMS}", lambda: torch.linalg.vector_norm(g).item(), note="vector_norm + .item()", inner=5)

    # ---- AdamW (fused) over one flat parameter, and with every other block frozen ----
    block = 12 * C * C
    for name in ("adamw", "adamw_half_frozen"):
        if name == "adamw":
            params = [torch.nn.Parameter(rand(PARAMS))]
        else:  # blocks 0, 2, 4 of 6 trainable
            params = [torch.nn.Parameter(rand(block)) for _ in range(3)]
        for p_ in params:
            p_.grad = rand(p_.numel())
        opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
        bench(f"{name}/{PARAMS}", opt.step, note="torch.optim.AdamW(fused=True).step")

    # ---- random fills ----
    xn = torch.empty(PARAMS, device=dev)
    bench(f"fill_normal/{PARAMS}", lambda: xn.normal_(0.0, 0.02))
    xb = torch.empty(TOKENS, MLP, device=dev)
    bench(f"fill_bernoulli/{TOKENS}x{MLP}", lambda: xb.bernoulli_(0.9))

    report = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": props.name,
        "sms": props.multi_processor_count,
        "results": results,
        "errors": errors,
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"torch_compare: {len(results)} timings, {len(errors)} failures -> {args.out}")
    return 0 if not errors else 2


if __name__ == "__main__":
    sys.exit(main())
