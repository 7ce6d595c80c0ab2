#!/usr/bin/env bash
# Runs the GPU check programs (native/tests/{gemm,attention,moe,elementwise}_check.cu) on the CPU through
# the emulation in cuda_emu.h: a logic check for machines without a GPU (slow: one fiber per CUDA
# thread; the timing sections and the largest cases are skipped). Usage, from the repository root:
#   native/tests/host-emu/run.sh [gemm|attention|moe|elementwise]...     (default: all four)
# Needs g++ with C++20 (std::atomic_ref) and python3. Exit status non-zero when a check fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# CUDA source → host C++: launch syntax, qualifiers, shared memory (blocks run one at a time, so
# shared variables become statics; dynamic shared memory is a static array defined up front).
# $3: what the file needs beyond cuda_emu.h — each kernel file names its dynamic shared array.
translate() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
src = src.replace('#include <cuda_runtime.h>', '').replace('#include <cuda_bf16.h>', '')
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
src = re.sub(r'([A-Za-z_]\w*(?:<[\w\s,]+>)?)<<<(.*?)>>>\(', launch, src)
pre = '''#include "cuda_emu.h"
#include <atomic>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define HANDGRAD_HOST_EMU 1
'''
open(sys.argv[2], 'w').write(pre + sys.argv[3] + '\n' + src)
PY
}

# Dynamic shared memory of each kernel file (attention.cu / moe.cu: smem4, sm; gemm.cu: smemRaw;
# elementwise.cu: part, plus the int4 it uses).
SHARED_ATTN='namespace handgrad { namespace { alignas(16) float4 smem4[232448 / 16]; alignas(16) int sm[232448 / 4]; } }
namespace handgrad { namespace attn { namespace { alignas(16) float4 smem4[232448 / 16]; } } }'
SHARED_GEMM='namespace handgrad { namespace { alignas(16) unsigned char smemRaw[232448]; } }'
SHARED_EW='struct alignas(16) int4 { int x, y, z, w; };
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
namespace handgrad { namespace { alignas(16) float part[232448 / 4]; } }'

run() {
  local name=$1 extra
  case "$name" in
    elementwise) extra=$SHARED_EW ;;
    gemm) extra=$SHARED_GEMM ;;
    attention | moe) extra=$SHARED_ATTN ;;
    *) echo "run.sh: unknown target '$name' (gemm, attention, moe, elementwise)" >&2; return 2 ;;
  esac
  # A target's kernel files: native/<name>.cu and its parts native/<name>_*.cu (attention: _simt,
  # _tc); the elementwise check covers every fp32 family file. The shared headers (native/*.cuh)
  # are translated too (the work folder precedes native/ on the include path).
  local files=("$root/native/$name.cu" "$root/native/${name}"_*.cu)
  [ "$name" = elementwise ] && files+=("$root/native/rows.cu" "$root/native/layernorm.cu" "$root/native/embedding.cu" "$root/native/optim.cu")
  local sources=()
  for src in "${files[@]}"; do
    [ -e "$src" ] || continue
    local base; base=$(basename "$src" .cu)
    translate "$src" "$work/$base.cc" "$extra"
    sources+=("$work/$base.cc")
  done
  for h in "$root"/native/*.cuh; do translate "$h" "$work/$(basename "$h")" ""; done
  translate "$root/native/tests/${name}_check.cu" "$work/${name}_check.cc" "$extra"
  # elementwise_check also checks a CUDA graph capture and replay (graph.cu, emulated in cuda_emu.h).
  if [ "$name" = elementwise ]; then translate "$root/native/graph.cu" "$work/graph.cc" ""; sources+=("$work/graph.cc"); fi
  g++ -std=c++20 -O2 -w -I"$work" -I"$here" -I"$root/native" -I"$root/native/tests" "${sources[@]}" "$work/${name}_check.cc" -o "$work/$name"
  "$work/$name"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(gemm attention moe elementwise)
for t in "${targets[@]}"; do run "$t"; done
