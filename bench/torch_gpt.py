"""The reference GPT in PyTorch, shared by bench/gpt_step_torch.py and
bench/freeze_variants_torch.py: the same model as thaw's nn::gpt (pre-LN, learned positions,
MLP 4x GELU (tanh), GPT-2 biases and initialisation, no dropout; tied head unless tied=False;
optional rank-r LoRA on attention c_attn and c_proj as thaw's nn/lora.hpp)."""
import math

import torch


class LoRALinear(torch.nn.Module):
    """y = base(x) + (alpha / r) (x A) B (Hu et al. 2021); A ~ N(0, 1/in), B = 0, as thaw's."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_A = torch.nn.Parameter(torch.randn(base.in_features, rank) / math.sqrt(base.in_features))
        self.lora_B = torch.nn.Parameter(torch.zeros(rank, base.out_features))

    def forward(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_A) @ self.lora_B)


class Block(torch.nn.Module):
    def __init__(self, c, h, lora_rank=0):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(c), torch.nn.LayerNorm(c)
        self.c_attn, self.c_proj = torch.nn.Linear(c, 3 * c), torch.nn.Linear(c, c)
        self.c_fc, self.mlp_proj = torch.nn.Linear(c, 4 * c), torch.nn.Linear(4 * c, c)
        if lora_rank:
            self.c_attn = LoRALinear(self.c_attn, lora_rank, 8.0)
            self.c_proj = LoRALinear(self.c_proj, lora_rank, 8.0)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
        att = att.masked_fill(mask[:, :, :T, :T] == 0, float("-inf")).softmax(dim=-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(torch.nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, vocab=256, ctx=256, layers=6, heads=6, width=384, tied=True, lora_rank=0):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(vocab, width), torch.nn.Embedding(ctx, width)
        self.h = torch.nn.ModuleList(Block(width, heads, lora_rank) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(width)
        self.lm_head = None if tied else torch.nn.Linear(width, vocab, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx))
        for name, p in self.named_parameters():  # GPT-2's initialisation, as thaw's
            if p.dim() >= 2 and "lora_" not in name:
                torch.nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x, self.mask)
        x = self.ln_f(x)
        logits = self.lm_head(x) if self.lm_head is not None else x @ self.wte.weight.t()
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
