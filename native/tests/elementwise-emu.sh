#!/usr/bin/env bash
# Runs native/tests/elementwise_check.cu against native/elementwise.cu on the CPU, through the host
# emulation of native/tests/host-emu/cuda_emu.h (one OS thread per CUDA thread; logic only: no
# memory model, no timing). For machines without a GPU. From the repository root:
#   native/tests/elementwise-emu.sh          (VERBOSE=1 prints every case)
# Needs g++ with C++20. Exit status non-zero when a check fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# CUDA source → host C++ (the same rewriting as host-emu/run.sh), plus what elementwise.cu needs
# beyond cuda_emu.h: int4, atomicAdd on float/double, and its dynamic shared array `part`.
translate() {
  python3 - "$1" "$2" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
src = src.replace('#include <cuda_runtime.h>', '')
src = src.replace('extern __shared__', 'extern').replace('__shared__', 'static')
def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '(<[': depth += 1
        if ch in ')>]': depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]
def launch(m):
    cfg = split_top(m.group(2))
    if len(cfg) == 2: cfg.append('0')
    return 'emuLaunch(%s, %s, ' % (m.group(1), ', '.join(cfg[:3]))
src = re.sub(r'([A-Za-z_]\w*(?:<\w+>)?)<<<(.*?)>>>\(', launch, src)
pre = '''#include "cuda_emu.h"
#include <atomic>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define HANDGRAD_HOST_EMU 1
struct alignas(16) int4 { int x, y, z, w; };
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
template <class T> T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
namespace handgrad { namespace { alignas(16) float part[232448 / 4]; } }
'''
open(sys.argv[2], 'w').write(pre + src)
PY
}

translate "$root/native/elementwise.cu" "$work/elementwise.cc"
translate "$here/elementwise_check.cu" "$work/elementwise_check.cc"
g++ -std=c++20 -O2 -pthread -w -I"$root/native/tests/host-emu" -I"$root/native" \
  "$work/elementwise.cc" "$work/elementwise_check.cc" -o "$work/elementwise_check"
"$work/elementwise_check"
