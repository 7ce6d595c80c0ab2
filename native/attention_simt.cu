// The fp32 SIMT attention kernels (every head width up to 128; decoding; the fp32 fallback when
// the tensor-core path does not apply): the work split and the algorithm are described at the top
// of native/attention.cu. Accurate to fp32 rounding.
#include "attention_common.cuh"

namespace handgrad {
namespace attn {
namespace {

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
      // Dropout: the sum above is over the undropped P; P·V takes c·P.
      myP[r * kTile + lane] = a.dropThr == 0 ? p : p * dropFactor(a, bh, q0 + rowBase + r, j);
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
  if (a.pos) {  // the position from device memory (attentionForwardAt): B = 1, so no base moves with Tk
    const int p = *a.pos;
    a.qOffset = p;
    a.Tk = min(a.Tk, p + a.Tq);
  }
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
      if (a.dropThr == 0) {
        myP[r * kTile + lane] = p;
        myS[r * kTile + lane] = ok ? p * (dp[r] - Di) : 0.f;
      } else {
        const float c = dropFactor(a, bh, i, j);  // dV takes c·P, dS = P ⊙ (c·dP − D_i)
        myP[r * kTile + lane] = p * c;
        myS[r * kTile + lane] = ok ? p * (c * dp[r] - Di) : 0.f;
      }
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
      const float c = a.dropThr == 0 ? 1.f : dropFactor(a, bh, q0 + rowBase + r, j);
      myS[r * kTile + lane] = ok ? (a.dropThr == 0 ? p * (dp[r] - Di[r]) : p * (c * dp[r] - Di[r])) : 0.f;
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

template <int DV>
void launchForward(const Args& a) {
  const int Dp = padD(a.D), P = lanePitch(a.D);
  const size_t smem = (kBlockRowsF * Dp + kTile * P + kTile * Dp + kWarps * kRowsF * kTile) * sizeof(float);
  allowSmem(attnFwdKernel<DV>, smem);
  dim3 grid((a.Tq + kBlockRowsF - 1) / kBlockRowsF, a.B * a.H);
  attnFwdKernel<DV><<<grid, kThreadsT, smem, stream()>>>(a);
}

template <int DV>
void launchBackward(const Args& a) {
  const int Dp = padD(a.D), KS = lanePitch(a.D);
  const size_t smemKV = (2 * kBlockRows * Dp + 2 * kTile * KS + 2 * kBlockRows * kTile + 2 * kTile) * sizeof(float);
  allowSmem(attnBwdKVKernel<DV>, smemKV);
  dim3 gridKV((a.Tk + kBlockRows - 1) / kBlockRows, a.B * a.H);
  if (a.Tk > 0) attnBwdKVKernel<DV><<<gridKV, kThreadsT, smemKV, stream()>>>(a);
  const size_t smemQ = (2 * kBlockRows * Dp + 2 * kTile * KS + kBlockRows * kTile) * sizeof(float);
  allowSmem(attnBwdQKernel<DV>, smemQ);
  dim3 gridQ((a.Tq + kBlockRows - 1) / kBlockRows, a.B * a.H);
  attnBwdQKernel<DV><<<gridQ, kThreadsT, smemQ, stream()>>>(a);
}

}  // namespace

void simtForward(const Args& a) {
  switch ((a.D + 31) / 32) {
    case 1: launchForward<1>(a); break;
    case 2: launchForward<2>(a); break;
    case 3: launchForward<3>(a); break;
    default: launchForward<4>(a); break;
  }
}

bool simtDecode(const Args& a) {
  // Decoding: few query rows, so the tiled kernel would leave most of its 16 rows idle and walk
  // the keys serially; the row kernel spreads the keys over a whole block instead.
  const size_t decSmem = (kMaxD + kDecThreads + 32 + static_cast<size_t>(a.Tk)) * sizeof(float);
  if (a.Tq > 4 || decSmem > 48 * 1024) return false;
  dim3 grid(a.Tq, a.B * a.H);
  attnDecodeKernel<<<grid, kDecThreads, decSmem, stream()>>>(a);
  return true;
}

void simtRowDot(const Args& a) {
  const size_t rows = static_cast<size_t>(a.B) * a.H * a.Tq;
  size_t blocks = (rows + 7) / 8;
  if (blocks > 4096) blocks = 4096;
  attnRowDotKernel<<<static_cast<int>(blocks), 256, 0, stream()>>>(a);
}

void simtBackward(const Args& a) {
  switch ((a.D + 31) / 32) {
    case 1: launchBackward<1>(a); break;
    case 2: launchBackward<2>(a); break;
    case 3: launchBackward<3>(a); break;
    default: launchBackward<4>(a); break;
  }
}

}  // namespace attn
}  // namespace handgrad
