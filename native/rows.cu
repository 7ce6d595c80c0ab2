// The CUDA backend's row-wise kernels on rows×cols matrices: bias add, row and column sums,
// softmax and log-softmax with their backward passes, fused softmax cross-entropy (see kernels.h).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on handgrad::stream() (stream.h) and return at once; the addon checks errors.
#include "map_reduce.cuh"

namespace handgrad {
namespace {

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

}  // namespace

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

}  // namespace handgrad
