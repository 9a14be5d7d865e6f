"""GPT-2 in plain PyTorch with Hugging Face's parameter names and layouts, for parity tests.

Usage: gpt2_torch.py OUT_DIR DTYPE(float32|float64) [tied|untied]

Builds a small GPT-2-architecture model with random weights (every parameter, norms included,
drawn at random so no gradient hides behind a 1 or a 0), runs it on fixed tokens and writes:
  OUT_DIR/weights.safetensors   the parameters under Hugging Face GPT-2 names, Conv1D [in, out]
  OUT_DIR/expected.safetensors  tokens, targets (as F64), logits, loss and "grad.<name>" for
                                every parameter, from loss.backward()
Written without the safetensors package: 8-byte header length, JSON header, raw data.
"""
import json
import math
import struct
import sys

import torch


def make_params(V, CTX, L, C, dtype, tied=True):
    def param(*shape, std=0.1, mean=0.0):
        return (torch.randn(*shape, dtype=torch.float64) * std + mean).to(dtype).requires_grad_()

    params = {"wte.weight": param(V, C, std=0.2), "wpe.weight": param(CTX, C, std=0.1)}
    for i in range(L):
        p = f"h.{i}."
        params[p + "ln_1.weight"] = param(C, mean=1.0)
        params[p + "ln_1.bias"] = param(C)
        params[p + "attn.c_attn.weight"] = param(C, 3 * C)
        params[p + "attn.c_attn.bias"] = param(3 * C)
        params[p + "attn.c_proj.weight"] = param(C, C)
        params[p + "attn.c_proj.bias"] = param(C)
        params[p + "ln_2.weight"] = param(C, mean=1.0)
        params[p + "ln_2.bias"] = param(C)
        params[p + "mlp.c_fc.weight"] = param(C, 4 * C)
        params[p + "mlp.c_fc.bias"] = param(4 * C)
        params[p + "mlp.c_proj.weight"] = param(4 * C, C)
        params[p + "mlp.c_proj.bias"] = param(C)
    params["ln_f.weight"] = param(C, mean=1.0)
    params["ln_f.bias"] = param(C)
    if not tied:
        params["lm_head.weight"] = param(C, V)  # thaw's untied head is [in, out]
    return params


def gelu(x):  # GPT-2's tanh approximation
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(params, tokens, L, H, eps=1e-5):
    B, T = tokens.shape
    C = params["wte.weight"].shape[1]
    x = params["wte.weight"][tokens] + params["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(L):
        p = f"h.{i}."
        h = torch.nn.functional.layer_norm(x, (C,), params[p + "ln_1.weight"], params[p + "ln_1.bias"], eps)
        qkv = h @ params[p + "attn.c_attn.weight"] + params[p + "attn.c_attn.bias"]
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in qkv.split(C, dim=2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ params[p + "attn.c_proj.weight"] + params[p + "attn.c_proj.bias"]
        h = torch.nn.functional.layer_norm(x, (C,), params[p + "ln_2.weight"], params[p + "ln_2.bias"], eps)
        h = gelu(h @ params[p + "mlp.c_fc.weight"] + params[p + "mlp.c_fc.bias"])
        x = x + h @ params[p + "mlp.c_proj.weight"] + params[p + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (C,), params["ln_f.weight"], params["ln_f.bias"], eps)
    head = params.get("lm_head.weight")
    return x @ (params["wte.weight"].t() if head is None else head)


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {"__metadata__": metadata or {"writer": "tests/interop/gpt2_torch.py"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        code = {torch.float32: "F32", torch.float64: "F64"}[t.dtype]
        blob = t.numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out_dir, dtype_name = sys.argv[1], sys.argv[2]
    tied = len(sys.argv) < 4 or sys.argv[3] == "tied"
    dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    V, CTX, L, H, C, B, T = 50, 16, 2, 2, 32, 2, 16
    params = make_params(V, CTX, L, C, dtype, tied)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[0, 3] = -1  # ignored positions
    targets[1, 7] = -1
    logits = forward(params, tokens, L, H)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    loss.backward()
    write_safetensors(f"{out_dir}/weights.safetensors", params)
    expected = {"tokens": tokens.double(), "targets": targets.double(), "logits": logits,
                "loss": loss.reshape(1)}
    expected.update({"grad." + n: p.grad for n, p in params.items()})
    write_safetensors(f"{out_dir}/expected.safetensors", expected)
    print(f"loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
