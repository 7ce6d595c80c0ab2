#!/usr/bin/env python3
"""PyTorch GPU peer of `handgrad bench moe --device cuda` (bench/moe.ts): training tokens/s of the same
sparse Mixture-of-Experts transformer, run in the same GPU session so the ratio is fair, in every
variant a PyTorch user would reasonably write; the best one is the figure to beat.

  ids [B, T] -> token embedding [V, C] (tied with the head) + learned positions [T, C]
  N × pre-LN block:  x = x + Wo·Attn(LN1(x))  (fused QKV, causal scaled_dot_product_attention, flash kernel)
                     x = x + MoE(LN2(x))      router C→E softmax, top-k, renormalised gates, SwiGLU experts
                                              C→F→C (dropless), Switch balance loss (coef 0.01) and
                                              router z-loss (0.001)
  LN_f -> tied head -> cross-entropy over B*T targets; AdamW lr 3e-4, wd 0.1, clip 1.0.

Variants (the expert computation is what differs; attention, norms and the rest are the same code):
  loop-fp32     one GEMM per expert on its own rows after sorting the assignments by expert (the usual
                eager MoE: the per-expert row counts are read on the host, one sync per layer), fp32.
  loop-bf16     the same under bf16 autocast.
  grouped-bf16  all experts in one torch._grouped_mm per projection (the grouped GEMM PyTorch added
                for MoE; bf16 operands, fp32 master weights cast per step), the dispatch padded per
                expert to 16 rows and computed on the device: static shapes, no host sync (the layout
                of torchtitan's GroupedExperts: weights stored [E, N, K], passed transposed).
                Needs torch._grouped_mm (torch >= 2.8) and a GPU it supports (sm_90 in 2.8).
  compile-bf16  torch.compile of the whole model, on grouped-bf16 where that runs, else loop-bf16
                (autocast); compile time is reported apart and not in the step time.
tokens/s = B*T / median step time over `steps` timed steps after `warmup` (default 5; compile-bf16
one more, the compiling step); a step is zero-grad + forward + backward + clip + AdamW. Every
variant starts from the same weights and batch, so their first-step losses (`loss0`) agree to bf16
precision when the variants compute the same model (a check that the grouped path is right).

Argument: one JSON object {vocab, context, dModel, heads, layers, experts, topK, expertHidden, batch,
steps, warmup?, variants? (list, default all four; "dtype": "fp32"|"bf16" alone still means
loop-fp32 / loop-bf16), device? ("cuda" default; "cpu" only to rehearse the script with a tiny
config), emulateGroupedMm? (rehearsal only: where torch has no _grouped_mm, stand in a loop with its
semantics, so the grouped variant's padded dispatch is checked against loop-bf16 through loss0)}. Prints one JSON line per variant {variant, tokensPerSec, stepMs, peakBytes, loss0,
compileS?, error?/skipped?}, then {"summary": true, best, bestTokensPerSec, variants: [...], torch,
device}. Exit code 3: torch or a CUDA device is missing.
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

ALL_VARIANTS = ['loop-fp32', 'loop-bf16', 'grouped-bf16', 'compile-bf16']
ALIGN = 16  # rows per expert group are padded to this for torch._grouped_mm


def attention(q, k, v):
    if hasattr(F, 'scaled_dot_product_attention'):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # torch < 2.0 (a CPU rehearsal only): the same maths, materialised.
    T = q.shape[-2]
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float('-inf'))
    return s.softmax(-1) @ v


class MoE(torch.nn.Module):
    def __init__(self, C: int, E: int, k: int, FH: int, grouped: bool, gen: torch.Generator) -> None:
        super().__init__()
        self.E, self.k, self.grouped = E, k, grouped
        self.router = torch.nn.Linear(C, E, bias=False)
        # Drawn as ours are stored, W13 [E, C, 2F] (gate then up) and W2 [E, F, C], from one generator
        # so that every variant starts from the same weights.
        w13 = torch.randn(E, C, 2 * FH, generator=gen) * math.sqrt(2.0 / (C + FH))
        w2 = torch.randn(E, FH, C, generator=gen) * math.sqrt(2.0 / (C + FH))
        if grouped:  # [E, N, K], passed to _grouped_mm as .transpose(-2, -1)
            w13, w2 = w13.transpose(1, 2).contiguous(), w2.transpose(1, 2).contiguous()
        self.w13 = torch.nn.Parameter(w13)
        self.w2 = torch.nn.Parameter(w2)

    def route(self, x):
        logits = self.router(x).float()
        p = logits.softmax(-1)
        gate, idx = p.topk(self.k, dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)
        return logits, p, gate, idx

    def aux(self, logits, p, counts, n):
        f = counts.float() / (n * self.k)
        balance = 0.01 * self.E * (f * p.mean(0)).sum()
        z = 0.001 * torch.logsumexp(logits, -1).pow(2).mean()
        return balance + z

    def forward(self, x: torch.Tensor):
        n, C = x.shape
        logits, p, gate, idx = self.route(x)
        flat = idx.reshape(-1)
        order = torch.sort(flat, stable=True).indices
        tok = order // self.k
        counts = torch.bincount(flat, minlength=self.E)
        w = gate.reshape(-1)[order].unsqueeze(-1)
        if self.grouped:
            out = self.experts_grouped(x, flat[order], tok, counts)
        else:
            out = self.experts_loop(x[tok], counts)
        y = torch.zeros(n, C, device=x.device, dtype=out.dtype)
        y.index_add_(0, tok, out * w.to(out.dtype))
        return y, self.aux(logits, p, counts, n)

    def experts_loop(self, xd, counts):
        out = torch.empty_like(xd)
        start = 0
        for e, c in enumerate(counts.tolist()):  # one host sync per layer, like most eager MoEs
            if c:
                h = xd[start:start + c] @ self.w13[e].to(xd.dtype)
                a, b = h.chunk(2, dim=-1)
                out[start:start + c] = (F.silu(a) * b) @ self.w2[e].to(xd.dtype)
            start += c
        return out

    def experts_grouped(self, x, expert, tok, counts):
        # Sorted assignment j of expert e goes to row padStart[e] + (j - start[e]) of a buffer with room
        # for every group padded to ALIGN rows: a static shape, computed without reading counts.
        nk = expert.shape[0]
        padded = (counts + ALIGN - 1) // ALIGN * ALIGN
        pad_end = torch.cumsum(padded, 0)
        start = torch.cumsum(counts, 0) - counts
        dest = (pad_end - padded)[expert] + torch.arange(nk, device=x.device) - start[expert]
        rows = nk + ALIGN * self.E
        xd = torch.zeros(rows, x.shape[1], device=x.device, dtype=torch.bfloat16)
        xd[dest] = x[tok].to(torch.bfloat16)
        offs = pad_end.to(torch.int32)
        h = torch._grouped_mm(xd, self.w13.to(torch.bfloat16).transpose(-2, -1), offs=offs)
        a, b = h.chunk(2, dim=-1)
        o = torch._grouped_mm(F.silu(a) * b, self.w2.to(torch.bfloat16).transpose(-2, -1), offs=offs)
        return o[dest]


class Block(torch.nn.Module):
    def __init__(self, C: int, H: int, E: int, k: int, FH: int, grouped: bool, gen: torch.Generator) -> None:
        super().__init__()
        self.H = H
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C, bias=False)
        self.proj = torch.nn.Linear(C, C, bias=False)
        self.ln2 = torch.nn.LayerNorm(C)
        self.moe = MoE(C, E, k, FH, grouped, gen)

    def forward(self, x: torch.Tensor):
        B, T, C = x.shape
        q, kk, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, kk, v = (t.reshape(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, kk, v))
        a = attention(q, kk, v)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, C))
        y, aux = self.moe(self.ln2(x).reshape(B * T, C))
        return x + y.view(B, T, C).to(x.dtype), aux


class Model(torch.nn.Module):
    def __init__(self, cfg: dict, grouped: bool) -> None:
        super().__init__()
        torch.manual_seed(0)  # the same dense weights in every variant
        gen = torch.Generator().manual_seed(1)  # and the same experts
        C = cfg['dModel']
        self.tok = torch.nn.Embedding(cfg['vocab'], C)
        self.pos = torch.nn.Embedding(cfg['context'], C)
        self.blocks = torch.nn.ModuleList(
            Block(C, cfg['heads'], cfg['experts'], cfg['topK'], cfg['expertHidden'], grouped, gen)
            for _ in range(cfg['layers']))
        self.lnf = torch.nn.LayerNorm(C)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor):
        B, T = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))
        aux = 0.0
        for blk in self.blocks:
            x, a = blk(x)
            aux = aux + a
        logits = self.lnf(x) @ self.tok.weight.t().to(x.dtype)
        return F.cross_entropy(logits.float().view(B * T, -1), targets.view(-1)) + aux


def has_grouped_mm() -> bool:
    return hasattr(torch, '_grouped_mm')


def emulated_grouped_mm(a, b, offs=None, out_dtype=None):
    """torch._grouped_mm's 2D × 3D semantics (rows offs[g-1]:offs[g] of a times b[g]), for rehearsals."""
    out = torch.zeros(a.shape[0], b.shape[-1], dtype=out_dtype or a.dtype, device=a.device)
    start = 0
    for g, end in enumerate(offs.tolist()):
        if end > start:
            out[start:end] = (a[start:end].float() @ b[g].float()).to(out.dtype)
        start = end
    return out


