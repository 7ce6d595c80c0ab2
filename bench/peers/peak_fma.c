/*
 * The floating-point ceiling of one core: single-precision fused multiply-adds on 256-bit vectors
 * (8 floats), as many independent chains as keep both FMA pipes busy through their latency, no
 * memory traffic at all. No GEMM — ours, OpenBLAS's or XNNPACK's — can beat this figure on the same
 * core, so it is what the GEMM GFLOP/s of `handgrad bench kernels` are read against.
 *
 * Why 256-bit: V8's revectorizer turns our 128-bit WASM SIMD into AVX2 (256-bit) and no further, so
 * this is the ceiling a WASM kernel can reach even on a CPU with AVX-512 (where OpenBLAS could go
 * past it: the report names the width).
 *
 * Built by bench/peak.ts with the system C compiler (`cc -O2 -march=native`); GCC/Clang vector
 * extensions, so it also builds where the vectors are NEON pairs. Usage: peak_fma [seconds] → one
 * JSON line {"gflops": …, "bits": 256, "chains": 12, "seconds": …}; the best of the timed blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef float v8f __attribute__((vector_size(32)));

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* 12 chains: FMA latency 4 cycles × 2 pipes needs ≥ 8 in flight; 12 also covers 5-cycle FMAs and
 * fits in 16 vector registers with the two operands. The multiplier stays just below 1 and the
 * addend small, so the values neither overflow nor turn denormal (which would be slow). */
#define CHAINS 12

static void block(v8f acc[CHAINS], v8f x, v8f y, long iters) {
  for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
    for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * x + y;
  }
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 0.25;
  if (!(seconds > 0 && seconds < 600)) {
    fprintf(stderr, "peak_fma: seconds must be in (0, 600), got %s\n", argv[1]);
    return 2;
  }
  v8f acc[CHAINS], x, y;
  for (int l = 0; l < 8; l++) { x[l] = 0.9999999f; y[l] = 1e-7f; }
  for (int c = 0; c < CHAINS; c++)
    for (int l = 0; l < 8; l++) acc[c][l] = (float)(c + l);
  /* size a block to ~10 ms, warm up for ~50 ms (clock ramp), then keep the best block */
  long iters = 1 << 16;
  for (;;) {
    const double t0 = now();
    block(acc, x, y, iters);
    const double t = now() - t0;
    if (t > 0.01) break;
    iters *= 2;
  }
  const double warmEnd = now() + 0.05;
  while (now() < warmEnd) block(acc, x, y, iters);
  double best = 0;
  const double end = now() + seconds;
  do {
    const double t0 = now();
    block(acc, x, y, iters);
    const double t = now() - t0;
    const double g = (double)iters * CHAINS * 8 * 2 / t / 1e9;
    if (g > best) best = g;
  } while (now() < end);
  /* keep the chains alive: the result feeds the output */
  float sink = 0;
  for (int c = 0; c < CHAINS; c++) sink += acc[c][0];
  printf("{\"gflops\": %.2f, \"bits\": 256, \"chains\": %d, \"seconds\": %.3f, \"sink\": %g}\n", best, CHAINS, seconds,
         (double)sink);
  return 0;
}
