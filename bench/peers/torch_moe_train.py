#!/usr/bin/env python3
"""PyTorch GPU peer of `handgrad bench moe --device cuda` (bench/moe.ts): training tokens/s of the same
sparse Mixture-of-Experts transformer, run in the same GPU session so the ratio is fair.

  ids [B, T] -> token embedding [V, C] (tied with the head) + learned positions [T, C]
  N × pre-LN block:  x = x + Wo·Attn(LN1(x))  (fused QKV, causal scaled_dot_product_attention, flash kernel)
                     x = x + MoE(LN2(x))      router C→E softmax, top-k, renormalised gates, SwiGLU experts
                                              C→F→C, dispatch by sorting tokens by expert (dropless),
                                              Switch balance loss (coef 0.01) and router z-loss (0.001)
  LN_f -> tied head -> cross-entropy over B*T targets; AdamW lr 3e-4, clip 1.0.

The experts run as one GEMM per expert on its own rows (the usual eager-PyTorch MoE; there is no
grouped GEMM in torch), in fp32 or under bf16 autocast (`dtype`), with torch.compile off: the figure
is what a plain PyTorch program gets. tokens/s = B*T / median step time over `steps` timed steps
after 5 warm-up steps; the step is zero-grad + forward + backward + clip + AdamW.

Argument: one JSON object {vocab, context, dModel, heads, layers, experts, topK, expertHidden, batch,
steps, dtype ("fp32" | "bf16")}. Prints one JSON line {tokensPerSec, peakBytes, torch, dtype, device}.
Exit code 3: torch or a CUDA device is missing.
"""
import json
import math
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)
if not torch.cuda.is_available():
    sys.exit(3)


class MoE(torch.nn.Module):
    def __init__(self, C: int, E: int, k: int, FH: int) -> None:
        super().__init__()
        self.E, self.k = E, k
        self.router = torch.nn.Linear(C, E, bias=False)
        # Stacked expert weights, as ours: W13 [E, C, 2F] (gate then up), W2 [E, F, C].
        self.w13 = torch.nn.Parameter(torch.randn(E, C, 2 * FH) * math.sqrt(2.0 / (C + FH)))
        self.w2 = torch.nn.Parameter(torch.randn(E, FH, C) * math.sqrt(2.0 / (C + FH)))

    def forward(self, x: torch.Tensor):
        n, C = x.shape
        logits = self.router(x).float()
        p = logits.softmax(-1)
        gate, idx = p.topk(self.k, dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)
        flat = idx.reshape(-1)
        order = flat.argsort(stable=True)
        counts = torch.bincount(flat, minlength=self.E).tolist()  # one host sync, like ours
        tok = order // self.k
        xd = x[tok]
        out = torch.empty(n * self.k, C, device=x.device, dtype=x.dtype)
        start = 0
        for e, c in enumerate(counts):
            if c:
                h = xd[start:start + c] @ self.w13[e].to(x.dtype)
                a, b = h.chunk(2, dim=-1)
                out[start:start + c] = (F.silu(a) * b) @ self.w2[e].to(x.dtype)
            start += c
        y = torch.zeros(n, C, device=x.device, dtype=out.dtype)
        w = gate.reshape(-1)[order].unsqueeze(-1).to(out.dtype)
        y.index_add_(0, tok, out * w)
        f = torch.tensor(counts, device=x.device, dtype=torch.float32) / (n * self.k)
        balance = 0.01 * self.E * (f * p.mean(0)).sum()
        z = 0.001 * torch.logsumexp(logits, -1).pow(2).mean()
        return y, balance + z


class Block(torch.nn.Module):
    def __init__(self, C: int, H: int, E: int, k: int, FH: int) -> None:
        super().__init__()
        self.H = H
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C, bias=False)
        self.proj = torch.nn.Linear(C, C, bias=False)
        self.ln2 = torch.nn.LayerNorm(C)
        self.moe = MoE(C, E, k, FH)

    def forward(self, x: torch.Tensor):
        B, T, C = x.shape
        q, kk, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, kk, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, kk, v))
        a = F.scaled_dot_product_attention(q, kk, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
        y, aux = self.moe(self.ln2(x).reshape(B * T, C))
        return x + y.view(B, T, C), aux


class Model(torch.nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        C = cfg['dModel']
        self.tok = torch.nn.Embedding(cfg['vocab'], C)
        self.pos = torch.nn.Embedding(cfg['context'], C)
        self.blocks = torch.nn.ModuleList(
            Block(C, cfg['heads'], cfg['experts'], cfg['topK'], cfg['expertHidden']) for _ in range(cfg['layers']))
        self.lnf = torch.nn.LayerNorm(C)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor):
        B, T = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))
        aux = 0.0
        for blk in self.blocks:
            x, a = blk(x)
            aux = aux + a
        logits = self.lnf(x) @ self.tok.weight.t()
        return F.cross_entropy(logits.float().view(B * T, -1), targets.view(-1)) + aux


def main() -> None:
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    dev = torch.device('cuda')
    model = Model(cfg).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    B, T, V = cfg['batch'], cfg['context'], cfg['vocab']
    bf16 = cfg.get('dtype', 'fp32') == 'bf16'
    times = []
    torch.cuda.reset_peak_memory_stats()
    for i in range(5 + cfg['steps']):
        ids = torch.randint(0, V, (B, T), device=dev)
        tg = torch.randint(0, V, (B, T), device=dev)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=bf16):
            loss = model(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({'tokensPerSec': B * T / med, 'peakBytes': torch.cuda.max_memory_allocated(),
                      'torch': torch.__version__, 'dtype': 'bf16' if bf16 else 'fp32',
                      'device': torch.cuda.get_device_name(0)}))


if __name__ == '__main__':
    main()
