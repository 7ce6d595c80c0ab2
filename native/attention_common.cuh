// What the attention kernel files share (native/attention.cu dispatches; attention_simt.cu holds
// the fp32 SIMT kernels, attention_tc.cu the tensor-core ones): the tile constants, the launch
// arguments, the warp helpers, and the launchers each file provides. Everything here is in
// namespace handgrad::attn (not an anonymous one: Args crosses the files).
#pragma once
#include <cuda_runtime.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include "kernels.h"
#include "stream.h"
#include "mma.h"

namespace handgrad {
namespace attn {

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
  const int* pos; // attnDecodeKernel: qOffset = *pos, Tk = *pos + Tq (≤ Tk given) read on the device; or null
  unsigned dropThr;  // dropout on P: threshold (0: none), 1/(1 − p), seed (AttentionShape)
  float dropScale;
  unsigned dropSeed;
};

// ---- dropout on P: the mask of src/ops/types.ts (attentionDropKeep), the same constants -----------
// Entry (bh = b·H + h, i, j) is kept iff fmix(row ^ j·0xC2B2AE3D) ≥ threshold, where
// row = fmix(fmix(seed ^ bh·0x9E3779B1) ^ i·0x85EBCA77). Nothing is stored: the backward kernels
// recompute it.
__host__ __device__ __forceinline__ unsigned dropFmix(unsigned x) {
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return x;
}
__host__ __device__ __forceinline__ unsigned dropRow(unsigned seed, int bh, int i) {
  return dropFmix(dropFmix(seed ^ (static_cast<unsigned>(bh) * 0x9E3779B1u)) ^ (static_cast<unsigned>(i) * 0x85EBCA77u));
}
/** The inverted-dropout factor of entry (i, j) of head bh: 1/(1 − p) where kept, 0 where dropped; 1 without dropout. */
__device__ __forceinline__ float dropFactor(const Args& a, int bh, int i, int j) {
  if (a.dropThr == 0) return 1.f;
  const unsigned x = dropFmix(dropRow(a.dropSeed, bh, i) ^ (static_cast<unsigned>(j) * 0xC2B2AE3Du));
  return x >= a.dropThr ? a.dropScale : 0.f;
}

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

// Dynamic shared memory above 48 KB needs an opt-in per kernel: the tiled kernels use about 29 KB
// at D = 64 but 51–55 KB at D = 128 (still within sm_86's 99 KB and sm_90's 227 KB per block).
template <typename K>
void allowSmem(K kernel, size_t bytes) {
  if (bytes > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
}

// ---- the launchers ------------------------------------------------------------------------------
// attention_simt.cu: the fp32 kernels (any D ≤ 128).
void simtForward(const Args& a);
/** The decode kernel (Tq ≤ 4, the score row fits in shared memory); false when it does not apply. */
bool simtDecode(const Args& a);
/** rowD = rowsum(dO ⊙ O), the backward's first step on both paths. */
void simtRowDot(const Args& a);
void simtBackward(const Args& a);
// attention_tc.cu: the tensor-core kernels (D a multiple of 16, ≤ 128); prefetch false forces the
// variant without the register prefetch (a test hook's mode).
void tcForward(const Args& a, bool prefetch);
void tcBackward(const Args& a, bool prefetch);

}  // namespace attn
}  // namespace handgrad
