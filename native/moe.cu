// SwiGLU and the Mixture-of-Experts routing kernels (router softmax/top-k, dispatch plan,
// combine and their backwards). Semantics: src/ops/types.ts, specified by
// src/backends/reference/moe.ts. Everything fp32, default stream, no host sync and no
// allocation per call.
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include "kernels.h"
#include "stream.h"

namespace handgrad {
namespace {

constexpr int kThreads = 256;

// Enough blocks to fill the GPU with a grid-stride loop, never more than the work needs.
inline int gridFor(size_t work, int threads = kThreads) {
  size_t b = (work + threads - 1) / threads;
  const size_t cap = 132 * 16;  // ~16 blocks per SM on an H100; grid-stride covers the rest
  if (b > cap) b = cap;
  return b < 1 ? 1 : static_cast<int>(b);
}

__device__ __forceinline__ float sigmoidf(float x) {
  // Split by sign so exp never overflows into inf/inf.
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}

// ---- SwiGLU --------------------------------------------------------------------------------------
// Vector path: F % 4 == 0 and 16-byte aligned bases, so every row's a and b halves are float4s.
__global__ void swigluVec(const float4* __restrict__ gu, float4* __restrict__ out, int rows, int F4) {
  const size_t total = static_cast<size_t>(rows) * F4;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / F4, c = i - r * F4;
    const float4 a = gu[r * 2 * F4 + c], b = gu[r * 2 * F4 + F4 + c];
    float4 o;
    o.x = a.x * sigmoidf(a.x) * b.x;
    o.y = a.y * sigmoidf(a.y) * b.y;
    o.z = a.z * sigmoidf(a.z) * b.z;
    o.w = a.w * sigmoidf(a.w) * b.w;
    out[i] = o;
  }
}
__global__ void swigluScalar(const float* __restrict__ gu, float* __restrict__ out, int rows, int F) {
  const size_t total = static_cast<size_t>(rows) * F;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / F, c = i - r * F;
    const float a = gu[r * 2 * F + c], b = gu[r * 2 * F + F + c];
    out[i] = a * sigmoidf(a) * b;
  }
}

__device__ __forceinline__ void swigluGrad(float a, float b, float g, float& da, float& db) {
  const float sg = sigmoidf(a);
  da = g * b * sg * (1.f + a * (1.f - sg));  // silu'(a) = σ(a)(1 + a(1 − σ(a)))
  db = g * a * sg;
}
__global__ void swigluBackVec(const float4* __restrict__ gu, const float4* __restrict__ dout, float4* __restrict__ dgu,
                              int rows, int F4) {
  const size_t total = static_cast<size_t>(rows) * F4;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / F4, c = i - r * F4;
    const float4 a = gu[r * 2 * F4 + c], b = gu[r * 2 * F4 + F4 + c], g = dout[i];
    float4 da, db;
    swigluGrad(a.x, b.x, g.x, da.x, db.x);
    swigluGrad(a.y, b.y, g.y, da.y, db.y);
    swigluGrad(a.z, b.z, g.z, da.z, db.z);
    swigluGrad(a.w, b.w, g.w, da.w, db.w);
    dgu[r * 2 * F4 + c] = da;
    dgu[r * 2 * F4 + F4 + c] = db;
  }
}
__global__ void swigluBackScalar(const float* __restrict__ gu, const float* __restrict__ dout, float* __restrict__ dgu,
                                 int rows, int F) {
  const size_t total = static_cast<size_t>(rows) * F;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / F, c = i - r * F;
    float da, db;
    swigluGrad(gu[r * 2 * F + c], gu[r * 2 * F + F + c], dout[i], da, db);
    dgu[r * 2 * F + c] = da;
    dgu[r * 2 * F + F + c] = db;
  }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// ---- router --------------------------------------------------------------------------------------
__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warpSum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Arg-max over the warp: larger value wins, equal values go to the lower index (idx −1 = none).
__device__ __forceinline__ void warpArgMax(float& v, int& idx) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    const bool take = oi >= 0 && (idx < 0 || ov > v || (ov == v && oi < idx));
    if (take) { v = ov; idx = oi; }
  }
}

