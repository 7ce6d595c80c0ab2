"""Which BLAS a NumPy or PyTorch peer runs on, and which kernel OpenBLAS chose for this CPU.

OpenBLAS picks its kernels ("core": Haswell, SkylakeX, Zen, …) at load time from the CPU, unless
OPENBLAS_CORETYPE forces one; the benchmark peers run with that variable removed (bench/peer-env.ts),
and every report names the core that was actually used, so a figure taken on a forced, narrower
kernel cannot pass for OpenBLAS at full strength.

blas_core() is called after `import numpy` / `import torch` (the library must already be loaded):
  1. threadpoolctl, when installed (its "architecture" is OpenBLAS's core name);
  2. else every loaded shared library whose name has "blas" in it (/proc/self/maps, Linux), asked
     through ctypes for openblas_get_corename() and openblas_get_config() — under their plain names
     (Debian's libopenblas) or the ones of the OpenBLAS bundled in pip's NumPy wheels
     (scipy_openblas_get_corename64_, …).
Returns {"corename": str | None, "config": str | None, "library": path | None}: all None where the
BLAS is not OpenBLAS or cannot be asked (the reports then say "unknown").

Imported by numpy_gemm.py, numpy_seed_lstm.py and torch_peer.py (running a script puts this folder
on sys.path). `python3 bench/peers/blas_info.py [numpy|torch]` prints the answer as one JSON line.
"""
import ctypes
import json
import os
import sys


def _from_threadpoolctl():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas":
            return {"corename": lib.get("architecture"), "config": lib.get("version"), "library": lib.get("filepath")}
    return None


def _loaded_blas_libraries():
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if "/" in line]
    except OSError:
        return []
    seen, out = set(), []
    for p in paths:
        if "blas" in os.path.basename(p).lower() and p not in seen:
            seen.add(p)
            out.append(p)
    return out


# (prefix, suffix) of OpenBLAS's exported names: a plain build, the 64-bit-integer builds, and the
# scipy-openblas library inside pip's NumPy and SciPy wheels
SYMBOL_STYLES = (("", ""), ("", "64_"), ("scipy_", "64_"), ("scipy_", ""))


def _function(lib, name):
    try:
        fn = getattr(lib, name)
    except AttributeError:
        return None
    fn.restype = ctypes.c_char_p
    return fn


def _from_loaded_library():
    for path in _loaded_blas_libraries():
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same instance the peer computes with
        except OSError:
            continue
        for prefix, suffix in SYMBOL_STYLES:
            get_core = _function(lib, f"{prefix}openblas_get_corename{suffix}")
            if get_core:
                get_config = _function(lib, f"{prefix}openblas_get_config{suffix}")
                break
        else:
            continue
        config = get_config().decode(errors="replace").strip() if get_config else None
        core = get_core()
        return {"corename": core.decode(errors="replace").strip() if core else None, "config": config, "library": path}
    return None


def blas_core():
    """{"corename", "config", "library"} of the loaded OpenBLAS; Nones when there is none to ask."""
    for probe in (_from_threadpoolctl, _from_loaded_library):
        try:
            found = probe()
        except Exception:  # a probe that breaks must not break the benchmark
            found = None
        if found and found.get("corename"):
            return found
    return {"corename": None, "config": None, "library": None}


if __name__ == "__main__":
    __import__(sys.argv[1] if len(sys.argv) > 1 else "numpy")
    print(json.dumps(blas_core()))
