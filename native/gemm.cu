// Tensor-core GEMM and grouped GEMM for the CUDA backend (contract: kernels.h, Ops.gemm and
// Ops.groupedGemm in src/ops/types.ts). No cuBLAS: our own mma.sync kernels.
//
// Numerics: every product is bf16(A) · bf16(B) with fp32 accumulation. All tensors in memory are
// fp32, so operands are rounded to bf16 (round-to-nearest-even) when a tile is staged into shared
// memory. The small-m (decoding) path rounds the same way on CUDA cores, so a product does not
// change value depending on which path the batch size picks.
//
// Design (why):
//  * mma.sync.m16n8k16 (sm_80+) rather than wgmma: it is valid on both targets we build (sm_86 and
//    sm_90), and wgmma would need sm_90a plus a bf16 copy of the operands in memory (TMA cannot
//    convert fp32→bf16 on the way).
//  * Register-staged double buffering rather than cp.async: the operands arrive as fp32 and must be
//    converted, so they have to pass through registers anyway. Each thread issues the global loads
//    of tile k+1 (16-byte float4 loads) before computing tile k, so their latency hides behind
//    the 32 mma per warp of that tile; then it converts and stores them into the other shared
//    buffer. One __syncthreads per k-tile.
//  * Block tile 128×128, 256 threads (8 warps as 2×4, warp tile 64×32 = 4×4 mma tiles, 64 fp32
//    accumulators per thread): the classic shape that balances the fragment loads (6 ldmatrix.x4
//    per 16 mma) against registers; 128×256 would need 128 accumulators per thread and spill once
//    the fp32 staging registers are added. 128×128 tiles also give the MoE shapes enough blocks
//    (8192×512 → 256 blocks on 132 SMs). k per stage (BK) is 64 by default: two 36 KB stages =
//    72 KB of dynamic shared memory (opt-in; fits sm_86's 99 KB too), and 64 KB of operand loads
//    in flight per block — with one block per SM (≈220 registers per thread) the loads must hide
//    behind one stage's mma, and a BK 32 stage (≈400 tensor cycles) is about one L2 latency.
//    The BK 32 variants (40 KB, no opt-in) stay selectable for measurement (gemmSetVariant).
//  * Shared-memory layout follows the operand's memory layout, so the global loads stay 16 bytes
//    wide whatever the transposition: a k-contiguous operand (A, or B when transB) is stored
//    [rows][BK] and read with ldmatrix; a row-contiguous operand (A when transA, B) is stored
//    [BK][rows] and read with ldmatrix.trans, which hands out the transposed fragment. Rows are
//    padded by 16 bytes (row pitch 80/144 B or 272 B), which makes the 8 row addresses of every
//    ldmatrix phase fall in 8 distinct 16-byte bank groups: conflict-free without an XOR swizzle.
//  * Ragged edges: a 16-byte load is used when the whole float4 lies inside the matrix and the
//    leading dimension/base pointer allow it; otherwise scalar loads with zero fill. k = 1, m = 1
//    and odd leading dimensions all take the scalar edge code and stay correct.
//  * Split-K for small output grids (the weight gradients, e.g. 512×1536 over k = 8192, would be
//    48 blocks on 132 SMs): the k range is cut into slices whose partial products are added with
//    fp32 atomics (8-byte vector atomics on sm_90) after C has been scaled by beta. The summation
//    order then varies from run to run (rounding-level differences only). The slice count is the
//    one that best fills whole waves of resident blocks.
//  * m ≤ 16 (decoding): tensor-core tiles would be ≥ 87% padding and the product is memory-bound
//    on B, so a CUDA-core kernel streams B once with coalesced loads, keeps m accumulators per
//    thread, and cuts k into slices across blocks (atomics again) so a small B still fills the GPU.
//    groupedGemm 'nn'/'nt' with maxRows ≤ 16 (MoE decoding) runs the same kernels, one grid.z
//    slice per group, without k slices (deterministic; see "small m" below).
//  * No allocation, no synchronisation, default stream. The only host-side state is read once:
//    the SM count, the occupancy of the tiled kernel, and the raised shared-memory limit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels.h"
#include "stream.h"
#include "mma.h"

namespace handgrad {
namespace {

constexpr int BM = 128;      // block tile rows (of C)
constexpr int BN = 128;      // block tile columns (of C)
constexpr int THREADS = 256; // 8 warps, 2 (m) × 4 (n)
constexpr int WM = 64;       // warp tile rows
constexpr int WN = 32;       // warp tile columns
constexpr int MI = WM / 16;  // m16 tiles per warp
constexpr int NI = WN / 8;   // n8 tiles per warp
static_assert(BM == BN, "TileLoader uses one tile width for both operands");
constexpr int PAD = 8;       // bf16 elements of padding per shared row (16 bytes)
// Shared bf16 elements per operand per stage: max of [128][BK+PAD] and [BK][128+PAD].
template <int BK>
__host__ __device__ constexpr int stageElems() {
  return BM * (BK + PAD) > BK * (BM + PAD) ? BM * (BK + PAD) : BK * (BM + PAD);
}
// Dynamic shared memory of one block: STAGES × 2 operands (2 stages: BK 32 40 KB, BK 64 72 KB;
// 3 stages: BK 32 60 KB, BK 64 108 KB).
template <int BK, int STAGES = 2>
__host__ __device__ constexpr int smemBytes() {
  return STAGES * 2 * stageElems<BK>() * 2;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("handgrad gemm: ") + what + ": " + cudaGetErrorString(e));
}

struct GemmParams {
  const float* A;
  const float* B;
  float* C;
  int M, N, K;          // op(A) is M×K, op(B) is K×N (per group for grouped modes)
  int lda, ldb, ldc;    // leading dimensions (row pitch, in floats) as stored
  float alpha, beta;
  bool vecA, vecB, vecC;
  // Grouped modes (group = 1: row groups 'nn'/'nt'; group = 2: 'tn' reduction over group rows).
  int group;
  int G;
  const int* offsets;
  long long strideB;    // per-group B stride (floats), row-group modes
  long long strideC;    // per-group C stride (floats), 'tn'
  int kSplitLen;        // split-K: k elements per blockIdx.z slice (multiple of BK); 0 = no split
  // bf16 copies of A and/or B (same layout and leading dimension, 16-bit elements), or null: a
  // kernel instantiated for a bf16 operand stages it with cp.async instead of A / B.
  const uint16_t* Ah;
  const uint16_t* Bh;
  bool vecAh, vecBh;    // 16-byte cp.async allowed (ld % 8 == 0 and a 16-byte aligned base)
};

// packBf16, bf16Round, ldmatrixX4(T), mma16816 (and their host emulation): mma.h.

// One operand tile (R rows of C's dimension × BK of k) moving global → registers → shared.
// KCONTIG: element (r, kk) lives at p[r*ld + kk] (k contiguous); else at p[kk*ld + r].
template <bool KCONTIG, int BK>
struct TileLoader {
  static constexpr int LOADS = (BM * BK) / (4 * THREADS);  // float4 loads per thread: 4 (BK 32) or 8
  float4 v[LOADS];