// One warp per token: softmax over E, lse, top-k (k ≤ 2) on the stored probabilities (the
// reference compares those, so the choice agrees with what topGate reports).
__global__ void moeRouteKernel(const float* __restrict__ logits, float* __restrict__ probs, float* __restrict__ lse,
                               int* __restrict__ topIdx, float* __restrict__ topGate, int n, int E, int k,
                               bool renormalize) {
  const int warpsPerBlock = blockDim.x / 32, lane = threadIdx.x & 31;
  for (int t = blockIdx.x * warpsPerBlock + threadIdx.x / 32; t < n; t += gridDim.x * warpsPerBlock) {
    const float* x = logits + static_cast<size_t>(t) * E;
    float* p = probs + static_cast<size_t>(t) * E;
    float m = -INFINITY;
    for (int e = lane; e < E; e += 32) m = fmaxf(m, x[e]);
    m = warpMax(m);
    float s = 0.f;
    for (int e = lane; e < E; e += 32) s += expf(x[e] - m);
    s = warpSum(s);
    const float l = m + logf(s);
    if (lane == 0) lse[t] = l;
    float bv = -INFINITY;
    int bi = -1;
    for (int e = lane; e < E; e += 32) {
      const float pe = expf(x[e] - l);
      p[e] = pe;
      if (bi < 0 || pe > bv) { bv = pe; bi = e; }  // ascending e: strict > keeps the lower index
    }
    warpArgMax(bv, bi);
    const int i0 = bi;
    const float p0 = bv;
    float p1 = 0.f;
    int i1 = -1;
    if (k == 2) {
      // Re-read the probabilities this lane stored (own writes are visible to the same thread).
      bv = -INFINITY;
      bi = -1;
      for (int e = lane; e < E; e += 32) {
        if (e == i0) continue;
        const float pe = p[e];
        if (bi < 0 || pe > bv) { bv = pe; bi = e; }
      }
      warpArgMax(bv, bi);
      i1 = bi;
      p1 = bv;
    }
    if (lane == 0) {
      const float S = p0 + (k == 2 ? p1 : 0.f);
      const float div = renormalize ? S : 1.f;
      topIdx[static_cast<size_t>(t) * k] = i0;
      topGate[static_cast<size_t>(t) * k] = p0 / div;
      if (k == 2) {
        topIdx[static_cast<size_t>(t) * k + 1] = i1;
        topGate[static_cast<size_t>(t) * k + 1] = p1 / div;
      }
    }
  }
}

// ---- dispatch plan -------------------------------------------------------------------------------
// One block of 1024 threads walks the n·k assignments in priority order (a = j·n + t), 1024 at a
// time. Inside a chunk, an assignment's rank among the earlier ones with the same expert is its
// rank in its warp (__match_any_sync) plus the same-expert counts of the earlier warps; `running`
// carries the per-expert counts across chunks. The position is parked in `slot` and turned into
// a dispatched row once the offsets are known. A single block is plenty for n·k ≤ ~65k (the
// kernel is a few µs) and needs no global scratch or second launch.
constexpr int kPlanThreads = 1024, kPlanWarps = kPlanThreads / 32;

