// The CUDA backend's LayerNorm kernels, forward and backward (see kernels.h).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on handgrad::stream() (stream.h) and return at once; the addon checks errors.
#include "map_reduce.cuh"

namespace handgrad {
namespace {

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

}  // namespace

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

}  // namespace handgrad
