// The CUDA backend's fp32 kernels for everything in the ops interface that is not a matrix
// product, attention or MoE routing (see kernels.h). Semantics follow the reference backend
// (src/backends/reference/index.ts) exactly; the conformance cases in
// src/backends/cuda/conformance.ts compare every kernel with it.
// Launches go on the default stream and return at once; the addon checks errors.
#include <cuda_runtime.h>
#include <cstdint>
#include <algorithm>
#include <cmath>
#include "kernels.h"
#include "mma.h"
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

// ---- activations (same formulas as the reference backend, in fp32) ------------------------------
__device__ __forceinline__ float sigmoidf(float x) {
  // The stable form on both sides of zero, as in the reference.
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  float e = expf(x);
  return e / (1.f + e);
}
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluC = 0.044715f;

__device__ __forceinline__ float activate(int kind, float x) {
  switch (kind) {
    case 0: return x;
    case 1: return x > 0.f ? x : 0.f;
    case 2: return sigmoidf(x);
    case 3: return tanhf(x);
    case 4: return x * sigmoidf(2.f * kSqrt2OverPi * (x + kGeluC * x * x * x));
    default: return x * sigmoidf(x);
  }
}
__device__ __forceinline__ float activateDerivative(int kind, float x, float y) {
  switch (kind) {
    case 0: return 1.f;
    case 1: return x > 0.f ? 1.f : 0.f;
    case 2: return y * (1.f - y);
    case 3: return 1.f - y * y;
    case 4: {
      float u = kSqrt2OverPi * (x + kGeluC * x * x * x);
      float s = sigmoidf(2.f * u);
      float du = kSqrt2OverPi * (1.f + 3.f * kGeluC * x * x);
      return s + 2.f * x * s * (1.f - s) * du;
    }
    default: {
      float s = sigmoidf(x);
      return s * (1.f + x * (1.f - s));
    }
  }
}

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

struct FillOp {
  float* x; float v;
  __device__ void one(size_t i) const { x[i] = v; }
  __device__ void vec4(size_t j) const { reinterpret_cast<float4*>(x)[j] = make_float4(v, v, v, v); }
};
struct FillIntsOp {
  int* x; int v;
  __device__ void one(size_t i) const { x[i] = v; }
  __device__ void vec4(size_t j) const { reinterpret_cast<int4*>(x)[j] = make_int4(v, v, v, v); }
};
struct CopyOp {
  const float* s; float* d;
  __device__ void one(size_t i) const { d[i] = s[i]; }
  __device__ void vec4(size_t j) const { reinterpret_cast<float4*>(d)[j] = reinterpret_cast<const float4*>(s)[j]; }
};
struct ScaleOp {
  float* x; float a;
  __device__ void one(size_t i) const { x[i] *= a; }
  __device__ void vec4(size_t j) const {
    float4 v = reinterpret_cast<float4*>(x)[j];
    reinterpret_cast<float4*>(x)[j] = make_float4(v.x * a, v.y * a, v.z * a, v.w * a);
  }
};
struct AxpyOp {
  float a; const float* x; float* y;
  __device__ void one(size_t i) const { y[i] += a * x[i]; }
  __device__ void vec4(size_t j) const {
    float4 u = reinterpret_cast<const float4*>(x)[j], v = reinterpret_cast<float4*>(y)[j];
    reinterpret_cast<float4*>(y)[j] = make_float4(v.x + a * u.x, v.y + a * u.y, v.z + a * u.z, v.w + a * u.w);
  }
};
struct AddOp {
  const float* a; const float* b; float* o;
  __device__ void one(size_t i) const { o[i] = a[i] + b[i]; }
  __device__ void vec4(size_t j) const {
    float4 u = reinterpret_cast<const float4*>(a)[j], v = reinterpret_cast<const float4*>(b)[j];
    reinterpret_cast<float4*>(o)[j] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
  }
};
struct MulOp {
  const float* a; const float* b; float* o; bool acc;
  __device__ void one(size_t i) const { o[i] = acc ? o[i] + a[i] * b[i] : a[i] * b[i]; }
  __device__ void vec4(size_t j) const {
    float4 u = reinterpret_cast<const float4*>(a)[j], v = reinterpret_cast<const float4*>(b)[j];
    float4 r = make_float4(u.x * v.x, u.y * v.y, u.z * v.z, u.w * v.w);
    if (acc) {
      float4 w = reinterpret_cast<float4*>(o)[j];
      r.x += w.x; r.y += w.y; r.z += w.z; r.w += w.w;
    }
    reinterpret_cast<float4*>(o)[j] = r;
  }
};
struct ActOp {
  int kind; const float* x; float* y;
  __device__ void one(size_t i) const { y[i] = activate(kind, x[i]); }
  __device__ void vec4(size_t j) const {
    float4 u = reinterpret_cast<const float4*>(x)[j];
    reinterpret_cast<float4*>(y)[j] =
        make_float4(activate(kind, u.x), activate(kind, u.y), activate(kind, u.z), activate(kind, u.w));
  }
};
struct ActBackOp {
  int kind; const float* x; const float* y; const float* dy; float* dx; bool acc;
  __device__ void one(size_t i) const {
    float g = dy[i] * activateDerivative(kind, x[i], y[i]);
    dx[i] = acc ? dx[i] + g : g;
  }
  __device__ void vec4(size_t j) const {
    #pragma unroll
    for (int e = 0; e < 4; e++) one(4 * j + e);
  }
};

