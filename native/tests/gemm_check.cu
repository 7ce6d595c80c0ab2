// Standalone check and benchmark of native/gemm.cu (handgrad::gemm, handgrad::groupedGemm).
// Build and run on the GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -Inative native/tests/gemm_check.cu native/gemm.cu -o /tmp/gemm_check
//   /tmp/gemm_check            (all checks, then timings)
//   /tmp/gemm_check --quick    (checks only)
//   /tmp/gemm_check --variant 2 (one tiled-kernel variant only; see gemmSetVariant in gemm.cu)
// On a machine without a GPU: native/tests/host-emu/run.sh gemm (a logic check: small shapes only,
// a host reference, no timings; the emulated device has 4 SMs, so split-K and the k-sliced
// small-m path are taken on small shapes).
// Inputs are drawn already rounded to bf16, so the kernels' bf16 conversion is exact and the only
// difference from the reference (a naive kernel accumulating in double) is fp32 accumulation
// order: the errors reported should sit near 1e-6, and anything above 1e-3 FAILs.
// Errors: normwise ‖out − ref‖_F / ‖ref‖_F, and elementwise max |out − ref| / (Σ|α a b| + |β c|),
// i.e. relative to the natural error bound of each dot product (cancellation cannot inflate it).
// Every output is poisoned with NaN (beta = 0) or random values before the run; rows outside every
// group, and empty groups' C_g in 'tn', must come back bit-identical.
#include <cuda_runtime.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "check_util.h"
#include "kernels.h"

namespace handgrad {
bool gemmSetVariant(int v);      // tuning hooks in gemm.cu (not in kernels.h): tiled-kernel variant,
bool gemmSetBf16Variant(int v);  // and the pipeline used when an operand comes as a bf16 copy
}
static const int kVariants = 3;
static const int kBf16Variants = 3;
static int curVariant = -1;  // fp32 variant 0..2, or 10 + bf16 variant (the cases with bf16 copies)

