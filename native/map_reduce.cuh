// What the fp32 kernel files of the non-product ops share (native/elementwise.cu, rows.cu,
// layernorm.cu, embedding.cu, optim.cu): launch geometry, the float4 map launcher, and the
// warp and block reductions. In an anonymous namespace: each file gets its own copy of these
// (templates and inline functions), and nothing of it crosses a file.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include <algorithm>
#include <cmath>
#include "kernels.h"
#include "stream.h"

namespace handgrad {
namespace {

constexpr int kThreads = 256;

// Grid for a grid-stride loop over n items: enough blocks to fill the device, never zero.
inline unsigned gridFor(size_t n, int threads = kThreads) {
  size_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(b, 65536)));
}
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
// Threads for one block per row: a multiple of 32, at most 256, no more than the row needs.
inline int rowThreads(int cols) { return cols >= 256 ? 256 : std::max(32, (cols + 31) / 32 * 32); }

// ---- reductions ---------------------------------------------------------------------------------
template <class T>
__device__ __forceinline__ T warpSum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Block-wide sum / max; every thread gets the result. `sh` holds 32 values. blockDim.x is a
// multiple of 32. Ends with a barrier, so `sh` may be reused right after.
template <class T>
__device__ T blockSum(T v, T* sh) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warpSum(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  T r = lane < nw ? sh[lane] : T(0);
  r = warpSum(r);
  __syncthreads();
  return r;
}
__device__ float blockMax(float v, float* sh) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warpMax(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : -INFINITY;
  r = warpMax(r);
  __syncthreads();
  return r;
}

// ---- simple maps: a float4 body when every pointer is 16-byte aligned, then a scalar tail -------
// The functor gets (index of the first element, count 1 or 4) through the two overloads.
template <class Op>
__global__ void mapKernel(size_t n, bool vec, Op op) {
  size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t nv = vec ? n / 4 : 0;
  for (size_t j = i; j < nv; j += stride) op.vec4(j);
  for (size_t j = nv * 4 + i; j < n; j += stride) op.one(j);
}
template <class Op>
void launchMap(size_t n, bool vec, Op op) {
  if (n == 0) return;
  mapKernel<Op><<<gridFor(vec ? (n + 3) / 4 : n), kThreads, 0, stream()>>>(n, vec, op);
}

}  // namespace
}  // namespace handgrad
