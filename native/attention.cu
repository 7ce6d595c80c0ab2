// Fused causal / non-causal attention, forward and backward, flash-style: no Tq×Tk matrix ever
// reaches global memory. Semantics: Ops.attention / Ops.attentionBackward in src/ops/types.ts,
// specified by src/backends/reference/attention.ts.
//
// Two implementations, picked per call in attentionForward / attentionBackward:
//  * tensor cores (section "tensor-core path" below): head width D a multiple of 16 up to 128 and
//    more than 4 query rows, i.e. training and prefill. mma.sync bf16 products with fp32
//    accumulation and fp32 softmax statistics: bf16-level accuracy (normwise relative error a few
//    1e-3 against an fp64 reference, native/tests/attention_check.cu).
//  * fp32 SIMT FMA (the kernels right below): every other D, and decoding (Tq ≤ 4). Accurate to
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
#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include "kernels.h"
#include "mma.h"

namespace handgrad {
namespace {

constexpr int kWarps = 4;             // warps per block in the tiled kernels
constexpr int kThreadsT = kWarps * 32;
constexpr int kRows = 4;              // rows of the block's own side per warp
constexpr int kBlockRows = kWarps * kRows;
constexpr int kTile = 32;             // rows of the other side per tile (one per lane)
constexpr int kMaxD = 128;

struct Args {
  const float* q;
  const float* k;
  const float* v;
  const float* out;
  const float* lse;
  const float* dout;
  float* o;       // forward output
  float* lseOut;  // forward lse
  float* dq;
  float* dk;
  float* dv;
  float* rowD;    // backward scratch: rowsum(dO ⊙ O)
  int B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride;
  bool causal;
  float scale;
  bool vec;       // tensor-core staging may use float4 loads (16-byte aligned bases, strides % 4 == 0)
};

__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Number of keys query i sees (clamped to 0…Tk).
__device__ __forceinline__ int visibleKeys(const Args& a, int i) {
  if (!a.causal) return a.Tk;
  return max(0, min(a.Tk, i + a.qOffset + 1));
}

// Shared-memory rows are zero-padded to Dp = D rounded up to 4, so dot products run on float4
// (LDS.128) for any D. Rows that the 32 lanes read "down a column" (lane l reads row l) use pitch
// P ≥ Dp with P/4 odd: the 8 lanes of each LDS.128 phase then land in 8 different 16-byte bank
// groups. Rows read by every lane at once (broadcast) use pitch Dp.
__host__ __device__ __forceinline__ int padD(int D) { return (D + 3) & ~3; }
__host__ __device__ __forceinline__ int lanePitch(int D) {
  const int p = padD(D);
  return ((p / 4) & 1) ? p : p + 4;
}

// Copies `rows` rows of D floats (row r at src + (row0 + r)·stride) into dst with row pitch
// `pitch`, scaled by `mul`; columns D…Dp−1 and rows at or past `limit` are zero. Whole block
// cooperates, one warp per row (coalesced along the row).
__device__ __forceinline__ void loadRows(float* dst, int pitch, const float* src, size_t stride, int row0, int rows,
                                         int limit, int D, float mul) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  const int Dp = padD(D);
  for (int r = warp; r < rows; r += nw) {
    const int g = row0 + r;
    const float* s = src + static_cast<size_t>(g) * stride;
    for (int d = lane; d < Dp; d += 32) dst[r * pitch + d] = (g < limit && d < D) ? s[d] * mul : 0.f;
  }
}

__device__ __forceinline__ float dot4(const float4 a, const float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

// acc[r][c] += Σ_{j < nj} w[r·kTile + j] · X[j·pitch + lane + 32c] for a warp's R rows: lane l owns
// output columns l, l+32, … (DV of them). Four rows of X per step, their weights read as one
// broadcast float4; j runs to the next multiple of 4, so the caller guarantees zero weights and
// finite X rows up to there. The fp32 P·V of the forward and dS·K of the dQ pass.
template <int R, int DV>
__device__ __forceinline__ void addWeightedRows(float (&acc)[R][DV], const float* w, const float* X, int pitch, int nj,
                                                int D, int lane) {
  for (int jj = 0; jj < nj; jj += 4) {
    float x[4][DV];
#pragma unroll
    for (int u = 0; u < 4; u++)
#pragma unroll
      for (int c = 0; c < DV; c++) {
        const int d = lane + 32 * c;
        x[u][c] = d < D ? X[(jj + u) * pitch + d] : 0.f;
      }
#pragma unroll
    for (int r = 0; r < R; r++) {
      const float4 wv = *reinterpret_cast<const float4*>(w + r * kTile + jj);
#pragma unroll
      for (int c = 0; c < DV; c++) {
        float y = acc[r][c];
        y = fmaf(wv.x, x[0][c], y);
        y = fmaf(wv.y, x[1][c], y);
        y = fmaf(wv.z, x[2][c], y);
        acc[r][c] = fmaf(wv.w, x[3][c], y);
      }
    }
  }
}

// ---- forward, tiled ------------------------------------------------------------------------------
// 4 warps × 8 query rows; per key tile: scores (lane = key, float4 over D against the 8 broadcast
// query rows), online-softmax update, probabilities parked in shared memory (per warp) so that the
// P·V product reads them four keys at a time as a broadcast float4.
constexpr int kRowsF = 8;
constexpr int kBlockRowsF = kWarps * kRowsF;

template <int DV>
__global__ void __launch_bounds__(kThreadsT) attnFwdKernel(Args a) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int D = a.D, Dp = padD(D), P = lanePitch(D), D4 = Dp / 4;
  float* Qs = sm;                         // [kBlockRowsF][Dp], pre-scaled
  float* Ks = Qs + kBlockRowsF * Dp;      // [kTile][P]
  float* Vs = Ks + kTile * P;             // [kTile][Dp]
  float* Ps = Vs + kTile * Dp;            // [kWarps][kRowsF][kTile]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  const int q0 = blockIdx.x * kBlockRowsF;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  loadRows(Qs, Dp, qBase, a.qStride, q0, kBlockRowsF, a.Tq, D, a.scale);

  // Keys any row of this block can see (visibility grows with the row).
  const int kEnd = visibleKeys(a, min(a.Tq - 1, q0 + kBlockRowsF - 1));
  const int rowBase = warp * kRowsF;
  float* myP = Ps + rowBase * kTile;
  int rowVis[kRowsF];
  float m[kRowsF], l[kRowsF], acc[kRowsF][DV];
#pragma unroll
  for (int r = 0; r < kRowsF; r++) {
    const int i = q0 + rowBase + r;
    rowVis[r] = i < a.Tq ? visibleKeys(a, i) : 0;
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int c = 0; c < DV; c++) acc[r][c] = 0.f;
  }
  for (int k0 = 0; k0 < kEnd; k0 += kTile) {
    __syncthreads();  // the previous tile (and Ps) is consumed; the first time it publishes Qs
    loadRows(Ks, P, kBase, a.kvStride, k0, kTile, a.Tk, D, 1.f);
    loadRows(Vs, Dp, vBase, a.kvStride, k0, kTile, a.Tk, D, 1.f);
    __syncthreads();
    float s[kRowsF];
#pragma unroll
    for (int r = 0; r < kRowsF; r++) s[r] = 0.f;
    const float4* kr = reinterpret_cast<const float4*>(Ks + lane * P);
    const float4* qr = reinterpret_cast<const float4*>(Qs + rowBase * Dp);
    for (int d4 = 0; d4 < D4; d4++) {
      const float4 kv = kr[d4];
#pragma unroll
      for (int r = 0; r < kRowsF; r++) s[r] = dot4(qr[r * D4 + d4], kv, s[r]);
    }
    const int j = k0 + lane;
#pragma unroll
    for (int r = 0; r < kRowsF; r++) {
      const bool vis = j < rowVis[r];
      const float sv = vis ? s[r] : -INFINITY;
      const float mNew = fmaxf(m[r], warpMax(sv));
      // mNew is finite whenever this row has seen a visible key; otherwise every p and l stay 0.
      const float p = vis ? expf(sv - mNew) : 0.f;
      const float corr = m[r] == -INFINITY ? 0.f : expf(m[r] - mNew);
      l[r] = l[r] * corr + warpSum(p);
      m[r] = mNew;
#pragma unroll
      for (int c = 0; c < DV; c++) acc[r][c] *= corr;
      myP[r * kTile + lane] = p;
    }
    __syncwarp();
    // Keys past kEnd have p = 0 in every row (and finite, zero-padded V rows).
    addWeightedRows(acc, myP, Vs, Dp, min(kTile, kEnd - k0), D, lane);
  }
#pragma unroll
  for (int r = 0; r < kRowsF; r++) {
    const int i = q0 + rowBase + r;
    if (i >= a.Tq) continue;
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
    float* o = a.o + (static_cast<size_t>(b) * a.Tq + i) * a.oStride + h * D;
#pragma unroll
    for (int c = 0; c < DV; c++) {
      const int d = lane + 32 * c;
      if (d < D) o[d] = acc[r][c] * inv;
    }
    if (lane == 0) a.lseOut[static_cast<size_t>(bh) * a.Tq + i] = l[r] > 0.f ? m[r] + logf(l[r]) : -INFINITY;
  }
}