static int failures = 0;
static int cases = 0;
static std::vector<std::string> failedNames;  // repeated at the end, where the output tail shows it
static double worstNorm[16], worstElem[16];    // per variant (10 + v: bf16 variant v)
static uint64_t xorshiftState = 0x9E3779B97F4A7C15ull;
// xorshift64*: fast enough to draw the ~10^9 inputs of a full run in seconds.
static inline float uniformPm1() {
  xorshiftState ^= xorshiftState >> 12;
  xorshiftState ^= xorshiftState << 25;
  xorshiftState ^= xorshiftState >> 27;
  const uint64_t r = xorshiftState * 0x2545F4914F6CDD1Dull;
  return (float)((double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static float bf16r(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// Random bf16-representable values in [-1, 1), generated on the host (fresh per call).
static void randomFill(std::vector<float>& v) {
  for (auto& x : v) x = bf16r(uniformPm1());
}

// Device buffer; `shift` > 0 starts the data that many floats past the allocation (a pointer
// that is not 16-byte aligned, to exercise the kernels' scalar-load paths).
struct DevBuf {
  float* base = nullptr;
  float* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t n_, int shift = 0) : n(n_) {
    CK(cudaMalloc(&base, (std::max<size_t>(n, 1) + shift) * sizeof(float)));
    p = base + shift;
  }
  ~DevBuf() { cudaFree(base); }
  void up(const std::vector<float>& h) { CK(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice)); }
  // Random contents, for the timing runs (whose results are not checked).
  void upRandom() {
    std::vector<float> h(n);
    randomFill(h);
    up(h);
  }
  std::vector<float> down() const {
    std::vector<float> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
  }
};

// The bf16 copy of an operand (what adam writes beside a weight, or the MoE gather beside its rows):
// the 16-bit patterns of the values, which the tests draw bf16-representable, so the copy is exact.
struct DevBf16 {
  uint16_t* base = nullptr;
  uint16_t* p = nullptr;
  DevBf16(const std::vector<float>& h, int shift = 0) {
    std::vector<uint16_t> b(h.size());
    for (size_t i = 0; i < h.size(); ++i) {
      uint32_t u;
      std::memcpy(&u, &h[i], 4);
      b[i] = (uint16_t)(u >> 16);
    }
    CK(cudaMalloc(&base, (std::max<size_t>(h.size(), 1) + shift) * sizeof(uint16_t)));
    p = base + shift;
    CK(cudaMemcpy(p, b.data(), b.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
  }
  ~DevBf16() { cudaFree(base); }
};
// Which operands get a bf16 copy: bit 0 A, bit 1 B.
static const char* copiesName(int bf) { return bf == 0 ? "" : bf == 1 ? " bf16 A" : bf == 2 ? " bf16 B" : " bf16 A+B"; }
// With copies, the result must equal the fp32 operands' result: bit for bit under the emulation
// (one block at a time, so even split-K's atomics add in a fixed order), within the tolerance on a
// GPU (split-K's atomics add in a varying order). Counted as touched-outside when not.
static long long bitDifferences(const std::vector<float>& a, const std::vector<float>& b) {
  long long d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += std::memcmp(&a[i], &b[i], 4) != 0;
  return d;
}
#ifdef HANDGRAD_HOST_EMU
static const bool kExactCopies = true;
#else
static const bool kExactCopies = false;
#endif
// The fp32 variant whose k tile (BK) equals the current bf16 pipeline's, so split-K cuts k at the
// same places (within a slice the k order does not depend on BK): bf16 variant 1 is BK 32.
static void matchFp32Variant() { handgrad::gemmSetVariant(curVariant == 11 ? 0 : 2); }

// Reference: C = alpha·op(A)·op(B) + beta·C0 in double; bound = Σ|alpha a b| + |beta c|.
__host__ __device__ void refGemmAt(int i, int j, bool ta, bool tb, int k, float alpha, const float* A, int lda,
                                   const float* B, int ldb, float beta, const float* C0, int ldc, double* ref,
                                   double* bound) {
  double s = 0, sa = 0;
  for (int kk = 0; kk < k; ++kk) {
    const double a = ta ? A[(size_t)kk * lda + i] : A[(size_t)i * lda + kk];
    const double b = tb ? B[(size_t)j * ldb + kk] : B[(size_t)kk * ldb + j];
    s += a * b;
    sa += fabs(a * b);
  }
  double c = 0;
  if (beta != 0.f) c = (double)beta * C0[(size_t)i * ldc + j];
  ref[(size_t)i * ldc + j] = (double)alpha * s + c;
  bound[(size_t)i * ldc + j] = fabs((double)alpha) * sa + fabs(c);
}

__global__ void refGemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                        int ldb, float beta, const float* C0, int ldc, double* ref, double* bound) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  const int i = blockIdx.y;
  if (j >= n || i >= m) return;
  refGemmAt(i, j, ta, tb, k, alpha, A, lda, B, ldb, beta, C0, ldc, ref, bound);
}

static void runRef(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                   float beta, const float* C0, int ldc, double* ref, double* bound) {
  if (m <= 0) return;
#ifdef HANDGRAD_HOST_EMU  // device memory is host memory there, and a launch costs an OS thread per column
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) refGemmAt(i, j, ta, tb, k, alpha, A, lda, B, ldb, beta, C0, ldc, ref, bound);
#else
  dim3 grid((n + 127) / 128, m);
  refGemm<<<grid, 128>>>(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C0, ldc, ref, bound);
  CK(cudaGetLastError());
#endif
}

// The reference product and its error bound (device, double), freed with the object.
struct RefBuf {
  double* ref = nullptr;
  double* bound = nullptr;
  size_t n;
  explicit RefBuf(size_t n_) : n(n_) {
    CK(cudaMalloc(&ref, std::max<size_t>(n, 1) * sizeof(double)));
    CK(cudaMalloc(&bound, std::max<size_t>(n, 1) * sizeof(double)));
  }
  ~RefBuf() {
    cudaFree(ref);
    cudaFree(bound);
  }
  void down(std::vector<double>& hr, std::vector<double>& hb) const {
    hr.resize(n);
    hb.resize(n);
    CK(cudaMemcpy(hr.data(), ref, n * sizeof(double), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hb.data(), bound, n * sizeof(double), cudaMemcpyDeviceToHost));
  }
};

struct Err {
  double norm = 0, elem = 0;
  long long nonFinite = 0, changedOutside = 0;
};

// Accumulate the error of out[begin, end) against ref: normwise sums, the worst elementwise ratio,
// and non-finite outputs (a NaN left from the poisoned C, or an unwritten element).
static void accumulateErr(const std::vector<float>& out, const std::vector<double>& ref,
                          const std::vector<double>& bound, size_t begin, size_t end, double& num, double& den,
                          Err& e) {
  for (size_t x = begin; x < end; ++x) {
    const double o = out[x];
    if (!std::isfinite(o)) {
      e.nonFinite++;
      continue;
    }
    const double d = o - ref[x];
    num += d * d;
    den += ref[x] * ref[x];
    const double b = bound[x] > 0 ? bound[x] : 1e-30;
    const double rel = std::fabs(d) / b;
    if (std::fabs(d) > 0 && rel > e.elem) e.elem = rel;
  }
}

static bool report(const std::string& name, const Err& e) {
  cases++;
  const bool ok = e.nonFinite == 0 && e.changedOutside == 0 && e.norm <= 1e-3 && e.elem <= 1e-3;
  if (!ok) {
    failures++;
    failedNames.push_back("v" + std::to_string(curVariant) + " " + name);
  }
  if (curVariant >= 0) {
    worstNorm[curVariant] = std::max(worstNorm[curVariant], e.norm);
    worstElem[curVariant] = std::max(worstElem[curVariant], e.elem);
  }
  std::printf("%s v%d %-58s norm %.2e  elem %.2e%s%s\n", ok ? "PASS" : "FAIL", curVariant, name.c_str(), e.norm, e.elem,
              e.nonFinite ? ("  nonfinite " + std::to_string(e.nonFinite)).c_str() : "",
              e.changedOutside ? ("  touched-outside " + std::to_string(e.changedOutside)).c_str() : "");
  return ok;
}

// ---- plain gemm ---------------------------------------------------------------------------------
static void checkGemm(bool ta, bool tb, int m, int n, int k, float alpha, float beta, int shift = 0, int bf = 0) {
  std::vector<float> hA((size_t)m * k), hB((size_t)k * n), hC((size_t)m * n);
  randomFill(hA);
  randomFill(hB);
  if (beta == 0.f) std::fill(hC.begin(), hC.end(), NAN);  // must never be read
  else randomFill(hC);
  DevBuf A(hA.size(), shift), B(hB.size(), shift), C(hC.size(), shift), C0(hC.size());
  A.up(hA);
  B.up(hB);
  C.up(hC);
  C0.up(hC);
  RefBuf rb(hC.size());
  double *ref = rb.ref, *bound = rb.bound;
  runRef(ta, tb, m, n, k, alpha, A.p, ta ? m : k, B.p, tb ? k : n, beta, C0.p, n, ref, bound);
  DevBf16 Ah(bf & 1 ? hA : std::vector<float>(), shift), Bh(bf & 2 ? hB : std::vector<float>(), shift);
  handgrad::gemm(ta, tb, m, n, k, alpha, A.p, B.p, beta, C.p, bf & 1 ? Ah.p : nullptr, bf & 2 ? Bh.p : nullptr);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<double> hr, hb;
  rb.down(hr, hb);
  const auto out = C.down();
  Err e;
  double num = 0, den = 0;
  accumulateErr(out, hr, hb, 0, out.size(), num, den, e);
  if (bf && kExactCopies) {  // the same product from the fp32 operands
    C.up(hC);
    matchFp32Variant();
    handgrad::gemm(ta, tb, m, n, k, alpha, A.p, B.p, beta, C.p);
    CK(cudaDeviceSynchronize());
    e.changedOutside += bitDifferences(out, C.down());
  }
  e.norm = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  char name[160];
  std::snprintf(name, sizeof name, "gemm %s%s m=%d n=%d k=%d alpha=%g beta=%g%s%s", ta ? "t" : "n", tb ? "t" : "n", m,
                n, k, alpha, beta, shift ? " misaligned" : "", copiesName(bf));
  report(name, e);
}

// ---- grouped gemm ------------------------------------------------------------------------------
static const char* modeName(int mode) { return mode == 0 ? "nn" : mode == 1 ? "nt" : "tn"; }

static void checkGrouped(int mode, const std::vector<int>& rows, int maxRows, int n, int k, float beta,
                         const char* label, int bf = 0) {
  const int G = (int)rows.size();
  std::vector<int> off(G + 1, 0);
  for (int g = 0; g < G; ++g) off[g + 1] = off[g] + rows[g];
  const int total = off[G];
  if (total > maxRows) {
    std::printf("bad test: total rows > maxRows\n");
    std::exit(2);
  }
  // Shapes: A [maxRows, k]; nn: B [G,k,n], C [maxRows,n]; nt: B [G,n,k], C [maxRows,n];
  // tn: A [maxRows,k], B [maxRows,n], C [G,k,n].
  std::vector<float> hA((size_t)maxRows * k);
  std::vector<float> hB(mode == 2 ? (size_t)maxRows * n : (size_t)G * k * n);
  std::vector<float> hC(mode == 2 ? (size_t)G * k * n : (size_t)maxRows * n);
  randomFill(hA);
  randomFill(hB);
  const bool nanC = mode != 2 && beta == 0.f;
  if (nanC) std::fill(hC.begin(), hC.end(), NAN);
  else randomFill(hC);
  // Rows outside every group keep a recognisable finite value for 'nn'/'nt' (checked bitwise).
  if (mode != 2)
    for (size_t x = (size_t)total * n; x < hC.size(); ++x) hC[x] = 7.25f;
  DevBuf A(hA.size()), B(hB.size()), C(hC.size()), C0(hC.size());
  A.up(hA);
  B.up(hB);
  C.up(hC);
  C0.up(hC);
  int* dOff;
  CK(cudaMalloc(&dOff, (G + 1) * sizeof(int)));
  CK(cudaMemcpy(dOff, off.data(), (G + 1) * sizeof(int), cudaMemcpyHostToDevice));
  RefBuf rb(hC.size());
  double *ref = rb.ref, *bound = rb.bound;
  for (int g = 0; g < G; ++g) {
    const int r = rows[g];
    if (mode == 0)
      runRef(false, false, r, n, k, 1.f, A.p + (size_t)off[g] * k, k, B.p + (size_t)g * k * n, n, beta,
             C0.p + (size_t)off[g] * n, n, ref + (size_t)off[g] * n, bound + (size_t)off[g] * n);
    else if (mode == 1)
      runRef(false, true, r, n, k, 1.f, A.p + (size_t)off[g] * k, k, B.p + (size_t)g * k * n, k, beta,
             C0.p + (size_t)off[g] * n, n, ref + (size_t)off[g] * n, bound + (size_t)off[g] * n);
    else if (r > 0)
      runRef(true, false, k, n, r, 1.f, A.p + (size_t)off[g] * k, k, B.p + (size_t)off[g] * n, n, 1.f,
             C0.p + (size_t)g * k * n, n, ref + (size_t)g * k * n, bound + (size_t)g * k * n);
  }
  DevBf16 Ah(bf & 1 ? hA : std::vector<float>()), Bh(bf & 2 ? hB : std::vector<float>());
  handgrad::groupedGemm(mode, G, dOff, maxRows, n, k, A.p, B.p, beta, C.p, bf & 1 ? Ah.p : nullptr,
                        bf & 2 ? Bh.p : nullptr);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<double> hr, hb;
  rb.down(hr, hb);
  const auto out = C.down();
  long long copyDiffs = 0;
  if (bf && kExactCopies) {
    C.up(hC);
    matchFp32Variant();
    handgrad::groupedGemm(mode, G, dOff, maxRows, n, k, A.p, B.p, beta, C.p);
    CK(cudaDeviceSynchronize());
    copyDiffs = bitDifferences(out, C.down());
  }
  cudaFree(dOff);
  Err e;
  double num = 0, den = 0;
  if (mode == 2) {
    for (int g = 0; g < G; ++g) {
      const size_t b = (size_t)g * k * n, en = b + (size_t)k * n;
      if (rows[g] == 0) {
        for (size_t x = b; x < en; ++x)
          if (std::memcmp(&out[x], &hC[x], 4) != 0) e.changedOutside++;
      } else {
        accumulateErr(out, hr, hb, b, en, num, den, e);
      }
    }
  } else {
    accumulateErr(out, hr, hb, 0, (size_t)total * n, num, den, e);
    for (size_t x = (size_t)total * n; x < out.size(); ++x)
      if (std::memcmp(&out[x], &hC[x], 4) != 0) e.changedOutside++;
  }
  e.norm = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  e.changedOutside += copyDiffs;
  char name[200];
  std::snprintf(name, sizeof name, "grouped %s G=%d rows=%d/%d n=%d k=%d beta=%g %s%s", modeName(mode), G, total,
                maxRows, n, k, beta, label, copiesName(bf));
  report(name, e);
}

// ---- the small cases: every path on shapes an emulated run can afford (native/tests/host-emu) ----
// Tiled kernel (m > 16) for the current variant; with variantFree, also the paths that do not
// depend on the variant: the dense small-m kernels (m = 1..16) and the small-row grouped path.
static void smallCases(bool variantFree) {
  // Ragged tiles, k not a multiple of BK, two row tiles, split-K (on the emulated 4-SM device and
  // on any GPU: 1–2 tiles with k ≥ 256), and 16-byte loads (multiples of 4) with and without an
  // aligned pointer.
  struct Case { int m, n, k; float alpha, beta; int shift; };
  const Case tiled[] = {{17, 3, 129, 1.f, 0.f, 0},   {129, 17, 65, -1.5f, 0.25f, 0}, {33, 129, 300, 0.5f, 1.f, 0},
                        {32, 132, 68, 1.f, 0.f, 0},  {32, 132, 68, 1.f, 1.f, 1}};
  for (const Case& c : tiled)
    for (int t = 0; t < 4; ++t) checkGemm(t & 2, t & 1, c.m, c.n, c.k, c.alpha, c.beta, c.shift);
  // Grouped, tensor-core path: uneven groups with an empty one and one of a single row, and spare
  // rows past offsets[G] that must stay put.
  const std::vector<int> uneven = {17, 0, 1, 30, 3};
  for (int mode = 0; mode < 3; ++mode)
    for (float beta : {0.f, 1.f})
      if (mode != 2 || beta != 0.f) checkGrouped(mode, uneven, 60, 37, 29, beta, "uneven+empty");
  if (!variantFree) return;

  // Dense small m, every row count; k 300 (scalar loads) or 256 (16-byte loads when B is n×k) cut
  // into k slices (atomics) on the emulated device; every transposition for a few m.
  for (int m = 1; m <= 16; ++m) {
    const bool all = m == 1 || m == 2 || m == 5 || m == 9 || m == 16;
    for (int t = 0; t < 4; ++t)
      if (all || t == m % 4) checkGemm(t & 2, t & 1, m, 33, m % 2 ? 300 : 256, m % 3 ? 1.f : 0.5f, m % 2 ? 0.f : 1.f);
  }
  checkGemm(false, false, 3, 5, 7, 1.f, 0.f);  // one k slice: plain stores
  checkGemm(false, true, 3, 5, 8, 1.f, 1.f);

  // Grouped, small-row path (maxRows ≤ 16): decode-like groups (G = 8, two active), empty groups,
  // a single row, every MR template, and spare rows the groups do not reach.
  struct GCase { std::vector<int> rows; int maxRows; const char* label; };
  const GCase small[] = {{{0, 1, 0}, 1, "small maxRows 1"},
                         {{0, 1, 0, 0, 0, 1, 0, 0}, 2, "small maxRows 2 decode"},
                         {{0, 1, 0}, 2, "small maxRows 2 spare row"},
                         {{2, 0, 3}, 5, "small maxRows 5"},
                         {{0, 2, 1}, 5, "small maxRows 5 spare rows"},
                         {{5, 0, 1, 7}, 16, "small maxRows 16 spare rows"},
                         {{16}, 16, "small maxRows 16 one group"}};
  for (const GCase& g : small)
    for (int mode = 0; mode < 2; ++mode)
      for (float beta : {0.f, 1.f}) checkGrouped(mode, g.rows, g.maxRows, 37, 29, beta, g.label);
  for (float beta : {0.f, 1.f}) {  // 16-byte loads in 'nt' (k % 4 == 0)
    checkGrouped(1, {1, 0, 1}, 2, 40, 64, beta, "small maxRows 2 vec");
    checkGrouped(0, {1, 0, 1}, 2, 40, 64, beta, "small maxRows 2 vec");
  }
}

// ---- bf16 copies of the operands (cp.async pipelines) -------------------------------------------
// Every combination with a bf16 kernel ('nn' B and A+B, 'nt' B, 'tn' A) on ragged tiles, k edges,
// split-K and misaligned copies (the scalar fallback); the combinations without one (the copy is
// dropped); grouped products of all three modes. Run for the current bf16 variant.
static void bf16SmallCases() {
  struct Case { int m, n, k; float alpha, beta; int shift; };
  const Case tiled[] = {{17, 3, 129, 1.f, 0.f, 0}, {129, 17, 65, -1.5f, 0.25f, 0}, {33, 129, 300, 0.5f, 1.f, 0},
                        {32, 136, 72, 1.f, 0.f, 0}, {32, 136, 72, 1.f, 1.f, 1}};
  for (const Case& c : tiled) {
    checkGemm(false, false, c.m, c.n, c.k, c.alpha, c.beta, c.shift, 2);
    checkGemm(false, false, c.m, c.n, c.k, c.alpha, c.beta, c.shift, 3);
    checkGemm(false, true, c.m, c.n, c.k, c.alpha, c.beta, c.shift, 2);
    checkGemm(true, false, c.m, c.n, c.k, c.alpha, c.beta, c.shift, 1);
  }
  // No kernel for these: the copies are dropped (A's first) and the fp32 operands used.
  checkGemm(true, true, 33, 40, 48, 1.f, 0.f, 0, 3);
  checkGemm(false, true, 33, 40, 48, 1.f, 0.f, 0, 3);
  checkGemm(true, false, 33, 40, 48, 1.f, 1.f, 0, 2);
  checkGemm(false, false, 3, 40, 48, 1.f, 0.f, 0, 3);  // m ≤ 16: the CUDA-core path ignores copies
  const std::vector<int> uneven = {17, 0, 1, 30, 3};
  for (float beta : {0.f, 1.f}) {
    checkGrouped(0, uneven, 60, 37, 29, beta, "uneven+empty", 2);
    checkGrouped(0, uneven, 60, 40, 32, beta, "uneven+empty", 3);
    checkGrouped(1, uneven, 60, 40, 32, beta, "uneven+empty", 2);
  }
  checkGrouped(2, uneven, 60, 40, 32, 1.f, "uneven+empty", 1);
  checkGrouped(2, uneven, 60, 37, 29, 1.f, "uneven+empty ragged", 1);
}

// ---- timing ------------------------------------------------------------------------------------
template <class F>
static double medianMs(F f) {
  for (int i = 0; i < 3; ++i) f();
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int i = 0; i < 20; ++i) {
    CK(cudaEventRecord(a));
    f();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return 0.5 * (t[9] + t[10]);
}

// bf: bf16 copies of the operands (bit 0 A, bit 1 B), as in the checks.
static void timeGemm(const char* label, bool ta, bool tb, int m, int n, int k, float beta, int bf = 0) {
  DevBuf A((size_t)m * k), B((size_t)k * n), C((size_t)m * n);
  A.upRandom();
  B.upRandom();
  C.upRandom();
  DevBf16 Ah(bf & 1 ? A.down() : std::vector<float>()), Bh(bf & 2 ? B.down() : std::vector<float>());
  const uint16_t *ah = bf & 1 ? Ah.p : nullptr, *bh = bf & 2 ? Bh.p : nullptr;
  const double ms = medianMs([&] { handgrad::gemm(ta, tb, m, n, k, 1.f, A.p, B.p, beta, C.p, ah, bh); });
  const double flop = 2.0 * m * n * k;
  // Fewest bytes: A and B read once, C written once (and read once when accumulating).
  const double bytes = 4.0 * ((double)m * k + (double)k * n + (double)m * n * (beta != 0.f ? 2 : 1));
  std::printf("TIME v%d %-26s %s%s %5d x %5d x %5d  %8.3f ms  %7.1f TFLOP/s  %6.0f GB/s (min bytes)%s\n", curVariant,
              label, ta ? "t" : "n", tb ? "t" : "n", m, n, k, ms, flop / ms * 1e-9, bytes / ms * 1e-6, copiesName(bf));
}

static void timeGrouped(const char* label, int mode, const std::vector<int>& rows, int n, int k, int bf = 0) {
  const int G = (int)rows.size();
  std::vector<int> off(G + 1, 0);
  for (int g = 0; g < G; ++g) off[g + 1] = off[g] + rows[g];
  const int maxRows = off[G];
  DevBuf A((size_t)maxRows * k);
  DevBuf B(mode == 2 ? (size_t)maxRows * n : (size_t)G * k * n);
  DevBuf C(mode == 2 ? (size_t)G * k * n : (size_t)maxRows * n);
  A.upRandom();
  B.upRandom();
  C.upRandom();
  int* dOff;
  CK(cudaMalloc(&dOff, (G + 1) * sizeof(int)));
  CK(cudaMemcpy(dOff, off.data(), (G + 1) * sizeof(int), cudaMemcpyHostToDevice));
  DevBf16 Ah(bf & 1 ? A.down() : std::vector<float>()), Bh(bf & 2 ? B.down() : std::vector<float>());
  const uint16_t *ah = bf & 1 ? Ah.p : nullptr, *bh = bf & 2 ? Bh.p : nullptr;
  const double ms = medianMs([&] { handgrad::groupedGemm(mode, G, dOff, maxRows, n, k, A.p, B.p, 0.f, C.p, ah, bh); });
  cudaFree(dOff);
  const double flop = 2.0 * maxRows * n * k;
  const double bytes = 4.0 * ((double)A.n + (double)B.n + (double)C.n * (mode == 2 ? 2 : 1));
  std::printf("TIME v%d %-26s %s  %5d x %5d x %5d  %8.3f ms  %7.1f TFLOP/s  %6.0f GB/s (min bytes)%s\n", curVariant,
              label, modeName(mode), maxRows, n, k, ms, flop / ms * 1e-9, bytes / ms * 1e-6, copiesName(bf));
}

int main(int argc, char** argv) {
  // --quick: checks only. --variant N: check and time only variant N.
  // --time-only: skip the checks (they dominate the run time: the reference product is naive).
  bool quick = false, timeOnly = false;
  int onlyVariant = -1, onlyBf16 = -1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--time-only") == 0) timeOnly = true;
    else if (std::strcmp(argv[i], "--variant") == 0 && i + 1 < argc) onlyVariant = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--bf16-variant") == 0 && i + 1 < argc) onlyBf16 = std::atoi(argv[++i]);
  }
  int dev = 0;
  CK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);

  // MoE expert rows: 8 experts, ~2048 rows each (uneven), 16384 = 8192 tokens · top-2.
  const std::vector<int> moeRows = {2300, 1800, 2048, 2100, 1950, 2200, 1700, 2286};
  // Decoding one token: top-2 of 8 experts, so 2 rows in 2 groups (the small-row grouped path).
  const std::vector<int> decodeRows = {0, 1, 0, 0, 0, 1, 0, 0};
  struct S16 { bool ta, tb; int m, n, k, bf; };
  // Every variant of the tiled kernel is checked (the small-m paths are the same for all, so they
  // run once).
  bool first = true;
  for (int v = 0; v < kVariants; ++v) {
    if (timeOnly || (onlyVariant >= 0 && v != onlyVariant)) continue;
    if (!handgrad::gemmSetVariant(v)) {
      std::printf("FAIL gemmSetVariant(%d) refused\n", v);
      return 1;
    }
    curVariant = v;
    smallCases(first);
    first = false;
#ifndef HANDGRAD_HOST_EMU  // native/tests/host-emu: the shapes below take hours there
    // Ragged shapes × all transpositions × alpha/beta (beta = 0 with NaN-filled C).
    const int shapes[][3] = {{1, 1, 1},     {1, 7, 3},       {2, 33, 64},    {5, 7, 513},     {16, 300, 77},
                             {17, 33, 5},   {1, 4096, 512},  {3, 1000, 17},  {67, 131, 300},  {128, 128, 32},
                             {129, 257, 65}, {257, 255, 1023}, {1000, 1, 1}, {300, 200, 1},   {96, 520, 4100},
                             {200, 300, 9000}};
    const float ab[][2] = {{1.f, 0.f}, {0.5f, 1.f}, {-1.5f, 0.25f}};
    for (auto& s : shapes)
      for (int t = 0; t < 4; ++t)
        for (auto& x : ab) checkGemm(t & 2, t & 1, s[0], s[1], s[2], x[0], x[1]);
    // Leading dimensions that allow 16-byte loads but pointers that do not (scalar fallbacks).
    for (int t = 0; t < 4; ++t) {
      checkGemm(t & 2, t & 1, 132, 260, 516, 1.f, 0.f, 1);
      checkGemm(t & 2, t & 1, 8, 260, 516, 1.f, 1.f, 1);
    }

    // The MoE training step's shapes (batch 8192 tokens, d 512, vocab 4096) and decoding (m = 1..16).
    struct S { bool ta, tb; int m, n, k; };
    const S moe[] = {{false, false, 8192, 1536, 512}, {false, false, 8192, 512, 512}, {false, true, 8192, 512, 1536},
                     {true, false, 512, 1536, 8192},  {false, false, 8192, 4096, 512}, {false, true, 8192, 512, 4096},
                     {true, false, 512, 4096, 8192},  {false, false, 1, 4096, 512},    {false, false, 16, 1536, 512},
                     {false, true, 4, 512, 1536},     {false, false, 32, 4096, 512},   {false, true, 64, 1536, 512}};
    for (auto& s : moe) {
      checkGemm(s.ta, s.tb, s.m, s.n, s.k, 1.f, 0.f);
      checkGemm(s.ta, s.tb, s.m, s.n, s.k, 1.f, 1.f);
    }

    // Grouped: uneven groups with an empty one, and spare rows past offsets[G] that must stay put.
    const std::vector<int> uneven = {130, 0, 1, 257, 64, 3};
    for (int mode = 0; mode < 3; ++mode) {
      for (float beta : {0.f, 1.f}) {
        if (mode == 2 && beta == 0.f) continue;  // 'tn' always accumulates
        checkGrouped(mode, uneven, 500, 96, 64, beta, "uneven+empty");
        checkGrouped(mode, uneven, 455, 37, 29, beta, "ragged n,k");
        checkGrouped(mode, {0, 0, 5}, 9, 130, 17, beta, "leading empties");
        checkGrouped(mode, {1}, 1, 1, 1, beta, "1x1x1");
      }
    }
    // MoE expert shapes: 8 experts, ~2048 rows each (uneven), d 512, hidden 1024 (gu = 2048).
    for (float beta : {0.f, 1.f}) {
      checkGrouped(0, moeRows, 16384, 2048, 512, beta, "moe W1");
      checkGrouped(0, moeRows, 16384, 512, 1024, beta, "moe W2");
      checkGrouped(1, moeRows, 16384, 512, 2048, beta, "moe dX1");
      checkGrouped(1, moeRows, 16384, 1024, 512, beta, "moe dH");
      // Decoding (maxRows 2: the small-row grouped path).
      checkGrouped(0, decodeRows, 2, 2048, 512, beta, "decode W13");
      checkGrouped(0, decodeRows, 2, 512, 1024, beta, "decode W2");
      checkGrouped(1, decodeRows, 2, 512, 2048, beta, "decode dX13");
      checkGrouped(1, {0, 0, 1, 0, 0, 0, 0, 0}, 1, 1024, 512, beta, "decode dH maxRows 1");
    }
    checkGrouped(2, moeRows, 16384, 2048, 512, 1.f, "moe dW1");
    checkGrouped(2, moeRows, 16384, 512, 1024, 1.f, "moe dW2");
#endif
  }
  // The bf16-copy pipelines (cp.async): --bf16-variant N limits them to one.
  for (int v = 0; v < kBf16Variants; ++v) {
    if (timeOnly || (onlyBf16 >= 0 && v != onlyBf16)) continue;
    if (!handgrad::gemmSetBf16Variant(v)) {
      std::printf("bf16 variant %d: not available on this device (shared memory); skipped\n", v);
      continue;
    }
    curVariant = 10 + v;
    bf16SmallCases();
#ifndef HANDGRAD_HOST_EMU
    const S16 big[] = {{false, false, 8192, 1536, 512, 2}, {false, true, 8192, 512, 1536, 2},
                       {false, false, 8192, 4096, 512, 2}, {false, true, 8192, 512, 4096, 2},
                       {false, false, 96, 520, 4104, 2},   {false, false, 200, 304, 9000, 3}};
    for (auto& x : big) checkGemm(x.ta, x.tb, x.m, x.n, x.k, 1.f, 0.f, 0, x.bf);
    for (float beta : {0.f, 1.f}) {
      checkGrouped(0, moeRows, 16384, 2048, 512, beta, "moe W1", 3);
      checkGrouped(0, moeRows, 16384, 512, 1024, beta, "moe W2", 2);
      checkGrouped(1, moeRows, 16384, 512, 2048, beta, "moe dX1", 2);
    }
    checkGrouped(2, moeRows, 16384, 2048, 512, 1.f, "moe dW1", 1);
#endif
  }
  std::printf("%d/%d cases passed\n", cases - failures, cases);
  for (int v = 0; v < kVariants; ++v)
    if (onlyVariant < 0 || v == onlyVariant) std::printf("variant %d: worst normwise error %.2e, worst elementwise %.2e\n", v, worstNorm[v], worstElem[v]);
  for (int v = 0; v < kBf16Variants; ++v)
    if (onlyBf16 < 0 || v == onlyBf16)
      std::printf("bf16 variant %d: worst normwise error %.2e, worst elementwise %.2e\n", v, worstNorm[10 + v], worstElem[10 + v]);

