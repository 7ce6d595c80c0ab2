// A small host emulation of the CUDA features the kernel files (native/*.cu) use, so that
// their logic (indexing, masks, the dispatch-plan scan, reductions) can be checked on a machine
// without a GPU. One fiber per CUDA thread, all on one OS thread (see emu::Scheduler); blocks of a
// launch run one after another (so `__shared__` variables become plain statics); warp primitives
// exchange values through a per-warp barrier, which requires every lane of the warp to reach them
// (the kernels are written that way).
// It checks logic only: no memory model, no races, no timing. See run.sh.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <setjmp.h>
#include <ucontext.h>
#include <vector>

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
struct alignas(8) uint2 {
  unsigned x, y;
};
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {
// CUDA threads are fibers (ucontext), run by one OS thread: a barrier is a yield until every
// participant has arrived. Cooperative switching costs no system call per barrier (OS threads
// and std::barrier cost futex waits and wake-ups: most of the run time on a 2-core machine) and
// makes every run identical. The scheduler sets threadIdx, lane and warp before resuming a fiber.
inline int lane, warp;
inline unsigned long progress;  // barrier arrivals; unchanged over a whole round = deadlock
void yield();

struct Barrier {
  unsigned expected = 0, count = 0;
  unsigned long generation = 0;
  void arrive_and_wait() {
    const unsigned long g = generation;
    progress++;
    if (++count == expected) {
      count = 0;
      generation++;
      return;
    }
    while (generation == g) yield();
  }
};
struct Warp {
  Barrier bar{32};
  uint64_t val[32];
};
inline Barrier blockBar;
inline std::vector<std::unique_ptr<Warp>> warps;

template <typename T>
T exchange(T v, int src) {
  static_assert(sizeof(T) <= 8, "");
  Warp& w = *warps[warp];
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  w.val[lane] = bits;
  w.bar.arrive_and_wait();
  T r;
  const uint64_t got = w.val[src & 31];
  std::memcpy(&r, &got, sizeof(T));
  w.bar.arrive_and_wait();
  return r;
}
}  // namespace emu

template <typename T>
T __shfl_xor_sync(unsigned, T v, int o) { return emu::exchange(v, emu::lane ^ o); }
template <typename T>
T __shfl_sync(unsigned, T v, int src) { return emu::exchange(v, src); }
inline unsigned __ballot_sync(unsigned, bool pred) {
  emu::Warp& w = *emu::warps[emu::warp];
  w.val[emu::lane] = pred ? 1 : 0;
  w.bar.arrive_and_wait();
  unsigned r = 0;
  for (int l = 0; l < 32; l++) r |= (w.val[l] ? 1u : 0u) << l;
  w.bar.arrive_and_wait();
  return r;
}
inline unsigned __match_any_sync(unsigned, int value) {
  emu::Warp& w = *emu::warps[emu::warp];
  w.val[emu::lane] = static_cast<uint32_t>(value);
  w.bar.arrive_and_wait();
  unsigned r = 0;
  for (int l = 0; l < 32; l++) r |= (w.val[l] == static_cast<uint32_t>(value) ? 1u : 0u) << l;
  w.bar.arrive_and_wait();
  return r;
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warps[emu::warp]->bar.arrive_and_wait(); }
inline void __syncthreads() { emu::blockBar.arrive_and_wait(); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
template <typename T>
T __ldg(const T* p) { return *p; }
// Atomics: threads of a block really run concurrently here.
template <typename T>
T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }

// bf16 conversions the check programs use on the host (round to nearest even; finite inputs).
struct __nv_bfloat16 {
  uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return __nv_bfloat16{uint16_t(u >> 16)};
}
inline float __bfloat162float(__nv_bfloat16 b) {
  const uint32_t u = uint32_t(b.bits) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// ---- runtime API -----------------------------------------------------------------------------
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorStreamCaptureInvalidated = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount, cudaDevAttrMaxSharedMemoryPerBlockOptin };
// An emulated device with a few SMs: the kernels' grid-filling heuristics (split-K, k slices)
// then take their multi-block paths on the small shapes an emulated run can afford.
constexpr int kEmuSMs = 4;
struct cudaDeviceProp {
  char name[256] = "host emulation";
  int major = 9, minor = 0, multiProcessorCount = kEmuSMs;
};
typedef int cudaEvent_t;
typedef int cudaStream_t;
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
template <typename T>
cudaError_t cudaMalloc(T** p, size_t n) {
  *p = static_cast<T*>(std::aligned_alloc(256, (n + 255) / 256 * 256));
  return *p ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return cudaSuccess; }
// ---- CUDA graphs: a capture RECORDS the launches (and async memsets) instead of running them, and
// a graph launch replays the recording, arguments as captured. So a kernel that took a per-replay
// value (a position) as an argument instead of reading it from memory replays the stale value here
// too. Every launch during a capture is recorded, whatever stream it names (the kernel files send
// all of theirs to stream(), which is the capture stream then).
namespace emu {
struct Graph {
  std::vector<std::function<void()>> ops;
};
inline Graph* capture = nullptr;  // the open capture, or null
}  // namespace emu
typedef emu::Graph* cudaGraph_t;
typedef emu::Graph* cudaGraphExec_t;
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
constexpr unsigned cudaStreamNonBlocking = 1;
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = 1; return cudaSuccess; }
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
  if (emu::capture) return cudaErrorInvalidValue;
  emu::capture = new emu::Graph;
  return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
  *g = emu::capture;
  emu::capture = nullptr;
  return *g ? cudaSuccess : cudaErrorStreamCaptureInvalidated;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* x, cudaGraph_t g, unsigned long long = 0) {
  *x = new emu::Graph(*g);
  return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { delete g; return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x) { delete x; return cudaSuccess; }
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t) {
  for (auto& f : x->ops) f();
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t = 0) {
  if (emu::capture) emu::capture->ops.push_back([=] { std::memset(d, v, n); });
  else std::memset(d, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { *p = cudaDeviceProp{}; return cudaSuccess; }
// An sm_90-like opt-in shared-memory limit (227 KB), so every gemm pipeline variant can run.
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  *v = a == cudaDevAttrMultiProcessorCount ? kEmuSMs : 232448;
  return cudaSuccess;
}
template <typename K>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* b, K, int, size_t) { *b = 1; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
template <typename K>
cudaError_t cudaFuncSetAttribute(K, cudaFuncAttribute, int) { return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t*) { return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = 0) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) { *ms = 0; return cudaSuccess; }

