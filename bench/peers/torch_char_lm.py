#!/usr/bin/env python3
"""PyTorch CPU peer of `handgrad bench quality` (bench/quality.ts): trains the same character language
model as ours, of the same size, on exactly the same token ids, for the same wall-clock budget, and
validates it on the same held-out windows at the same cadence in time.

Models (each the same function and the same initialisation as ours; parameter counts equal):
  rnn, lstm, gru      embedding [V,E] N(0,1) -> nn.RNN(tanh) / nn.LSTM / nn.GRU, L layers, weights
                      U(+-1/sqrt(H)) -> head x.W + b, W [H,V] Xavier-uniform, b 0
                      (src/models/recurrent-lm.ts). Ours has ONE bias per RNN/LSTM layer where torch
                      has two: bias_hh is kept at 0 and frozen, so the function and the Adam
                      dynamics are ours; bias_ih starts at 0 (LSTM: forget-gate block at 1, as ours).
                      GRU: torch's formulation is ours with gruVariant 'pytorch' (reset gate after
                      the recurrent product, two biases, both 0 at the start); 'paper' is refused.
  lstm-attention      the LSTM above from a zero state in every window, then causal inclusive
                      attention over its own hidden states (src/models/attention-lm.ts):
                      K = h.Wa, e_tj = h_t.K_j (j <= t), a = softmax_j, c_t = sum_j a_tj h_j,
                      h~ = tanh(c.Wcc + h.Wcs), logits = h~.W + b; Wa, Wcc, Wcs [H,H] Xavier.
  transformer         decoder-only, pre-LayerNorm (eps 1e-5), learned positions (src/models/transformer.ts):
                      x = E[ids] + P[t] (both N(0, 0.02^2)); per block x += proj(attn(LN1 x)),
                      x += FFN(LN2 x) with FFN gelu (tanh approximation, biases) or swiglu (no
                      biases); QKV [C,3C] and proj with biases, Xavier, the two residual-branch
                      output matrices scaled by 1/sqrt(2N); LN_f; head [C,V] Xavier, no bias.
Every matrix is stored as ours ([in, out], y = x.W), so our model.safetensors loads by name (the
recurrent cells' weights transposed into torch's layout): see `parity` below.

Training, as ours (src/train/trainer.ts): Adam (betas 0.9/0.999, eps 1e-8, constant lr), global-norm
clipping, mean cross-entropy over the B*T targets, fp32. Batches as ours (src/data/batcher.ts):
the recurrent models walk the training ids as B contiguous streams in windows of T (truncated BPTT,
state carried and detached between windows, reset when the walk wraps); lstm-attention and the
transformer take B random windows per step. Validation as ours (trainer.evaluate): the first
min(valBatches, windows per pass) windows of the validation ids cut into B streams, from a fresh
state (carried from window to window for the recurrent models), mean of the window means, in
eval mode (no dropout).

Time: the clock runs from the first step; validation pauses it (ours leaves its validations out of
its training time too: bench/quality.ts). A validation is due once `valEverySec` of training time
has passed since the last one; the last is at the end.

Dropout (`dropout` in modelOptions, default 0): on the embedding output, between stacked recurrent
layers (torch's own `dropout=`) and on the top recurrent output before the head (lstm-attention:
before the attention); transformer: on the embeddings + positions, on each residual branch's
output before it is added and on the attention probabilities (GPT-2's embd/resid/attn dropout, all
with the same p). Ours must place it the same way.

Threads: with more than one of `threadChoices`, a short trial of training steps at each (before the
clock starts, from a fresh model) picks the fastest, and the run uses that one ("its best of").

Arguments: paths to JSON config files (see bench/quality.ts, peerConfig()). Progress goes to
stderr; one JSON line per config goes to stdout: steps, tokens/s, the validation curve, the best and final
validation loss, the sample from the best weights, the parity loss, the torch version and threads.
Parity: with `parityWeights` (one of our model.safetensors), the peer first loads those weights into
its own model and validates them (before its clock starts): equal to ours' validation of the same
weights up to fp32 rounding when the architectures are the same.
With `parityOnly`, that is all it does. Exit code 3: torch is not installed.
"""
import copy
import json
import math
import struct
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)
from blas_info import blas_core


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_ids(path: str) -> torch.Tensor:
    """Token ids written by bench/quality.ts: little-endian int32."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    return torch.frombuffer(data, dtype=torch.int32).to(torch.long)


def xavier(fan_in: int, fan_out: int, scale: float = 1.0) -> torch.nn.Parameter:
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.nn.Parameter(torch.empty(fan_in, fan_out).uniform_(-a, a) * scale)


def zeros(*shape: int) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(*shape))


# ---- models ----------------------------------------------------------------------------------------

class RecurrentLM(torch.nn.Module):
    """rnn, lstm, gru; and the LSTM under lstm-attention. Time-major [T, B] in, [T, B, V] out."""

    stateful = True

    def __init__(self, kind: str, V: int, E: int, H: int, L: int, p: float, head: bool = True) -> None:
        super().__init__()
        self.kind, self.H, self.L, self.has_head = kind, H, L, head
        self.embed = torch.nn.Parameter(torch.randn(V, E))
        cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        self.rnn = cell(E, H, num_layers=L, dropout=p if L > 1 else 0.0)
        with torch.no_grad():
            for l in range(L):
                getattr(self.rnn, f"bias_ih_l{l}").zero_()
                getattr(self.rnn, f"bias_hh_l{l}").zero_()
                if kind == "lstm":
                    getattr(self.rnn, f"bias_ih_l{l}")[H:2 * H] = 1.0  # forget gate, as ours
                if kind in ("rnn", "lstm"):  # ours has one bias: torch's second stays 0
                    getattr(self.rnn, f"bias_hh_l{l}").requires_grad_(False)
        self.drop = torch.nn.Dropout(p)
        if head:
            self.head_W = xavier(H, V)
            self.head_b = zeros(V)

    def hidden(self, x: torch.Tensor, state):
        return self.rnn(self.drop(F.embedding(x, self.embed)), state)

    def forward(self, x: torch.Tensor, state):
        y, state = self.hidden(x, state)
        return self.drop(y) @ self.head_W + self.head_b, state

    def load_ours(self, t: dict, prefix: str = None) -> None:
        prefix = prefix or self.kind
        with torch.no_grad():
            self.embed.copy_(t["embed.table"])
            for l in range(self.L):
                g = lambda n: t[f"{prefix}.{l}.{n}"]  # noqa: E731
                getattr(self.rnn, f"weight_ih_l{l}").copy_(g("Wx").T)
                getattr(self.rnn, f"weight_hh_l{l}").copy_(g("Wh").T)
                if self.kind == "gru":
                    getattr(self.rnn, f"bias_ih_l{l}").copy_(g("bx"))
                    getattr(self.rnn, f"bias_hh_l{l}").copy_(g("bh"))
                else:
                    getattr(self.rnn, f"bias_ih_l{l}").copy_(g("b"))
                    getattr(self.rnn, f"bias_hh_l{l}").zero_()
            if self.has_head:
                self.head_W.copy_(t["head.W"])
                self.head_b.copy_(t["head.b"])


class AttentionLM(torch.nn.Module):
    """lstm-attention: batch-major [B, T] in, [B, T, V] out; every window from a zero state."""

    stateful = False

    def __init__(self, V: int, E: int, H: int, L: int, p: float) -> None:
        super().__init__()
        self.lstm = RecurrentLM("lstm", V, E, H, L, p, head=False)  # the head is the one below
        self.Wa, self.Wcc, self.Wcs = xavier(H, H), xavier(H, H), xavier(H, H)
        self.drop = torch.nn.Dropout(p)
        self.head_W = xavier(H, V)
        self.head_b = zeros(V)

    def forward(self, x: torch.Tensor, state=None):
        T = x.shape[1]
        h, _ = self.lstm.hidden(x.T, None)          # [T, B, H] from a zero state
        h = self.drop(h).transpose(0, 1)             # [B, T, H]
        k = h @ self.Wa
        e = h @ k.transpose(1, 2)                    # e[b, t, j] = h_t . K_j
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        a = torch.softmax(e.masked_fill(mask, float("-inf")), dim=-1)
        ht = torch.tanh((a @ h) @ self.Wcc + h @ self.Wcs)
        return ht @ self.head_W + self.head_b, None

    def load_ours(self, t: dict) -> None:
        self.lstm.load_ours(t, "lstm")
        with torch.no_grad():
            for n in ("Wa", "Wcc", "Wcs"):
                getattr(self, n).copy_(t[f"attn.{n}"])
            self.head_W.copy_(t["head.W"])
            self.head_b.copy_(t["head.b"])


class Block(torch.nn.Module):
    def __init__(self, C: int, H: int, FF: int, ffn: str, out_scale: float, p: float) -> None:
        super().__init__()
        self.H, self.ffn = H, ffn
        self.ln1, self.ln2 = torch.nn.LayerNorm(C, eps=1e-5), torch.nn.LayerNorm(C, eps=1e-5)
        self.qkv_W, self.qkv_b = xavier(C, 3 * C), zeros(3 * C)
        self.proj_W, self.proj_b = xavier(C, C, out_scale), zeros(C)
        self.W1 = xavier(C, FF)
        self.W3 = xavier(C, FF) if ffn == "swiglu" else None
        self.W2 = xavier(FF, C, out_scale)
        self.b1 = zeros(FF) if ffn == "gelu" else None
        self.b2 = zeros(C) if ffn == "gelu" else None
        self.drop = torch.nn.Dropout(p)
        self.attn_p = p  # attn_pdrop: dropout on the attention probabilities (ours: inside the fused op)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, d = self.H, C // self.H
        q, k, v = (self.ln1(x) @ self.qkv_W + self.qkv_b).split(C, dim=2)
        q = q.view(B, T, H, d).transpose(1, 2)
        k = k.view(B, T, H, d).transpose(1, 2)
        v = v.view(B, T, H, d).transpose(1, 2)
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        a = torch.softmax(s.masked_fill(mask[:T, :T], float("-inf")), dim=-1)
        z = F.dropout(a, self.attn_p, training=self.training) @ v
        x = x + self.drop(z.transpose(1, 2).reshape(B, T, C) @ self.proj_W + self.proj_b)
        h = self.ln2(x)
        if self.ffn == "gelu":
            f = F.gelu(h @ self.W1 + self.b1, approximate="tanh") @ self.W2 + self.b2
        else:
            f = (F.silu(h @ self.W1) * (h @ self.W3)) @ self.W2
        return x + self.drop(f)

    def load_ours(self, t: dict, n: str) -> None:
        with torch.no_grad():
            self.ln1.weight.copy_(t[f"{n}.norm1.gamma"]); self.ln1.bias.copy_(t[f"{n}.norm1.beta"])
            self.ln2.weight.copy_(t[f"{n}.norm2.gamma"]); self.ln2.bias.copy_(t[f"{n}.norm2.beta"])
            self.qkv_W.copy_(t[f"{n}.attn.qkv.W"]); self.qkv_b.copy_(t[f"{n}.attn.qkv.b"])
            self.proj_W.copy_(t[f"{n}.attn.proj.W"]); self.proj_b.copy_(t[f"{n}.attn.proj.b"])
            self.W1.copy_(t[f"{n}.ffn.W1.W"]); self.W2.copy_(t[f"{n}.ffn.W2.W"])
            if self.W3 is not None:
                self.W3.copy_(t[f"{n}.ffn.W3.W"])
            if self.b1 is not None:
                self.b1.copy_(t[f"{n}.ffn.W1.b"]); self.b2.copy_(t[f"{n}.ffn.W2.b"])


class Transformer(torch.nn.Module):
    """Batch-major [B, T] in, [B, T, V] out."""

    stateful = False

    def __init__(self, V: int, C: int, H: int, L: int, FF: int, ctx: int, ffn: str, p: float) -> None:
        super().__init__()
        self.embed = torch.nn.Parameter(torch.randn(V, C) * 0.02)
        self.pos = torch.nn.Parameter(torch.randn(ctx, C) * 0.02)
        self.blocks = torch.nn.ModuleList([Block(C, H, FF, ffn, 1.0 / math.sqrt(2 * L), p) for _ in range(L)])
        self.lnf = torch.nn.LayerNorm(C, eps=1e-5)
        self.head_W = xavier(C, V)
        self.drop = torch.nn.Dropout(p)
        self.register_buffer("mask", torch.triu(torch.ones(ctx, ctx, dtype=torch.bool), diagonal=1), persistent=False)

    def forward(self, x: torch.Tensor, state=None):
        T = x.shape[1]
        h = self.drop(F.embedding(x, self.embed) + self.pos[:T])
        for b in self.blocks:
            h = b(h, self.mask)
        return self.lnf(h) @ self.head_W, None

    def load_ours(self, t: dict) -> None:
        with torch.no_grad():
            self.embed.copy_(t["embed.table"])
            self.pos.copy_(t["pos.table"])
            for l, b in enumerate(self.blocks):
                b.load_ours(t, f"block{l}")
            self.lnf.weight.copy_(t["normF.gamma"]); self.lnf.bias.copy_(t["normF.beta"])
            self.head_W.copy_(t["head.W"])


def build(model: str, o: dict) -> torch.nn.Module:
    """The peer of our `model` with our resolved model config `o` (vocabSize included)."""
    V, p = int(o["vocabSize"]), float(o.get("dropout", 0.0))
    if model in ("rnn", "lstm", "gru"):
        if model == "gru" and o.get("gruVariant", "pytorch") != "pytorch":
            raise SystemExit(f"gruVariant {o['gruVariant']!r}: torch's GRU is the 'pytorch' variant only")
        return RecurrentLM(model, V, int(o["embed"]), int(o["hidden"]), int(o["layers"]), p)
    if model == "lstm-attention":
        return AttentionLM(V, int(o["embed"]), int(o["hidden"]), int(o["layers"]), p)
    if model == "transformer":
        if o.get("norm", "layernorm") != "layernorm" or o.get("positions", "learned") != "learned" or o.get("tie", False):
            raise SystemExit("transformer: the peer has layernorm, learned positions and an untied head only")
        C, ffn = int(o["dModel"]), o.get("ffn", "swiglu")
        ff = int(o.get("ffHidden", 0)) or (4 * C if ffn == "gelu" else math.ceil(8 * C / 3 / 8) * 8)
        return Transformer(V, C, int(o["heads"]), int(o["layers"]), ff, int(o["context"]), ffn, p)
    raise SystemExit(f"unknown model {model!r}")


def count_params(m: torch.nn.Module) -> int:
    return sum(x.numel() for x in m.parameters() if x.requires_grad)


# ---- safetensors (our model.safetensors; the format is an 8-byte header length, JSON, raw data) ----

def read_safetensors(path: str) -> dict:
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base, out = 8 + n, {}
    dtypes = {"F32": torch.float32, "F64": torch.float64}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(raw[base + a:base + b])
        out[name] = torch.frombuffer(buf, dtype=dtypes[e["dtype"]]).to(torch.float32).reshape(e["shape"])
    return out


# ---- batches (src/data/batcher.ts) ------------------------------------------------------------------

class Sequential:
    """B contiguous streams of L = (N-1)//B tokens; window k of row b starts at b*L + k*T."""

    def __init__(self, ids: torch.Tensor, B: int, T: int) -> None:
        self.ids, self.T = ids, T
        L = (ids.numel() - 1) // B
        self.windows = L // T
        self.base = (torch.arange(B) * L)[:, None] + torch.arange(T)[None, :]
        self.k = 0

    def next(self):
        idx = self.base + self.k * self.T
        fresh = self.k == 0
        self.k = (self.k + 1) % self.windows
        return self.ids[idx], self.ids[idx + 1], fresh


