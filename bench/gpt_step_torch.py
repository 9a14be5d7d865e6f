#!/usr/bin/python3
"""The reference GPT's forward + backward in PyTorch (Debian's python3-torch), the peer of
bench_gpt_step. Same model: vocab 256, context 256, 6 layers, 6 heads, width 384, MLP 4x GELU
(tanh), pre-LN, learned positions, tied head, GPT-2 biases, no dropout; batch 8.

Usage: gpt_step_torch.py --threads N [--steps 5] [--warmup 2]
Prints one JSON object: {"ms": [per-step wall ms...], "threads": N, "loss": ...}.
Set OMP_WAIT_POLICY=PASSIVE in the environment for 2 threads (see ../shared/BENCHMARKING.md).
"""
import argparse
import json
import time

import torch

from torch_gpt import GPT


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT()
    idx = torch.randint(0, 256, (8, 256))
    targets = torch.randint(0, 256, (8, 256))
    ms = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss = model(idx, targets)
        loss.backward()
        if i >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"ms": ms, "threads": a.threads, "loss": loss.item(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
