// The tensor-core attention kernels (head width D a multiple of 16, up to 128, more than 4 query
// rows: training and prefill; native/attention.cu picks the path).
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
#include "attention_common.cuh"

namespace handgrad {
namespace attn {
namespace {

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
  kernel<<<grid, kThreadsT, smem, stream()>>>(a);
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
  if (a.Tk > 0) kernelKV<<<gridKV, kThreadsT, smemKV, stream()>>>(a);
  const size_t smemQ = (2 * kTcRows + 2 * kTcTile) * (D + 8) * sizeof(uint16_t);
  auto* kernelQ = attnTcBwdQKernel<D, Pipe>;
  allowSmem(kernelQ, smemQ);
  dim3 gridQ((a.Tq + kTcRows - 1) / kTcRows, a.B * a.H);
  kernelQ<<<gridQ, kThreadsT, smemQ, stream()>>>(a);
}

}  // namespace

void tcForward(const Args& a, bool prefetch) {
  switch (a.D) {
    case 16: prefetch ? launchTcForward<16, kPipe<16>>(a) : launchTcForward<16, false>(a); break;
    case 32: prefetch ? launchTcForward<32, kPipe<32>>(a) : launchTcForward<32, false>(a); break;
    case 48: prefetch ? launchTcForward<48, kPipe<48>>(a) : launchTcForward<48, false>(a); break;
    case 64: prefetch ? launchTcForward<64, kPipe<64>>(a) : launchTcForward<64, false>(a); break;
    case 80: prefetch ? launchTcForward<80, kPipe<80>>(a) : launchTcForward<80, false>(a); break;
    case 96: prefetch ? launchTcForward<96, kPipe<96>>(a) : launchTcForward<96, false>(a); break;
    case 112: prefetch ? launchTcForward<112, kPipe<112>>(a) : launchTcForward<112, false>(a); break;
    default: prefetch ? launchTcForward<128, kPipe<128>>(a) : launchTcForward<128, false>(a); break;
  }
}

void tcBackward(const Args& a, bool prefetch) {
  switch (a.D) {
    case 16: prefetch ? launchTcBackward<16, kPipe<16>>(a) : launchTcBackward<16, false>(a); break;
    case 32: prefetch ? launchTcBackward<32, kPipe<32>>(a) : launchTcBackward<32, false>(a); break;
    case 48: prefetch ? launchTcBackward<48, kPipe<48>>(a) : launchTcBackward<48, false>(a); break;
    case 64: prefetch ? launchTcBackward<64, kPipe<64>>(a) : launchTcBackward<64, false>(a); break;
    case 80: prefetch ? launchTcBackward<80, kPipe<80>>(a) : launchTcBackward<80, false>(a); break;
    case 96: prefetch ? launchTcBackward<96, kPipe<96>>(a) : launchTcBackward<96, false>(a); break;
    case 112: prefetch ? launchTcBackward<112, kPipe<112>>(a) : launchTcBackward<112, false>(a); break;
    default: prefetch ? launchTcBackward<128, kPipe<128>>(a) : launchTcBackward<128, false>(a); break;
  }
}

}  // namespace attn
}  // namespace handgrad
