// The stream every launch of the kernel files (and their asynchronous memsets) goes on. Include it
// after <cuda_runtime.h> (or, under native/tests/host-emu, cuda_emu.h).
// It is the legacy default stream (0), so everything stays ordered with the addon's blocking
// copies, except while graph.cu captures a CUDA graph: then it is the capturing stream, and the
// launches of the captured op sequence are recorded instead of run.
#pragma once

namespace handgrad {
inline cudaStream_t gLaunchStream = 0;
inline cudaStream_t stream() { return gLaunchStream; }
}  // namespace handgrad