  __device__ __forceinline__ void load(const float* __restrict__ p, int ld, int r0, int rLim, int k0, int kLim,
                                       bool vec, int tid) {
#pragma unroll
    for (int i = 0; i < LOADS; ++i) {
      const int c = tid + i * THREADS;
      int r, kk;
      if (KCONTIG) {  // 8 float4 per row of 32 k
        r = r0 + c / (BK / 4);
        kk = k0 + (c % (BK / 4)) * 4;
      } else {  // 32 float4 per k row of 128 r
        kk = k0 + c / (BM / 4);
        r = r0 + (c % (BM / 4)) * 4;
      }
      float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
      if (KCONTIG) {
        if (r < rLim) {
          const float* q = p + (size_t)r * ld + kk;
          if (vec && kk + 3 < kLim) {
            x = __ldg(reinterpret_cast<const float4*>(q));
          } else {
            if (kk < kLim) x.x = __ldg(q);
            if (kk + 1 < kLim) x.y = __ldg(q + 1);
            if (kk + 2 < kLim) x.z = __ldg(q + 2);
            if (kk + 3 < kLim) x.w = __ldg(q + 3);
          }
        }
      } else {
        if (kk < kLim) {
          const float* q = p + (size_t)kk * ld + r;
          if (vec && r + 3 < rLim) {
            x = __ldg(reinterpret_cast<const float4*>(q));
          } else {
            if (r < rLim) x.x = __ldg(q);
            if (r + 1 < rLim) x.y = __ldg(q + 1);
            if (r + 2 < rLim) x.z = __ldg(q + 2);
            if (r + 3 < rLim) x.w = __ldg(q + 3);
          }
        }
      }
      v[i] = x;
    }
  }

  __device__ __forceinline__ void store(uint16_t* s, int tid) const {
#pragma unroll
    for (int i = 0; i < LOADS; ++i) {
      const int c = tid + i * THREADS;
      int off;
      if (KCONTIG) off = (c / (BK / 4)) * (BK + PAD) + (c % (BK / 4)) * 4;
      else off = (c / (BM / 4)) * (BM + PAD) + (c % (BM / 4)) * 4;
      uint2 w = make_uint2(packBf16(v[i].x, v[i].y), packBf16(v[i].z, v[i].w));
      *reinterpret_cast<uint2*>(s + off) = w;  // 8-byte aligned: off is a multiple of 4 elements
    }
  }
};

// One bf16 operand tile (R rows of C's dimension × BK of k) moving global → shared with cp.async:
// no registers, no conversion (the copy in memory is already bf16, rounded exactly as TileLoader
// rounds), so a stage's loads can be issued several stages ahead. Same shared layout as TileLoader.
// 16-byte chunks of 8 elements; a chunk that straddles the matrix edge copies its valid part and
// zero-fills the rest; without `vec` (a leading dimension or base that breaks 16-byte alignment)
// the chunk is assembled from scalar loads instead (correct, slow; the model's shapes never do it).
template <bool KCONTIG, int BK>
struct Bf16TileLoader {
  static constexpr int CHUNKS = (BM * BK) / (8 * THREADS);  // per thread: 2 (BK 32) or 4 (BK 64)
  __device__ __forceinline__ void issue(uint16_t* s, const uint16_t* __restrict__ p, int ld, int r0, int rLim, int k0,
                                        int kLim, bool vec, int tid) const {
#pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
      const int c = tid + i * THREADS;
      int r, kk, off, valid;
      const uint16_t* q;
      if (KCONTIG) {  // BK/8 chunks per row of BK k
        const int rl = c / (BK / 8), kl = (c % (BK / 8)) * 8;
        r = r0 + rl;
        kk = k0 + kl;
        off = rl * (BK + PAD) + kl;
        valid = r < rLim ? min(8, kLim - kk) : 0;
        q = p + (size_t)r * ld + kk;
      } else {  // BM/8 chunks per k row of BM r
        const int kl = c / (BM / 8), rl = (c % (BM / 8)) * 8;
        kk = k0 + kl;
        r = r0 + rl;
        off = kl * (BM + PAD) + rl;
        valid = kk < kLim ? min(8, rLim - r) : 0;
        q = p + (size_t)kk * ld + r;
      }
      uint16_t* d = s + off;
      if (valid <= 0) {
        cpAsync16(d, p, 0);  // all zeros; nothing is read
      } else if (vec) {
        cpAsync16(d, q, 2 * valid);
      } else {
        uint32_t w[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const uint32_t lo = 2 * e < valid ? q[2 * e] : 0u;  // both layouts: the chunk is contiguous
          const uint32_t hi = 2 * e + 1 < valid ? q[2 * e + 1] : 0u;
          w[e] = lo | (hi << 16);
        }
        *reinterpret_cast<uint2*>(d) = make_uint2(w[0], w[1]);
        *reinterpret_cast<uint2*>(d + 4) = make_uint2(w[2], w[3]);
      }
    }
  }
};

