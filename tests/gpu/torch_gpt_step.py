#!/usr/bin/env python3
"""PyTorch's GPU training step of thaw's GPT, the peer of bench_cuda_gpt_step.

The PyTorch side of tests/gpu/run.sh's GPT comparison: the same model, step and freeze
variants as bench/cuda/gpt_step.cu (bench_cuda_gpt_step), with the same JSON fields, one
object per line on stdout.

Model: thaw's nn::gpt in PyTorch (pre-LN GPT-2: learned positions, MLP 4x GELU (tanh), GPT-2
biases and initialisation, no dropout; tied head unless untied; optional rank-r LoRA on
attention c_attn and c_proj), written here rather than imported from bench/torch_gpt.py
because it must use the fused attention: F.scaled_dot_product_attention(is_causal=True).
Eager mode (no torch.compile). Policies: fp32 (TF32 off), tf32 (TF32 matmuls), bf16
(torch.autocast(dtype=torch.bfloat16): bf16 activations and GEMMs, fp32 master weights).
Optimizer: torch.optim.AdamW, lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on matrices (none
on norms, biases, embeddings), fused=True when this PyTorch has it (else foreach; the JSON's
"optimizer" field says which). Frozen parameters have requires_grad=False and are not in the
optimizer. Variant e (FreezeNet element masks) has no PyTorch equivalent: its record has
null timings and a note.

  torch_gpt_step.py --config ref --policy fp32,tf32,bf16 --variant a
  torch_gpt_step.py --config gpt2 --policy bf16 --variant a,b,c,d,e [--batch 8] [--steps 5]

Comma-separated lists run every combination in one process (importing torch once). Timing:
torch.cuda.Event before the first timed step and after each, after `warmup` untimed steps.
Model FLOP utilisation as bench_cuda_gpt_step computes it (nn/flops.hpp's model, the card's
dense bf16 peak by device name). Exit status 0 when every run succeeded, 1 otherwise; torch is
imported only after the arguments are parsed, so --help works without it.
"""
import argparse
import json
import math
import sys
import time
import traceback

CONFIGS = {
    "ref": dict(vocab=256, context=256, layers=6, heads=6, width=384),
    "gpt2": dict(vocab=50257, context=1024, layers=12, heads=12, width=768),
}
VARIANTS = {
    "a": "full training",
    "b": "embeddings + bottom half of the blocks frozen",
    "c": "everything frozen but ln_f and an untied head",
    "d": "rank-8 LoRA on attention c_attn / c_proj trains",
    "e": "99% of elements frozen by FreezeNet saliency",
}


def peak_bf16_dense_tflops(name):
    """Dense bf16 tensor peak in TFLOP/s by device name (bench/cuda/gpt_step.cu's table)."""
    if "H100" in name and "PCIe" in name:
        return 756.0, "H100 PCIe: 756 TFLOP/s dense bf16"
    if "H100" in name and ("SXM" in name or "HBM3" in name) and "NVL" not in name:
        return 989.4, "H100 SXM: 989.4 TFLOP/s dense bf16"
    if "H200" in name and "NVL" not in name:
        return 989.4, "H200 SXM: 989.4 TFLOP/s dense bf16"
    return None, f"no bf16 peak on file for '{name}': MFU not computed"


def training_flops(c, batch):
    """nn/flops.hpp's gpt_training_flops(c, batch, context).total(): matmuls of a full step."""
    d, t, layers, mlp_ratio = c["width"], c["context"], c["layers"], 4
    tokens = batch * t
    per_layer = d * 3 * d + d * d + 2 * d * mlp_ratio * d
    linear_params = layers * per_layer + d * c["vocab"]
    attention = 4.0 * layers * t * t * d * batch
    return 6 * linear_params * tokens + 3 * attention


def build_model_classes(torch):
    nn, F = torch.nn, torch.nn.functional

    class LoRALinear(nn.Module):
        """y = base(x) + (alpha / r) (x A) B (Hu et al. 2021); A ~ N(0, 1/in), B = 0, as thaw's."""

        def __init__(self, base, rank, alpha=8.0):
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            self.lora_A = nn.Parameter(torch.randn(base.in_features, rank) / math.sqrt(base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(rank, base.out_features))

        def forward(self, x):
            return self.base(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)

    class Block(nn.Module):
        def __init__(self, width, heads, lora_rank):
            super().__init__()
            self.heads = heads
            self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
            if lora_rank:
                self.c_attn = LoRALinear(self.c_attn, lora_rank)
                self.c_proj = LoRALinear(self.c_proj, lora_rank)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # fused (flash / efficient)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self, vocab, context, layers, heads, width, tied=True, lora_rank=0):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(context, width)
            self.h = nn.ModuleList(Block(width, heads, lora_rank) for _ in range(layers))
            self.ln_f = nn.LayerNorm(width)
            self.lm_head = None if tied else nn.Linear(width, vocab, bias=False)
            for name, p in self.named_parameters():  # GPT-2's initialisation, as thaw's
                if p.dim() >= 2 and "lora_" not in name:
                    nn.init.normal_(p, 0.0, 0.02)

        def forward(self, idx, targets):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            x = self.ln_f(x)
            logits = self.lm_head(x) if self.lm_head is not None else F.linear(x, self.wte.weight)
            return F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.view(-1))

    return GPT


