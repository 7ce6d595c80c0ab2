"""What the PyTorch CPU training peers of bench/train.ts (torch_rnn_train.py,
torch_transformer_train.py) share: the step as ours is timed (zero-grad + forward + backward +
global-norm clip at 5 + the optimizer) and the measurement, either one-shot (3 warm-up steps, then
tokens/s from the median of `steps` timed steps, printed as the one JSON line bench/train.ts reads)
or `--serve` (serve_steps.py: warm up once, then answer requests for K steps with their times, for
the interleaved rounds of `bench train --rounds N`). Both name the kernel OpenBLAS chose for this
CPU (blas_info.py; Debian's torch runs its CPU GEMMs on OpenBLAS).

Imported by those scripts after their own `import torch` (they exit 3 when it fails); running the
script puts this folder on sys.path.
"""
import json
import time

import torch
from blas_info import blas_core
from serve_steps import serve_steps


def training_step(loss_of_step, params, opt):
    """step(k): one training step minimising loss_of_step(k)."""

    def step(k: int) -> None:
        opt.zero_grad(set_to_none=False)
        loss = loss_of_step(k)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    return step


def report_training_throughput(loss_of_step, params, opt, steps: int, tokens_per_step: int, warmup: int = 3) -> None:
    """Runs `warmup` untimed and `steps` timed training steps, step k minimising loss_of_step(k);
    prints {tokensPerSec, torch, threads, blasCore}, tokens/s = tokens_per_step / median step time."""
    step = training_step(loss_of_step, params, opt)
    for k in range(warmup):
        step(k)
    times = []
    for k in range(steps):
        t0 = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - t0)
    times.sort()
    mid = len(times) // 2
    med = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    print(json.dumps({"tokensPerSec": tokens_per_step / med, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "blasCore": blas_core()}))


def serve_training(loss_of_step, params, opt, tokens_per_step: int, warmup: int = 3) -> None:
    """`--serve`: warms up, prints the ready line {ready, warmupSeconds, torch, threads, blasCore,
    tokensPerStep} and answers {"id", "steps": K} with {"id", "times"} until EOF (serve_steps.py)."""
    serve_steps(training_step(loss_of_step, params, opt),
                {"torch": torch.__version__, "threads": torch.get_num_threads(), "blasCore": blas_core(),
                 "tokensPerStep": tokens_per_step},
                warmup)


def run_training_peer(loss_of_step, params, opt, steps: int, tokens_per_step: int, serve: bool) -> None:
    """The one-shot measurement, or the server with --serve."""
    if serve:
        serve_training(loss_of_step, params, opt, tokens_per_step)
    else:
        report_training_throughput(loss_of_step, params, opt, steps, tokens_per_step)
