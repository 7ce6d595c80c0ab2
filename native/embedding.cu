// The CUDA backend's embedding gather and scatter-add kernels (see kernels.h).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on the default stream and return at once; the addon checks errors.
#include "map_reduce.cuh"

namespace handgrad {
namespace {

__global__ void embeddingKernel(const float* table, const int* ids, float* out, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int row = int(i / dim), c = int(i % dim), id = ids[row];
    out[i] = (id >= 0 && id < vocab) ? table[size_t(id) * dim + c] : 0.f;
  }
}
__global__ void embeddingBackwardKernel(const float* dout, const int* ids, float* dtable, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim, stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int row = int(i / dim), c = int(i % dim), id = ids[row];
    if (id >= 0 && id < vocab) atomicAdd(dtable + size_t(id) * dim + c, dout[i]);
  }
}

}  // namespace

void embedding(const float* table, const int* ids, float* out, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim;
  if (total == 0) return;
  embeddingKernel<<<gridFor(total), kThreads>>>(table, ids, out, n, dim, vocab);
}
void embeddingBackward(const float* dout, const int* ids, float* dtable, int n, int dim, int vocab) {
  size_t total = size_t(n) * dim;
  if (total == 0) return;
  embeddingBackwardKernel<<<gridFor(total), kThreads>>>(dout, ids, dtable, n, dim, vocab);
}

}  // namespace handgrad