// ---- forward, decoding (few query rows, many keys) -----------------------------------------------
constexpr int kDecThreads = 256;
constexpr int kDecGroup = 8;  // lanes per key dot product

__device__ __forceinline__ float blockReduce(float v, float* red, bool isMax) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = isMax ? warpMax(v) : warpSum(v);
  __syncthreads();  // red may still be read by a previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float r = isMax ? -INFINITY : 0.f;
  for (int w = 0; w < kDecThreads / 32; w++) r = isMax ? fmaxf(r, red[w]) : r + red[w];
  return r;
}

__global__ void __launch_bounds__(kDecThreads) attnDecodeKernel(Args a) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int D = a.D;
  float* qs = sm;                  // [kMaxD]
  float* part = qs + kMaxD;        // [kDecThreads]
  float* red = part + kDecThreads; // [32]
  float* sc = red + 32;            // [Tk]
  const int i = blockIdx.x, bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  const int tid = threadIdx.x;
  const float* qr = a.q + (static_cast<size_t>(b) * a.Tq + i) * a.qStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  for (int d = tid; d < D; d += kDecThreads) qs[d] = qr[d] * a.scale;
  __syncthreads();
  const int nk = visibleKeys(a, i);
  // Scores: 8 lanes per key (a group), 32 groups; lanes of a group read consecutive floats.
  const int sub = tid % kDecGroup, grp = tid / kDecGroup, groups = kDecThreads / kDecGroup;
  float mx = -INFINITY;
  // Four keys per group and pass, with the column loop unrolled to its compile-time maximum, so
  // a thread has up to 64 independent loads in flight (the kernel is latency-bound: one block per
  // (b, h), few blocks). The trip count is the same for every thread, so whole warps reach each
  // shuffle.
  for (int j0 = 0; j0 < nk; j0 += 4 * groups) {
    float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int j = j0 + u * groups + grp;
      if (j < nk) {
        const float* kr = kBase + static_cast<size_t>(j) * a.kvStride;
#pragma unroll
        for (int c = 0; c < kMaxD / kDecGroup; c++) {
          const int d = sub + kDecGroup * c;
          if (d < D) s[u] = fmaf(qs[d], kr[d], s[u]);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < 4; u++) {
#pragma unroll
      for (int o = kDecGroup / 2; o > 0; o >>= 1) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
      const int j = j0 + u * groups + grp;
      if (j < nk) {
        if (sub == 0) sc[j] = s[u];
        mx = fmaxf(mx, s[u]);
      }
    }
  }
  mx = blockReduce(mx, red, true);
  // Probabilities (unnormalised) and their sum; every thread now reads sc written by others.
  __syncthreads();
  float sum = 0.f;
  for (int j = tid; j < nk; j += kDecThreads) {
    const float p = expf(sc[j] - mx);
    sc[j] = p;
    sum += p;
  }
  sum = blockReduce(sum, red, false);  // its barriers also publish sc
  // P·V: threads split into G = 256 / D key groups × D columns (coalesced along the row).
  const int G = kDecThreads / D;
  const int g = tid / D, d = tid - g * D;
  float acc = 0.f;
  if (g < G) {
#pragma unroll 8
    for (int j = g; j < nk; j += G) acc = fmaf(sc[j], vBase[static_cast<size_t>(j) * a.kvStride + d], acc);
  }
  part[tid] = acc;
  __syncthreads();
  if (tid < D) {
    float o = 0.f;
    for (int gg = 0; gg < G; gg++) o += part[gg * D + tid];
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    a.o[(static_cast<size_t>(b) * a.Tq + i) * a.oStride + h * D + tid] = o * inv;
  }
  if (tid == 0) a.lseOut[static_cast<size_t>(bh) * a.Tq + i] = nk > 0 ? mx + logf(sum) : -INFINITY;
}

