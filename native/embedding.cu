// The CUDA backend's embedding gather and scatter-add kernels (see kernels.h).
// Semantics follow the reference backend exactly (src/backends/reference/, the file of the same
// family); the conformance table (src/backends/conformance.ts) compares every kernel with it.
// Launches go on handgrad::stream() (stream.h) and return at once; the addon checks errors.
#include "map_reduce.cuh"
#include "mma.h"

namespace handgrad {
namespace {

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

}  // namespace

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

}  // namespace handgrad