// ---- fibers -------------------------------------------------------------------------------------
namespace emu {
constexpr size_t kStack = 256 * 1024;  // per CUDA thread; untouched pages cost no memory
// A fiber is started once with makecontext/swapcontext and switched with _setjmp/_longjmp after
// that: swapcontext saves and restores the signal mask with a system call at every switch, and a
// barrier switches every thread of the block, so most of the emulation's time was spent in the
// kernel (sys 29 s of 53 s for elementwise_check). _longjmp switches in user space.
struct JumpBuf { jmp_buf at; };
struct Scheduler {
  ucontext_t main;
  std::vector<ucontext_t> ctx;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<char> done;
  std::vector<char> started;
  std::vector<JumpBuf> fiber;  // where each started fiber continues
  jmp_buf back;                // where the scheduler continues when the running fiber yields or ends
  unsigned cur = 0;
  void (*body)(void*) = nullptr;  // the thread body of the current launch, and its argument
  void* arg = nullptr;
};
inline Scheduler sched;
inline void yield() {
  if (!_setjmp(sched.fiber[sched.cur].at)) _longjmp(sched.back, 1);
}
inline void entry() {
  sched.body(sched.arg);
  sched.done[sched.cur] = 1;
  _longjmp(sched.back, 1);  // never returns: its stack is reused by the next launch
}

// Runs body(arg) as n fibers (thread index t = sched.cur) round-robin until all have returned.
inline void runFibers(unsigned n, dim3 block, void (*body)(void*), void* arg) {
  sched.body = body;
  sched.arg = arg;
  sched.ctx.resize(n);
  sched.fiber.resize(n);
  sched.done.assign(n, 0);
  sched.started.assign(n, 0);
  while (sched.stacks.size() < n) sched.stacks.emplace_back(new char[kStack]);
  for (unsigned t = 0; t < n; t++) {
    getcontext(&sched.ctx[t]);
    sched.ctx[t].uc_stack.ss_sp = sched.stacks[t].get();
    sched.ctx[t].uc_stack.ss_size = kStack;
    sched.ctx[t].uc_link = nullptr;
    makecontext(&sched.ctx[t], entry, 0);
  }
  for (unsigned left = n; left > 0;) {
    const unsigned long before = progress;
    const unsigned leftBefore = left;
    for (unsigned t = 0; t < n; t++) {
      if (sched.done[t]) continue;
      sched.cur = t;
      threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
      lane = t % 32;
      warp = t / 32;
      if (!_setjmp(sched.back)) {
        if (!sched.started[t]) {
          sched.started[t] = 1;
          swapcontext(&sched.main, &sched.ctx[t]);  // does not come back here: the fiber _longjmps to back
        } else {
          _longjmp(sched.fiber[t].at, 1);
        }
      }
      if (sched.done[t]) left--;
    }
    if (left > 0 && left == leftBefore && progress == before) {
      std::fprintf(stderr, "emu: deadlock: %u threads wait at a barrier the others never reach\n", left);
      std::exit(3);
    }
  }
}
}  // namespace emu

// kernel<<<grid, block, smem>>>(args) is rewritten by run.sh into emuLaunch(kernel, grid, block, smem, args).
// Every CUDA thread walks all blocks of the grid in order, with a block barrier between blocks
// (the next block reuses the shared statics), so blockIdx is the same for every running fiber.
template <typename... P, typename... A>
void emuLaunch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A... args) {
  if (emu::capture) {  // recorded for the graph's replays (see cudaStreamBeginCapture)
    emu::capture->ops.push_back([=] { emuLaunch(kernel, grid, block, smem, args...); });
    return;
  }
  const unsigned n = block.x * block.y * block.z;
  if (n == 0 || n % 32 != 0 || n > 1024 || smem > 228 * 1024) {
    std::fprintf(stderr, "emu: bad launch (%u threads, %zu bytes shared)\n", n, smem);
    std::exit(3);
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) {
    std::fprintf(stderr, "emu: empty grid\n");
    std::exit(3);
  }
  blockDim = block;
  gridDim = grid;
  emu::blockBar = emu::Barrier{n};
  emu::warps.clear();
  for (unsigned w = 0; w < n / 32; w++) emu::warps.push_back(std::make_unique<emu::Warp>());
  auto run = [&] {
    for (unsigned z = 0; z < grid.z; z++)
      for (unsigned y = 0; y < grid.y; y++)
        for (unsigned x = 0; x < grid.x; x++) {
          blockIdx = dim3(x, y, z);
          kernel(args...);
          emu::blockBar.arrive_and_wait();
        }
  };
  emu::runFibers(n, block, [](void* f) { (*static_cast<decltype(run)*>(f))(); }, &run);
}