// ---- backward ------------------------------------------------------------------------------------
// rowD[(b·H + h)·Tq + i] = dO_i · O_i: one warp per row.
__global__ void attnRowDotKernel(Args a) {
  const int warpsPerBlock = blockDim.x >> 5, lane = threadIdx.x & 31;
  const size_t rows = static_cast<size_t>(a.B) * a.H * a.Tq;
  for (size_t row = blockIdx.x * (size_t)warpsPerBlock + (threadIdx.x >> 5); row < rows;
       row += (size_t)gridDim.x * warpsPerBlock) {
    const int i = static_cast<int>(row % a.Tq);
    const size_t bh = row / a.Tq;
    const int b = static_cast<int>(bh / a.H), h = static_cast<int>(bh % a.H);
    const size_t off = (static_cast<size_t>(b) * a.Tq + i) * a.oStride + static_cast<size_t>(h) * a.D;
    float s = 0.f;
    for (int d = lane; d < a.D; d += 32) s = fmaf(a.dout[off + d], a.out[off + d], s);
    s = warpSum(s);
    if (lane == 0) a.rowD[row] = s;
  }
}

// dK, dV for a block of 16 keys (4 per warp); lanes walk query rows 32 at a time.
template <int DV>
__global__ void __launch_bounds__(kThreadsT) attnBwdKVKernel(Args a) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int D = a.D, Dp = padD(D), KS = lanePitch(D), D4 = Dp / 4;
  float* Kw = sm;                      // [kBlockRows][Dp]
  float* Vw = Kw + kBlockRows * Dp;    // [kBlockRows][Dp]
  float* Qs = Vw + kBlockRows * Dp;    // [kTile][KS]
  float* Os = Qs + kTile * KS;         // [kTile][KS]  (dO)
  float* Pw = Os + kTile * KS;         // [kWarps][kRows][kTile] P of each warp's keys
  float* Sw = Pw + kBlockRows * kTile; // [kWarps][kRows][kTile] dS
  float* Ls = Sw + kBlockRows * kTile; // [kTile] lse
  float* Ds = Ls + kTile;              // [kTile] rowD
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  const int k0 = blockIdx.x * kBlockRows;
  float* myP = Pw + warp * kRows * kTile;
  float* myS = Sw + warp * kRows * kTile;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* oBase = a.dout + static_cast<size_t>(b) * a.Tq * a.oStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  loadRows(Kw, Dp, kBase, a.kvStride, k0, kBlockRows, a.Tk, D, 1.f);
  loadRows(Vw, Dp, vBase, a.kvStride, k0, kBlockRows, a.Tk, D, 1.f);
  const int rowBase = warp * kRows;
  float dk[kRows][DV], dv[kRows][DV];
#pragma unroll
  for (int r = 0; r < kRows; r++)
#pragma unroll
    for (int c = 0; c < DV; c++) dk[r][c] = dv[r][c] = 0.f;
  // First query that sees key k0: i + qOffset ≥ k0.
  const int iStart = a.causal ? max(0, k0 - a.qOffset) : 0;
  for (int i0 = iStart; i0 < a.Tq; i0 += kTile) {
    __syncthreads();
    loadRows(Qs, KS, qBase, a.qStride, i0, kTile, a.Tq, D, 1.f);
    loadRows(Os, KS, oBase, a.oStride, i0, kTile, a.Tq, D, 1.f);
    if (threadIdx.x < kTile) {
      const int i = i0 + threadIdx.x;
      Ls[threadIdx.x] = i < a.Tq ? a.lse[static_cast<size_t>(bh) * a.Tq + i] : 0.f;
      Ds[threadIdx.x] = i < a.Tq ? a.rowD[static_cast<size_t>(bh) * a.Tq + i] : 0.f;
    }
    __syncthreads();
    float s[kRows], dp[kRows];
#pragma unroll
    for (int r = 0; r < kRows; r++) s[r] = dp[r] = 0.f;
    const float4* qr = reinterpret_cast<const float4*>(Qs + lane * KS);
    const float4* orow = reinterpret_cast<const float4*>(Os + lane * KS);
    const float4* kw = reinterpret_cast<const float4*>(Kw + rowBase * Dp);
    const float4* vw = reinterpret_cast<const float4*>(Vw + rowBase * Dp);
    for (int d4 = 0; d4 < D4; d4++) {
      const float4 qd = qr[d4], od = orow[d4];
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        s[r] = dot4(qd, kw[r * D4 + d4], s[r]);
        dp[r] = dot4(od, vw[r * D4 + d4], dp[r]);
      }
    }
    const int i = i0 + lane;
    const int vis = i < a.Tq ? visibleKeys(a, i) : 0;  // keys j < vis are visible to query i
    const float li = Ls[lane], Di = Ds[lane];
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const int j = k0 + rowBase + r;
      const bool ok = j < vis;
      const float p = ok ? expf(a.scale * s[r] - li) : 0.f;
      myP[r * kTile + lane] = p;
      myS[r * kTile + lane] = ok ? p * (dp[r] - Di) : 0.f;
    }
    __syncwarp();
    // Query rows past Tq are zero in Qs/Os and have p = dS = 0: run to the next multiple of 4.
    const int ni = min(kTile, a.Tq - i0);
    for (int ii = 0; ii < ni; ii += 4) {
      float qd[4][DV], od[4][DV];
#pragma unroll
      for (int u = 0; u < 4; u++)
#pragma unroll
        for (int c = 0; c < DV; c++) {
          const int d = lane + 32 * c;
          qd[u][c] = d < D ? Qs[(ii + u) * KS + d] : 0.f;
          od[u][c] = d < D ? Os[(ii + u) * KS + d] : 0.f;
        }
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        const float4 pv = *reinterpret_cast<const float4*>(myP + r * kTile + ii);
        const float4 sv = *reinterpret_cast<const float4*>(myS + r * kTile + ii);
#pragma unroll
        for (int c = 0; c < DV; c++) {
          float x = dv[r][c], y = dk[r][c];
          x = fmaf(pv.x, od[0][c], x);
          y = fmaf(sv.x, qd[0][c], y);
          x = fmaf(pv.y, od[1][c], x);
          y = fmaf(sv.y, qd[1][c], y);
          x = fmaf(pv.z, od[2][c], x);
          y = fmaf(sv.z, qd[2][c], y);
          dv[r][c] = fmaf(pv.w, od[3][c], x);
          dk[r][c] = fmaf(sv.w, qd[3][c], y);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int j = k0 + rowBase + r;
    if (j >= a.Tk) continue;
    const size_t off = (static_cast<size_t>(b) * a.Tk + j) * a.kvStride + h * D;
#pragma unroll
    for (int c = 0; c < DV; c++) {
      const int d = lane + 32 * c;
      if (d < D) {
        a.dk[off + d] = dk[r][c] * a.scale;
        a.dv[off + d] = dv[r][c];
      }
    }
  }
}

