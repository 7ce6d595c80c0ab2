// What the CUDA side exposes to the addon glue (besides the launch functions of kernels.h and
// the pool of device_pool.h). Kept in plain C++ so addon.cc compiles without nvcc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace handgrad {
// Number of CUDA devices, or -1 with `error` set when the runtime or driver is unusable.
int cudaDeviceCount(std::string& error);
// "NAME (sm_XY, N MiB)" for device `index`.
std::string cudaDeviceName(int index);
// Just the device's product name ("NVIDIA H100 80GB HBM3"), for the backend name.
std::string cudaDeviceShortName(int index);
// Errors of the launches so far: cudaGetLastError, and with `sync` a device synchronisation
// first (so asynchronous faults surface at the op that caused them). false + `error` on failure.
bool checkCuda(bool sync, std::string& error);
bool synchronize(std::string& error);
// Blocking copies between host memory and device memory (default stream, so ordered after
// every launch before them).
bool copyToDevice(uintptr_t dst, const void* src, size_t bytes, std::string& error);
bool copyToHost(void* dst, uintptr_t src, size_t bytes, std::string& error);
// Device-to-host copy of `count` doubles (reduction results).
bool readDoubles(double* dst, const double* src, size_t count, std::string& error);
bool zeroDoubles(double* dst, size_t count, std::string& error);
}  // namespace handgrad
