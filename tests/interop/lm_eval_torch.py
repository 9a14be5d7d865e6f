"""Writes a GPT-2-format checkpoint (config.json, weights.safetensors) and a uint16 token file,
and prints PyTorch's mean next-token loss over that file by thaw-lm eval's windowing:
consecutive non-overlapping windows of n_positions tokens, a final shorter window if it has at
least 2 tokens, every token but a window's first predicted; the mean over all predictions.

Usage: lm_eval_torch.py OUT_DIR   (prints "loss X" with X to 9 decimals)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import forward, make_params, write_safetensors  # noqa: E402

out_dir = sys.argv[1]
torch.manual_seed(2)
torch.set_num_threads(1)
V, CTX, L, H, C = 300, 32, 2, 4, 32
config = {"model_type": "gpt2", "n_layer": L, "n_head": H, "n_embd": C, "n_positions": CTX,
          "vocab_size": V, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
with open(f"{out_dir}/config.json", "w") as f:
    json.dump(config, f)
with torch.no_grad():
    params = make_params(V, CTX, L, C, torch.float32)
    write_safetensors(f"{out_dir}/weights.safetensors", params, {"format": "pt"})
    tokens = torch.randint(0, V, (5 * CTX + 11,), generator=torch.Generator().manual_seed(3))
    tokens.numpy().astype("<u2").tofile(f"{out_dir}/tokens.bin")
    total, count = 0.0, 0
    for start in range(0, len(tokens), CTX):
        window = tokens[start:start + CTX]
        if len(window) < 2:
            continue
        logits = forward(params, window.unsqueeze(0), L, H)[0]
        losses = torch.nn.functional.cross_entropy(logits[:-1].double(), window[1:], reduction="sum")
        total += losses.item()
        count += len(window) - 1
print(f"loss {total / count:.9f}")