// C = alpha·op(A)·op(B) + beta·C on one 128×128 tile; TA/TB are the stored transpositions.
// AH/BH: that operand is read from its bf16 copy (p.Ah / p.Bh) with cp.async; otherwise from fp32
// through registers. BK = k per stage; STAGES = shared-memory stages (the ring the cp.async
// operands are fetched into STAGES − 1 tiles ahead; fp32 operands are always fetched one tile
// ahead, into registers, and stored after the tile's mma); MINB = blocks per SM the register
// allocation must allow (see the variants). The fp32-only kernels are STAGES = 2: the register-
// staged double buffer described at the top.
template <bool TA, bool TB, bool AH, bool BH, int BK, int STAGES, int MINB>
__global__ void __launch_bounds__(THREADS, MINB) gemmKernel(GemmParams p) {
  static_assert(STAGES >= 2, "at least a double buffer");
  constexpr bool ASYNC = AH || BH;
  constexpr int STAGE = stageElems<BK>();
  extern __shared__ __align__(16) unsigned char smemRaw[];
  uint16_t* const sA0 = reinterpret_cast<uint16_t*>(smemRaw);  // bf16 bits
  uint16_t* const sB0 = sA0 + STAGES * STAGE;

  const float* A = p.A;
  const float* B = p.B;
  const uint16_t* Ah = p.Ah;
  const uint16_t* Bh = p.Bh;
  float* C = p.C;
  int M = p.M, K = p.K;
  const int N = p.N;
  int tileM = blockIdx.y;
  float beta = p.beta;

  if (p.group == 1) {
    // Row groups: blockIdx.y enumerates the row tiles of all groups in order; find ours. The
    // offsets live on the device, so the block reads them itself (G is small: a short scan).
    int t = blockIdx.y, g = 0;
    for (; g < p.G; ++g) {
      const int rows = __ldg(p.offsets + g + 1) - __ldg(p.offsets + g);
      const int tiles = (rows + BM - 1) / BM;
      if (t < tiles) break;
      t -= tiles;
    }
    if (g >= p.G) return;  // grid is an upper bound
    const int off = __ldg(p.offsets + g);
    M = __ldg(p.offsets + g + 1) - off;
    tileM = t;
    A += (size_t)off * p.lda;
    C += (size_t)off * p.ldc;
    B += (size_t)g * p.strideB;
    if (AH) Ah += (size_t)off * p.lda;
    if (BH) Bh += (size_t)g * p.strideB;
  } else if (p.group == 2) {
    // 'tn': group blockIdx.z reduces over its own rows; an empty group must leave C_g untouched.
    const int g = blockIdx.z;
    const int off = __ldg(p.offsets + g);
    K = __ldg(p.offsets + g + 1) - off;
    if (K <= 0) return;
    A += (size_t)off * p.lda;
    B += (size_t)off * p.ldb;
    C += (size_t)g * p.strideC;
    if (AH) Ah += (size_t)off * p.lda;
    if (BH) Bh += (size_t)off * p.ldb;
  }

  const int m0 = tileM * BM;
  const int n0 = blockIdx.x * BN;
  if (m0 >= M) return;

  int kBegin = 0, kEnd = K;
  if (p.kSplitLen > 0) {
    kBegin = blockIdx.z * p.kSplitLen;
    kEnd = min(K, kBegin + p.kSplitLen);
    if (kBegin >= kEnd) return;
  }

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int wm = (warp >> 2) * WM;  // 2 warps along m
  const int wn = (warp & 3) * WN;   // 4 warps along n

  // A: k-contiguous unless transA. B: k-contiguous only when transB (stored n×k).
  TileLoader<!TA, BK> la;
  TileLoader<TB, BK> lb;
  Bf16TileLoader<!TA, BK> ha;
  Bf16TileLoader<TB, BK> hb;

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.f;

  const int nk = (kEnd - kBegin + BK - 1) / BK;
  // Prologue: the cp.async operands' first STAGES − 1 tiles (one commit group per tile, empty
  // groups past the end keep the count uniform), the fp32 operands' first tile.
  if constexpr (ASYNC) {
#pragma unroll
    for (int st = 0; st < STAGES - 1; ++st) {
      if (st < nk) {
        const int k0 = kBegin + st * BK;
        if constexpr (AH) ha.issue(sA0 + st * STAGE, Ah, p.lda, m0, M, k0, kEnd, p.vecAh, tid);
        if constexpr (BH) hb.issue(sB0 + st * STAGE, Bh, p.ldb, n0, N, k0, kEnd, p.vecBh, tid);
      }
      cpAsyncCommit();
    }
  }
  if constexpr (!AH) {
    la.load(A, p.lda, m0, M, kBegin, kEnd, p.vecA, tid);
    la.store(sA0, tid);
  }
  if constexpr (!BH) {
    lb.load(B, p.ldb, n0, N, kBegin, kEnd, p.vecB, tid);
    lb.store(sB0, tid);
  }
  if constexpr (ASYNC) cpAsyncWait<STAGES - 2>();  // tile 0 has landed
  __syncthreads();

  // Per-lane ldmatrix coordinates (see the layout notes at the top).
  const int lr = lane & 7;
  const int lq = lane >> 3;  // which 8×8 matrix this lane addresses

  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt % STAGES;
    if constexpr (ASYNC) {
      // Tile kt + STAGES − 1 into the stage read in iteration kt − 1 (which ended with a barrier).
      const int kn = kt + STAGES - 1;
      if (kn < nk) {
        const int st = kn % STAGES, k0 = kBegin + kn * BK;
        if constexpr (AH) ha.issue(sA0 + st * STAGE, Ah, p.lda, m0, M, k0, kEnd, p.vecAh, tid);
        if constexpr (BH) hb.issue(sB0 + st * STAGE, Bh, p.ldb, n0, N, k0, kEnd, p.vecBh, tid);
      }
      cpAsyncCommit();
    }
    if (kt + 1 < nk) {  // issue the next tile's global loads now; they land during the mma below
      const int k0 = kBegin + (kt + 1) * BK;
      if constexpr (!AH) la.load(A, p.lda, m0, M, k0, kEnd, p.vecA, tid);
      if constexpr (!BH) lb.load(B, p.ldb, n0, N, k0, kEnd, p.vecB, tid);
    }
    const uint16_t* a = sA0 + cur * STAGE;
    const uint16_t* b = sB0 + cur * STAGE;
#pragma unroll
    for (int ks = 0; ks < BK; ks += 16) {
      uint32_t af[MI][4];
      uint32_t bf[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const int mb = wm + i * 16;
        if (!TA) {  // [m][k]: matrices (m0-7,k0-7) (m8-15,k0-7) (m0-7,k8-15) (m8-15,k8-15)
          const int row = mb + lr + 8 * (lq & 1);
          const int col = ks + 8 * (lq >> 1);
          ldmatrixX4(af[i], a + row * (BK + PAD) + col);
        } else {  // [k][m], transposed on load; same matrix order
          const int krow = ks + lr + 8 * (lq >> 1);
          const int col = mb + 8 * (lq & 1);
          ldmatrixX4T(af[i], a + krow * (BM + PAD) + col);
        }
      }
#pragma unroll
      for (int j = 0; j < NI; j += 2) {
        const int nb = wn + j * 8;
        uint32_t r[4];
        if (TB) {  // [n][k]: (n0-7,k0-7) (n0-7,k8-15) (n8-15,k0-7) (n8-15,k8-15)
          const int row = nb + lr + 8 * (lq >> 1);
          const int col = ks + 8 * (lq & 1);
          ldmatrixX4(r, b + row * (BK + PAD) + col);
        } else {  // [k][n], transposed on load; same matrix order
          const int krow = ks + lr + 8 * (lq & 1);
          const int col = nb + 8 * (lq >> 1);
          ldmatrixX4T(r, b + krow * (BN + PAD) + col);
        }
        bf[j][0] = r[0];
        bf[j][1] = r[1];
        bf[j + 1][0] = r[2];
        bf[j + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) mma16816(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
    if (kt + 1 < nk) {
      // Stage (kt+1) % STAGES was last read in iteration kt+1−STAGES ≤ kt−1, which ended with a barrier.
      const int nx = (kt + 1) % STAGES;
      if constexpr (!AH) la.store(sA0 + nx * STAGE, tid);
      if constexpr (!BH) lb.store(sB0 + nx * STAGE, tid);
    }
    if constexpr (ASYNC) cpAsyncWait<STAGES - 2>();  // tile kt + 1 has landed (this thread's copies)
    __syncthreads();
  }

  // Epilogue. Accumulator fragment: c0,c1 at (row g, cols 2t, 2t+1), c2,c3 at row g+8.
  const int g = lane >> 2;
  const int t4 = lane & 3;
  const bool atomic = p.kSplitLen > 0;
#pragma unroll
  for (int i = 0; i < MI; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = m0 + wm + i * 16 + g + 8 * h;
      if (row >= M) continue;
      float* crow = C + (size_t)row * p.ldc;
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int col = n0 + wn + j * 8 + 2 * t4;
        const float v0 = p.alpha * acc[i][j][2 * h];
        const float v1 = p.alpha * acc[i][j][2 * h + 1];
        if (atomic) {  // C was pre-scaled by beta; slices add their partial products
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
          if (p.vecC && col + 1 < N) {  // sm_90: one 8-byte vector reduction instead of two
            atomicAdd(reinterpret_cast<float2*>(crow + col), make_float2(v0, v1));
            continue;
          }
#endif
          if (col < N) atomicAdd(crow + col, v0);
          if (col + 1 < N) atomicAdd(crow + col + 1, v1);
        } else if (p.vecC && col + 1 < N) {
          float2* q = reinterpret_cast<float2*>(crow + col);
          float2 o = make_float2(v0, v1);
          if (beta != 0.f) {
            const float2 c = *q;
            o.x += beta * c.x;
            o.y += beta * c.y;
          }
          *q = o;
        } else {
          if (col < N) crow[col] = beta != 0.f ? v0 + beta * crow[col] : v0;
          if (col + 1 < N) crow[col + 1] = beta != 0.f ? v1 + beta * crow[col + 1] : v1;
        }
      }
    }
  }
}

