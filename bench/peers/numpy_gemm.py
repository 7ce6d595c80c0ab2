#!/usr/bin/env python3
"""OpenBLAS (through NumPy) GEMM peer for bench/kernels.ts.

Usage: OPENBLAS_NUM_THREADS=1 python3 bench/peers/numpy_gemm.py '<json config>'
  config: {"shapes": [{"m":..,"k":..,"n":..}], "variants": ["nn","nt","tn"], "threads": 1,
           "timing": {"reps": 7, "minRepSeconds": 0.03, "maxCellSeconds": 3}}
The thread count is set by the caller through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (it must be
set before NumPy loads); "threads" only labels the rows.

Prints one progress line per measurement to stderr and, as the last line of stdout, one JSON
object {"blas": "<library version>", "blasCore": {...}, "rows": [{"op":"gemm","peer":"openblas",...,"gflops":..}]}
("blasCore": the kernel OpenBLAS chose for this CPU, see blas_info.py).
Timing follows bench/kernels.ts: warm-up, reps of at least minRepSeconds, best rep.

Server mode (the paired, interleaved phase of bench/kernels.ts):
  OPENBLAS_NUM_THREADS=2 python3 bench/peers/numpy_gemm.py --serve
A persistent process, one per thread count (the count is fixed once NumPy has loaded). It first
prints {"ready": true, "blas": "<library version>", "blasCore": {...}, "threads": <OPENBLAS_NUM_THREADS or null>},
then reads one JSON request per line from stdin,
  {"m":..,"k":..,"n":..,"variant":"nn"|"nt"|"tn","seconds":0.25,"minRepSeconds":0.03,"id":..}
and answers each with one JSON line
  {"id":..,"m":..,"k":..,"n":..,"variant":..,"gflops":<best rep>,"reps":..,"iters":..,"seconds":..}
(or {"id":..,"error":"..."} for a bad request): a short warm-up, then reps of at least
minRepSeconds until about `seconds` have been spent timing (at least 3 reps), best rep taken.
Operands are allocated once per shape and variant and cached. {"quit": true} or end of input
ends it. Nothing else is written to stdout.
Exit code 3 when NumPy is missing.
"""
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print("numpy_gemm.py: numpy is not installed", file=sys.stderr)
    sys.exit(3)
from blas_info import blas_core


def blas_name():
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        return "unknown"


def measure(run, flops, timing):
    def seconds(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    max_cell = timing["maxCellSeconds"]
    last = seconds(run)
    warm, calls = last, 1
    while calls < 2 or (warm < 0.1 * max_cell and last < 0.25 * max_cell and calls < 50):
        last = seconds(run)
        warm += last
        calls += 1
    iters = max(1, -(-timing["minRepSeconds"] // max(last, 1e-7)))
    iters = int(iters)
    affordable = int(max_cell // (iters * last)) if last > 0 else timing["reps"]
    reps = max(min(timing["reps"], 3), min(timing["reps"], affordable))

    def rep():
        for _ in range(iters):
            run()

    best = min(seconds(rep) / iters for _ in range(reps))
    return flops / best / 1e9


def round_g(g):
    return float(f"{g:.{4 if g >= 100 else 3}g}")


def operands(cache, rng, m, k, n, variant):
    """(op(A), op(B), C) for one shape and variant, allocated once."""
    key = (m, k, n, variant)
    if key not in cache:
        ta, tb = variant == "tn", variant == "nt"
        a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
        cache[key] = (a.T if ta else a, b.T if tb else b, np.empty((m, n), dtype=np.float32))
    return cache[key]


def measure_for(run, flops, window, min_rep):
    """Best-rep GFLOP/s of `run` over about `window` seconds of timing (the paired phase)."""
    t_start = time.perf_counter()
    run()  # warm-up: at least two calls and 10% of the window
    calls = 1
    while True:
        t0 = time.perf_counter()
        run()
        last = time.perf_counter() - t0
        calls += 1
        if calls >= 2 and t0 + last - t_start >= 0.1 * window:
            break
    iters = max(1, int(-(-min_rep // max(last, 1e-7))))
    best, reps = float("inf"), 0
    t_timed = time.perf_counter()
    while reps < 3 or time.perf_counter() - t_timed < window:
        t0 = time.perf_counter()
        for _ in range(iters):
            run()
        best = min(best, (time.perf_counter() - t0) / iters)
        reps += 1
    return flops / best / 1e9, reps, iters, time.perf_counter() - t_start


def serve():
    import os
    from serve_steps import serve_lines  # this folder is on sys.path when the script runs
    rng = np.random.default_rng(0)
    cache = {}
    threads = os.environ.get("OPENBLAS_NUM_THREADS")

    def answer(req: dict, line: str):
        if req.get("quit"):
            return None
        m, k, n = int(req["m"]), int(req["k"]), int(req["n"])
        variant = req.get("variant", "nn")
        if variant not in ("nn", "nt", "tn") or min(m, k, n) < 1:
            raise ValueError(f"bad request {line}")
        window = float(req.get("seconds", 0.25))
        min_rep = float(req.get("minRepSeconds", 0.03))
        opa, opb, c = operands(cache, rng, m, k, n, variant)
        gflops, reps, iters, spent = measure_for(lambda: np.matmul(opa, opb, out=c), 2 * m * n * k, window, min_rep)
        return {"m": m, "k": k, "n": n, "variant": variant, "gflops": gflops, "reps": reps, "iters": iters, "seconds": round(spent, 4)}

    serve_lines({"blas": blas_name(), "blasCore": blas_core(), "threads": int(threads) if threads else None}, answer)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve()
        return
    config = json.loads(sys.argv[1])
    timing = config["timing"]
    threads = int(config["threads"])
    rng = np.random.default_rng(0)
    rows = []
    for s in config["shapes"]:
        m, k, n = s["m"], s["k"], s["n"]
        for variant in config["variants"]:
            ta, tb = variant == "tn", variant == "nt"
            a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
            b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
            c = np.empty((m, n), dtype=np.float32)
            opa = a.T if ta else a  # a transposed view: NumPy hands sgemm the transpose flag
            opb = b.T if tb else b
            gflops = round_g(measure(lambda: np.matmul(opa, opb, out=c), 2 * m * n * k, timing))
            rows.append({"op": "gemm", "peer": "openblas", "variant": variant, "m": m, "n": n, "k": k,
                         "threads": threads, "gflops": gflops})
            print(f"gemm openblas {threads}t {variant} {m}×{k}·{k}×{n}: {gflops} GFLOP/s", file=sys.stderr, flush=True)
    print(json.dumps({"blas": blas_name(), "blasCore": blas_core(), "rows": rows}))


if __name__ == "__main__":
    main()
