// CUDA runtime queries. The kernels for the MoE transformer arrive with the CUDA issue.
#include <cuda_runtime.h>
#include <cstdio>
#include "device.h"

namespace handgrad {

int cudaDeviceCount(std::string& error) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    error = cudaGetErrorString(e);  // e.g. "CUDA driver version is insufficient" with no GPU
    return -1;
  }
  return n;
}

std::string cudaDeviceName(int index) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) return "unknown";
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %zu MiB)", p.name, p.major, p.minor,
                static_cast<size_t>(p.totalGlobalMem >> 20));
  return buf;
}

}  // namespace handgrad