// dQ for a block of 16 query rows (4 per warp); lanes walk key rows 32 at a time.
template <int DV>
__global__ void __launch_bounds__(kThreadsT) attnBwdQKernel(Args a) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int D = a.D, Dp = padD(D), KS = lanePitch(D), D4 = Dp / 4;
  float* Qw = sm;                      // [kBlockRows][Dp]
  float* Ow = Qw + kBlockRows * Dp;    // [kBlockRows][Dp]  (dO)
  float* Ks = Ow + kBlockRows * Dp;    // [kTile][KS]
  float* Vs = Ks + kTile * KS;         // [kTile][KS]
  float* Sw = Vs + kTile * KS;         // [kWarps][kRows][kTile] dS of each warp's rows
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float* myS = Sw + warp * kRows * kTile;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  const int q0 = blockIdx.x * kBlockRows;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* oBase = a.dout + static_cast<size_t>(b) * a.Tq * a.oStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  loadRows(Qw, Dp, qBase, a.qStride, q0, kBlockRows, a.Tq, D, 1.f);
  loadRows(Ow, Dp, oBase, a.oStride, q0, kBlockRows, a.Tq, D, 1.f);
  const int rowBase = warp * kRows;
  int rowVis[kRows];
  float li[kRows], Di[kRows], dq[kRows][DV];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int i = q0 + rowBase + r;
    const bool in = i < a.Tq;
    rowVis[r] = in ? visibleKeys(a, i) : 0;
    li[r] = in ? a.lse[static_cast<size_t>(bh) * a.Tq + i] : 0.f;
    Di[r] = in ? a.rowD[static_cast<size_t>(bh) * a.Tq + i] : 0.f;
#pragma unroll
    for (int c = 0; c < DV; c++) dq[r][c] = 0.f;
  }
  const int kEnd = visibleKeys(a, min(a.Tq - 1, q0 + kBlockRows - 1));
  for (int k0 = 0; k0 < kEnd; k0 += kTile) {
    __syncthreads();
    loadRows(Ks, KS, kBase, a.kvStride, k0, kTile, a.Tk, D, 1.f);
    loadRows(Vs, KS, vBase, a.kvStride, k0, kTile, a.Tk, D, 1.f);
    __syncthreads();
    float s[kRows], dp[kRows];
#pragma unroll
    for (int r = 0; r < kRows; r++) s[r] = dp[r] = 0.f;
    const float4* kr = reinterpret_cast<const float4*>(Ks + lane * KS);
    const float4* vr = reinterpret_cast<const float4*>(Vs + lane * KS);
    const float4* qw = reinterpret_cast<const float4*>(Qw + rowBase * Dp);
    const float4* ow = reinterpret_cast<const float4*>(Ow + rowBase * Dp);
    for (int d4 = 0; d4 < D4; d4++) {
      const float4 kd = kr[d4], vd = vr[d4];
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        s[r] = dot4(qw[r * D4 + d4], kd, s[r]);
        dp[r] = dot4(ow[r * D4 + d4], vd, dp[r]);
      }
    }
    const int j = k0 + lane;
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      const bool ok = j < rowVis[r];
      const float p = ok ? expf(a.scale * s[r] - li[r]) : 0.f;
      myS[r * kTile + lane] = ok ? p * (dp[r] - Di[r]) : 0.f;
    }
    __syncwarp();
    // Keys past kEnd have dS = 0 in every row (and finite or zero K rows).
    addWeightedRows(dq, myS, Ks, KS, min(kTile, kEnd - k0), D, lane);
  }
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const int i = q0 + rowBase + r;
    if (i >= a.Tq) continue;
    float* o = a.dq + (static_cast<size_t>(b) * a.Tq + i) * a.qStride + h * D;
#pragma unroll
    for (int c = 0; c < DV; c++) {
      const int d = lane + 32 * c;
      if (d < D) o[d] = dq[r][c] * a.scale;
    }
  }
}

Args makeArgs(const AttentionShape& s) {
  Args a{};
  a.B = s.B; a.H = s.H; a.D = s.D; a.Tq = s.Tq; a.Tk = s.Tk; a.qOffset = s.qOffset;
  a.qStride = s.qStride; a.kvStride = s.kvStride; a.oStride = s.oStride;
  a.causal = s.causal; a.scale = s.scale;
  return a;
}

bool checkShape(const AttentionShape& s, const char* who) {
  if (s.D < 1 || s.D > kMaxD) {
    std::fprintf(stderr, "handgrad %s: head width D = %d is outside 1…%d\n", who, s.D, kMaxD);
    return false;
  }
  return s.B > 0 && s.H > 0 && s.Tq > 0;
}