__global__ void __launch_bounds__(kPlanThreads) moePlanKernel(const int* __restrict__ topIdx, int n, int E, int k,
                                                             int capacity, int* __restrict__ slot,
                                                             int* __restrict__ rowToken, int* __restrict__ offsets,
                                                             int* __restrict__ routed) {
  extern __shared__ int sm[];
  int* running = sm;                 // [E]
  int* warpCnt = sm + E;             // [kPlanWarps][E]: this chunk's count per warp, then its exclusive prefix
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int total = n * k;
  for (int e = tid; e < E; e += kPlanThreads) running[e] = 0;
  __syncthreads();
  for (int base = 0; base < total; base += kPlanThreads) {
    for (int i = tid; i < kPlanWarps * E; i += kPlanThreads) warpCnt[i] = 0;
    __syncthreads();
    const int a = base + tid;
    const bool valid = a < total;
    int e = -1, t = 0, j = 0;
    if (valid) {
      j = a / n;
      t = a - j * n;
      e = topIdx[t * k + j];
    }
    const unsigned ballotValid = __ballot_sync(0xffffffffu, valid);
    const unsigned peers = __match_any_sync(0xffffffffu, e) & ballotValid;
    const int rankInWarp = __popc(peers & ((1u << lane) - 1u));
    // The highest-numbered peer publishes the warp's count for that expert.
    if (valid && (peers >> lane) == 1u) warpCnt[warp * E + e] = __popc(peers);
    __syncthreads();
    // Exclusive prefix over warps for every expert, then fold into the running totals.
    for (int x = tid; x < E; x += kPlanThreads) {
      int acc = running[x];
      for (int w = 0; w < kPlanWarps; w++) {
        const int c = warpCnt[w * E + x];
        warpCnt[w * E + x] = acc;
        acc += c;
      }
      running[x] = acc;
    }
    __syncthreads();
    if (valid) slot[t * k + j] = warpCnt[warp * E + e] + rankInWarp;  // position within expert e
    __syncthreads();  // warpCnt is reset at the top of the next chunk
  }
  // running[e] = routed count. Offsets over the kept counts (E is small: one thread scans).
  if (tid == 0) {
    int acc = 0;
    offsets[0] = 0;
    for (int e = 0; e < E; e++) {
      const int r = running[e];
      routed[e] = r;
      acc += capacity < 0 ? r : min(r, capacity);
      offsets[e + 1] = acc;
    }
  }
  __syncthreads();
  // Kept assignments: position → dispatched row. Global writes to offsets are visible to the block
  // after the barrier (same block).
  for (int a = tid; a < total; a += kPlanThreads) {
    const int e = topIdx[a];
    const int pos = slot[a];
    if (capacity < 0 || pos < capacity) {
      const int r = offsets[e] + pos;
      slot[a] = r;
      rowToken[r] = a / k;
    } else {
      slot[a] = -1;
    }
  }
  const int used = offsets[E];
  for (int r = used + tid; r < total; r += kPlanThreads) rowToken[r] = 0;
}

// ---- combine -------------------------------------------------------------------------------------
// One thread per (token, 4 columns) in the vector path; k ≤ 2 gathers per output.
__global__ void moeCombineVec(const float4* __restrict__ yd, const int* __restrict__ slot,
                              const float* __restrict__ topGate, float4* __restrict__ y, int n, int k, int C4) {
  const size_t total = static_cast<size_t>(n) * C4;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t t = i / C4, c = i - t * C4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int j = 0; j < k; j++) {
      const int r = slot[t * k + j];
      if (r < 0) continue;
      const float g = topGate[t * k + j];
      const float4 v = yd[static_cast<size_t>(r) * C4 + c];
      acc.x += g * v.x; acc.y += g * v.y; acc.z += g * v.z; acc.w += g * v.w;
    }
    y[i] = acc;
  }
}
__global__ void moeCombineScalar(const float* __restrict__ yd, const int* __restrict__ slot,
                                 const float* __restrict__ topGate, float* __restrict__ y, int n, int k, int C) {
  const size_t total = static_cast<size_t>(n) * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const size_t t = i / C, c = i - t * C;
    float acc = 0.f;
    for (int j = 0; j < k; j++) {
      const int r = slot[t * k + j];
      if (r >= 0) acc += topGate[t * k + j] * yd[static_cast<size_t>(r) * C + c];
    }
    y[i] = acc;
  }
}

