/*
 * The floating-point ceiling of one core: single-precision fused multiply-adds in independent chains
 * (as many as keep both FMA pipes busy through their latency), no memory traffic at all, timed at
 * every vector width this CPU has: 128 bits (SSE / NEON), 256 (AVX2+FMA) and 512 (AVX-512F). No
 * GEMM — ours, OpenBLAS's or XNNPACK's — can beat the widest figure on the same core, so the GEMM
 * GFLOP/s of `handgrad bench kernels` are read against it.
 *
 * Why more than one width: V8's revectorizer turns our 128-bit WASM SIMD into AVX2 (256-bit) and no
 * further, so the 256-bit figure is the ceiling a WASM kernel can reach, while OpenBLAS on an
 * AVX-512 core can go up to the 512-bit one (on a core with full-width 512-bit FMA units, about
 * twice as high). The report gives our share of both.
 *
 * A width is measured only where both the compiler targets it (`-march=native` defines __AVX__,
 * __AVX512F__, …) and the CPU running the program has it (__builtin_cpu_supports on x86): a 512-bit
 * vector type compiled without AVX-512 would be split into two 256-bit halves and measure the
 * 256-bit peak under the wrong name. Off x86 only 128 bits (NEON) is measured.
 *
 * Built by bench/peak.ts with the system C compiler (`cc -O2 -march=native`); GCC/Clang vector
 * extensions. Usage: peak_fma [seconds] [bits]  (bits 0 or absent: every width this CPU has;
 * 128, 256 or 512: that width only, exit 4 when the CPU lacks it). Prints one JSON line
 *   {"widths": [{"bits": 128, "gflops": …}, …], "avx512f": true|false, "chains": 12, "seconds": …, "sink": …}
 * each figure the best of ~10 ms blocks over `seconds` ("avx512f": the CPU's flag, x86 only). Exit 2
 * on a bad argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 12 chains: FMA latency 4 cycles × 2 pipes needs ≥ 8 in flight; 12 also covers 5-cycle FMAs and
 * fits in 16 vector registers with the two operands. The multiplier stays just below 1 and the
 * addend small, so the values neither overflow nor turn denormal (which would be slow). */
#define CHAINS 12

/* One timing routine per width: the same loop on a vector of BITS/32 floats. */
#define DEFINE_WIDTH(BITS)                                                                         \
  typedef float v##BITS __attribute__((vector_size(BITS / 8)));                                   \
  static void block##BITS(v##BITS acc[CHAINS], v##BITS x, v##BITS y, long iters) {                \
    for (long i = 0; i < iters; i++) {                                                             \
      _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * x + y;           \
    }                                                                                              \
  }                                                                                                \
  static double peak##BITS(double seconds, double* sink) {                                         \
    enum { LANES = BITS / 32 };                                                                    \
    v##BITS acc[CHAINS], x, y;                                                                     \
    for (int l = 0; l < LANES; l++) { x[l] = 0.9999999f; y[l] = 1e-7f; }                          \
    for (int c = 0; c < CHAINS; c++)                                                               \
      for (int l = 0; l < LANES; l++) acc[c][l] = (float)(c + l);                                  \
    /* size a block to ~10 ms, warm up for ~50 ms (clock ramp), then keep the best block */       \
    long iters = 1 << 14;                                                                          \
    for (;;) {                                                                                     \
      const double t0 = now();                                                                     \
      block##BITS(acc, x, y, iters);                                                               \
      if (now() - t0 > 0.01) break;                                                                \
      iters *= 2;                                                                                  \
    }                                                                                              \
    const double warmEnd = now() + 0.05;                                                           \
    while (now() < warmEnd) block##BITS(acc, x, y, iters);                                         \
    double best = 0;                                                                               \
    const double end = now() + seconds;                                                            \
    do {                                                                                           \
      const double t0 = now();                                                                     \
      block##BITS(acc, x, y, iters);                                                               \
      const double g = (double)iters * CHAINS * LANES * 2 / (now() - t0) / 1e9;                    \
      if (g > best) best = g;                                                                      \
    } while (now() < end);                                                                         \
    /* keep the chains alive: the result feeds the output */                                      \
    for (int c = 0; c < CHAINS; c++) *sink += acc[c][0];                                           \
    return best;                                                                                   \
  }

DEFINE_WIDTH(128)
#if defined(__x86_64__) || defined(__i386__)
#define X86 1
#endif
#if defined(X86) && defined(__AVX__)
DEFINE_WIDTH(256)
#endif
#if defined(X86) && defined(__AVX512F__)
DEFINE_WIDTH(512)
#endif

/* Whether this build can time `bits` on this CPU. */
static int has_width(int bits) {
  if (bits == 128) return 1;
#if defined(X86) && defined(__AVX__)
  if (bits == 256) return __builtin_cpu_supports("avx");
#endif
#if defined(X86) && defined(__AVX512F__)
  if (bits == 512) return __builtin_cpu_supports("avx512f");
#endif
  return 0;
}

static double run_width(int bits, double seconds, double* sink) {
  switch (bits) {
#if defined(X86) && defined(__AVX__)
    case 256: return peak256(seconds, sink);
#endif
#if defined(X86) && defined(__AVX512F__)
    case 512: return peak512(seconds, sink);
#endif
    default: return peak128(seconds, sink);
  }
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 0.25;
  if (!(seconds > 0 && seconds < 600)) {
    fprintf(stderr, "peak_fma: seconds must be in (0, 600), got %s\n", argv[1]);
    return 2;
  }
  const int only = argc > 2 ? atoi(argv[2]) : 0;
  if (only != 0 && only != 128 && only != 256 && only != 512) {
    fprintf(stderr, "peak_fma: bits must be 0, 128, 256 or 512, got %s\n", argv[2]);
    return 2;
  }
  if (only != 0 && !has_width(only)) {
    fprintf(stderr, "peak_fma: this CPU (or this build) has no %d-bit FMA\n", only);
    return 4;
  }
  double sink = 0;
  printf("{\"widths\": [");
  const int all[3] = {128, 256, 512};
  int first = 1;
  for (int i = 0; i < 3; i++) {
    const int bits = all[i];
    if ((only != 0 && bits != only) || !has_width(bits)) continue;
    const double g = run_width(bits, seconds, &sink);
    printf("%s{\"bits\": %d, \"gflops\": %.2f}", first ? "" : ", ", bits, g);
    first = 0;
  }
  /* the CPU's flag, whether or not this build could use it (a compiler without AVX-512 support) */
#if defined(X86)
  const int avx512f = __builtin_cpu_supports("avx512f");
#else
  const int avx512f = 0;
#endif
  printf("], \"avx512f\": %s, \"chains\": %d, \"seconds\": %.3f, \"sink\": %g}\n", avx512f ? "true" : "false", CHAINS,
         seconds, sink);
  return 0;
}