// Dynamic shared memory above 48 KB needs an opt-in per kernel: the tiled kernels use about 29 KB
// at D = 64 but 51–55 KB at D = 128 (still within sm_86's 99 KB and sm_90's 227 KB per block).
template <typename K>
void allowSmem(K kernel, size_t bytes) {
  if (bytes > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

// ---- tensor-core path (D a multiple of 16, ≤ 128) -------------------------------------------------
// FA2-style, mma.sync.m16n8k16 bf16 with fp32 accumulation (valid on sm_80+, so the same code serves
// the sm_86 and sm_90 builds; fragment layouts and the ldmatrix addressing are those of gemm.cu).
// Operands are rounded to bf16 (RNE) when a tile is staged from fp32 global memory into shared
// memory; scores, softmax statistics, P (before its bf16 rounding for the P·V product), dS and all
// accumulators stay fp32. Blocks are 4 warps; each warp owns 16 rows of the block's own side (64 per
// block) and walks the other side in tiles of 64 rows held in shared memory as [row][D + 8] bf16
// (the 16-byte pad makes the 8 row addresses of each ldmatrix phase hit 8 distinct bank groups,
// since (D + 8)·2 / 16 is odd for D % 16 == 0).
//  * Forward: S = Q·Kᵀ per 64-key tile (Q fragments kept in registers), online softmax in base 2
//    (the scale·log2 e factor folded into one multiply), P re-packed from the S accumulators
//    straight into A fragments (the C layout of two n-tiles is the A layout of one k-step), O += P·V
//    with V read through ldmatrix.trans.
//  * Backward, dK/dV: per 64-key block, loop over the query tiles that can see it; computes Sᵀ = K·Qᵀ
//    and dPᵀ = V·dOᵀ with the keys as the M side, so Pᵀ and dSᵀ land in A-fragment layout for
//    dV += Pᵀ·dO and dK += dSᵀ·Q with no shared-memory round trip.
//  * Backward, dQ: per 64-query block, loop over key tiles; S and dP again, dQ += dS·K. A separate
//    pass (as the fp32 path) rather than atomics: deterministic, no zeroing of strided dq blocks.
// Masked and padding entries get p = dS = 0 exactly (select, not exp of −∞ arithmetic), and rows
// past T are staged as zeros, so they contribute exactly nothing.
constexpr int kTcRows = 64;  // own-side rows per block (4 warps × 16)
constexpr int kTcTile = 64;  // other-side rows per tile
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct alignas(8) U2 {
  uint32_t x, y;
};

// packBf16, loadA, mmaPairNK/KN, packA (and their host emulation): mma.h.

// Stages rows row0 … row0+R−1 (R = 64 unless given) of a [rows, D] view (row stride `stride` floats) as bf16 into
// dst[R][D + 8]; rows at or past `limit` become zeros. The whole block cooperates; consecutive
// threads take consecutive 16-byte chunks of a row (coalesced). Split into load (global → registers)
// and store (convert, registers → shared) so that a kernel can issue the next tile's loads before
// the current tile's mma work and let them land meanwhile (kPipe below).
template <int D, int R = kTcRows>
struct Stage {
  static constexpr int C4 = D / 4, P = D + 8, N = R * C4 / kThreadsT;
  static_assert(R * C4 % kThreadsT == 0, "D must be a multiple of 16 (of 32 with R = 32)");
  float4 v[N];
  __device__ __forceinline__ void load(const float* src, size_t stride, int row0, int limit, bool vec) {
#pragma unroll
    for (int u = 0; u < N; u++) {  // all loads first, so they are in flight together
      const int idx = threadIdx.x + u * kThreadsT, r = idx / C4, c = idx - r * C4, g = row0 + r;
      v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (g < limit) {
        const float* s = src + static_cast<size_t>(g) * stride + c * 4;
        if (vec) v[u] = *reinterpret_cast<const float4*>(s);
        else v[u] = make_float4(s[0], s[1], s[2], s[3]);
      }
    }
  }
  __device__ __forceinline__ void store(uint16_t* dst) const {
#pragma unroll
    for (int u = 0; u < N; u++) {
      const int idx = threadIdx.x + u * kThreadsT, r = idx / C4, c = idx - r * C4;
      U2 w;
      w.x = packBf16(v[u].x, v[u].y);
      w.y = packBf16(v[u].z, v[u].w);
      *reinterpret_cast<U2*>(dst + r * P + c * 4) = w;
    }
  }
};
template <int D>
__device__ __forceinline__ void stageRows(uint16_t* dst, const float* src, size_t stride, int row0, int limit,
                                          bool vec) {
  Stage<D> st;
  st.load(src, stride, row0, limit, vec);
  st.store(dst);
}
// Pipe: prefetch the next tile into registers during the current one (D/8 float4 per operand and
// thread, live across the mma work). That fits the register budget up to D = 64; wider heads would
// spill, so they load at the top of each iteration instead. (Path mode 3 turns it off everywhere,
// for timing comparisons.)
template <int D>
constexpr bool kPipe = D <= 64;

template <int D, bool Pipe>
__global__ void __launch_bounds__(kThreadsT) attnTcFwdKernel(Args a) {
  constexpr int P = D + 8, KD = D / 16, ND = D / 8;
  extern __shared__ float4 smem4[];
  uint16_t* Qs = reinterpret_cast<uint16_t*>(smem4);
  uint16_t* Ks = Qs + kTcRows * P;
  uint16_t* Vs = Ks + kTcTile * P;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  // Last query block first: under a causal mask it has the most key tiles, and starting the
  // longest blocks first shortens the tail of the grid.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kTcRows;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  stageRows<D>(Qs, qBase, a.qStride, q0, a.Tq, a.vec);
  const int kEnd = visibleKeys(a, min(a.Tq - 1, q0 + kTcRows - 1));
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
  const int vis0 = row0 < a.Tq ? visibleKeys(a, row0) : 0;
  const int vis1 = row1 < a.Tq ? visibleKeys(a, row1) : 0;
  const float sc = a.scale * kLog2e;
  // Keys any row of this warp sees: key n-tiles (8 keys) past it are skipped (causal diagonal,
  // ragged Tk); their scores stay 0 and the mask below gives them p = 0 as before.
  const int warpVis = q0 + warp * 16 < a.Tq ? visibleKeys(a, min(a.Tq - 1, q0 + warp * 16 + 15)) : 0;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  float o[ND][4];
#pragma unroll
  for (int n = 0; n < ND; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  __syncthreads();
  uint32_t qf[KD][4];
#pragma unroll
  for (int kk = 0; kk < KD; kk++)
    loadA(qf[kk], Qs, P, warp * 16, kk * 16, lane);
  Stage<D> pk, pv;
  if (Pipe && kEnd > 0) {
    pk.load(kBase, a.kvStride, 0, a.Tk, a.vec);
    pv.load(vBase, a.kvStride, 0, a.Tk, a.vec);
  }
  for (int k0 = 0; k0 < kEnd; k0 += kTcTile) {
    if (!Pipe) {
      pk.load(kBase, a.kvStride, k0, a.Tk, a.vec);
      pv.load(vBase, a.kvStride, k0, a.Tk, a.vec);
    }
    __syncthreads();  // every warp is done with the previous K/V tile
    pk.store(Ks);
    pv.store(Vs);
    __syncthreads();
    if (Pipe && k0 + kTcTile < kEnd) {
      pk.load(kBase, a.kvStride, k0 + kTcTile, a.Tk, a.vec);
      pv.load(vBase, a.kvStride, k0 + kTcTile, a.Tk, a.vec);
    }
    const int nt = min(8, (max(0, warpVis - k0) + 7) / 8);  // live key n-tiles (warp-uniform)
    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KD; kk++)
#pragma unroll
      for (int j = 0; j < 8; j += 2) {  // keys as [n][k]: (n0-7,k0-7) (n0-7,k8-15) (n8-15,k0-7) (n8-15,k8-15)
        if (j >= nt) continue;
        mmaPairNK(s[j], s[j + 1], qf[kk], Ks, P, j * 8, kk * 16, lane);
      }
    // Scale, mask, running max (rows row0: entries 0,1; row1: entries 2,3; a row spans a lane quad).
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const int key = k0 + j * 8 + c2 + e;
        s[j][e] = key < vis0 ? s[j][e] * sc : -INFINITY;
        s[j][2 + e] = key < vis1 ? s[j][2 + e] * sc : -INFINITY;
        mx0 = fmaxf(mx0, s[j][e]);
        mx1 = fmaxf(mx1, s[j][2 + e]);
      }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    // A row with no visible key so far keeps max −∞: subtract 0 instead (all its p are 0 anyway).
    const float base0 = mx0 == -INFINITY ? 0.f : mx0, base1 = mx1 == -INFINITY ? 0.f : mx1;
    const float corr0 = exp2f(m0 - base0), corr1 = exp2f(m1 - base1);  // 0 while m = −∞
    m0 = mx0;
    m1 = mx1;
    float ls0 = 0.f, ls1 = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        const float p0 = s[j][e] == -INFINITY ? 0.f : exp2f(s[j][e] - base0);
        const float p1 = s[j][2 + e] == -INFINITY ? 0.f : exp2f(s[j][2 + e] - base1);
        s[j][e] = p0;
        s[j][2 + e] = p1;
        ls0 += p0;
        ls1 += p1;
      }
    l0 = l0 * corr0 + ls0;  // per-lane partial sums; the quad is summed at the end
    l1 = l1 * corr1 + ls1;
#pragma unroll
    for (int n = 0; n < ND; n++) {
      o[n][0] *= corr0;
      o[n][1] *= corr0;
      o[n][2] *= corr1;
      o[n][3] *= corr1;
    }
    // O += P·V: the accumulators of key n-tiles 2t, 2t+1 are the A fragment of k-step t.
#pragma unroll
    for (int t = 0; t < 4; t++) {
      if (2 * t >= nt) continue;  // p = 0 for all 16 keys
      uint32_t pa[4];
      packA(pa, s[2 * t], s[2 * t + 1]);
#pragma unroll
      for (int n = 0; n < ND; n += 2) {  // V as [k][n], transposed on load
        mmaPairKN(o[n], o[n + 1], pa, Vs, P, t * 16, n * 8, lane);
      }
    }
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int i = half ? row1 : row0;
    if (i >= a.Tq) continue;
    const float l = half ? l1 : l0, m = half ? m1 : m0;
    const float inv = l > 0.f ? 1.f / l : 0.f;
    float* out = a.o + (static_cast<size_t>(b) * a.Tq + i) * a.oStride + h * D + c2;
#pragma unroll
    for (int n = 0; n < ND; n++) {
      out[n * 8] = o[n][2 * half] * inv;
      out[n * 8 + 1] = o[n][2 * half + 1] * inv;
    }
    if ((lane & 3) == 0) a.lseOut[static_cast<size_t>(bh) * a.Tq + i] = l > 0.f ? (m + log2f(l)) * kLn2 : -INFINITY;
  }
}

