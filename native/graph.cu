// CUDA graph capture and replay of op sequences (contract: graph.h).
// Why a side stream: the legacy default stream cannot be captured, so during a capture stream.h
// points every launch at a non-blocking stream of ours; the graph is then launched on the default
// stream, where it is ordered with the addon's blocking copies like any other launch. Relaxed
// capture mode: the addon's per-op error check (cudaGetLastError) and a pool allocation
// (cudaMalloc) stay legal while capturing, and nothing the host does outside the op sequence
// is swept into the graph by accident.
#include <cuda_runtime.h>

#include "graph.h"
#include "stream.h"

namespace handgrad {
namespace {
cudaStream_t captureStream = 0;  // created on first use
bool capturing = false;

bool fail(cudaError_t e, std::string& error, const char* what) {
  error = std::string(what) + ": " + cudaGetErrorString(e);
  cudaGetLastError();  // clear a non-sticky error so the next op starts clean
  return false;
}
}  // namespace

bool graphBegin(std::string& error) {
  if (capturing) {
    error = "graphBegin: a capture is already open";
    return false;
  }
  if (!captureStream) {
    cudaError_t e = cudaStreamCreateWithFlags(&captureStream, cudaStreamNonBlocking);
    if (e != cudaSuccess) return fail(e, error, "cudaStreamCreateWithFlags");
  }
  // Nothing runs on the capture stream (launches are only recorded), so no ordering with the
  // default stream's work is needed here; the graph itself is launched on the default stream.
  cudaError_t e = cudaStreamBeginCapture(captureStream, cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) return fail(e, error, "cudaStreamBeginCapture");
  capturing = true;
  gLaunchStream = captureStream;
  return true;
}

bool graphEnd(uintptr_t& exec, std::string& error) {
  exec = 0;
  if (!capturing) {
    error = "graphEnd: no capture is open";
    return false;
  }
  capturing = false;
  gLaunchStream = 0;
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(captureStream, &graph);
  if (e != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    return fail(e != cudaSuccess ? e : cudaErrorStreamCaptureInvalidated, error, "cudaStreamEndCapture");
  }
  cudaGraphExec_t x = nullptr;
  e = cudaGraphInstantiate(&x, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) return fail(e, error, "cudaGraphInstantiate");
  exec = reinterpret_cast<uintptr_t>(x);
  return true;
}

bool graphLaunch(uintptr_t exec, std::string& error) {
  cudaError_t e = cudaGraphLaunch(reinterpret_cast<cudaGraphExec_t>(exec), 0);
  return e == cudaSuccess ? true : fail(e, error, "cudaGraphLaunch");
}

void graphDestroy(uintptr_t exec) {
  if (exec) cudaGraphExecDestroy(reinterpret_cast<cudaGraphExec_t>(exec));
}

}  // namespace handgrad