// ---- row-wise kernels ---------------------------------------------------------------------------
__global__ void addBiasKernel(float* y, const float* bias, int rows, int cols) {
  size_t n = size_t(rows) * cols, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] += bias[i % cols];
}

// Column sums: 32 columns per block in x, row slices over threadIdx.y and gridDim.y. With one
// row slice the block adds its sum directly (deterministic); otherwise atomically.
__global__ void sumRowsKernel(const float* x, float* out, int rows, int cols) {
  __shared__ float sh[8][33];
  int c = blockIdx.x * 32 + threadIdx.x;
  float s = 0.f;
  if (c < cols)
    for (int r = blockIdx.y * 8 + threadIdx.y; r < rows; r += gridDim.y * 8) s += x[size_t(r) * cols + c];
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
    for (int k = 0; k < 8; k++) t += sh[k][threadIdx.x];
    if (gridDim.y == 1) out[c] += t;
    else atomicAdd(out + c, t);
  }
}

// Row sums: one warp per row.
__global__ void sumColsKernel(const float* x, float* out, int rows, int cols) {
  int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + size_t(row) * cols;
  float s = 0.f;
  for (int c = lane; c < cols; c += 32) s += xr[c];
  s = warpSum(s);
  if (lane == 0) out[row] = s;
}

// mode 0: softmax, 1: logSoftmax. One block per row; y may alias x (all reads of a row's
// element happen before the write by the same thread, and the reductions come first).
__global__ void softmaxKernel(const float* x, float* y, int cols, int mode) {
  __shared__ float sh[32];
  const float* xr = x + size_t(blockIdx.x) * cols;
  float* yr = y + size_t(blockIdx.x) * cols;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
  m = blockMax(m, sh);
  float s = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(xr[c] - m);
  s = blockSum(s, sh);
  if (mode == 0) {
    float inv = 1.f / s;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - m) * inv;
  } else {
    float lse = m + logf(s);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] - lse;
  }
}

// mode 0: softmaxBackward, 1: logSoftmaxBackward. dx may alias dy.
__global__ void softmaxBackwardKernel(const float* y, const float* dy, float* dx, int cols, int mode) {
  __shared__ float sh[32];
  size_t o = size_t(blockIdx.x) * cols;
  float s = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += mode == 0 ? dy[o + c] * y[o + c] : dy[o + c];
  s = blockSum(s, sh);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float d = dy[o + c];
    dx[o + c] = mode == 0 ? y[o + c] * (d - s) : d - expf(y[o + c]) * s;
  }
}

// One block per row. dlogits may alias logits: x[t] is read before the first barrier, every
// write comes after the last reduction.
__global__ void crossEntropyKernel(const float* x, const int* targets, int cols, float* dlogits, float gs,
                                   double* loss) {
  __shared__ float sh[32];
  size_t o = size_t(blockIdx.x) * cols;
  int t = targets[blockIdx.x];
  if (t < 0 || t >= cols) {
    // A padded row (t < 0): no loss, zero gradient. The host rejects t ≥ cols when it can see the
    // targets; a bad target that reached the device is treated the same way rather than read out of bounds.
    if (dlogits)
      for (int c = threadIdx.x; c < cols; c += blockDim.x) dlogits[o + c] = 0.f;
    return;
  }
  float xt = x[o + t];
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, x[o + c]);
  m = blockMax(m, sh);
  float s = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(x[o + c] - m);
  s = blockSum(s, sh);
  float lse = m + logf(s);
  if (threadIdx.x == 0) atomicAdd(loss, double(lse) - double(xt));
  if (dlogits)
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      float g = expf(x[o + c] - lse) * gs;
      dlogits[o + c] = c == t ? g - gs : g;
    }
}