class Random:
    """B windows starting uniformly in [0, N-T)."""

    def __init__(self, ids: torch.Tensor, B: int, T: int, gen: torch.Generator) -> None:
        self.ids, self.B, self.T, self.gen = ids, B, T, gen
        self.span = torch.arange(T)[None, :]

    def next(self):
        starts = torch.randint(0, self.ids.numel() - self.T, (self.B,), generator=self.gen)
        idx = starts[:, None] + self.span
        return self.ids[idx], self.ids[idx + 1], True


def window_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state):
    """Mean cross-entropy of one [B, T] window; the recurrent models take it time-major."""
    if model.stateful:
        logits, state = model(x.T, state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.T.reshape(-1)), state
    logits, _ = model(x, None)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), None


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: torch.Tensor, B: int, T: int, max_windows: int) -> float:
    was_training = model.training
    model.eval()
    batches = Sequential(val, B, T)
    n = min(max_windows, batches.windows)
    state, total = None, 0.0
    for _ in range(n):
        x, y, _ = batches.next()
        loss, state = window_loss(model, x, y, state)
        total += loss.item()
    model.train(was_training)
    return total / n


@torch.no_grad()
def sample(model: torch.nn.Module, prompt: int, length: int, temperature: float, context: int, gen: torch.Generator) -> list:
    """Our sampling (src/models/sample.ts): feed the prompt, draw from softmax(logp / temperature).
    Recurrent: carried state, batch 1; lstm-attention and transformer: the last `context` tokens
    re-run from the start (as ours: a window from a zero state / positions from 0)."""
    model.eval()
    out, state, history = [], None, [prompt]
    for _ in range(length):
        if model.stateful:
            logits, state = model(torch.tensor([[history[-1]]]), state)
            last = logits[-1, 0]
        else:
            logits, _ = model(torch.tensor([history[-context:]]), None)
            last = logits[0, -1]
        if temperature == 0:
            tok = int(torch.argmax(last))
        else:
            tok = int(torch.multinomial(torch.softmax(last.double() / temperature, dim=-1), 1, generator=gen))
        out.append(tok)
        history.append(tok)
    return out