// QT: query rows per tile (64; 32 for D ≥ 96, where Sᵀ and dPᵀ of 64 queries next to the dK, dV
// accumulators would spill).
template <int D, bool Pipe, int QT>
__global__ void __launch_bounds__(kThreadsT) attnTcBwdKVKernel(Args a) {
  constexpr int P = D + 8, KD = D / 16, ND = D / 8, NJ = QT / 8;
  extern __shared__ float4 smem4[];
  uint16_t* Ks = reinterpret_cast<uint16_t*>(smem4);
  uint16_t* Vs = Ks + kTcRows * P;
  uint16_t* Qs = Vs + kTcRows * P;
  uint16_t* Os = Qs + QT * P;  // dO
  float* Ls = reinterpret_cast<float*>(Os + QT * P);  // lse · log2 e
  float* Dr = Ls + QT;                                // rowsum(dO ⊙ O)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  const int k0 = blockIdx.x * kTcRows;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* oBase = a.dout + static_cast<size_t>(b) * a.Tq * a.oStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  stageRows<D>(Ks, kBase, a.kvStride, k0, a.Tk, a.vec);
  stageRows<D>(Vs, vBase, a.kvStride, k0, a.Tk, a.vec);
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  const int key0 = k0 + warp * 16 + g, key1 = key0 + 8;
  const float sc = a.scale * kLog2e;
  float dv[ND][4], dk[ND][4];
#pragma unroll
  for (int n = 0; n < ND; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) dv[n][e] = dk[n][e] = 0.f;
  const int iStart = a.causal ? max(0, k0 - a.qOffset) : 0;  // first query that sees key k0
  Stage<D, QT> pq, po;
  if (Pipe && iStart < a.Tq) {
    pq.load(qBase, a.qStride, iStart, a.Tq, a.vec);
    po.load(oBase, a.oStride, iStart, a.Tq, a.vec);
  }
  for (int i0 = iStart; i0 < a.Tq; i0 += QT) {
    if (!Pipe) {
      pq.load(qBase, a.qStride, i0, a.Tq, a.vec);
      po.load(oBase, a.oStride, i0, a.Tq, a.vec);
    }
    __syncthreads();
    pq.store(Qs);
    po.store(Os);
    if (threadIdx.x < QT) {
      const int i = i0 + threadIdx.x;
      Ls[threadIdx.x] = i < a.Tq ? a.lse[static_cast<size_t>(bh) * a.Tq + i] * kLog2e : 0.f;
      Dr[threadIdx.x] = i < a.Tq ? a.rowD[static_cast<size_t>(bh) * a.Tq + i] : 0.f;
    }
    __syncthreads();
    if (Pipe && i0 + QT < a.Tq) {
      pq.load(qBase, a.qStride, i0 + QT, a.Tq, a.vec);
      po.load(oBase, a.oStride, i0 + QT, a.Tq, a.vec);
    }
    // Query n-tiles (8 queries) that can see at least one of this warp's keys; the others (causal
    // diagonal, rows past Tq, a warp with no keys) skip their mma work and get p = dS = 0 below.
    const int kmin = k0 + warp * 16;
    unsigned live = 0;
#pragma unroll
    for (int j = 0; j < NJ; j++)
      if (kmin < a.Tk && i0 + 8 * j < a.Tq && (!a.causal || i0 + 8 * j + 8 + a.qOffset > kmin)) live |= 1u << j;
    float st[NJ][4], dp[NJ][4];  // Sᵀ and dPᵀ: rows = this warp's 16 keys, columns = QT queries
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) st[j][e] = dp[j][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KD; kk++) {
      uint32_t kf[4], vf[4];
      loadA(kf, Ks, P, warp * 16, kk * 16, lane);
      loadA(vf, Vs, P, warp * 16, kk * 16, lane);
#pragma unroll
      for (int j = 0; j < NJ; j += 2) {
        if (!(live & (3u << j))) continue;
        mmaPairNK(st[j], st[j + 1], kf, Qs, P, j * 8, kk * 16, lane);
        mmaPairNK(dp[j], dp[j + 1], vf, Os, P, j * 8, kk * 16, lane);
      }
    }
    // Pᵀ (into st) and dSᵀ (into dp); query rows past Tq fail `i < Tq` and get zeros.
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int col = j * 8 + c2 + (e & 1), i = i0 + col;
        const int key = e < 2 ? key0 : key1;
        const bool ok = i < a.Tq && key < visibleKeys(a, i);
        const float p = ok ? exp2f(st[j][e] * sc - Ls[col]) : 0.f;
        st[j][e] = p;
        dp[j][e] = ok ? p * (dp[j][e] - Dr[col]) : 0.f;
      }
    // dV += Pᵀ·dO, dK += dSᵀ·Q (k = queries): dO and Q as [k][n], transposed on load.