__global__ void layerNormKernel(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                                float* rstd, int cols, float eps) {
  __shared__ float sh[32];
  size_t o = size_t(blockIdx.x) * cols;
  float s = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += x[o + c];
  float mu = blockSum(s, sh) / cols;
  float v = 0.f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) { float d = x[o + c] - mu; v += d * d; }
  v = blockSum(v, sh) / cols;
  float r = 1.f / sqrtf(v + eps);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) y[o + c] = (x[o + c] - mu) * r * gamma[c] + beta[c];
  if (threadIdx.x == 0) { mean[blockIdx.x] = mu; rstd[blockIdx.x] = r; }
}

// Each block walks a slice of rows. Column c is always handled by the same thread, so the
// block's dgamma/dbeta partials live in shared memory without atomics and go to global memory
// once per block (atomically: the parameter gradients accumulate). Without room in shared
// memory (very wide rows) the partials go straight to global memory.
__global__ void layerNormBackwardKernel(const float* x, const float* gamma, const float* mean, const float* rstd,
                                        const float* dy, float* dx, float* dgamma, float* dbeta, int rows, int cols,
                                        bool sharedPartials) {
  extern __shared__ float part[];  // [2·cols] when sharedPartials
  __shared__ float sh[32];
  float* pg = part;
  float* pb = part + cols;
  if (sharedPartials)
    for (int c = threadIdx.x; c < cols; c += blockDim.x) { pg[c] = 0.f; pb[c] = 0.f; }
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    size_t o = size_t(r) * cols;
    float mu = mean[r], s = rstd[r];
    float gm = 0.f, gx = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      float xhat = (x[o + c] - mu) * s, d = dy[o + c], g = d * gamma[c];
      gm += g;
      gx += g * xhat;
      if (sharedPartials) { pg[c] += d * xhat; pb[c] += d; }
      else { atomicAdd(dgamma + c, d * xhat); atomicAdd(dbeta + c, d); }
    }
    gm = blockSum(gm, sh) / cols;
    gx = blockSum(gx, sh) / cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      float xhat = (x[o + c] - mu) * s;
      dx[o + c] += s * (dy[o + c] * gamma[c] - gm - xhat * gx);
    }
  }
  if (sharedPartials)
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      if (gridDim.x == 1) { dgamma[c] += pg[c]; dbeta[c] += pb[c]; }
      else { atomicAdd(dgamma + c, pg[c]); atomicAdd(dbeta + c, pb[c]); }
    }
}

// Ids outside the table were rejected on the host when it could see them; on the device they
// give zero rows / no update rather than an out-of-bounds access. vocab = table rows.
// With outH, the rows are also written as bf16 (the MoE gather: the grouped GEMM then reads
// those, half the bytes of the fp32 rows, through cp.async).
__global__ void embeddingKernel(const float* table, const int* ids, float* out, int n, int dim, int vocab,
                                uint16_t* outH) {
  size_t total = size_t(n) * dim, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int row = int(i / dim), c = int(i % dim), id = ids[row];
    const float x = (id >= 0 && id < vocab) ? table[size_t(id) * dim + c] : 0.f;
    out[i] = x;
    if (outH) outH[i] = toBf16(x);
  }
}
// The same four columns at a time (dim % 4 == 0, 16-byte aligned table and out): the MoE gather
// moves 16384 × 512 floats a layer, so its width matters.
__global__ void embeddingVecKernel(const float4* table, const int* ids, float4* out, int n, int dim4, int vocab,
                                   uint2* outH) {
  size_t total = size_t(n) * dim4, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int row = int(i / dim4), c = int(i % dim4), id = ids[row];
    const float4 x = (id >= 0 && id < vocab) ? table[size_t(id) * dim4 + c] : make_float4(0.f, 0.f, 0.f, 0.f);
    out[i] = x;
    if (outH) outH[i] = make_uint2(packBf16(x.x, x.y), packBf16(x.z, x.w));
  }
}
__global__ void embeddingBackwardKernel(const float* dout, const int* ids, float* dtable, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int row = int(i / dim), c = int(i % dim), id = ids[row];
    if (id >= 0 && id < vocab) atomicAdd(dtable + size_t(id) * dim + c, dout[i]);
  }
}

__global__ void sumSquaresKernel(const float* x, size_t n, double* out) {
  __shared__ double sh[32];
  double s = 0.0;
  size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    double v = x[i];
    s += v * v;
  }
  s = blockSum(s, sh);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

