// Device memory of the CUDA backend: one pool of cudaMalloc'd chunks with bump allocation and
// the mark()/release() scopes of the Ops interface. Plain C++ so addon.cc compiles without nvcc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace handgrad {
namespace pool {

struct Stats {
  size_t bytesInUse;  // sum of live allocations (256-byte rounded)
  size_t peakBytes;   // highest bytesInUse since start / resetPeak(): the benchmark's "peak device memory"
  size_t reserved;    // bytes held in cudaMalloc'd chunks and scratch buffers
  size_t totalDevice; // the device's global memory
  size_t freeDevice;  // cudaMemGetInfo's free figure
};

// Each returns false with `error` set (the CUDA error string) instead of crashing.
// alloc: zero-filled (cudaMemsetAsync on the default stream), 256-byte aligned.
bool alloc(size_t bytes, uintptr_t& ptr, std::string& error);
size_t mark();
bool release(size_t mark, std::string& error);
// A grow-only device buffer outside the arena (attention backward's rowsum term); valid until the next call.
bool scratch(size_t bytes, uintptr_t& ptr, std::string& error);
// Eight doubles of device memory for reductions that return a number (loss, Σx²).
bool doubles(double*& ptr, std::string& error);
Stats stats();
void resetPeak();
// Frees every chunk (all tensors become invalid).
void freeAll();

}  // namespace pool
}  // namespace handgrad