def trainable(name, variant, layers):
    if variant == "a":
        return True
    if variant == "b":
        return not (name.startswith(("wte.", "wpe.")) or any(name.startswith(f"h.{i}.") for i in range(layers // 2)))
    if variant == "c":
        return name.startswith(("ln_f.", "lm_head."))
    return "lora_" in name  # d


def make_optimizer(torch, model):
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if p.dim() >= 2 and not n.startswith(("wte.", "wpe."))]
    other = [p for n, p in named if not (p.dim() >= 2 and not n.startswith(("wte.", "wpe.")))]
    groups = [g for g in ({"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}) if g["params"]]
    kwargs = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs), "torch.optim.AdamW(fused=True)"
    except (TypeError, RuntimeError, ValueError) as exc:
        print(f"torch_gpt_step: fused AdamW unavailable ({exc}); using foreach", file=sys.stderr)
        return torch.optim.AdamW(groups, foreach=True, **kwargs), "torch.optim.AdamW(foreach=True)"


def run_one(torch, GPT, config, policy, variant, args, device_name):
    c = CONFIGS[config]
    record = {"impl": "torch", "config": config, "policy": policy, "variant": variant, "batch": args.batch,
              "context": c["context"], "tokens_per_step": args.batch * c["context"], "gpu": device_name}
    peak, note = peak_bf16_dense_tflops(device_name)
    record.update(peak_tflops_bf16_dense=peak, peak_note=note)
    if variant == "e":
        record.update(ms_per_step=None, tokens_per_s=None, mfu=None,
                      note="FreezeNet element masks: no PyTorch equivalent")
        return record

    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = policy == "tf32"
    torch.backends.cudnn.allow_tf32 = policy == "tf32"
    torch.manual_seed(0)
    model = GPT(c["vocab"], c["context"], c["layers"], c["heads"], c["width"], tied=variant != "c",
                lora_rank=8 if variant == "d" else 0).to(dev)
    for name, p in model.named_parameters():
        p.requires_grad_(trainable(name, variant, c["layers"]))
    opt, opt_name = make_optimizer(torch, model)
    gen = torch.Generator(device=dev).manual_seed(7)
    idx = torch.randint(0, c["vocab"], (args.batch, c["context"]), device=dev, generator=gen)
    targets = torch.randint(0, c["vocab"], (args.batch, c["context"]), device=dev, generator=gen)
    use_bf16 = policy == "bf16"

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(idx, targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(args.steps + 1)]
    events[0].record()
    loss = None
    for i in range(args.steps):
        loss = step()
        events[i + 1].record()
    events[-1].synchronize()
    ms = [events[i].elapsed_time(events[i + 1]) for i in range(args.steps)]
    if args.profile:  # one more step under torch.profiler: the kernels' GPU times, on stderr
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        print(f"torch profile ({config} {policy} {variant}, one step):", file=sys.stderr)
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70),
              file=sys.stderr)
    total_ms = events[0].elapsed_time(events[-1])
    ms_per_step = total_ms / args.steps
    flops = training_flops(c, args.batch)
    seconds = ms_per_step / 1e3
    record.update(
        params=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        warmup=args.warmup, steps=args.steps, ms=[round(m, 3) for m in ms],
        ms_per_step=round(ms_per_step, 4), ms_median=round(sorted(ms)[len(ms) // 2], 4),
        tokens_per_s=round(args.batch * c["context"] / seconds, 1),
        model_flops=flops, achieved_tflops=round(flops / seconds / 1e12, 2),
        mfu=round(flops / seconds / (peak * 1e12), 4) if peak else None,
        loss=round(float(loss.item()), 6),
        device_peak_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1),
        attention="F.scaled_dot_product_attention(is_causal=True)",
        optimizer=opt_name, autocast="bfloat16" if use_bf16 else None,
        tf32=bool(torch.backends.cuda.matmul.allow_tf32), torch=torch.__version__)
    del model, opt, idx, targets
    return record


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--config", default="ref", help="comma-separated: ref, gpt2 (default ref)")
    ap.add_argument("--policy", default="bf16", help="comma-separated: fp32, tf32, bf16 (default bf16)")
    ap.add_argument("--variant", default="a", help="comma-separated: a, b, c, d, e (default a)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--profile", action="store_true",
                    help="one more step under torch.profiler; its kernel table goes to stderr")
    args = ap.parse_args()
    configs, policies, variants = (v.split(",") for v in (args.config, args.policy, args.variant))
    for value, allowed, flag in ((configs, CONFIGS, "--config"), (policies, ("fp32", "tf32", "bf16"), "--policy"),
                                 (variants, VARIANTS, "--variant")):
        bad = [v for v in value if v not in allowed]
        if bad:
            ap.error(f"{flag}: unknown {', '.join(bad)} (allowed: {', '.join(allowed)})")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--batch and --steps must be >= 1, --warmup >= 0")

    try:
        import torch
    except Exception as exc:  # noqa: BLE001 (any import failure is reported the same way)
        print(f"torch_gpt_step: error: cannot import torch: {exc}", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print(f"torch_gpt_step: error: PyTorch {torch.__version__} sees no CUDA GPU; nothing ran", file=sys.stderr)
        return 1
    GPT = build_model_classes(torch)
    device_name = torch.cuda.get_device_name(0)
    print(f"torch_gpt_step: torch {torch.__version__} (CUDA {torch.version.cuda}) on {device_name}", file=sys.stderr)

    failures = 0
    for config in configs:
        for policy in policies:
            for variant in variants:
                t0 = time.perf_counter()
                try:
                    record = run_one(torch, GPT, config, policy, variant, args, device_name)
                except Exception as exc:  # noqa: BLE001 (one failing run, e.g. out of memory, must not stop the others)
                    failures += 1
                    traceback.print_exc()
                    record = {"impl": "torch", "config": config, "policy": policy, "variant": variant,
                              "batch": args.batch, "error": f"{type(exc).__name__}: {exc}"}
                finally:
                    torch.cuda.empty_cache()
                print(json.dumps(record), flush=True)
                print(f"torch_gpt_step: {config} {policy} {variant}: {record.get('ms_per_step')} ms/step "
                      f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