// Adam / AdamW on one element (same operation order as the reference backend). Memory-bound: 7
// floats of traffic per parameter (w, g, m, v read; w, m, v written), so the map's float4 body,
// which moves them in 16-byte transactions, is what sets the speed of the optimiser step (111M
// parameters: ~3.1 GB a step). With `wh`, the updated weight's bf16 rounding is written there too
// (one more 2-byte write per parameter): the copy the GEMMs read instead of the fp32 master.
struct AdamOp {
  float* w; const float* g; float* m; float* v;
  uint16_t* wh;
  float lr, b1, b2, eps, wd, c1, c2;
  bool decoupled;
  __device__ __forceinline__ void update(float& wi, float gi, float& mi, float& vi) const {
    if (!decoupled && wd != 0.f) gi += wd * wi;
    mi = b1 * mi + (1.f - b1) * gi;
    vi = b2 * vi + (1.f - b2) * gi * gi;
    float mhat = mi / c1, vhat = vi / c2;
    if (decoupled && wd != 0.f) wi -= lr * wd * wi;
    wi = wi - lr * mhat / (sqrtf(vhat) + eps);
  }
  __device__ void one(size_t i) const {
    float wi = w[i], mi = m[i], vi = v[i];
    update(wi, g[i], mi, vi);
    w[i] = wi; m[i] = mi; v[i] = vi;
    if (wh) wh[i] = toBf16(wi);
  }
  __device__ void vec4(size_t j) const {
    float4 W = reinterpret_cast<float4*>(w)[j], M = reinterpret_cast<float4*>(m)[j], V = reinterpret_cast<float4*>(v)[j];
    const float4 G = reinterpret_cast<const float4*>(g)[j];
    update(W.x, G.x, M.x, V.x);
    update(W.y, G.y, M.y, V.y);
    update(W.z, G.z, M.z, V.z);
    update(W.w, G.w, M.w, V.w);
    reinterpret_cast<float4*>(w)[j] = W; reinterpret_cast<float4*>(m)[j] = M; reinterpret_cast<float4*>(v)[j] = V;
    if (wh) reinterpret_cast<uint2*>(wh)[j] = make_uint2(packBf16(W.x, W.y), packBf16(W.z, W.w));  // 8-byte aligned (vec)
  }
};

}  // namespace

// ---- launch functions (kernels.h) ---------------------------------------------------------------
void fill(float* x, size_t n, float value) { launchMap(n, aligned16(x), FillOp{x, value}); }
void fillInts(int* x, size_t n, int value) { launchMap(n, aligned16(x), FillIntsOp{x, value}); }
void copy(const float* src, float* dst, size_t n) {
  launchMap(n, aligned16(src) && aligned16(dst), CopyOp{src, dst});
}
__global__ void copyAtKernel(const float* __restrict__ src, float* __restrict__ dst, size_t n, const int* pos,
                             size_t stride) {
  float* d = dst + size_t(__ldg(pos)) * stride;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) d[i] = src[i];
}
void copyAt(const float* src, float* dst, size_t n, const int* pos, size_t stride) {
  if (n == 0) return;
  copyAtKernel<<<gridFor(n), kThreads, 0, stream()>>>(src, dst, n, pos, stride);
}
void scale(float* x, size_t n, float alpha) { launchMap(n, aligned16(x), ScaleOp{x, alpha}); }
void axpy(float alpha, const float* x, float* y, size_t n) {
  launchMap(n, aligned16(x) && aligned16(y), AxpyOp{alpha, x, y});
}
void add(const float* a, const float* b, float* out, size_t n) {
  launchMap(n, aligned16(a) && aligned16(b) && aligned16(out), AddOp{a, b, out});
}
void mul(const float* a, const float* b, float* out, size_t n, bool accumulate) {
  launchMap(n, aligned16(a) && aligned16(b) && aligned16(out), MulOp{a, b, out, accumulate});
}
void activation(int kind, const float* x, float* y, size_t n) {
  launchMap(n, aligned16(x) && aligned16(y), ActOp{kind, x, y});
}
void activationBackward(int kind, const float* x, const float* y, const float* dy, float* dx, size_t n,
                        bool accumulate) {
  launchMap(n, false, ActBackOp{kind, x, y, dy, dx, accumulate});
}