// C *= beta (beta == 0: C = 0 without reading it), before split-K slices accumulate into C.
__global__ void scaleKernel(float* C, size_t n, float beta) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    C[i] = beta == 0.f ? 0.f : beta * C[i];
}

void launchScale(float* C, size_t total, float beta) {
  if (beta == 1.f) return;  // accumulating: C already holds beta·C
  const size_t blocks = std::min<size_t>((total + 1023) / 1024, 4096);
  scaleKernel<<<(unsigned)blocks, 256, 0, stream()>>>(C, total, beta);
  check(cudaGetLastError(), "gemm scale launch");
}

// ---- small m (≤ 16): memory-bound on B, CUDA cores ------------------------------------------
// Decoding multiplies 1..16 rows by a weight matrix: the time is the one pass over B, so the
// design goal is many independent loads in flight. blockIdx.y cuts k into slices so that even a
// 1536-column B fills every SM (atomics then add the slices into C, pre-scaled by beta), and each
// warp issues its B loads in batches of U before using them.
//
// The same kernels serve groupedGemm 'nn'/'nt' when maxRows ≤ 16 (decoding a MoE layer: top-2 of
// one token gives 2 rows in 2 of the G experts). blockIdx.z is then the group: each block reads its
// group's row range from the device offsets, returns at once for an empty group, and multiplies
// its ≤ maxRows rows by B_g. No k slices there: split-K would need C pre-scaled by beta on rows
// only the device knows, and atomics would make decoding non-deterministic. The cost is fill: at
// the MoE decode shapes (G = 8, 2 active groups) W13 (k 512, n 2048) gets 2 × 64 = 128 working
// blocks on 132 SMs, each streaming 64 KB of B, but W2 (k 1024, n 512) only 2 × 16 = 32 blocks
// (a quarter of an H100), each streaming 128 KB; both far better than the 128×128 tensor-core
// tiles (127 of 128 rows padding), though W2 leaves bandwidth unused.
constexpr int SK_THREADS = 256;
// Batch depth per warp: deep for few rows; shallower for many, where the per-row A loads already
// keep plenty in flight and a deeper batch would spill registers (16 rows × 8 = 128 A values).
__host__ __device__ constexpr int skU(int mr) { return mr <= 4 ? 8 : mr == 8 ? 4 : 2; }
__host__ __device__ constexpr int skUVec(int mr) { return mr <= 4 ? 4 : mr == 8 ? 2 : 1; }

struct SkinnyParams {
  int m, n, k;          // op(A) m×k, op(B) k×n (per group when offsets is set: m from the offsets)
  int kSlice;           // k per blockIdx.y slice
  float alpha, beta;
  const float* A;       // m×k, or k×m when transA (never in grouped mode)
  const float* B;       // k×n, or n×k when transB
  float* C;             // m×n
  bool atomic;          // slices add into C (pre-scaled by beta) instead of storing
  bool vec;             // skinnyNT: 16-byte loads of A and B are allowed
  const int* offsets;   // grouped mode: G+1 row boundaries on the device; null for a dense product
  int maxRows;          // grouped mode: rows A and C hold (group ends are clamped to it)
  long long strideB;    // grouped mode: floats between consecutive B_g
};

