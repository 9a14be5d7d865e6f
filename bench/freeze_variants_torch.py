#!/usr/bin/python3
"""Issue 4's freezing benchmark, PyTorch's side (Debian's python3-torch): one training step
(forward + backward + AdamW) of the reference GPT under one freeze variant per process, the
peer of bench_freeze_variants. Same model as bench/gpt_step_torch.py (bench/torch_gpt.py) (vocab 256, context 256,
6 layers, 6 heads, width 384, MLP 4x GELU (tanh), pre-LN, learned positions, GPT-2 biases, no
dropout; batch 8). Frozen parameters have requires_grad=False and are not in the optimizer.

  a  full training
  b  embeddings + bottom 3 blocks frozen (tied head: frozen with wte)
  c  everything frozen but the final norm and an untied head
  d  all base weights frozen, rank-8 LoRA (alpha 8) on attention c_attn and c_proj trains
  e  FreezeNet element masks have no PyTorch equivalent: prints {"variant": "e", "ms": null}

AdamW: lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on matrices (dim >= 2, adapters included),
none on norms, biases and embeddings; PyTorch's default (for-loop) implementation.

Usage: freeze_variants_torch.py --variant a [--threads 2] [--steps 3] [--warmup 1]
Prints one JSON object: per-step wall ms, peak RSS (ru_maxrss) in MiB, RSS after importing
torch, trainable elements and optimizer state bytes (after the steps).
Set OMP_WAIT_POLICY=PASSIVE in the environment for 2 threads (see ../shared/BENCHMARKING.md).
"""
import argparse
import json
import resource
import time


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


START_RSS = peak_rss_mib()
import torch  # noqa: E402  (after the baseline RSS)

IMPORT_RSS = peak_rss_mib()


from torch_gpt import GPT  # noqa: E402


def build(variant):
    model = GPT(tied=variant != "c", lora_rank=8 if variant == "d" else 0)
    for name, p in model.named_parameters():
        if variant == "a":
            train = True
        elif variant == "b":
            train = not (name.startswith("wte.") or name.startswith("wpe.") or
                         any(name.startswith(f"h.{i}.") for i in range(3)))
        elif variant == "c":
            train = name.startswith("ln_f.") or name.startswith("lm_head.")
        else:  # d
            train = "lora_" in name
        p.requires_grad_(train)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if p.dim() >= 2 and not n.startswith(("wte.", "wpe."))]
    no_decay = [p for n, p in trainable if not (p.dim() >= 2 and not n.startswith(("wte.", "wpe.")))]
    groups = [g for g in ({"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95))
    return model, opt, sum(p.numel() for _, p in trainable)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True, choices=list("abcde"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    if a.variant == "e":
        print(json.dumps({"variant": "e", "ms": None, "peak_rss_mib": None, "trainable": None,
                          "optimizer_state_bytes": None,
                          "note": "FreezeNet element masks: no PyTorch equivalent"}))
        return
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model, opt, trainable = build(a.variant)
    idx = torch.randint(0, 256, (8, 256))
    targets = torch.randint(0, 256, (8, 256))
    ms = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(idx, targets)
        loss.backward()
        opt.step()
        if i >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    state_bytes = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
                      if torch.is_tensor(t) and t.dim() > 0)
    print(json.dumps({"variant": a.variant, "ms": ms, "peak_rss_mib": peak_rss_mib(), "import_rss_mib": IMPORT_RSS,
                      "start_rss_mib": START_RSS, "trainable": trainable, "optimizer_state_bytes": state_bytes,
                      "threads": a.threads, "loss": loss.item(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
