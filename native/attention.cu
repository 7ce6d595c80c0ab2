// Fused causal / non-causal attention, forward and backward, flash-style: no Tq×Tk matrix ever
// reaches global memory. Semantics: Ops.attention / Ops.attentionBackward in src/ops/types.ts,
// specified by src/backends/reference/attention.ts.
//
// Two implementations, picked per call in attentionForward / attentionBackward (this file: the
// dispatch; native/attention_common.cuh: what the kernel files share):
//  * tensor cores (native/attention_tc.cu, whose header describes it): head width D a multiple of 16 up to 128 and
//    more than 4 query rows, i.e. training and prefill. mma.sync bf16 products with fp32
//    accumulation and fp32 softmax statistics: bf16-level accuracy (normwise relative error a few
//    1e-3 against an fp64 reference, native/tests/attention_check.cu).
//  * fp32 SIMT FMA (native/attention_simt.cu): every other D, and decoding (Tq ≤ 4). Accurate to
//    fp32 rounding.
// attentionSetPath (a test hook, not in kernels.h) can force either for checks and timings.
//
// Layout (both paths): query row (b, i) of head h starts at q + (b·Tq + i)·qStride + h·D, key/value row (b, j) at
// (b·Tk + j)·kvStride + h·D, so q, k, v (and dq, dk, dv) may be views into one fused [rows, 3C]
// buffer. lse and the backward's rowsum term are [B, H, Tq].
//
// fp32 work split. Every kernel gives one warp a few rows of its own side and lets the 32 lanes walk the
// other side 32 rows at a time: for a score tile, lane l owns key (or query) l and computes full
// dot products against rows held in shared memory; for the weighted sums, lane l owns output
// columns l, l+32, … (D ≤ 128 → at most 4 per lane, DV below) and the 32 probabilities are
// broadcast from shared memory, four at a time as a float4. Dot products run on
// float4 over zero-padded shared-memory rows (see lanePitch for the bank-conflict-free pitch).
//
// Forward:  grid (⌈Tq/32⌉, B·H), 4 warps × 8 query rows; key tiles of 32 in shared memory, online
//           softmax (running max m, sum l, rescaled accumulators), lse = m + log l saved.
// Decode:   Tq ≤ 4 (KV-cache generation): one block per (b, h, i) spreads the keys over 256 threads
//           (8 lanes per key dot product, coalesced), keeps the score row in shared memory, and
//           splits the P·V sum over key groups; Tk up to ~10k keys stays in one block.
// Backward: D_i = rowsum(dO_i ⊙ O_i) into the scratch buffer first. Then dK/dV per key block
//           (FA2: grid over key blocks, loop over the query tiles that can see them) and dQ by a
//           separate pass over query blocks (loop over key tiles). The separate dQ pass recomputes
//           the scores once more (~+40% backward FLOPs) but is deterministic, needs no zeroing of
//           strided dq head blocks before the kernel, and has no atomic traffic; with fp32 SIMT the
//           atomics' contention (16 key blocks adding into each dq row) would cost about as much.
// Masked (and padding) positions get p = 0 exactly, so they contribute exactly zero everywhere.
// Dropout on P (AttentionShape.dropThr ≠ 0, training): the fp32 tiled kernels only. Forward: the
// softmax sum (lse) over the undropped P, P·V over c·P with c = m/(1 − p) from the hash of
// attention_common.cuh. Backward: dV += c·P·dO, dS = P ⊙ (c·dP − D_i), D_i = dO_i·O_i unchanged
// (O is the dropped output; the derivation: src/backends/reference/attention.ts).
#include "attention_common.cuh"