// One block per assignment: writes its dyd row (gate · dy[t]) and dgate = dy[t] · yd[slot] by a
// block reduction. The rows no assignment refers to were zeroed by a memset before this launch.
__global__ void moeCombineBackKernel(const float* __restrict__ yd, const int* __restrict__ slot,
                                     const float* __restrict__ topGate, const float* __restrict__ dy,
                                     float* __restrict__ dyd, float* __restrict__ dgate, int n, int k, int C) {
  __shared__ float red[32];
  const int a = blockIdx.x;
  const int t = a / k;
  const int r = slot[a];
  if (r < 0) {  // uniform over the block
    if (threadIdx.x == 0) dgate[a] = 0.f;
    return;
  }
  const float g = topGate[a];
  const float* dyr = dy + static_cast<size_t>(t) * C;
  const float* ydr = yd + static_cast<size_t>(r) * C;
  float* out = dyd + static_cast<size_t>(r) * C;
  float dot = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float d = dyr[c];
    out[c] = g * d;
    dot += d * ydr[c];
  }
  dot = warpSum(dot);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = dot;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.f;
    v = warpSum(v);
    if (threadIdx.x == 0) dgate[a] = v;
  }
}

// One warp per token: dp (gates, balance), softmax backward, z-loss term. dp for E ≤ 32·kMaxPer
// lives in registers, lane-strided like the probabilities.
constexpr int kRouteMaxPer = 8;  // E ≤ 256
__global__ void moeRouteBackKernel(const float* __restrict__ probs, const float* __restrict__ lse,
                                   const int* __restrict__ topIdx, const float* __restrict__ topGate,
                                   const float* __restrict__ dgate, const float* __restrict__ balanceGrad, float zGrad,
                                   float* __restrict__ dlogits, int n, int E, int k, bool renormalize) {
  const int warpsPerBlock = blockDim.x / 32, lane = threadIdx.x & 31;
  for (int t = blockIdx.x * warpsPerBlock + threadIdx.x / 32; t < n; t += gridDim.x * warpsPerBlock) {
    const float* p = probs + static_cast<size_t>(t) * E;
    // Per-chosen-expert gradient (the same small computation on every lane).
    // k ≤ 2: fixed-size arrays indexed by unrolled constants stay in registers.
    int idx[2] = {-1, -1};
    float dpc[2] = {0.f, 0.f};
    float S = 0.f, dot = 0.f;
#pragma unroll
    for (int j = 0; j < 2; j++) {
      if (j >= k) break;
      idx[j] = topIdx[static_cast<size_t>(t) * k + j];
      const float dg = dgate[static_cast<size_t>(t) * k + j];
      dpc[j] = dg;
      S += p[idx[j]];
      dot += dg * topGate[static_cast<size_t>(t) * k + j];
    }
    if (renormalize) {
#pragma unroll
      for (int j = 0; j < 2; j++) dpc[j] = (dpc[j] - dot) / S;
    }
    float dp[kRouteMaxPer], pv[kRouteMaxPer];
    float dotP = 0.f;
#pragma unroll
    for (int q = 0; q < kRouteMaxPer; q++) {
      const int e = lane + 32 * q;
      dp[q] = 0.f;
      pv[q] = 0.f;
      if (e < E) {
        float d = balanceGrad ? balanceGrad[e] : 0.f;
#pragma unroll
        for (int j = 0; j < 2; j++)
          if (idx[j] == e) d += dpc[j];  // idx[j] = −1 for j ≥ k never matches
        dp[q] = d;
        pv[q] = p[e];
        dotP += d * pv[q];
      }
    }
    dotP = warpSum(dotP);
    const float z = zGrad * lse[t];
    float* dl = dlogits + static_cast<size_t>(t) * E;
#pragma unroll
    for (int q = 0; q < kRouteMaxPer; q++) {
      const int e = lane + 32 * q;
      if (e < E) dl[e] = pv[q] * (dp[q] - dotP) + z * pv[q];
    }
  }
}

// ---- auxiliary losses and routing counts -----------------------------------------------------------
// One block of 1024 threads (n·E is at most a few hundred thousand probabilities: a few µs, and one
// block needs no zero-initialised global scratch or second launch, like moePlan). The balance loss
// is one weighted sum, Σ_e f_e·P_e = Σ_{t,e} routed[e]·p[t,e] / (n·k·n), so every thread walks
// the flat probabilities with routed[] in shared memory; both sums are double, then a block
// reduction. Thread e < E writes expert e's gradient and counts; thread 0 the two losses.
constexpr int kAuxThreads = 1024;

