#!/usr/bin/env python3
"""PyTorch CPU peer of bench/train.ts: tokens/s of full training steps of the same recurrent LM
(embedding -> 1-layer nn.LSTM / nn.GRU / nn.RNN(tanh) -> linear head -> cross-entropy, gradient
clipping at 5, Adam lr 2e-3) on random tokens, fp32, with torch.set_num_threads(threads).

Argument: one JSON object {model, hidden, batch, seq, embed, vocab, layers, threads, steps}.
Prints one JSON line {tokensPerSec, torch, threads, blasCore}. Exit code 3: torch is not installed.
With `--serve` after it ("steps" then unused): builds and warms up once, then answers requests for K
steps at a time on stdin (serve_steps.py), for the interleaved rounds of `bench train --rounds N`.
The hidden state is carried (detached) from one window to the next, as truncated BPTT does.

Same as bench/train.ts measures: vocab 65, embedding E, hidden H, L layers, batch B, BPTT T, fp32,
Adam(lr 2e-3, betas 0.9/0.999, eps 1e-8), global-norm clipping at 5, a loss averaged over the B*T
targets; tokens/s = B*T / median step time over `steps` timed steps after 3 warm-up steps, the
step being zero-grad + forward + backward + clip + Adam (as ours). Differences that do not change
the FLOP count: torch's RNN cells have two bias vectors (b_ih, b_hh) where ours have one, and its
Adam updates the whole 65 x E embedding table where ours updates only the rows used.
The bench runs this script once per thread setting (1 and 2) and reports the best (with --rounds N,
one server per thread setting).
"""
import json
import sys

try:
    import torch
except ImportError:
    sys.exit(3)
from serve_steps import split_args
from torch_peer import run_training_peer


def main() -> None:
    arg, serve = split_args(sys.argv)
    cfg = json.loads(arg)
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(0)
    V, E, H, B, T, L = cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["batch"], cfg["seq"], cfg["layers"]
    cell = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cfg["model"]]
    emb = torch.nn.Embedding(V, E)
    rnn = cell(E, H, num_layers=L)  # time-major [T, B, *], like ours
    head = torch.nn.Linear(H, V)
    params = list(emb.parameters()) + list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    data = torch.randint(0, V, (8, T + 1, B))
    state = None

    def loss_of_step(k: int) -> torch.Tensor:
        nonlocal state
        x, y = data[k % 8, :T], data[k % 8, 1:]
        out, state = rnn(emb(x), state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return torch.nn.functional.cross_entropy(head(out).reshape(T * B, V), y.reshape(T * B))

    run_training_peer(loss_of_step, params, opt, int(cfg.get("steps", 0)), B * T, serve)


if __name__ == "__main__":
    main()
