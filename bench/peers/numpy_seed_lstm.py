#!/usr/bin/env python3
"""NumPy peer of `handgrad bench train --model lstm` in the style the seed notebooks train: a char-level
LSTM written out in NumPy with manual backpropagation through time, one sequence at a time
(batch 1, hidden 100, BPTT 25 in `--config seed`), Adam and global-norm gradient clipping.

  z_t = [h_{t-1}; x_t]                        x_t one-hot [V] (no embedding: the seeds' input)
  f = σ(W_f z + b_f)   i = σ(W_i z + b_i)   g = tanh(W_c z + b_c)   o = σ(W_o z + b_o)
  c_t = f ⊙ c_{t-1} + i ⊙ g                 h_t = o ⊙ tanh(c_t)
  p_t = softmax(W_y h_t + b_y);  loss = mean over the B·T targets of −log p_t[y_t]

Column vectors, [n, B] (B = 1 as the seeds run; any batch works), four separate gate matrices and a
Python loop over the time steps forward and back, as the notebooks write it. The hidden and cell
state are carried from one window to the next (truncated BPTT, as the seeds' hprev). Adam (lr 2e-3,
betas 0.9/0.999, eps 1e-8) and clipping of the global gradient norm at 5, as ours and the PyTorch
peer. float32 by default like the other contenders (the notebooks' NumPy default is float64:
"dtype": "float64" runs that).

tokens/s = B·T / median step time over `steps` timed steps after 3 warm-up steps; the step is
zero-grad + forward + backward + clip + Adam.

Argument: one JSON object {hidden, batch, seq, vocab, threads, steps, dtype?, data?}; "data":
"random" (default, random tokens as the benchmark uses) or "cycle" (0, 1, …, 6, 0, 1, …: a pattern
the model can learn, for the test that the loss goes down). The thread count is set by the caller
through OPENBLAS_NUM_THREADS (before NumPy loads); "threads" only labels the output. Prints one JSON
line {tokensPerSec, numpy, threads, dtype, blasCore, firstLoss, lastLoss}. Exit code 3: NumPy is
not installed.

With `--serve` after the JSON argument ("steps" then unused): builds and warms up once, then answers
requests for K steps at a time on stdin (serve_steps.py; the ready line has {numpy, threads, dtype,
blasCore, tokensPerStep, warmupSeconds}), for the interleaved rounds of `bench train --rounds N`.

`--gradcheck`: instead, compares the manual BPTT gradients with central differences (float64, a small
model) and prints {"maxRelError": …}.
"""
import json
import sys

try:
    import numpy as np
except ImportError:
    print("numpy_seed_lstm.py: numpy is not installed", file=sys.stderr)
    sys.exit(3)
from blas_info import blas_core
from serve_steps import serve_steps, split_args, timed

GATES = ("f", "i", "c", "o")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def init_params(rng, H, V, dtype):
    """W_f, W_i, W_c, W_o [H, H+V], their biases [H, 1] (forget bias 1), W_y [V, H], b_y [V, 1]."""
    scale = 1.0 / np.sqrt(H + V)
    p = {}
    for gate in GATES:
        p["W" + gate] = (rng.standard_normal((H, H + V)) * scale).astype(dtype)
        p["b" + gate] = np.full((H, 1), 1.0 if gate == "f" else 0.0, dtype=dtype)
    p["Wy"] = (rng.standard_normal((V, H)) / np.sqrt(H)).astype(dtype)
    p["by"] = np.zeros((V, 1), dtype=dtype)
    return p


def loss_and_grads(p, inputs, targets, h_prev, c_prev):
    """Forward over the window, then BPTT. inputs, targets: [T, B] token ids. Returns
    (loss, grads, h_T, c_T); the loss is the mean over the T·B targets."""
    T, B = inputs.shape
    H, V = p["Wf"].shape[0], p["Wy"].shape[0]
    dtype = p["Wf"].dtype
    n = T * B
    cols = np.arange(B)
    zs, fs, is_, gs, os_, cs, tcs, hs, ps = [], [], [], [], [], [], [], [], []
    cs_prev = []
    h, c = h_prev, c_prev
    loss = 0.0
    for t in range(T):
        x = np.zeros((V, B), dtype=dtype)
        x[inputs[t], cols] = 1.0
        z = np.vstack((h, x))
        f = sigmoid(p["Wf"] @ z + p["bf"])
        i = sigmoid(p["Wi"] @ z + p["bi"])
        g = np.tanh(p["Wc"] @ z + p["bc"])
        o = sigmoid(p["Wo"] @ z + p["bo"])
        cs_prev.append(c)
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        v = p["Wy"] @ h + p["by"]
        e = np.exp(v - v.max(axis=0, keepdims=True))
        prob = e / e.sum(axis=0, keepdims=True)
        loss -= float(np.log(prob[targets[t], cols]).sum())
        zs.append(z); fs.append(f); is_.append(i); gs.append(g); os_.append(o)
        cs.append(c); tcs.append(tc); hs.append(h); ps.append(prob)
    grads = {k: np.zeros_like(w) for k, w in p.items()}
    dh_next = np.zeros((H, B), dtype=dtype)
    dc_next = np.zeros((H, B), dtype=dtype)
    for t in reversed(range(T)):
        dv = ps[t].copy()
        dv[targets[t], cols] -= 1.0
        dv /= n
        grads["Wy"] += dv @ hs[t].T
        grads["by"] += dv.sum(axis=1, keepdims=True)
        dh = p["Wy"].T @ dv + dh_next
        do = dh * tcs[t] * os_[t] * (1 - os_[t])
        dc = dh * os_[t] * (1 - tcs[t] ** 2) + dc_next
        dg = dc * is_[t] * (1 - gs[t] ** 2)
        di = dc * gs[t] * is_[t] * (1 - is_[t])
        df = dc * cs_prev[t] * fs[t] * (1 - fs[t])
        dz = np.zeros((H + V, B), dtype=dtype)
        for gate, d in (("f", df), ("i", di), ("c", dg), ("o", do)):
            grads["W" + gate] += d @ zs[t].T
            grads["b" + gate] += d.sum(axis=1, keepdims=True)
            dz += p["W" + gate].T @ d
        dh_next = dz[:H]
        dc_next = fs[t] * dc
    return loss / n, grads, h, c


