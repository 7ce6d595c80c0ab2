#!/usr/bin/env python3
"""OpenBLAS (through NumPy) GEMM peer for bench/kernels.ts.

Usage: OPENBLAS_NUM_THREADS=1 python3 bench/peers/numpy_gemm.py '<json config>'
  config: {"shapes": [{"m":..,"k":..,"n":..}], "variants": ["nn","nt","tn"], "threads": 1,
           "timing": {"reps": 7, "minRepSeconds": 0.03, "maxCellSeconds": 3}}
The thread count is set by the caller through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (it must be
set before NumPy loads); "threads" only labels the rows.

Prints one progress line per measurement to stderr and, as the last line of stdout, one JSON
object {"blas": "<library version>", "rows": [{"op":"gemm","peer":"openblas",...,"gflops":..}]}.
Timing follows bench/kernels.ts: warm-up, reps of at least minRepSeconds, median.
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

    times = sorted(seconds(rep) / iters for _ in range(reps))
    mid = len(times) // 2
    median = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return flops / median / 1e9


def round_g(g):
    return float(f"{g:.{4 if g >= 100 else 3}g}")


def main():
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
    print(json.dumps({"blas": blas_name(), "rows": rows}))


if __name__ == "__main__":
    main()
