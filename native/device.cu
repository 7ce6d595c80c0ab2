// CUDA runtime queries (device count, names) for the addon's info().
#include <cuda_runtime.h>
#include <cstdio>
#include "device.h"
#include "stubs.h"

namespace handgrad {

const char* stubError = nullptr;

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

namespace handgrad {

std::string cudaDeviceShortName(int index) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, index) != cudaSuccess) return "unknown";
  return p.name;
}

static bool fail(cudaError_t e, std::string& error) {
  error = cudaGetErrorString(e);
  cudaGetLastError();  // clear it when not sticky, so the next op reports its own error
  return false;
}

bool checkCuda(bool sync, std::string& error) {
  cudaError_t e = sync ? cudaDeviceSynchronize() : cudaSuccess;
  if (e == cudaSuccess) e = cudaGetLastError();
  return e == cudaSuccess ? true : fail(e, error);
}

bool synchronize(std::string& error) { return checkCuda(true, error); }

bool copyToDevice(uintptr_t dst, const void* src, size_t bytes, std::string& error) {
  if (bytes == 0) return true;
  cudaError_t e = cudaMemcpy(reinterpret_cast<void*>(dst), src, bytes, cudaMemcpyHostToDevice);
  return e == cudaSuccess ? true : fail(e, error);
}

bool copyToHost(void* dst, uintptr_t src, size_t bytes, std::string& error) {
  if (bytes == 0) return true;
  cudaError_t e = cudaMemcpy(dst, reinterpret_cast<const void*>(src), bytes, cudaMemcpyDeviceToHost);
  return e == cudaSuccess ? true : fail(e, error);
}

bool readDoubles(double* dst, const double* src, size_t count, std::string& error) {
  cudaError_t e = cudaMemcpy(dst, src, count * sizeof(double), cudaMemcpyDeviceToHost);
  return e == cudaSuccess ? true : fail(e, error);
}

bool zeroDoubles(double* dst, size_t count, std::string& error) {
  cudaError_t e = cudaMemsetAsync(dst, 0, count * sizeof(double));
  return e == cudaSuccess ? true : fail(e, error);
}

}  // namespace handgrad