class Adam:
    def __init__(self, params, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = {k: np.zeros_like(w) for k, w in params.items()}
        self.v = {k: np.zeros_like(w) for k, w in params.items()}

    def step(self, params, grads):
        self.t += 1
        a = self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for k, w in params.items():
            g = grads[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            w -= (a * self.m[k] / (np.sqrt(self.v[k]) + self.eps)).astype(w.dtype)


def clip_global_norm(grads, max_norm):
    norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / (norm + 1e-6)
    return norm


def gradcheck():
    rng = np.random.default_rng(1)
    H, V, T, B = 5, 7, 4, 2
    p = init_params(rng, H, V, np.float64)
    inputs, targets = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0, c0 = rng.standard_normal((H, B)) * 0.5, rng.standard_normal((H, B)) * 0.5
    _, grads, _, _ = loss_and_grads(p, inputs, targets, h0, c0)
    worst, eps = 0.0, 1e-6
    for k, w in p.items():
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + eps
            up = loss_and_grads(p, inputs, targets, h0, c0)[0]
            w[idx] = old - eps
            down = loss_and_grads(p, inputs, targets, h0, c0)[0]
            w[idx] = old
            num, ana = (up - down) / (2 * eps), grads[k][idx]
            worst = max(worst, abs(num - ana) / max(1e-8, abs(num) + abs(ana)))
    print(json.dumps({"maxRelError": worst}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--gradcheck":
        gradcheck()
        return
    arg, serve = split_args(sys.argv)
    cfg = json.loads(arg)
    H, B, T, V = int(cfg["hidden"]), int(cfg["batch"]), int(cfg["seq"]), int(cfg["vocab"])
    warmup = 3
    dtype = np.dtype(cfg.get("dtype", "float32"))
    rng = np.random.default_rng(0)
    p = init_params(rng, H, V, dtype)
    opt = Adam(p)
    if cfg.get("data", "random") == "cycle":
        stream = np.arange(8 * T * B + 1) % min(7, V)
    else:
        stream = rng.integers(0, V, 8 * T * B + 1)
    # 8 windows of B parallel sequences (column b reads its own stretch of the stream), reused in turn
    windows = [(stream[k * T * B:(k + 1) * T * B].reshape(B, T).T, stream[k * T * B + 1:(k + 1) * T * B + 1].reshape(B, T).T)
               for k in range(8)]
    state = [np.zeros((H, B), dtype=dtype), np.zeros((H, B), dtype=dtype)]  # h, c
    losses = []

    def step(k):
        inputs, targets = windows[k % 8]
        loss, grads, state[0], state[1] = loss_and_grads(p, inputs, targets, state[0], state[1])  # fresh gradients: zero-grad
        clip_global_norm(grads, 5.0)
        opt.step(p, grads)
        losses.append(loss)

    threads = cfg.get("threads")
    if serve:
        serve_steps(step, {"numpy": np.__version__, "threads": threads, "dtype": dtype.name, "blasCore": blas_core(),
                           "tokensPerStep": B * T}, warmup)
        return
    steps = int(cfg["steps"])
    times = []
    for k in range(warmup + steps):
        dt = timed(step, k)
        if k >= warmup:
            times.append(dt)
    times.sort()
    mid = len(times) // 2
    med = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    print(json.dumps({"tokensPerSec": B * T / med, "numpy": np.__version__, "threads": threads, "dtype": dtype.name,
                      "blasCore": blas_core(), "firstLoss": losses[0], "lastLoss": losses[-1]}))


if __name__ == "__main__":
    main()