#pragma unroll
    for (int t = 0; t < NJ / 2; t++) {
      if (!(live & (3u << (2 * t)))) continue;
      uint32_t pa[4], sa[4];
      packA(pa, st[2 * t], st[2 * t + 1]);
      packA(sa, dp[2 * t], dp[2 * t + 1]);
#pragma unroll
      for (int n = 0; n < ND; n += 2) {
        mmaPairKN(dv[n], dv[n + 1], pa, Os, P, t * 16, n * 8, lane);
        mmaPairKN(dk[n], dk[n + 1], sa, Qs, P, t * 16, n * 8, lane);
      }
    }
  }
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int j = half ? key1 : key0;
    if (j >= a.Tk) continue;
    const size_t off = (static_cast<size_t>(b) * a.Tk + j) * a.kvStride + h * D + c2;
#pragma unroll
    for (int n = 0; n < ND; n++) {
      a.dk[off + n * 8] = dk[n][2 * half] * a.scale;
      a.dk[off + n * 8 + 1] = dk[n][2 * half + 1] * a.scale;
      a.dv[off + n * 8] = dv[n][2 * half];
      a.dv[off + n * 8 + 1] = dv[n][2 * half + 1];
    }
  }
}

template <int D, bool Pipe>
__global__ void __launch_bounds__(kThreadsT) attnTcBwdQKernel(Args a) {
  constexpr int P = D + 8, KD = D / 16, ND = D / 8;
  extern __shared__ float4 smem4[];
  uint16_t* Qs = reinterpret_cast<uint16_t*>(smem4);
  uint16_t* Os = Qs + kTcRows * P;  // dO
  uint16_t* Ks = Os + kTcRows * P;
  uint16_t* Vs = Ks + kTcTile * P;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int bh = blockIdx.y, b = bh / a.H, h = bh - b * a.H;
  // Last query block first: under a causal mask it has the most key tiles, and starting the
  // longest blocks first shortens the tail of the grid.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kTcRows;
  const float* qBase = a.q + static_cast<size_t>(b) * a.Tq * a.qStride + h * D;
  const float* oBase = a.dout + static_cast<size_t>(b) * a.Tq * a.oStride + h * D;
  const float* kBase = a.k + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  const float* vBase = a.v + static_cast<size_t>(b) * a.Tk * a.kvStride + h * D;
  stageRows<D>(Qs, qBase, a.qStride, q0, a.Tq, a.vec);
  stageRows<D>(Os, oBase, a.oStride, q0, a.Tq, a.vec);
  const int g = lane >> 2, c2 = (lane & 3) * 2;
  const int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
  const bool in0 = row0 < a.Tq, in1 = row1 < a.Tq;
  const int vis0 = in0 ? visibleKeys(a, row0) : 0, vis1 = in1 ? visibleKeys(a, row1) : 0;
  const float L0 = in0 ? a.lse[static_cast<size_t>(bh) * a.Tq + row0] * kLog2e : 0.f;
  const float L1 = in1 ? a.lse[static_cast<size_t>(bh) * a.Tq + row1] * kLog2e : 0.f;
  const float D0 = in0 ? a.rowD[static_cast<size_t>(bh) * a.Tq + row0] : 0.f;
  const float D1 = in1 ? a.rowD[static_cast<size_t>(bh) * a.Tq + row1] : 0.f;
  const float sc = a.scale * kLog2e;
  const int kEnd = visibleKeys(a, min(a.Tq - 1, q0 + kTcRows - 1));
  // As in the forward: key n-tiles past what this warp's rows see skip their mma work.
  const int warpVis = q0 + warp * 16 < a.Tq ? visibleKeys(a, min(a.Tq - 1, q0 + warp * 16 + 15)) : 0;
  float dq[ND][4];
#pragma unroll
  for (int n = 0; n < ND; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
  Stage<D> pk, pv;
  if (Pipe && kEnd > 0) {
    pk.load(kBase, a.kvStride, 0, a.Tk, a.vec);
    pv.load(vBase, a.kvStride, 0, a.Tk, a.vec);
  }
  for (int k0 = 0; k0 < kEnd; k0 += kTcTile) {
    if (!Pipe) {
      pk.load(kBase, a.kvStride, k0, a.Tk, a.vec);
      pv.load(vBase, a.kvStride, k0, a.Tk, a.vec);
    }
    __syncthreads();  // the first time this also publishes Qs and Os
    pk.store(Ks);
    pv.store(Vs);
    __syncthreads();
    if (Pipe && k0 + kTcTile < kEnd) {
      pk.load(kBase, a.kvStride, k0 + kTcTile, a.Tk, a.vec);
      pv.load(vBase, a.kvStride, k0 + kTcTile, a.Tk, a.vec);
    }
    const int nt = min(8, (max(0, warpVis - k0) + 7) / 8);  // live key n-tiles (warp-uniform)
    float s[8][4], dp[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[j][e] = dp[j][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KD; kk++) {
      uint32_t qf[4], of[4];
      loadA(qf, Qs, P, warp * 16, kk * 16, lane);
      loadA(of, Os, P, warp * 16, kk * 16, lane);
#pragma unroll
      for (int j = 0; j < 8; j += 2) {
        if (j >= nt) continue;
        mmaPairNK(s[j], s[j + 1], qf, Ks, P, j * 8, kk * 16, lane);
        mmaPairNK(dp[j], dp[j + 1], of, Vs, P, j * 8, kk * 16, lane);
      }
    }
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = k0 + j * 8 + c2 + (e & 1);
        const bool ok = key < (e < 2 ? vis0 : vis1);
        const float p = ok ? exp2f(s[j][e] * sc - (e < 2 ? L0 : L1)) : 0.f;
        dp[j][e] = ok ? p * (dp[j][e] - (e < 2 ? D0 : D1)) : 0.f;
      }
    // dQ += dS·K (k = keys): K as [k][n], transposed on load.
#pragma unroll
    for (int t = 0; t < 4; t++) {
      if (2 * t >= nt) continue;  // dS = 0 for all 16 keys
      uint32_t sa[4];
      packA(sa, dp[2 * t], dp[2 * t + 1]);
#pragma unroll
      for (int n = 0; n < ND; n += 2) {
        mmaPairKN(dq[n], dq[n + 1], sa, Ks, P, t * 16, n * 8, lane);
      }
    }
  }
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int i = half ? row1 : row0;
    if (i >= a.Tq) continue;
    float* out = a.dq + (static_cast<size_t>(b) * a.Tq + i) * a.qStride + h * D + c2;
#pragma unroll
    for (int n = 0; n < ND; n++) {
      out[n * 8] = dq[n][2 * half] * a.scale;
      out[n * 8 + 1] = dq[n][2 * half + 1] * a.scale;
    }
  }
}

