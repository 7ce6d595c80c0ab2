// The device memory pool. Why a pool: cudaMalloc synchronises the device and costs ~100 µs, and
// the Ops interface allocates with arena scopes (mark/release) anyway, so a bump allocator over
// a few big chunks gives O(1) allocation and exact "bytes in use" accounting of our own buffers
// (the CUDA context's memory is not ours to report). Never managed memory: every buffer is
// device-resident and moves only through explicit copies.
#include <cuda_runtime.h>
#include <algorithm>
#include <vector>
#include "device_pool.h"

namespace handgrad {
namespace pool {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kChunk = size_t(256) << 20;  // small tensors share 256 MiB chunks; big ones get their own

struct Chunk { char* base; size_t size; };
struct Record { size_t chunk, offset, bytes; };

std::vector<Chunk> chunks;
std::vector<Record> records;  // live allocations, in (chunk, offset) order
size_t curChunk = 0, curOffset = 0;
size_t inUse = 0, peak = 0, reservedBytes = 0;
void* scratchPtr = nullptr;
size_t scratchSize = 0;
double* doublePtr = nullptr;

bool fail(cudaError_t e, std::string& error) {
  error = cudaGetErrorString(e);
  cudaGetLastError();  // clear a sticky non-fatal error so the next call starts clean
  return false;
}

}  // namespace

bool alloc(size_t bytes, uintptr_t& ptr, std::string& error) {
  size_t rounded = std::max(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  // The current chunk, else the first later chunk that fits (chunks skipped here are reused
  // after release()), else a new chunk.
  size_t c = curChunk, off = curOffset;
  while (c < chunks.size() && off + rounded > chunks[c].size) { c++; off = 0; }
  if (c == chunks.size()) {
    size_t size = std::max(kChunk, rounded);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e != cudaSuccess) {
      error = std::string(cudaGetErrorString(e)) + " (cudaMalloc of " + std::to_string(size >> 20) + " MiB; " +
              std::to_string(inUse >> 20) + " MiB in use)";
      cudaGetLastError();
      return false;
    }
    chunks.push_back({static_cast<char*>(p), size});
    reservedBytes += size;
    off = 0;
  }
  char* p = chunks[c].base + off;
  cudaError_t e = cudaMemsetAsync(p, 0, rounded);
  if (e != cudaSuccess) return fail(e, error);
  records.push_back({c, off, rounded});
  curChunk = c;
  curOffset = off + rounded;
  inUse += rounded;
  peak = std::max(peak, inUse);
  ptr = reinterpret_cast<uintptr_t>(p);
  return true;
}

size_t mark() { return records.size(); }

bool release(size_t m, std::string& error) {
  if (m > records.size()) {
    error = "release(" + std::to_string(m) + "): no such mark (" + std::to_string(records.size()) + " allocations live)";
    return false;
  }
  while (records.size() > m) {
    inUse -= records.back().bytes;
    records.pop_back();
  }
  if (records.empty()) { curChunk = 0; curOffset = 0; }
  else { curChunk = records.back().chunk; curOffset = records.back().offset + records.back().bytes; }
  return true;
}

bool scratch(size_t bytes, uintptr_t& ptr, std::string& error) {
  if (bytes > scratchSize) {
    // Kernels still in flight may use the old buffer: cudaFree waits for them (it synchronises).
    if (scratchPtr) { cudaFree(scratchPtr); reservedBytes -= scratchSize; scratchPtr = nullptr; scratchSize = 0; }
    size_t size = std::max(bytes, size_t(1) << 20);
    cudaError_t e = cudaMalloc(&scratchPtr, size);
    if (e != cudaSuccess) { scratchPtr = nullptr; return fail(e, error); }
    scratchSize = size;
    reservedBytes += size;
  }
  ptr = reinterpret_cast<uintptr_t>(scratchPtr);
  return true;
}

bool doubles(double*& ptr, std::string& error) {
  if (!doublePtr) {
    cudaError_t e = cudaMalloc(&doublePtr, 8 * sizeof(double));
    if (e != cudaSuccess) { doublePtr = nullptr; return fail(e, error); }
  }
  ptr = doublePtr;
  return true;
}

Stats stats() {
  size_t freeB = 0, totalB = 0;
  if (cudaMemGetInfo(&freeB, &totalB) != cudaSuccess) cudaGetLastError();
  return {inUse, peak, reservedBytes, totalB, freeB};
}

void resetPeak() { peak = inUse; }

void freeAll() {
  cudaDeviceSynchronize();
  for (auto& c : chunks) cudaFree(c.base);
  chunks.clear();
  records.clear();
  curChunk = curOffset = 0;
  inUse = 0;
  reservedBytes = scratchSize = 0;
  if (scratchPtr) cudaFree(scratchPtr);
  if (doublePtr) cudaFree(doublePtr);
  scratchPtr = nullptr;
  doublePtr = nullptr;
}

}  // namespace pool
}  // namespace handgrad