namespace handgrad {
using attn::Args;
using attn::kMaxD;
namespace {

Args makeArgs(const AttentionShape& s) {
  Args a{};
  a.B = s.B; a.H = s.H; a.D = s.D; a.Tq = s.Tq; a.Tk = s.Tk; a.qOffset = s.qOffset;
  a.qStride = s.qStride; a.kvStride = s.kvStride; a.oStride = s.oStride;
  a.causal = s.causal; a.scale = s.scale;
  a.dropThr = s.dropThr; a.dropScale = s.dropScale; a.dropSeed = s.dropSeed;
  return a;
}

bool checkShape(const AttentionShape& s, const char* who) {
  if (s.D < 1 || s.D > kMaxD) {
    std::fprintf(stderr, "handgrad %s: head width D = %d is outside 1…%d\n", who, s.D, kMaxD);
    return false;
  }
  return s.B > 0 && s.H > 0 && s.Tq > 0;
}

int gPathMode = 0;  // 0 automatic, 1 fp32 kernels only, 2 tensor cores wherever D allows, 3 as 2 without prefetch

// float4 staging needs 16-byte aligned row starts: every base pointer and every row stride.
bool vecOk(const AttentionShape& s, std::initializer_list<const float*> ptrs) {
  for (const float* p : ptrs)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return s.qStride % 4 == 0 && s.kvStride % 4 == 0 && s.oStride % 4 == 0;
}

}  // namespace

// Test hooks, declared where used (native/tests/attention_check.cu), not in kernels.h: force a path
// (0 automatic, 1 fp32 kernels only, 2 tensor cores wherever D allows, 3 as 2 without the register
// prefetch; process-wide, not thread-safe, checks and timings only), and ask which path a shape
// takes under the current mode.
void attentionSetPath(int mode) { gPathMode = mode; }

bool attentionUsesTensorCores(const AttentionShape& s) {
  if (s.D % 16 != 0 || s.D < 16 || s.D > kMaxD || gPathMode == 1) return false;
  // Decoding (a handful of query rows) stays on the fp32 row kernel: a 64-row tile would be
  // almost all padding, and the decode kernel spreads the keys over a whole block instead.
  return gPathMode >= 2 || s.Tq > 4;
}

void attentionForward(const float* q, const float* k, const float* v, float* out, float* lse,
                      const AttentionShape& s) {
  if (!checkShape(s, "attention")) return;
  Args a = makeArgs(s);
  a.q = q; a.k = k; a.v = v; a.o = out; a.lseOut = lse;
  // Dropout on P (training): only the fp32 tiled kernels apply it (not the tensor-core or decode paths).
  if (s.dropThr != 0) {
    attn::simtForward(a);
    return;
  }
  if (attentionUsesTensorCores(s)) {
    a.vec = vecOk(s, {q, k, v});
    attn::tcForward(a, gPathMode != 3);
    return;
  }
  if (attn::simtDecode(a)) return;
  attn::simtForward(a);
}

// Decoding with the position on the device (kernels.h): always the SIMT row kernel, which reads
// a.pos itself; shared memory is sized for the cache's full s.Tk rows.
bool attentionForwardAt(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s,
                        const int* pos) {
  if (!pos || s.B != 1 || s.Tq < 1 || s.Tq > 4 || s.H < 1 || s.D < 1 || s.D > kMaxD) return false;
  Args a = makeArgs(s);
  a.q = q; a.k = k; a.v = v; a.o = out; a.lseOut = lse;
  a.pos = pos;
  a.dropThr = 0;  // decoding never drops
  return attn::simtDecode(a);
}

void attentionBackward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv, float* scratch, const AttentionShape& s) {
  if (!checkShape(s, "attentionBackward")) return;
  Args a = makeArgs(s);
  a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.dout = dout;
  a.dq = dq; a.dk = dk; a.dv = dv; a.rowD = scratch;
  attn::simtRowDot(a);
  if (s.dropThr == 0 && attentionUsesTensorCores(s)) {
    a.vec = vecOk(s, {q, k, v, dout});
    attn::tcBackward(a, gPathMode != 3);
    return;
  }
  attn::simtBackward(a);
}

}  // namespace handgrad