// A dense product's parameters (grouped mode adds offsets, maxRows and strideB).
SkinnyParams skinnyParams(int m, int n, int k, float alpha, float beta, const float* A, const float* B, float* C) {
  // kSlice, atomic and vec are set at launch.
  return SkinnyParams{m, n, k, 0, alpha, beta, A, B, C, false, false, nullptr, 0, 0};
}

// This block's operands: the whole product, or (grouped mode) group blockIdx.z's rows and B_g.
// Returns false for an empty group, which must leave C untouched.
__device__ __forceinline__ bool skinnyOperands(const SkinnyParams& p, int& m, const float*& A, const float*& B,
                                               float*& C) {
  m = p.m;
  A = p.A;
  B = p.B;
  C = p.C;
  if (!p.offsets) return true;
  const int g = blockIdx.z;
  const int r0 = __ldg(p.offsets + g);
  m = min(__ldg(p.offsets + g + 1), p.maxRows) - r0;
  if (m <= 0) return false;
  A += (size_t)r0 * p.k;  // grouped operands are never transposed A: row pitch k
  C += (size_t)r0 * p.n;
  B += (size_t)g * p.strideB;
  return true;
}

__device__ __forceinline__ void skinnyStore(float* c, float v, float alpha, float beta, bool atomic) {
  if (atomic) atomicAdd(c, alpha * v);
  else *c = beta != 0.f ? alpha * v + beta * *c : alpha * v;
}

// One thread's scalar pass over its k positions kFirst, kFirst + step, … < ke: B loads in batches
// of U issued before any is used (loadB(kk) reads this thread's element kk of B), each multiplied
// into the m ≤ MR rows of A (warp-uniform loads). Both layouts of B use it; only loadB and the
// step differ.
template <int MR, bool TA, int U, class LoadB>
__device__ __forceinline__ void skinnyScalarPass(float (&acc)[MR], int kFirst, int step, int ke, int m, int k,
                                                 const float* __restrict__ A, LoadB loadB) {
  for (int k0 = kFirst; k0 < ke; k0 += step * U) {
    float b[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {  // all loads of the batch first
      const int kk = k0 + u * step;
      b[u] = kk < ke ? loadB(kk) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int kk = k0 + u * step;
      if (kk >= ke) break;
      const float bv = bf16Round(b[u]);
#pragma unroll
      for (int i = 0; i < MR; ++i) {
        if (i < m) {
          const float a = __ldg(TA ? A + (size_t)kk * m + i : A + (size_t)i * k + kk);
          acc[i] = fmaf(bf16Round(a), bv, acc[i]);
        }
      }
    }
  }
}

// B stored k×n: the 8 warps of a block share 32 columns (one per lane: 128-byte rows of B) and
// interleave over the block's k slice, then reduce through shared memory. A's values are
// warp-uniform loads (one broadcast transaction each, L1-resident).
template <int MR, bool TA>
__global__ void __launch_bounds__(SK_THREADS) skinnyNN(SkinnyParams p) {
  __shared__ float red[SK_THREADS / 32][MR][32];
  int m;
  const float *A, *B;
  float* C;
  if (!skinnyOperands(p, m, A, B, C)) return;  // block-uniform: before any barrier
  const int n = p.n, k = p.k;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int j = blockIdx.x * 32 + lane;
  const int kb = blockIdx.y * p.kSlice, ke = min(k, kb + p.kSlice);
  float acc[MR];
#pragma unroll
  for (int i = 0; i < MR; ++i) acc[i] = 0.f;
  if (j < n) {
    skinnyScalarPass<MR, TA, skU(MR)>(acc, kb + warp, SK_THREADS / 32, ke, m, k, A,
                                      [&](int kk) { return __ldg(B + (size_t)kk * n + j); });
  }
#pragma unroll
  for (int i = 0; i < MR; ++i) red[warp][i][lane] = acc[i];
  __syncthreads();
  for (int idx = threadIdx.x; idx < MR * 32; idx += SK_THREADS) {
    const int i = idx / 32, l = idx % 32;
    const int jj = blockIdx.x * 32 + l;
    if (i >= m || jj >= n) continue;
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < SK_THREADS / 32; ++w) s += red[w][i][l];
    skinnyStore(C + (size_t)i * n + jj, s, p.alpha, p.beta, p.atomic);
  }
}

// B stored n×k: one warp per output column j; lanes read the contiguous k (16-byte loads when k
// and the pointers allow), then a shuffle reduction per row.
template <int MR, bool TA>
__global__ void __launch_bounds__(SK_THREADS) skinnyNT(SkinnyParams p) {
  int m;
  const float *A, *B;
  float* C;
  if (!skinnyOperands(p, m, A, B, C)) return;
  const int n = p.n, k = p.k;
  const int lane = threadIdx.x & 31;
  const int j = blockIdx.x * (SK_THREADS / 32) + (threadIdx.x >> 5);
  if (j >= n) return;  // warp-uniform; no block barrier below
  const int kb = blockIdx.y * p.kSlice, ke = min(k, kb + p.kSlice);
  float acc[MR];
#pragma unroll
  for (int i = 0; i < MR; ++i) acc[i] = 0.f;
  const float* brow = B + (size_t)j * k;
  if (p.vec) {  // kSlice is a multiple of 128, k of 4: every float4 lies inside [kb, ke)
    constexpr int U = skUVec(MR);
    for (int k0 = kb + 4 * lane; k0 < ke; k0 += 128 * U) {
      float4 b[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kk = k0 + 128 * u;
        b[u] = kk < ke ? __ldg(reinterpret_cast<const float4*>(brow + kk)) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int kk = k0 + 128 * u;
        if (kk >= ke) break;
#pragma unroll
        for (int i = 0; i < MR; ++i) {
          if (i < m) {
            float4 a;
            if (TA) {
              a.x = __ldg(A + (size_t)kk * m + i);
              a.y = __ldg(A + (size_t)(kk + 1) * m + i);
              a.z = __ldg(A + (size_t)(kk + 2) * m + i);
              a.w = __ldg(A + (size_t)(kk + 3) * m + i);
            } else {
              a = __ldg(reinterpret_cast<const float4*>(A + (size_t)i * k + kk));
            }
            float s = acc[i];
            s = fmaf(bf16Round(a.x), bf16Round(b[u].x), s);
            s = fmaf(bf16Round(a.y), bf16Round(b[u].y), s);
            s = fmaf(bf16Round(a.z), bf16Round(b[u].z), s);
            s = fmaf(bf16Round(a.w), bf16Round(b[u].w), s);
            acc[i] = s;
          }
        }
      }
    }
  } else {
    skinnyScalarPass<MR, TA, skU(MR)>(acc, kb + lane, 32, ke, m, k, A, [&](int kk) { return __ldg(brow + kk); });
  }
#pragma unroll
  for (int i = 0; i < MR; ++i) {
    float s = acc[i];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0 && i < m) skinnyStore(C + (size_t)i * n + j, s, p.alpha, p.beta, p.atomic);
  }
}