#ifdef HANDGRAD_HOST_EMU  // timings mean nothing there
  quick = true;
#endif
  if (!quick) {
    for (int v = 0; v < kVariants; ++v) {
      if (onlyVariant >= 0 && v != onlyVariant) continue;
      handgrad::gemmSetVariant(v);
      curVariant = v;
      timeGemm("QKV", false, false, 8192, 1536, 512, 0.f);
      timeGemm("attn out / proj", false, false, 8192, 512, 512, 0.f);
      timeGemm("dX of QKV", false, true, 8192, 512, 1536, 0.f);
      timeGemm("dW of QKV (+=)", true, false, 512, 1536, 8192, 1.f);
      timeGemm("logits", false, false, 8192, 4096, 512, 0.f);
      timeGemm("dX of logits", false, true, 8192, 512, 4096, 0.f);
      timeGemm("dW of logits (+=)", true, false, 512, 4096, 8192, 1.f);
      timeGemm("decode logits m=1", false, false, 1, 4096, 512, 0.f);
      timeGemm("decode QKV m=16", false, false, 16, 1536, 512, 0.f);
      timeGemm("decode logits m=32", false, false, 32, 4096, 512, 0.f);
      timeGrouped("experts W1 (gu)", 0, moeRows, 2048, 512);
      timeGrouped("experts W2", 0, moeRows, 512, 1024);
      timeGrouped("experts dX of W1", 1, moeRows, 512, 2048);
      timeGrouped("experts dH of W2", 1, moeRows, 1024, 512);
      timeGrouped("experts dW1 (+=)", 2, moeRows, 2048, 512);
      timeGrouped("experts dW2 (+=)", 2, moeRows, 512, 1024);
      timeGrouped("decode experts W13 2 rows", 0, decodeRows, 2048, 512);
      timeGrouped("decode experts W2 2 rows", 0, decodeRows, 512, 1024);
    }
    // The same training shapes with the bf16 copies a step would have (weights: B of x·W and
    // dy·Wᵀ; the gathered rows: A of W1 and dW1), per bf16 pipeline.
    for (int v = 0; v < kBf16Variants; ++v) {
      if ((onlyBf16 >= 0 && v != onlyBf16) || !handgrad::gemmSetBf16Variant(v)) continue;
      curVariant = 10 + v;
      timeGemm("QKV", false, false, 8192, 1536, 512, 0.f, 2);
      timeGemm("attn out / proj", false, false, 8192, 512, 512, 0.f, 2);
      timeGemm("dX of QKV", false, true, 8192, 512, 1536, 0.f, 2);
      timeGemm("logits", false, false, 8192, 4096, 512, 0.f, 2);
      timeGemm("dX of logits", false, true, 8192, 512, 4096, 0.f, 2);
      timeGrouped("experts W1 (gu)", 0, moeRows, 2048, 512, 3);
      timeGrouped("experts W2", 0, moeRows, 512, 1024, 2);
      timeGrouped("experts dX of W1", 1, moeRows, 512, 2048, 2);
      timeGrouped("experts dH of W2", 1, moeRows, 1024, 512, 2);
      timeGrouped("experts dW1 (+=)", 2, moeRows, 2048, 512, 1);
    }
  }
  if (failures) {
    for (auto& f : failedNames) std::printf("FAILED CASE %s\n", f.c_str());
    std::printf("FAILED: %d of %d cases\n", failures, cases);
    return 1;
  }
  std::printf("ALL PASS\n");
  return 0;
}