def run_variant(name: str, cfg: dict, dev: torch.device) -> dict:
    """Times one variant; returns its report line (with `skipped` or `error` instead of timings)."""
    grouped = name == 'grouped-bf16' or (name == 'compile-bf16' and has_grouped_mm() and dev.type == 'cuda')
    if grouped and not has_grouped_mm():
        return {'variant': name, 'skipped': f'torch._grouped_mm is not in torch {torch.__version__}'}
    if name == 'compile-bf16' and not hasattr(torch, 'compile'):
        return {'variant': name, 'skipped': f'torch.compile is not in torch {torch.__version__}'}
    bf16 = name != 'loop-fp32'
    autocast = bf16 and not grouped  # the grouped path casts its expert operands itself
    model = Model(cfg, grouped).to(dev)
    step_model = torch.compile(model) if name == 'compile-bf16' else model
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    B, T, V = cfg['batch'], cfg['context'], cfg['vocab']
    data = torch.Generator(device='cpu').manual_seed(7)
    batches = [(torch.randint(0, V, (B, T), generator=data), torch.randint(0, V, (B, T), generator=data))
               for _ in range(2)]
    warmup = cfg.get('warmup', 5) + (1 if name == 'compile-bf16' else 0)
    cuda = dev.type == 'cuda'
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    times, loss0, compile_s = [], None, None
    for i in range(warmup + cfg['steps']):
        ids, tg = (t.to(dev) for t in batches[i % 2])  # step 0 sees the same batch in every variant
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
            loss = step_model(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i == 0:
            loss0 = float(loss)
            if name == 'compile-bf16':
                compile_s = dt
        if i >= warmup:
            times.append(dt)
    times.sort()
    med = times[len(times) // 2]
    out = {'variant': name, 'tokensPerSec': B * T / med, 'stepMs': med * 1e3, 'loss0': loss0,
           'peakBytes': torch.cuda.max_memory_allocated() if cuda else None,
           'experts': 'torch._grouped_mm' if grouped else 'one GEMM per expert'}
    if compile_s is not None:
        out['compileS'] = compile_s
    del model, step_model, opt
    if cuda:
        torch.cuda.empty_cache()
    return out


def main() -> None:
    cfg = json.loads(sys.argv[1])
    dev = torch.device(cfg.get('device', 'cuda'))
    if dev.type == 'cuda' and not torch.cuda.is_available():
        sys.exit(3)
    if cfg.get('emulateGroupedMm') and not has_grouped_mm():
        torch._grouped_mm = emulated_grouped_mm
    if 'variants' in cfg:
        variants = cfg['variants']
    elif 'dtype' in cfg:
        variants = ['loop-bf16' if cfg['dtype'] == 'bf16' else 'loop-fp32']
    else:
        variants = ALL_VARIANTS
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        print(f'torch_moe_train.py: unknown variant(s) {unknown}; expected some of {ALL_VARIANTS}', file=sys.stderr)
        sys.exit(2)
    device = torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu'
    results = []
    for name in variants:
        try:
            r = run_variant(name, cfg, dev)
        except Exception as e:  # a variant this torch or GPU cannot run: report it, go on with the rest
            r = {'variant': name, 'error': f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:300]}
            if dev.type == 'cuda':
                torch.cuda.empty_cache()
        r.update({'torch': torch.__version__, 'device': device})
        results.append(r)
        print(json.dumps(r), flush=True)
    timed = [r for r in results if 'tokensPerSec' in r]
    best = max(timed, key=lambda r: r['tokensPerSec']) if timed else None
    print(json.dumps({'summary': True, 'best': best['variant'] if best else None,
                      'bestTokensPerSec': best['tokensPerSec'] if best else None,
                      'variants': results, 'torch': torch.__version__, 'device': device}), flush=True)


if __name__ == '__main__':
    main()