int smCount();

// One launch of the skinny kernels with MR ≥ the rows of any block (1, 2, 4, 8 or 16); groups = 0
// for a dense product, else G (grid.z, no k slices; see the section comment).
template <int MR>
void launchSkinny(bool transA, bool transB, SkinnyParams p, int groups) {
  // Column blocks, then (dense only) k slices until there are about 4 blocks per SM (each slice
  // ≥ 128 of k and a multiple of 128 so the 16-byte path's float4s never straddle a slice end).
  const int colBlocks = transB ? (p.n + SK_THREADS / 32 - 1) / (SK_THREADS / 32) : (p.n + 31) / 32;
  int slices = 1;
  if (groups == 0) {
    const int want = 4 * smCount();
    if (colBlocks < want) slices = std::min((want + colBlocks - 1) / colBlocks, std::max(1, p.k / 128));
  }
  p.kSlice = (p.k + slices - 1) / slices;
  p.kSlice = (p.kSlice + 127) / 128 * 128;
  slices = (p.k + p.kSlice - 1) / p.kSlice;
  p.atomic = slices > 1;
  if (p.atomic) launchScale(p.C, (size_t)p.m * p.n, p.beta);
  const dim3 grid(colBlocks, slices, groups > 0 ? groups : 1);
  if (!transB) {
    if (transA) skinnyNN<MR, true><<<grid, SK_THREADS, 0, stream()>>>(p);
    else skinnyNN<MR, false><<<grid, SK_THREADS, 0, stream()>>>(p);
  } else {
    // Grouped: A_g and B_g start k·(rows) and k·n floats in, so k % 4 keeps them 16-byte aligned.
    p.vec = p.k % 4 == 0 && (reinterpret_cast<uintptr_t>(p.B) & 15) == 0 &&
            (transA || (reinterpret_cast<uintptr_t>(p.A) & 15) == 0);
    if (transA) skinnyNT<MR, true><<<grid, SK_THREADS, 0, stream()>>>(p);
    else skinnyNT<MR, false><<<grid, SK_THREADS, 0, stream()>>>(p);
  }
}

// The MR template for `rows` (≤ 16) rows per block.
void launchSkinnyRows(int rows, bool transA, bool transB, const SkinnyParams& p, int groups) {
  if (rows <= 1) launchSkinny<1>(transA, transB, p, groups);
  else if (rows <= 2) launchSkinny<2>(transA, transB, p, groups);
  else if (rows <= 4) launchSkinny<4>(transA, transB, p, groups);
  else if (rows <= 8) launchSkinny<8>(transA, transB, p, groups);
  else launchSkinny<16>(transA, transB, p, groups);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
bool aligned8(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 7) == 0; }

// Tiled-kernel variants (all compute the same function; the lead times them with gemm_check):
//   0: BK 32, 1 block/SM (≈220 registers, no spills, 40 KB shared): one 32 KB load batch in flight.
//   1: BK 32, 2 blocks/SM (capped at 128 registers, ~150 bytes of spills): two blocks hide each
//      other's load latency.
//   2: BK 64, 1 block/SM (72 KB shared, opt-in): twice the bytes in flight per k-tile and half the
//      barriers; each stage's loads have ~800 tensor-core cycles of mma to hide behind.
// Default 2: latency hiding is the expected limit of a register-staged pipeline with one prefetch
// distance (L2 latency ≈ the 400 cycles of mma in a BK 32 stage). Change after measuring.
// HANDGRAD_GEMM_VARIANT=0|1|2 picks another for a whole process (read once, at load), so a real
// training step — not only gemm_check's isolated products — can be timed with each.
constexpr int NUM_VARIANTS = 3;
int initialVariant() {
  const char* v = std::getenv("HANDGRAD_GEMM_VARIANT");
  if (v && v[0] >= '0' && v[0] < '0' + NUM_VARIANTS && v[1] == '\0') return v[0] - '0';
  return 2;
}
int gVariant = initialVariant();

template <int BK, int STAGES, int MINB>
struct Variant {
  static constexpr int kSmem = smemBytes<BK, STAGES>();
  template <bool TA, bool TB, bool AH, bool BH>
  static void prepare() {
    // Raising the dynamic shared-memory limit is a host-side attribute, set once per kernel.
    static bool done = false;
    if (!done) {
      check(cudaFuncSetAttribute(gemmKernel<TA, TB, AH, BH, BK, STAGES, MINB>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem),
            "cudaFuncSetAttribute");
      done = true;
    }
  }
  template <bool TA, bool TB, bool AH, bool BH>
  static void launch(dim3 grid, const GemmParams& p) {
    prepare<TA, TB, AH, BH>();
    gemmKernel<TA, TB, AH, BH, BK, STAGES, MINB><<<grid, THREADS, kSmem, stream()>>>(p);
  }
  // fp32 operands.
  static void launch(bool transA, bool transB, dim3 grid, const GemmParams& p) {
    if (!transA && !transB) launch<false, false, false, false>(grid, p);
    else if (!transA && transB) launch<false, true, false, false>(grid, p);
    else if (transA && !transB) launch<true, false, false, false>(grid, p);
    else launch<true, true, false, false>(grid, p);
  }
  // At least one bf16 operand, in one of the combinations hasBf16Kernel() accepts.
  static void launchBf16(bool transA, bool transB, dim3 grid, const GemmParams& p) {
    if (!transA && !transB) {
      if (p.Ah) launch<false, false, true, true>(grid, p);
      else launch<false, false, false, true>(grid, p);
    } else if (!transA && transB) {
      launch<false, true, false, true>(grid, p);
    } else {
      launch<true, false, true, false>(grid, p);
    }
  }
  static int blocksPerSm() {
    prepare<false, false, false, false>();
    int b = 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, gemmKernel<false, false, false, false, BK, STAGES, MINB>,
                                                      THREADS, kSmem) != cudaSuccess || b < 1)
      b = 1;
    return b;
  }
};

