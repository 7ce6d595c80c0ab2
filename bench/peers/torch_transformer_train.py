#!/usr/bin/env python3
"""PyTorch CPU peer of `handgrad bench train --model transformer` (bench/train.ts): tokens/s of full
training steps of the same decoder-only transformer, built by hand from torch primitives (torch 1.13
has no scaled_dot_product_attention, so attention is explicit: Q·Kᵀ/√d over the full T×T, a causal
-inf mask, softmax, P·V):

  ids [B, T] -> token embedding [V, C] + learned positions [context, C]
  N × pre-LN block:  x = x + Wo·Attn(LN1(x));  x = x + W2·(silu(W1·LN2(x)) * W3·LN2(x))   (SwiGLU)
  LN_f -> untied head [C, V] (no bias) -> cross-entropy over B*T targets

Same as ours where it matters for speed: the same shapes and GEMMs (full T×T scores on both sides),
LayerNorm, Adam lr 2e-3 (betas 0.9/0.999, eps 1e-8), global-norm
clipping at 5, fp32, random windows of a random token stream, tokens/s = B*T / median step time over
`steps` timed steps after 3 warm-up steps, the step being zero-grad + forward + backward + clip + Adam.

Argument: one JSON object {dModel, heads, layers, context, ffHidden, batch, seq, vocab, threads, steps}.
Prints one JSON line {tokensPerSec, torch, threads, blasCore}. Exit code 3: torch is not installed.
With `--serve` after it ("steps" then unused): builds and warms up once, then answers requests for K
steps at a time on stdin (serve_steps.py), for the interleaved rounds of `bench train --rounds N`.
"""
import json
import math
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)
from serve_steps import split_args
from torch_peer import run_training_peer


class Block(torch.nn.Module):
    def __init__(self, C: int, H: int, FF: int) -> None:
        super().__init__()
        self.H = H
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C)  # biases as ours (qkv, proj); the FFN has none
        self.proj = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C)
        self.w1 = torch.nn.Linear(C, FF, bias=False)
        self.w3 = torch.nn.Linear(C, FF, bias=False)
        self.w2 = torch.nn.Linear(FF, C, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, d = self.H, C // self.H
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, H, d).transpose(1, 2)
        k = k.view(B, T, H, d).transpose(1, 2)
        v = v.view(B, T, H, d).transpose(1, 2)
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        s = s.masked_fill(mask[:T, :T], float("-inf"))
        z = torch.softmax(s, dim=-1) @ v
        x = x + self.proj(z.transpose(1, 2).reshape(B, T, C))
        h = self.ln2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


def main() -> None:
    arg, serve = split_args(sys.argv)
    cfg = json.loads(arg)
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(0)
    V, C, H, L, FF = cfg["vocab"], cfg["dModel"], cfg["heads"], cfg["layers"], cfg["ffHidden"]
    B, T, ctx = cfg["batch"], cfg["seq"], cfg["context"]
    emb = torch.nn.Embedding(V, C)
    pos = torch.nn.Parameter(torch.randn(ctx, C) * 0.02)
    blocks = torch.nn.ModuleList([Block(C, H, FF) for _ in range(L)])
    lnf = torch.nn.LayerNorm(C)
    head = torch.nn.Linear(C, V, bias=False)
    params = list(emb.parameters()) + [pos] + list(blocks.parameters()) + list(lnf.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    mask = torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), diagonal=1)
    data = torch.randint(0, V, (8, B, T + 1))

    def loss_of_step(k: int) -> torch.Tensor:
        x, y = data[k % 8, :, :T], data[k % 8, :, 1:]
        h = emb(x) + pos[:T]
        for b in blocks:
            h = b(h, mask)
        return F.cross_entropy(head(lnf(h)).reshape(B * T, V), y.reshape(B * T))

    run_training_peer(loss_of_step, params, opt, int(cfg.get("steps", 0)), B * T, serve)


if __name__ == "__main__":
    main()
