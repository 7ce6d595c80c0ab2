"""The `--serve` mode of the training peers of bench/train.ts (torch_rnn_train.py and
torch_transformer_train.py through torch_peer.py, and numpy_seed_lstm.py): a persistent process
that `handgrad bench train --rounds N` asks for a few training steps at a time, interleaved with our
own steps and the other peers', so that each round's ratio compares figures taken within the same
few seconds (the machine's speed moves by up to 2x from one minute to the next). The client is
bench/peer-server.ts.

Protocol, one JSON object per line:
  out  {"ready": true, "warmupSeconds": [...], ...ready}   once, after the model, the optimizer and
                                                           the warm-up steps (`ready` names the
                                                           library version, threads, blasCore)
  in   {"id": 1, "steps": K}                               run K training steps (K >= 1)
  out  {"id": 1, "times": [seconds of each step]}
  out  {"id": ..., "error": "..."}                         a bad request; the server keeps going
EOF on stdin: exit 0.

serve_lines is that loop for any request: numpy_gemm.py's GEMM server answers its own requests
({"id", "m", "k", "n", ...} -> {"id", "gflops", ...}, and {"quit": true} ends it) through it too.
No torch and no NumPy here: the NumPy peers import this too.
"""
import json
import sys
import time


def timed(step, k: int) -> float:
    t0 = time.perf_counter()
    step(k)
    return time.perf_counter() - t0


def serve_lines(ready: dict, answer) -> None:
    """Prints the ready line {"ready": true, **ready}, then answers one JSON object per line of stdin
    with {"id": its id, **answer(request, line)} until EOF, or until answer returns None (a "quit"
    request). A request that is not a JSON object, or whose answer raises, gets {"id", "error"} and
    the server keeps going. Shared by these training peers and numpy_gemm.py's GEMM server."""
    out = sys.stdout
    out.write(json.dumps({"ready": True, **ready}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req_id = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError(f"bad request {line}: expected a JSON object")
            req_id = req.get("id")
            reply = answer(req, line)
            if reply is None:
                break
            reply = {"id": req_id, **reply}
        except Exception as e:  # a bad request gets an error line; the server keeps going
            reply = {"id": req_id, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def serve_steps(step, ready: dict, warmup: int = 3) -> None:
    """Runs step(0) … step(warmup - 1), prints the ready line, then answers step requests; step k
    continues from one request to the next (the peers cycle their data windows by k)."""
    k = 0
    warm = []
    for _ in range(warmup):
        warm.append(timed(step, k))
        k += 1

    def answer(req: dict, line: str) -> dict:
        nonlocal k
        steps = req.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"bad request {line}: steps must be a positive integer")
        times = []
        for _ in range(steps):
            times.append(timed(step, k))
            k += 1
        return {"times": times}

    serve_lines({"warmupSeconds": warm, **ready}, answer)


def split_args(argv):
    """(the JSON config argument, whether --serve was given): `script.py '<json>' [--serve]`."""
    serve = "--serve" in argv[1:]
    rest = [a for a in argv[1:] if a != "--serve"]
    if not rest:
        print(f"{argv[0]}: expected one JSON config argument (and optionally --serve)", file=sys.stderr)
        sys.exit(2)
    return rest[0], serve
