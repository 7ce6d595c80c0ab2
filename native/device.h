// What the CUDA side exposes to the addon glue. Kept in plain C++ so addon.cc compiles without nvcc.
#pragma once
#include <string>

namespace handgrad {
// Number of CUDA devices, or -1 with `error` set when the runtime or driver is unusable.
int cudaDeviceCount(std::string& error);
// "NAME (sm_XY, N MiB)" for device `index`.
std::string cudaDeviceName(int index);
}  // namespace handgrad
