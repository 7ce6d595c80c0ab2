// Shared by the GPU check programs (native/tests/*_check.cu): the CUDA error check and the seeded
// generator of their inputs. Plain host C++, so it compiles under native/tests/host-emu too.
#pragma once
#include <cstdio>
#include <cstdlib>

// A failed CUDA call ends the program (exit 2: the check could not run, as opposed to 1: it failed).
#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

// 64-bit linear congruential generator (Knuth's MMIX constants); a program may reseed it in main.
inline unsigned long long rngState = 12345;
inline unsigned long long rngNext() {
  rngState = rngState * 6364136223846793005ULL + 1442695040888963407ULL;
  return rngState;
}
// Uniform in [lo, hi), from the 24 high bits.
inline float frand(float lo = -1.f, float hi = 1.f) {
  return lo + (hi - lo) * (((rngNext() >> 40) & 0xffffff) / float(1 << 24));
}
// Uniform integer in [0, n).
inline int irand(int n) { return static_cast<int>((rngNext() >> 33) % static_cast<unsigned long long>(n)); }