int variantBK() { return gVariant == 2 ? 64 : 32; }

// ---- bf16 operands (copies the caller keeps: the weights' written by adam, the MoE gather's) ----
// Kernels exist for the combinations the models use: 'nn' with B bf16 (x·W; A bf16 too for the
// gathered expert rows), 'nt' with B bf16 (dy·Wᵀ), 'tn' with A bf16 (the experts' dW from the
// gathered rows). Any other combination drops a copy (A's first) and reads that operand as fp32:
// the same products, since a copy holds exactly the bf16 rounding the fp32 path applies.
bool hasBf16Kernel(bool ta, bool tb, bool ah, bool bh) {
  if (!ah && !bh) return true;        // the fp32 kernels
  if (!ta && !tb) return bh;          // nn: (fp32 | bf16) × bf16
  if (!ta && tb) return !ah && bh;    // nt: fp32 × bf16
  if (ta && !tb) return ah && !bh;    // tn: bf16 × fp32
  return false;
}
void chooseOperands(bool ta, bool tb, GemmParams& p) {
  const bool ah0 = p.Ah != nullptr, bh0 = p.Bh != nullptr;
  bool ah = ah0, bh = bh0;
  if (!hasBf16Kernel(ta, tb, ah, bh)) ah = false;
  if (!hasBf16Kernel(ta, tb, ah, bh)) { ah = ah0; bh = false; }
  if (!hasBf16Kernel(ta, tb, ah, bh)) ah = false;
  if (!ah) p.Ah = nullptr;
  if (!bh) p.Bh = nullptr;
  p.vecAh = ah && p.lda % 8 == 0 && aligned16(p.Ah);
  p.vecBh = bh && p.ldb % 8 == 0 && aligned16(p.Bh);
}

// Pipelines for bf16 operands (cp.async, so the stages cost no registers):
//   0: BK 64, 2 stages (72 KB), the fp32 default's shape;
//   1: BK 32, 3 stages (60 KB): two tiles in flight while one is multiplied; fits sm_86;
//   2: BK 64, 3 stages (108 KB: sm_90's opt-in limit allows it, sm_86's 99 KB does not).
// Default: 2 where the device allows 108 KB per block, else 1. HANDGRAD_GEMM_BF16_VARIANT=0|1|2
// picks another (falling back to 1 where 2 does not fit). To be measured on the GPU (gemm_check).
constexpr int NUM_BF16_VARIANTS = 3;
int gBf16Variant = -1;  // -1: not chosen yet (needs the device)
int bf16Variant() {
  if (gBf16Variant < 0) {
    int dev = 0, optin = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) optin = 0;
    const bool big = optin >= Variant<64, 3, 1>::kSmem;
    gBf16Variant = big ? 2 : 1;
    const char* v = std::getenv("HANDGRAD_GEMM_BF16_VARIANT");
    if (v && v[0] >= '0' && v[0] < '0' + NUM_BF16_VARIANTS && v[1] == '\0') gBf16Variant = v[0] - '0';
    if (gBf16Variant == 2 && !big) gBf16Variant = 1;
  }
  return gBf16Variant;
}
int bf16BK() { return bf16Variant() == 1 ? 32 : 64; }
int tiledBK(const GemmParams& p) { return p.Ah || p.Bh ? bf16BK() : variantBK(); }

void launchTiled(bool transA, bool transB, dim3 grid, const GemmParams& p) {
  if (p.Ah || p.Bh) {
    switch (bf16Variant()) {
      case 0: Variant<64, 2, 1>::launchBf16(transA, transB, grid, p); break;
      case 1: Variant<32, 3, 1>::launchBf16(transA, transB, grid, p); break;
      default: Variant<64, 3, 1>::launchBf16(transA, transB, grid, p); break;
    }
    return;
  }
  switch (gVariant) {
    case 0: Variant<32, 2, 1>::launch(transA, transB, grid, p); break;
    case 1: Variant<32, 2, 2>::launch(transA, transB, grid, p); break;
    default: Variant<64, 2, 1>::launch(transA, transB, grid, p); break;
  }
}

// Streaming multiprocessors and resident tiled blocks per SM, read once per variant (no sync).
int smCount() {
  static int sms = 0;
  if (sms == 0) {
    int dev = 0;
    check(cudaGetDevice(&dev), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  }
  return sms;
}
int blocksPerSm() {
  static int cache[NUM_VARIANTS] = {0, 0, 0};
  int& b = cache[gVariant];
  if (b == 0) {
    switch (gVariant) {
      case 0: b = Variant<32, 2, 1>::blocksPerSm(); break;
      case 1: b = Variant<32, 2, 2>::blocksPerSm(); break;
      default: b = Variant<64, 2, 1>::blocksPerSm(); break;
    }
  }
  return b;
}

// Split-K factor: pick the slice count (each slice ≥ 128 of k, at most 16 slices) that best fills
// whole waves. Small slices matter for short-and-wide products (m = 17..128 rows of a decode batch
// times a 512×4096 weight: 32 tiles, k 512 → 4 slices of 128).
int chooseSplit(int tiles, int K) {
  const int slots = smCount() * blocksPerSm();
  if (tiles >= slots || K < 256) return 1;
  const int maxS = K / 128;
  int best = 1;
  double bestEff = 0;
  for (int s = 1; s <= maxS && s <= 16; ++s) {
    const long long blocks = (long long)tiles * s;
    const long long waves = (blocks + slots - 1) / slots;
    const double eff = (double)blocks / (double)(waves * slots);
    if (eff > bestEff + 0.05) {  // a new slice must buy a real gain (atomics and C pre-scale cost)
      bestEff = eff;
      best = s;
    }
  }
  return best;
}

}  // namespace

