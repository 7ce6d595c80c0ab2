// CUDA graphs of op sequences (graph.cu), for the addon: the decode step of a model is ~150 small
// launches, each costing a few µs of launch latency; captured once and replayed, a token costs one
// graph launch. Plain C++ so addon.cc compiles without nvcc.
// Capture: between graphBegin() and graphEnd() every launch of the kernel files goes to the
// capturing stream (stream.h) and is RECORDED, not run; graphEnd() instantiates the recording.
// A replay runs exactly the recorded launches with the recorded arguments, so whatever changes from
// one replay to the next (the token, its position) must live in device memory that the kernels read
// (and be uploaded before graphLaunch), never in a kernel argument.
#pragma once
#include <cstdint>
#include <string>

namespace handgrad {
// false + error when a capture is already open or the runtime refuses.
bool graphBegin(std::string& error);
// Ends the capture; on success `exec` is a handle for graphLaunch/graphDestroy. On failure (a
// launch the capture could not record, e.g. a synchronising call in between) nothing is kept.
bool graphEnd(uintptr_t& exec, std::string& error);
// Enqueues the graph on the default stream (ordered after every earlier launch and copy).
bool graphLaunch(uintptr_t exec, std::string& error);
void graphDestroy(uintptr_t exec);
}  // namespace handgrad