template <int D, bool Pipe>
void launchTcForward(const Args& a) {
  const size_t smem = (kTcRows + 2 * kTcTile) * (D + 8) * sizeof(uint16_t);
  auto* kernel = attnTcFwdKernel<D, Pipe>;  // (a plain name for the host emulation's launch rewrite)
  allowSmem(kernel, smem);
  dim3 grid((a.Tq + kTcRows - 1) / kTcRows, a.B * a.H);
  kernel<<<grid, kThreadsT, smem>>>(a);
}

template <int D, bool Pipe>
void launchTcBackward(const Args& a) {
  constexpr int QT = D >= 96 ? 32 : 64;
  const size_t smemKV = (2 * kTcRows + 2 * QT) * (D + 8) * sizeof(uint16_t) + 2 * QT * sizeof(float);
  // The dK/dV kernel holds two accumulator sets (dK, dV) besides Sᵀ and dPᵀ: with the prefetch
  // registers on top it spills from D = 64 on (ptxas: 255 registers, 40 bytes), so it prefetches
  // only for D ≤ 32.
  auto* kernelKV = attnTcBwdKVKernel<D, Pipe && (D <= 32), QT>;
  allowSmem(kernelKV, smemKV);
  dim3 gridKV((a.Tk + kTcRows - 1) / kTcRows, a.B * a.H);
  if (a.Tk > 0) kernelKV<<<gridKV, kThreadsT, smemKV>>>(a);
  const size_t smemQ = (2 * kTcRows + 2 * kTcTile) * (D + 8) * sizeof(uint16_t);
  auto* kernelQ = attnTcBwdQKernel<D, Pipe>;
  allowSmem(kernelQ, smemQ);
  dim3 gridQ((a.Tq + kTcRows - 1) / kTcRows, a.B * a.H);
  kernelQ<<<gridQ, kThreadsT, smemQ>>>(a);
}

template <int DV>
void launchForward(const Args& a) {
  const int Dp = padD(a.D), P = lanePitch(a.D);
  const size_t smem = (kBlockRowsF * Dp + kTile * P + kTile * Dp + kWarps * kRowsF * kTile) * sizeof(float);
  allowSmem(attnFwdKernel<DV>, smem);
  dim3 grid((a.Tq + kBlockRowsF - 1) / kBlockRowsF, a.B * a.H);
  attnFwdKernel<DV><<<grid, kThreadsT, smem>>>(a);
}

template <int DV>
void launchBackward(const Args& a) {
  const int Dp = padD(a.D), KS = lanePitch(a.D);
  const size_t smemKV = (2 * kBlockRows * Dp + 2 * kTile * KS + 2 * kBlockRows * kTile + 2 * kTile) * sizeof(float);
  allowSmem(attnBwdKVKernel<DV>, smemKV);
  dim3 gridKV((a.Tk + kBlockRows - 1) / kBlockRows, a.B * a.H);
  if (a.Tk > 0) attnBwdKVKernel<DV><<<gridKV, kThreadsT, smemKV>>>(a);
  const size_t smemQ = (2 * kBlockRows * Dp + 2 * kTile * KS + kBlockRows * kTile) * sizeof(float);
  allowSmem(attnBwdQKernel<DV>, smemQ);
  dim3 gridQ((a.Tq + kBlockRows - 1) / kBlockRows, a.B * a.H);
  attnBwdQKernel<DV><<<gridQ, kThreadsT, smemQ>>>(a);
}

int gPathMode = 0;  // 0 automatic, 1 fp32 kernels only, 2 tensor cores wherever D allows, 3 as 2 without prefetch

template <int D>
void tcForward(const Args& a) {
  if (gPathMode == 3) launchTcForward<D, false>(a);
  else launchTcForward<D, kPipe<D>>(a);
}
template <int D>
void tcBackward(const Args& a) {
  if (gPathMode == 3) launchTcBackward<D, false>(a);
  else launchTcBackward<D, kPipe<D>>(a);
}

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
  if (attentionUsesTensorCores(s)) {
    a.vec = vecOk(s, {q, k, v});
    switch (s.D) {
      case 16: tcForward<16>(a); break;
      case 32: tcForward<32>(a); break;
      case 48: tcForward<48>(a); break;
      case 64: tcForward<64>(a); break;
      case 80: tcForward<80>(a); break;
      case 96: tcForward<96>(a); break;
      case 112: tcForward<112>(a); break;
      default: tcForward<128>(a); break;
    }
    return;
  }
  // Decoding: few query rows, so the tiled kernel would leave most of its 16 rows idle and walk
  // the keys serially; the row kernel spreads the keys over a whole block instead.
  const size_t decSmem = (kMaxD + kDecThreads + 32 + static_cast<size_t>(s.Tk)) * sizeof(float);
  if (s.Tq <= 4 && decSmem <= 48 * 1024) {
    dim3 grid(s.Tq, s.B * s.H);
    attnDecodeKernel<<<grid, kDecThreads, decSmem>>>(a);
    return;
  }
  switch ((s.D + 31) / 32) {
    case 1: launchForward<1>(a); break;
    case 2: launchForward<2>(a); break;
    case 3: launchForward<3>(a); break;
    default: launchForward<4>(a); break;
  }
}

void attentionBackward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv, float* scratch, const AttentionShape& s) {
  if (!checkShape(s, "attentionBackward")) return;
  Args a = makeArgs(s);
  a.q = q; a.k = k; a.v = v; a.out = out; a.lse = lse; a.dout = dout;
  a.dq = dq; a.dk = dk; a.dv = dv; a.rowD = scratch;
  {
    const size_t rows = static_cast<size_t>(s.B) * s.H * s.Tq;
    size_t blocks = (rows + 7) / 8;
    if (blocks > 4096) blocks = 4096;
    attnRowDotKernel<<<static_cast<int>(blocks), 256>>>(a);
  }
  if (attentionUsesTensorCores(s)) {
    a.vec = vecOk(s, {q, k, v, dout});
    switch (s.D) {
      case 16: tcBackward<16>(a); break;
      case 32: tcBackward<32>(a); break;
      case 48: tcBackward<48>(a); break;
      case 64: tcBackward<64>(a); break;
      case 80: tcBackward<80>(a); break;
      case 96: tcBackward<96>(a); break;
      case 112: tcBackward<112>(a); break;
      default: tcBackward<128>(a); break;
    }
    return;
  }
  switch ((s.D + 31) / 32) {
    case 1: launchBackward<1>(a); break;
    case 2: launchBackward<2>(a); break;
    case 3: launchBackward<3>(a); break;
    default: launchBackward<4>(a); break;
  }
}

}  // namespace handgrad
