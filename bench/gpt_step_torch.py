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
import math
import time

import torch


class Block(torch.nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(c), torch.nn.LayerNorm(c)
        self.c_attn, self.c_proj = torch.nn.Linear(c, 3 * c), torch.nn.Linear(c, c)
        self.c_fc, self.mlp_proj = torch.nn.Linear(c, 4 * c), torch.nn.Linear(4 * c, c)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
        att = att.masked_fill(mask[:, :, :T, :T] == 0, float("-inf")).softmax(dim=-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(torch.nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, vocab=256, ctx=256, layers=6, heads=6, width=384):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(vocab, width), torch.nn.Embedding(ctx, width)
        self.h = torch.nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(width)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx))
        for name, p in self.named_parameters():  # GPT-2's initialisation, as thaw's
            if p.dim() >= 2:
                torch.nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


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