void addBias(float* y, const float* bias, int rows, int cols) {
  size_t n = size_t(rows) * cols;
  if (n == 0) return;
  addBiasKernel<<<gridFor(n), kThreads, 0, stream()>>>(y, bias, rows, cols);
}
void sumRows(const float* x, float* out, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  // Enough row slices to fill the device for tall matrices, one (deterministic) for short ones.
  int slices = std::min(std::max(1, rows / 256), 128);
  sumRowsKernel<<<dim3((cols + 31) / 32, slices), dim3(32, 8), 0, stream()>>>(x, out, rows, cols);
}
void sumCols(const float* x, float* out, int rows, int cols) {
  if (rows == 0) return;
  sumColsKernel<<<(rows + 7) / 8, 256, 0, stream()>>>(x, out, rows, cols);
}
void softmax(const float* x, float* y, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  softmaxKernel<<<rows, rowThreads(cols), 0, stream()>>>(x, y, cols, 0);
}
void logSoftmax(const float* x, float* y, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  softmaxKernel<<<rows, rowThreads(cols), 0, stream()>>>(x, y, cols, 1);
}
void softmaxBackward(const float* y, const float* dy, float* dx, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  softmaxBackwardKernel<<<rows, rowThreads(cols), 0, stream()>>>(y, dy, dx, cols, 0);
}
void logSoftmaxBackward(const float* y, const float* dy, float* dx, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  softmaxBackwardKernel<<<rows, rowThreads(cols), 0, stream()>>>(y, dy, dx, cols, 1);
}
void softmaxCrossEntropy(const float* logits, const int* targets, int rows, int cols, float* dlogits,
                         float gradScale, double* lossOut) {
  if (rows == 0) return;
  crossEntropyKernel<<<rows, rowThreads(cols), 0, stream()>>>(logits, targets, cols, dlogits, gradScale, lossOut);
}
void layerNorm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows,
               int cols, float eps) {
  if (rows == 0 || cols == 0) return;
  layerNormKernel<<<rows, rowThreads(cols), 0, stream()>>>(x, gamma, beta, y, mean, rstd, cols, eps);
}
void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                       float* dx, float* dgamma, float* dbeta, int rows, int cols) {
  if (rows == 0 || cols == 0) return;
  size_t smem = size_t(2) * cols * sizeof(float);
  bool sharedPartials = smem <= 40 * 1024;  // stays under the 48 KiB default with room for the reductions
  int blocks = std::min(rows, 512);
  layerNormBackwardKernel<<<blocks, rowThreads(cols), sharedPartials ? smem : 0, stream()>>>(
      x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols, sharedPartials);
}
void embedding(const float* table, const int* ids, float* out, int n, int dim, int vocab, uint16_t* outBf16) {
  size_t total = size_t(n) * dim;
  if (total == 0) return;
  if (dim % 4 == 0 && aligned16(table) && aligned16(out) && (reinterpret_cast<uintptr_t>(outBf16) & 7) == 0) {
    const size_t total4 = total / 4;
    embeddingVecKernel<<<gridFor(total4), kThreads, 0, stream()>>>(
        reinterpret_cast<const float4*>(table), ids, reinterpret_cast<float4*>(out), n, dim / 4, vocab,
        reinterpret_cast<uint2*>(outBf16));
    return;
  }
  embeddingKernel<<<gridFor(total), kThreads, 0, stream()>>>(table, ids, out, n, dim, vocab, outBf16);
}
void embeddingBackward(const float* dout, const int* ids, float* dtable, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim;
  if (total == 0) return;
  embeddingBackwardKernel<<<gridFor(total), kThreads, 0, stream()>>>(dout, ids, dtable, n, dim, vocab);
}
void sumSquares(const float* x, size_t n, double* out) {
  if (n == 0) return;
  sumSquaresKernel<<<std::min<unsigned>(gridFor(n), 1024), kThreads, 0, stream()>>>(x, n, out);
}
void adam(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1, float beta2,
          float eps, float weightDecay, bool decoupled, int step, uint16_t* paramBf16) {
  if (n == 0) return;
  // Bias corrections in double on the host, as the reference computes them.
  float c1 = float(1.0 - std::pow(double(beta1), step)), c2 = float(1.0 - std::pow(double(beta2), step));
  const bool vec = aligned16(param) && aligned16(grad) && aligned16(m) && aligned16(v) &&
                   (reinterpret_cast<uintptr_t>(paramBf16) & 7) == 0;
  launchMap(n, vec, AdamOp{param, grad, m, v, paramBf16, lr, beta1, beta2, eps, weightDecay, c1, c2, decoupled});
}

}  // namespace handgrad