# ---- the run ----------------------------------------------------------------------------------------

def parity(cfg: dict, val: torch.Tensor) -> float:
    m = build(cfg["model"], cfg["modelConfig"])
    m.load_ours(read_safetensors(cfg["parityWeights"]))
    return evaluate(m, val, int(cfg["batch"]), int(cfg["seq"]), int(cfg["valBatches"]))


def trainer(cfg: dict, train_ids: torch.Tensor):
    """A fresh model (seeded), its Adam, its batches and one training step: what a run and a thread trial start from."""
    torch.manual_seed(int(cfg["seed"]))
    model = build(cfg["model"], cfg["modelConfig"])
    B, T = int(cfg["batch"]), int(cfg["seq"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=float(cfg["lr"]), betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    batches = Sequential(train_ids, B, T) if model.stateful else Random(train_ids, B, T, gen)
    clip = float(cfg["clip"])
    state = None

    def step() -> float:
        nonlocal state
        x, y, fresh = batches.next()
        if fresh:
            state = None
        opt.zero_grad(set_to_none=False)
        loss, state = window_loss(model, x, y, state)
        state = detach(state)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else math.inf)
        opt.step()
        return loss.item()

    model.train()
    return model, step


def pick_threads(cfg: dict, train_ids: torch.Tensor, choices: list) -> tuple:
    """The thread count (of `choices`) at which training steps run fastest: a short trial of each
    (one warm-up step, then steps until 2 s or 10 steps), before the clock starts. Returns (best, trials)."""
    trials = []
    for t in choices:
        torch.set_num_threads(t)
        _, step = trainer(cfg, train_ids)
        step()
        n, t0 = 0, time.perf_counter()
        while n < 2 or (time.perf_counter() - t0 < 2.0 and n < 10):
            step()
            n += 1
        rate = n * int(cfg["batch"]) * int(cfg["seq"]) / (time.perf_counter() - t0)
        trials.append({"threads": t, "tokensPerSec": rate})
        log(f"thread trial: {t} thread(s), {rate:.0f} tokens/s")
    return max(trials, key=lambda r: r["tokensPerSec"])["threads"], trials


def run(cfg: dict) -> dict:
    choices = [int(t) for t in cfg["threadChoices"]]
    torch.set_num_threads(choices[0])
    model_name, o = cfg["model"], cfg["modelConfig"]
    B, T, val_batches = int(cfg["batch"]), int(cfg["seq"]), int(cfg["valBatches"])
    train_ids, val_ids = read_ids(cfg["trainIds"]), read_ids(cfg["valIds"])
    base = {"torch": torch.__version__, "blasCore": blas_core(),
            "trainTokens": train_ids.numel(), "valTokens": val_ids.numel(),
            "trainIdSum": int(train_ids.sum()), "valIdSum": int(val_ids.sum())}
    parity_loss = parity(cfg, val_ids) if cfg.get("parityWeights") else None
    base.update(params=count_params(build(model_name, o)), parityValLoss=parity_loss)
    if cfg.get("parityOnly"):
        base["threads"] = torch.get_num_threads()
        return base

    threads, trials = pick_threads(cfg, train_ids, choices) if len(choices) > 1 else (choices[0], [])
    torch.set_num_threads(threads)
    base.update(threads=torch.get_num_threads(), threadTrials=trials)
    model, train_step = trainer(cfg, train_ids)
    budget, every = float(cfg["timeSec"]), float(cfg["valEverySec"])
    max_steps = cfg.get("steps")
    curve, recent = [], []
    best, best_state = math.inf, None
    step, step_time, paused = 0, 0.0, 0.0
    t0 = time.perf_counter()
    now = lambda: time.perf_counter() - t0 - paused  # noqa: E731  training time: validation excluded
    last_val = 0.0

    def validate(final: bool) -> None:
        nonlocal paused, best, best_state, last_val
        v0 = time.perf_counter()
        at = now()
        loss = evaluate(model, val_ids, B, T, val_batches)
        curve.append({"seconds": round(at, 3), "step": step, "valLoss": loss})
        if loss < best:
            best, best_state = loss, copy.deepcopy(model.state_dict())
        paused += time.perf_counter() - v0
        last_val = now()
        log(f"step {step}, {at:.1f} s: val {loss:.4f}{' (final)' if final else ''}")

    while now() < budget and (max_steps is None or step < max_steps):
        s0 = time.perf_counter()
        loss = train_step()
        step += 1
        recent.append(loss)
        if len(recent) > 50:
            recent.pop(0)
        step_time += time.perf_counter() - s0
        if every > 0 and now() - last_val >= every and now() < budget:
            validate(False)
    if step > 0:
        validate(True)
    seconds = now()
    if best_state is not None:
        model.load_state_dict(best_state)
    gen_sample = torch.Generator().manual_seed(int(cfg["sampleSeed"]))
    ids = sample(model, int(cfg["promptId"]), int(cfg["sampleChars"]), float(cfg["temperature"]),
                 int(o.get("context", 128)), gen_sample) if int(cfg["sampleChars"]) > 0 else []
    base.update({
        "steps": step, "seconds": seconds, "tokensPerSec": step * B * T / step_time if step_time > 0 else 0.0,
        "trainLoss": sum(recent) / len(recent) if recent else None,
        "curve": curve, "bestValLoss": best if curve else None, "finalValLoss": curve[-1]["valLoss"] if curve else None,
        "sampleIds": ids,
    })
    return base


def main() -> None:
    for path in sys.argv[1:]:  # one JSON line per config file, in order
        with open(path) as f:
            cfg = json.load(f)
        print(json.dumps(run(cfg)), flush=True)


if __name__ == "__main__":
    main()