__global__ void __launch_bounds__(kAuxThreads) moeAuxLossKernel(
    const float* __restrict__ probs, const float* __restrict__ lse, const int* __restrict__ offsets,
    const int* __restrict__ routed, int n, int E, int k, float balanceCoef, float zLossCoef,
    float* __restrict__ balanceGrad, float* __restrict__ loss, int* __restrict__ counts, bool accumulate) {
  extern __shared__ int sm[];  // routed[E]
  __shared__ double red[2][kAuxThreads / 32];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int e = tid; e < E; e += blockDim.x) sm[e] = routed[e];
  __syncthreads();
  double bs = 0.0, zs = 0.0;
  const size_t total = static_cast<size_t>(n) * E;
  // Flat index i = t·E + e; the expert index advances with i (no division per element).
  size_t i = tid;
  int e = static_cast<int>(i % E);
  const int step = static_cast<int>(blockDim.x % E);
  for (; i < total; i += blockDim.x) {
    bs += static_cast<double>(sm[e]) * probs[i];
    e += step;
    if (e >= E) e -= E;
  }
  for (int t = tid; t < n; t += blockDim.x) {
    const double l = lse[t];
    zs += l * l;
  }
  bs = warpSum(bs);
  zs = warpSum(zs);
  if (lane == 0) {
    red[0][warp] = bs;
    red[1][warp] = zs;
  }
  __syncthreads();
  const double nk = static_cast<double>(n) * k;
  for (int x = tid; x < E; x += blockDim.x) {
    const int kept = offsets[x + 1] - offsets[x], r = sm[x];
    // α·E·f_e/n in double, then rounded once (as the host computed it before).
    balanceGrad[x] = n > 0 ? static_cast<float>(static_cast<double>(balanceCoef) * E * (r / nk) / n) : 0.f;
    counts[x] = kept;
    counts[E + x] = r;
    if (accumulate) {
      counts[2 * E + x] += kept;
      counts[3 * E + x] += r;
    }
  }
  if (warp == 0) {
    const int warps = blockDim.x / 32;
    double b = lane < warps ? red[0][lane] : 0.0, z = lane < warps ? red[1][lane] : 0.0;
    b = warpSum(b);
    z = warpSum(z);
    if (lane == 0) {
      const float balance = n > 0 ? static_cast<float>(static_cast<double>(balanceCoef) * E * b / (nk * n)) : 0.f;
      const float zl = n > 0 ? static_cast<float>(static_cast<double>(zLossCoef) * z / n) : 0.f;
      loss[0] = balance;
      loss[1] = zl;
      if (accumulate) {
        loss[2] += balance;
        loss[3] += zl;
      }
    }
  }
}

}  // namespace

void swiglu(const float* gu, float* out, int rows, int F) {
  if (rows <= 0 || F <= 0) return;
  if (F % 4 == 0 && aligned16(gu) && aligned16(out)) {
    const int F4 = F / 4;
    swigluVec<<<gridFor(static_cast<size_t>(rows) * F4), kThreads, 0, stream()>>>(reinterpret_cast<const float4*>(gu),
                                                                      reinterpret_cast<float4*>(out), rows, F4);
  } else {
    swigluScalar<<<gridFor(static_cast<size_t>(rows) * F), kThreads, 0, stream()>>>(gu, out, rows, F);
  }
}

void swigluBackward(const float* gu, const float* dout, float* dgu, int rows, int F) {
  if (rows <= 0 || F <= 0) return;
  if (F % 4 == 0 && aligned16(gu) && aligned16(dout) && aligned16(dgu)) {
    const int F4 = F / 4;
    swigluBackVec<<<gridFor(static_cast<size_t>(rows) * F4), kThreads, 0, stream()>>>(
        reinterpret_cast<const float4*>(gu), reinterpret_cast<const float4*>(dout), reinterpret_cast<float4*>(dgu),
        rows, F4);
  } else {
    swigluBackScalar<<<gridFor(static_cast<size_t>(rows) * F), kThreads, 0, stream()>>>(gu, dout, dgu, rows, F);
  }
}

