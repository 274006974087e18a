#!/usr/bin/env python3
"""PyTorch reference for `tandem bench --model gpt`: training throughput of the same byte-level GPT.

Matches Tandem's `gpt` preset (Sources/Tandem/Layers/Transformer/*.swift): 4 pre-norm blocks,
4 heads, 128 channels, context 128, vocabulary 256; learned position embedding; Linear layers
with biases (c_attn C->3C, attn c_proj C->C, c_fc C->4C, mlp c_proj 4C->C); exact (erf) GELU;
LayerNorm eps 1e-5 with weight and bias; final ln_f; lm_head without bias, its weight tied to
wte; GPT-2 initialisation. Loss: cross-entropy over every position (token t+1 from tokens <= t).
Optimizer: `tandem bench`'s default, AdamW(lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0)
(Tandem's cosine schedule is left out: it does not change the step's cost).

  --ranks N            N processes (torch.multiprocessing spawn), DDP over gloo on 127.0.0.1,
                       one thread each
  --ranks 1 --threads T  one plain process, no DDP, T threads

Rank 0 prints one JSON line. Tooling only; not part of Tandem's tests.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import harness

LAYERS, HEADS, DIM, CONTEXT, VOCAB = 4, 4, 128, 128, 256
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "shakespeare.txt")


class CausalSelfAttention(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(c, 3 * c)
        self.c_proj = nn.Linear(c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c, 4 * c)
        self.gelu = nn.GELU()  # exact erf form, as Sources/CKernels/gelu.c
        self.c_proj = nn.Linear(4 * c, c)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c, eps=1e-5)
        self.attn = CausalSelfAttention(c, heads)
        self.ln_2 = nn.LayerNorm(c, eps=1e-5)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, layers=LAYERS, heads=HEADS, c=DIM, context=CONTEXT, vocab=VOCAB):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, c),
            wpe=nn.Embedding(context, c),
            h=nn.ModuleList([Block(c, heads) for _ in range(layers)]),
            ln_f=nn.LayerNorm(c, eps=1e-5),
        ))
        self.lm_head = nn.Linear(c, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied
        # GPT-2 initialisation, as Tandem: normal 0.02, residual projections 0.02/sqrt(2 layers), zero biases.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))
            elif name.endswith(".weight") and p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        t = idx.shape[1]
        pos = torch.arange(t, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def load_bytes():
    if os.path.exists(DATA):
        with open(DATA, "rb") as f:
            raw = f.read()
        raw = raw[: int(len(raw) * 0.9)]  # Tandem trains on the first 90 %
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()
    return torch.randint(0, VOCAB, (1_000_000,))


def run(rank, args):
    threads = harness.start(rank, args)
    local_batch = args.global_batch // args.ranks
    data = load_bytes()
    generator = torch.Generator().manual_seed(1000 + rank)
    offsets = torch.arange(CONTEXT + 1)

    def batch():
        starts = torch.randint(0, len(data) - CONTEXT - 1, (local_batch,), generator=generator)
        window = data[starts[:, None] + offsets]
        return window[:, :-1], window[:, 1:]

    def loss_of(logits, y):
        return F.cross_entropy(logits.view(-1, VOCAB), y.reshape(-1))

    harness.train_and_report(rank, args, "gpt", GPT(), batch, loss_of, threads, tokens_per_sample=CONTEXT)


def main():
    harness.launch(run, harness.parse(__doc__, 32))


if __name__ == "__main__":
    main()
