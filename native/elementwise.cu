// The CUDA backend's elementwise kernels: fill, copy, scale, axpy, add, mul and the activations with
// their derivatives, as float4 maps (see kernels.h). The other fp32 families: rows.cu, layernorm.cu,
// embedding.cu, optim.cu (shared helpers: map_reduce.cuh).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on handgrad::stream() (stream.h) and return at once; the addon checks errors.
#include "map_reduce.cuh"

namespace handgrad {
namespace {

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
// copyAt: the destination offset (a KV-cache row) is read on the device, so a captured decode
// step replays for every position.
__global__ void copyAtKernel(const float* __restrict__ src, float* __restrict__ dst, size_t n, const int* pos,
                             size_t stride) {
  float* d = dst + size_t(__ldg(pos)) * stride;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) d[i] = src[i];
}
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

}  // namespace

void fill(float* x, size_t n, float value) { launchMap(n, aligned16(x), FillOp{x, value}); }
void fillInts(int* x, size_t n, int value) { launchMap(n, aligned16(x), FillIntsOp{x, value}); }
void copy(const float* src, float* dst, size_t n) {
  launchMap(n, aligned16(src) && aligned16(dst), CopyOp{src, dst});
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

}  // namespace handgrad