void moeRoute(const float* logits, float* probs, float* lse, int* topIdx, float* topGate, int n, int E, int k,
              bool renormalize) {
  if (n <= 0 || E <= 0) return;
  const int warps = kThreads / 32;
  int blocks = (n + warps - 1) / warps;
  if (blocks > 4096) blocks = 4096;
  moeRouteKernel<<<blocks, kThreads, 0, stream()>>>(logits, probs, lse, topIdx, topGate, n, E, k, renormalize);
}

void moePlan(const int* topIdx, int n, int E, int k, int capacity, int* slot, int* rowToken, int* offsets,
             int* routed) {
  if (E <= 0) return;
  // Shared memory: running[E] + warpCnt[32][E] ints; 48 KB covers E ≤ 360.
  const size_t smem = static_cast<size_t>(E) * (1 + kPlanWarps) * sizeof(int);
  if (smem > 48 * 1024) {
    std::fprintf(stderr, "handgrad moePlan: E = %d experts exceeds the kernel's limit of 360\n", E);
    return;
  }
  moePlanKernel<<<1, kPlanThreads, smem, stream()>>>(topIdx, n, E, k, capacity, slot, rowToken, offsets, routed);
}

void moeCombine(const float* yd, const int* slot, const float* topGate, float* y, int n, int k, int C) {
  if (n <= 0 || C <= 0) return;
  if (C % 4 == 0 && aligned16(yd) && aligned16(y)) {
    const int C4 = C / 4;
    moeCombineVec<<<gridFor(static_cast<size_t>(n) * C4), kThreads, 0, stream()>>>(
        reinterpret_cast<const float4*>(yd), slot, topGate, reinterpret_cast<float4*>(y), n, k, C4);
  } else {
    moeCombineScalar<<<gridFor(static_cast<size_t>(n) * C), kThreads, 0, stream()>>>(yd, slot, topGate, y, n, k, C);
  }
}

void moeCombineBackward(const float* yd, const int* slot, const float* topGate, const float* dy, float* dyd,
                        float* dgate, int n, int k, int C) {
  if (n <= 0) return;
  // Zero every row first (the kept rows are overwritten right after): a memset runs at full
  // bandwidth and keeps the contract independent of how the slots are laid out.
  cudaMemsetAsync(dyd, 0, static_cast<size_t>(n) * k * C * sizeof(float), stream());
  int threads = 128;
  while (threads < 1024 && threads < C) threads *= 2;
  moeCombineBackKernel<<<n * k, threads, 0, stream()>>>(yd, slot, topGate, dy, dyd, dgate, n, k, C);
}

void moeRouteBackward(const float* probs, const float* lse, const int* topIdx, const float* topGate,
                      const float* dgate, const float* balanceGrad, float zGrad, float* dlogits, int n, int E, int k,
                      bool renormalize) {
  if (n <= 0 || E <= 0) return;
  if (E > 32 * kRouteMaxPer) {
    std::fprintf(stderr, "handgrad moeRouteBackward: E = %d experts exceeds the kernel's limit of %d\n", E,
                 32 * kRouteMaxPer);
    return;
  }
  const int warps = kThreads / 32;
  int blocks = (n + warps - 1) / warps;
  if (blocks > 4096) blocks = 4096;
  moeRouteBackKernel<<<blocks, kThreads, 0, stream()>>>(probs, lse, topIdx, topGate, dgate, balanceGrad, zGrad, dlogits, n, E, k,
                                           renormalize);
}

void moeAuxLoss(const float* probs, const float* lse, const int* offsets, const int* routed, int n, int E, int k,
                float balanceCoef, float zLossCoef, float* balanceGrad, float* loss, int* counts, bool accumulate) {
  if (E <= 0) return;
  const size_t smem = static_cast<size_t>(E) * sizeof(int);
  if (smem > 16 * 1024) {
    std::fprintf(stderr, "handgrad moeAuxLoss: E = %d experts exceeds the kernel's limit of 4096\n", E);
    return;
  }
  moeAuxLossKernel<<<1, kAuxThreads, smem, stream()>>>(probs, lse, offsets, routed, n, E, k, balanceCoef, zLossCoef, balanceGrad,
                                             loss, counts, accumulate);
}

}  // namespace handgrad