// Tuning hook, not part of the kernels.h contract (gemm_check declares it itself): selects the
// tiled-kernel variant for later calls; returns false for an unknown variant.
bool gemmSetVariant(int v) {
  if (v < 0 || v >= NUM_VARIANTS) return false;
  gVariant = v;
  return true;
}
// The same for the bf16-operand pipelines (see bf16Variant); false for an unknown one or one whose
// shared memory the device does not allow.
bool gemmSetBf16Variant(int v) {
  if (v < 0 || v >= NUM_BF16_VARIANTS) return false;
  bf16Variant();  // the device's default first, so the check below sees the device's limit
  int dev = 0, optin = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) optin = 0;
  if (v == 2 && optin < Variant<64, 3, 1>::kSmem) return false;
  gBf16Variant = v;
  return true;
}

void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, const float* B, float beta,
          float* C, const uint16_t* Ah, const uint16_t* Bh) {
  if (m < 1 || n < 1 || k < 1)
    throw std::invalid_argument("handgrad gemm: m, n, k must be >= 1 (got " + std::to_string(m) + ", " +
                                std::to_string(n) + ", " + std::to_string(k) + ")");
  if (!A || !B || !C) throw std::invalid_argument("handgrad gemm: null pointer");

  if (m <= 16) {
    launchSkinnyRows(m, transA, transB, skinnyParams(m, n, k, alpha, beta, A, B, C), 0);
    check(cudaGetLastError(), "skinny gemm launch");
    return;
  }

  GemmParams p{};
  p.A = A;
  p.B = B;
  p.C = C;
  p.M = m;
  p.N = n;
  p.K = k;
  p.lda = transA ? m : k;
  p.ldb = transB ? k : n;
  p.ldc = n;
  p.alpha = alpha;
  p.beta = beta;
  p.vecA = p.lda % 4 == 0 && aligned16(A);
  p.vecB = p.ldb % 4 == 0 && aligned16(B);
  p.vecC = p.ldc % 2 == 0 && aligned8(C);
  p.group = 0;
  p.Ah = Ah;
  p.Bh = Bh;
  chooseOperands(transA, transB, p);

  const int tilesM = (m + BM - 1) / BM, tilesN = (n + BN - 1) / BN;
  const int split = chooseSplit(tilesM * tilesN, k);
  dim3 grid(tilesN, tilesM, 1);
  if (split > 1) {
    // Slices are whole multiples of BK so only the last one has a ragged k edge.
    int len = (k + split - 1) / split;
    const int bk = tiledBK(p);
    len = (len + bk - 1) / bk * bk;
    p.kSplitLen = len;
    grid.z = (k + len - 1) / len;
    launchScale(C, (size_t)m * n, beta);
  }
  launchTiled(transA, transB, grid, p);
  check(cudaGetLastError(), "gemm launch");
}

void groupedGemm(int mode, int G, const int* offsets, int maxRows, int n, int k, const float* A, const float* B,
                 float beta, float* C, const uint16_t* Ah, const uint16_t* Bh) {
  if (mode < 0 || mode > 2) throw std::invalid_argument("handgrad groupedGemm: mode must be 0 (nn), 1 (nt) or 2 (tn)");
  if (G < 1 || n < 1 || k < 1 || maxRows < 0)
    throw std::invalid_argument("handgrad groupedGemm: need G, n, k >= 1 and maxRows >= 0 (got G=" + std::to_string(G) +
                                ", n=" + std::to_string(n) + ", k=" + std::to_string(k) +
                                ", maxRows=" + std::to_string(maxRows) + ")");
  if (!offsets || !A || !B || !C) throw std::invalid_argument("handgrad groupedGemm: null pointer");
  if (maxRows == 0) return;  // no rows anywhere: nothing to compute or touch

  if (mode != 2 && maxRows <= 16) {  // decoding: no group can have more than maxRows rows
    SkinnyParams sp = skinnyParams(0, n, k, 1.f, beta, A, B, C);  // m: per group, from the offsets
    sp.offsets = offsets;
    sp.maxRows = maxRows;
    sp.strideB = (long long)k * n;
    if (G > 65535) throw std::invalid_argument("handgrad groupedGemm: too many groups for the grid");
    launchSkinnyRows(maxRows, false, mode == 1, sp, G);
    check(cudaGetLastError(), "grouped skinny gemm launch");
    return;
  }

  GemmParams p{};
  p.A = A;
  p.B = B;
  p.C = C;
  p.alpha = 1.f;
  p.G = G;
  p.offsets = offsets;
  p.N = n;
  p.Ah = Ah;
  p.Bh = Bh;
  if (mode == 2) {
    // C_g[k×n] += A_gᵀ · B_g: op(A) = A_gᵀ (stored rows×k, so "transA" with pitch k), B_g rows×n.
    p.group = 2;
    p.M = k;
    p.K = 0;  // per group, from the offsets
    p.lda = k;
    p.ldb = n;
    p.ldc = n;
    p.beta = 1.f;
    p.strideC = (long long)k * n;
    p.vecA = k % 4 == 0 && aligned16(A);
    p.vecB = n % 4 == 0 && aligned16(B);
    p.vecC = n % 2 == 0 && aligned8(C);
    if (G > 65535) throw std::invalid_argument("handgrad groupedGemm: at most 65535 groups (grid z), got " + std::to_string(G));
    chooseOperands(true, false, p);
    dim3 grid((n + BN - 1) / BN, (k + BM - 1) / BM, G);
    launchTiled(true, false, grid, p);
  } else {
    const bool tb = mode == 1;
    p.group = 1;
    p.M = 0;  // per group, from the offsets
    p.K = k;
    p.lda = k;
    p.ldb = tb ? k : n;
    p.ldc = n;
    p.beta = beta;
    p.strideB = (long long)k * n;
    p.vecA = k % 4 == 0 && aligned16(A);
    p.vecB = p.ldb % 4 == 0 && aligned16(B);
    p.vecC = n % 2 == 0 && aligned8(C);
    // Σ_g ceil(rows_g / BM) ≤ ceil(maxRows / BM) + G - 1: an upper bound on the row tiles.
    const long long tilesY = ((long long)maxRows + BM - 1) / BM + G;
    if (tilesY > 65535) throw std::invalid_argument("handgrad groupedGemm: too many rows for the grid");
    chooseOperands(false, tb, p);
    dim3 grid((n + BN - 1) / BN, (unsigned)tilesY, 1);
    launchTiled(false, tb, grid, p);
  }
  check(cudaGetLastError(), "groupedGemm launch");
}

}  // namespace handgrad
