// The CUDA backend's optimisation kernels: Σx² in double (gradient clipping) and the Adam / AdamW
// step as a float4 map (see kernels.h).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on handgrad::stream() (stream.h) and return at once; the addon checks errors.
#include "map_reduce.cuh"
#include "mma.h"

namespace handgrad {
namespace {

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
