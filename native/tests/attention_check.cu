// Standalone check of native/attention.cu against a straightforward host implementation in double
// (the maths of src/backends/reference/attention.ts), plus timings of the standard shape.
// Build and run on a GPU machine:
//   nvcc -O3 -std=c++17 -arch=sm_90 -Inative native/tests/attention_check.cu native/attention.cu -o /tmp/attention_check
//   /tmp/attention_check            (exit status 1 when any case fails)
#include <cuda_runtime.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "check_util.h"
#include "kernels.h"

using handgrad::AttentionShape;
// Defined in attention.cu (test hooks, not part of kernels.h): path mode 0 automatic, 1 fp32 kernels
// only, 2 tensor cores wherever D allows, 3 as 2 without the register prefetch of the next tile;
// and which path a shape takes under the current mode.
namespace handgrad {
void attentionSetPath(int mode);
bool attentionUsesTensorCores(const AttentionShape& s);
}  // namespace handgrad

// Dropout on P for the current case (0: none): p and seed, and an independent host copy of the
// mask of src/ops/types.ts (attentionDropKeep): c = 1/(1 − p) where kept, 0 where dropped.
static double gDropP = 0;
static unsigned gDropSeed = 0;
static unsigned hostFmix(unsigned x) {
  x ^= x >> 16; x *= 0x85EBCA6Bu; x ^= x >> 13; x *= 0xC2B2AE35u; x ^= x >> 16;
  return x;
}
static unsigned dropThreshold(double p) {
  const double t = std::nearbyint(p * 4294967296.0);
  return t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<unsigned>(t);
}
static double dropC(const AttentionShape& s, int b, int h, int i, int j) {
  if (gDropP == 0) return 1.0;
  const unsigned bh = static_cast<unsigned>(b * s.H + h);
  const unsigned row = hostFmix(hostFmix(gDropSeed ^ (bh * 0x9E3779B1u)) ^ (static_cast<unsigned>(i) * 0x85EBCA77u));
  return hostFmix(row ^ (static_cast<unsigned>(j) * 0xC2B2AE3Du)) >= dropThreshold(gDropP) ? 1.0 / (1.0 - gDropP) : 0.0;
}

static int visible(const AttentionShape& s, int i) {
  if (!s.causal) return s.Tk;
  return std::max(0, std::min(s.Tk, i + s.qOffset + 1));
}

// Host reference, double accumulation.
static void hostForward(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                        std::vector<double>& out, std::vector<double>& lse, const AttentionShape& s) {
  const int D = s.D;
  out.assign(static_cast<size_t>(s.B) * s.Tq * s.H * D, 0.0);  // compact [B, Tq, H, D]
  lse.assign(static_cast<size_t>(s.B) * s.H * s.Tq, 0.0);
  std::vector<double> sc(s.Tk);
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.H; h++)
      for (int i = 0; i < s.Tq; i++) {
        const size_t qo = (static_cast<size_t>(b) * s.Tq + i) * s.qStride + h * D;
        const int nk = visible(s, i);
        double mx = -INFINITY;
        for (int j = 0; j < nk; j++) {
          const size_t ko = (static_cast<size_t>(b) * s.Tk + j) * s.kvStride + h * D;
          double dot = 0;
          for (int d = 0; d < D; d++) dot += double(q[qo + d]) * k[ko + d];
          sc[j] = s.scale * dot;
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        double* o = &out[((static_cast<size_t>(b) * s.Tq + i) * s.H + h) * D];
        for (int j = 0; j < nk; j++) {
          const double e = std::exp(sc[j] - mx);
          sum += e;
          const double w = e * dropC(s, b, h, i, j);
          const size_t vo = (static_cast<size_t>(b) * s.Tk + j) * s.kvStride + h * D;
          for (int d = 0; d < D; d++) o[d] += w * v[vo + d];
        }
        for (int d = 0; d < D; d++) o[d] = sum > 0 ? o[d] / sum : 0.0;
        lse[(static_cast<size_t>(b) * s.H + h) * s.Tq + i] = nk > 0 ? mx + std::log(sum) : -INFINITY;
      }
}

// Gradients into compact [B, T, H, D] arrays, using the exact (double) O and lse.
static void hostBackward(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                         const std::vector<double>& out, const std::vector<double>& lse, const std::vector<float>& dout,
                         std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv,
                         const AttentionShape& s) {
  const int D = s.D;
  dq.assign(static_cast<size_t>(s.B) * s.Tq * s.H * D, 0.0);
  dk.assign(static_cast<size_t>(s.B) * s.Tk * s.H * D, 0.0);
  dv.assign(static_cast<size_t>(s.B) * s.Tk * s.H * D, 0.0);
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.H; h++)
      for (int i = 0; i < s.Tq; i++) {
        const size_t qo = (static_cast<size_t>(b) * s.Tq + i) * s.qStride + h * D;
        const size_t oo = (static_cast<size_t>(b) * s.Tq + i) * s.oStride + h * D;
        const size_t co = ((static_cast<size_t>(b) * s.Tq + i) * s.H + h) * D;
        const int nk = visible(s, i);
        const double l = lse[(static_cast<size_t>(b) * s.H + h) * s.Tq + i];
        double rowD = 0;
        for (int d = 0; d < D; d++) rowD += double(dout[oo + d]) * out[co + d];
        for (int j = 0; j < nk; j++) {
          const size_t ko = (static_cast<size_t>(b) * s.Tk + j) * s.kvStride + h * D;
          const size_t ck = ((static_cast<size_t>(b) * s.Tk + j) * s.H + h) * D;
          double dot = 0, dP = 0;
          for (int d = 0; d < D; d++) {
            dot += double(q[qo + d]) * k[ko + d];
            dP += double(dout[oo + d]) * v[ko + d];
          }
          const double p = std::exp(s.scale * dot - l);
          const double cd = dropC(s, b, h, i, j);
          const double dS = p * (cd * dP - rowD);
          for (int d = 0; d < D; d++) {
            dv[ck + d] += cd * p * dout[oo + d];
            dk[ck + d] += s.scale * dS * q[qo + d];
            dq[co + d] += s.scale * dS * k[ko + d];
          }
        }
      }
}

struct Cmp {
  double maxErr = 0, maxRef = 0;
  double se = 0, sr = 0;  // Σ err², Σ ref² (normwise error for the bf16 tensor-core path)
  long bad = 0, badZero = 0, hard = 0;  // hard: writes outside the head blocks, −∞ lse mismatches
};

// Tolerance: |x − r| ≤ atol + rtol·|r| with atol relative to the array's largest magnitude (fp32
// sums of up to a few thousand terms); exact zeros of the reference must be exact zeros.
// `masked`: the element belongs to a row that sees nothing (a query with no visible key, a key no
// query sees), so it must be exactly zero.
static void compare(Cmp& c, double x, double r, double scaleRef, bool masked = false) {
  const double err = std::fabs(x - r);
  c.maxErr = std::max(c.maxErr, err);
  c.maxRef = std::max(c.maxRef, std::fabs(r));
  if (masked && x != 0.0) c.badZero++;
  if (!(err <= 2e-5 * scaleRef + 2e-4 * std::fabs(r))) c.bad++;
  c.se += err * err;  // NaN makes se NaN, which fails the normwise test below
  c.sr += r * r;
}

static double maxAbs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a)
    if (std::isfinite(x)) m = std::max(m, std::fabs(x));
  return m;
}

static int failures = 0;

// fp32 path: every element within the elementwise tolerance of compare(). Tensor-core path
// (operands rounded to bf16, fp32 accumulation): normwise relative error ‖x − r‖₂ / ‖r‖₂ ≤ 1e-2
// (typically a few 1e-3), while the exact-zero and untouched-padding requirements stay exact.
static constexpr double kTcNormTol = 1e-2;
static bool gTc = false;  // the current case runs on the tensor-core path

static void report(const char* name, const char* what, const Cmp& c) {
  const double rel = c.sr > 0 ? std::sqrt(c.se / c.sr) : std::sqrt(c.se);
  const bool ok = c.hard == 0 && c.badZero == 0 && (gTc ? rel <= kTcNormTol : c.bad == 0);
  std::printf("%s %-46s %-4s %s maxErr %.3g (max |ref| %.3g) normErr %.3g%s\n", ok ? "PASS" : "FAIL", name, what,
              gTc ? "tc  " : "fp32", c.maxErr, c.maxRef, rel, c.badZero ? " NONZERO-WHERE-MASKED" : "");
  if (!ok) failures++;
}

// fused: q, k, v are views into one [B·T, 3C] buffer (needs Tq == Tk), dq/dk/dv likewise.
// Otherwise separate buffers, with a row stride of C + pad to catch stride mistakes.
// path: as attentionSetPath (0 automatic, 1 fp32 only, 2 tensor cores wherever D allows).
static void runCase(const char* name, int B, int H, int D, int Tq, int Tk, bool causal, int qOffset, bool fused,
                    bool backward = true, int path = 0) {
  const int C = H * D;
  AttentionShape s{};
  s.B = B; s.H = H; s.D = D; s.Tq = Tq; s.Tk = Tk; s.causal = causal; s.qOffset = qOffset;
  s.scale = 1.f / std::sqrt(float(D));
  if (gDropP > 0) {
    s.dropThr = dropThreshold(gDropP);
    s.dropScale = static_cast<float>(1.0 / (1.0 - gDropP));
    s.dropSeed = gDropSeed;
  }
  handgrad::attentionSetPath(path);
  gTc = gDropP == 0 && handgrad::attentionUsesTensorCores(s);  // dropout runs the fp32 tiled kernels
  const int pad = 3;
  size_t qElems, kvElems;
  std::vector<float> hq, hk, hv;
  if (fused) {
    if (Tq != Tk) { std::printf("bad case\n"); std::exit(2); }
    s.qStride = s.kvStride = 3 * C;
    qElems = kvElems = static_cast<size_t>(B) * Tq * 3 * C;
  } else {
    s.qStride = C + pad;
    s.kvStride = C + 2 * pad;
    qElems = static_cast<size_t>(B) * Tq * s.qStride;
    kvElems = static_cast<size_t>(B) * Tk * s.kvStride;
  }
  s.oStride = C + pad;
  const size_t oElems = static_cast<size_t>(B) * Tq * s.oStride;
  // Host arrays indexed exactly like the device views (q/k/v share one array when fused).
  std::vector<float> qkv;
  if (fused) {
    qkv.resize(qElems);
    for (auto& x : qkv) x = frand();
    hq = std::vector<float>(qkv.begin(), qkv.end());
    hk = std::vector<float>(qkv.begin() + C, qkv.end()); hk.resize(qElems, 0.f);
    hv = std::vector<float>(qkv.begin() + 2 * C, qkv.end()); hv.resize(qElems, 0.f);
  } else {
    hq.resize(qElems); hk.resize(kvElems); hv.resize(kvElems);
    for (auto& x : hq) x = frand();
    for (auto& x : hk) x = frand();
    for (auto& x : hv) x = frand();
  }
  // Larger logits than 1/√D·U(−1,1)² would give: scale q so the softmax is not nearly flat.
  for (auto& x : hq) x *= 2.f;
  if (fused) for (size_t r = 0; r < qElems / (3 * C); r++) for (int c = 0; c < C; c++) qkv[r * 3 * C + c] *= 2.f;
  std::vector<float> hdout(oElems);
  for (auto& x : hdout) x = frand();

  float *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr, *dqkv = nullptr, *dQ = nullptr, *dK = nullptr, *dV = nullptr;
  float *dOut, *dLse, *dDout, *dGq = nullptr, *dGk = nullptr, *dGv = nullptr, *dScratch;
  const size_t lseN = static_cast<size_t>(B) * H * Tq;
  if (fused) {
    CK(cudaMalloc(&dqkv, qElems * 4));
    CK(cudaMemcpy(dqkv, qkv.data(), qElems * 4, cudaMemcpyHostToDevice));
    dQ = dqkv; dK = dqkv + C; dV = dqkv + 2 * C;
    CK(cudaMalloc(&dq_, qElems * 4));  // the fused gradient buffer
    dGq = dq_; dGk = dq_ + C; dGv = dq_ + 2 * C;
  } else {
    CK(cudaMalloc(&dQ, qElems * 4)); CK(cudaMalloc(&dK, kvElems * 4)); CK(cudaMalloc(&dV, kvElems * 4));
    CK(cudaMemcpy(dQ, hq.data(), qElems * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dK, hk.data(), kvElems * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dV, hv.data(), kvElems * 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dq_, qElems * 4)); CK(cudaMalloc(&dk_, kvElems * 4)); CK(cudaMalloc(&dv_, kvElems * 4));
    dGq = dq_; dGk = dk_; dGv = dv_;
  }
  CK(cudaMalloc(&dOut, oElems * 4)); CK(cudaMalloc(&dLse, lseN * 4)); CK(cudaMalloc(&dDout, oElems * 4));
  CK(cudaMalloc(&dScratch, lseN * 4));
  // Sentinel 7 in out: the pad columns must keep it.
  std::vector<float> sentinel(oElems, 7.f);
  CK(cudaMemcpy(dOut, sentinel.data(), oElems * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dDout, hdout.data(), oElems * 4, cudaMemcpyHostToDevice));

  handgrad::attentionForward(dQ, dK, dV, dOut, dLse, s);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<float> gOut(oElems), gLse(lseN);
  CK(cudaMemcpy(gOut.data(), dOut, oElems * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(gLse.data(), dLse, lseN * 4, cudaMemcpyDeviceToHost));

  // With the fused layout, the host views are offset copies: element (row·3C + c) of hk is k's c.
  std::vector<double> rOut, rLse;
  hostForward(fused ? qkv : hq, hk, hv, rOut, rLse, s);
  {
    Cmp c;
    const double ms = maxAbs(rOut);
    long padBad = 0;
    for (int b = 0; b < B; b++)
      for (int i = 0; i < Tq; i++) {
        for (int h = 0; h < H; h++)
          for (int d = 0; d < D; d++)
            compare(c, gOut[(static_cast<size_t>(b) * Tq + i) * s.oStride + h * D + d],
                    rOut[((static_cast<size_t>(b) * Tq + i) * H + h) * D + d], ms, visible(s, i) == 0);
        for (int p = C; p < s.oStride; p++)
          if (gOut[(static_cast<size_t>(b) * Tq + i) * s.oStride + p] != 7.f) padBad++;
      }
    if (padBad) { c.hard += padBad; std::printf("  %ld out elements outside the head blocks were written\n", padBad); }
    report(name, "out", c);
    Cmp cl;
    for (size_t x = 0; x < lseN; x++) {
      if (std::isinf(rLse[x])) {
        if (!(std::isinf(gLse[x]) && gLse[x] < 0)) cl.hard++;
      } else {
        compare(cl, gLse[x], rLse[x], std::max(1.0, std::fabs(rLse[x])));
      }
    }
    report(name, "lse", cl);
  }
  if (backward) {
    // Garbage in the gradient buffers: every head block must be overwritten.
    std::vector<float> junk(fused ? qElems : std::max(qElems, kvElems), 1e30f);
    CK(cudaMemcpy(dq_, junk.data(), qElems * 4, cudaMemcpyHostToDevice));
    if (!fused) {
      CK(cudaMemcpy(dk_, junk.data(), kvElems * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(dv_, junk.data(), kvElems * 4, cudaMemcpyHostToDevice));
    }
    handgrad::attentionBackward(dQ, dK, dV, dOut, dLse, dDout, dGq, dGk, dGv, dScratch, s);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> gq(qElems), gk(fused ? 0 : kvElems), gv(fused ? 0 : kvElems);
    CK(cudaMemcpy(gq.data(), dq_, qElems * 4, cudaMemcpyDeviceToHost));
    if (!fused) {
      CK(cudaMemcpy(gk.data(), dk_, kvElems * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(gv.data(), dv_, kvElems * 4, cudaMemcpyDeviceToHost));
    }
    std::vector<double> rdq, rdk, rdv;
    hostBackward(fused ? qkv : hq, hk, hv, rOut, rLse, hdout, rdq, rdk, rdv, s);
    // A key j is seen by some query iff j < visible(s, Tq − 1) (visibility grows with i).
    const int seenKeys = visible(s, Tq - 1);
    auto check = [&](const char* what, const std::vector<float>& g, int offset, int T, int stride,
                     const std::vector<double>& r, bool isQuery) {
      Cmp c;
      const double ms = maxAbs(r);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
          for (int h = 0; h < H; h++)
            for (int d = 0; d < D; d++)
              compare(c, g[(static_cast<size_t>(b) * T + t) * stride + offset + h * D + d],
                      r[((static_cast<size_t>(b) * T + t) * H + h) * D + d], ms,
                      isQuery ? visible(s, t) == 0 : t >= seenKeys);
      report(name, what, c);
    };
    check("dq", gq, 0, Tq, s.qStride, rdq, true);
    check("dk", fused ? gq : gk, fused ? C : 0, Tk, s.kvStride, rdk, false);
    check("dv", fused ? gq : gv, fused ? 2 * C : 0, Tk, s.kvStride, rdv, false);
  }
  handgrad::attentionSetPath(0);
  if (fused) { cudaFree(dqkv); cudaFree(dq_); }
  else { cudaFree(dQ); cudaFree(dK); cudaFree(dV); cudaFree(dq_); cudaFree(dk_); cudaFree(dv_); }
  cudaFree(dOut); cudaFree(dLse); cudaFree(dDout); cudaFree(dScratch);
}

static void timeStandard() {
  // Standard config: B=32, H=8, T=256, D=64, causal, fused QKV [B·T, 3C].
  const int B = 32, H = 8, T = 256, D = 64, C = H * D;
  AttentionShape s{};
  s.B = B; s.H = H; s.D = D; s.Tq = T; s.Tk = T; s.causal = true; s.qOffset = 0;
  s.qStride = s.kvStride = 3 * C; s.oStride = C; s.scale = 0.125f;
  const size_t qkvN = static_cast<size_t>(B) * T * 3 * C, oN = static_cast<size_t>(B) * T * C;
  std::vector<float> h(qkvN);
  for (auto& x : h) x = frand();
  float *qkv, *dqkv, *out, *dout, *lse, *scratch;
  CK(cudaMalloc(&qkv, qkvN * 4)); CK(cudaMalloc(&dqkv, qkvN * 4));
  CK(cudaMalloc(&out, oN * 4)); CK(cudaMalloc(&dout, oN * 4));
  CK(cudaMalloc(&lse, static_cast<size_t>(B) * H * T * 4)); CK(cudaMalloc(&scratch, static_cast<size_t>(B) * H * T * 4));
  CK(cudaMemcpy(qkv, h.data(), qkvN * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dout, h.data(), oN * 4, cudaMemcpyHostToDevice));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0); cudaEventCreate(&e1);
  // Causal FLOPs: QKᵀ and PV over the lower triangle, 2·T²/2·D each.
  const double fwdFlops = 2.0 * B * H * (double(T) * (T + 1) / 2) * D * 2;
  auto timeIt = [&](const char* what, int iters, double flops, auto fn) {
    for (int w = 0; w < 3; w++) fn();
    CK(cudaDeviceSynchronize());
    cudaEventRecord(e0);
    for (int it = 0; it < iters; it++) fn();
    cudaEventRecord(e1);
    CK(cudaEventSynchronize(e1));
    CK(cudaGetLastError());
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    const double per = ms / iters;
    if (flops > 0)
      std::printf("TIME %-52s %9.4f ms  %7.2f TFLOP/s\n", what, per, flops / (per * 1e-3) / 1e12);
    else
      std::printf("TIME %-52s %9.2f us\n", what, per * 1e3);
  };
  // The fp32 kernels, the tensor-core kernels without prefetch, then what the dispatcher picks
  // (tensor cores with prefetch).
  for (int path : {1, 3, 0}) {
    handgrad::attentionSetPath(path);
    const char* tag = path == 1 ? "[fp32]" : path == 3 ? "[tc, no prefetch]" : "[auto]";
    char label[96];
    std::snprintf(label, sizeof label, "forward  B=32 H=8 T=256 D=64 causal %s", tag);
    timeIt(label, 20, fwdFlops, [&] { handgrad::attentionForward(qkv, qkv + C, qkv + 2 * C, out, lse, s); });
    // Backward: dV, dP, dK, dQ products (4) plus the recomputed scores (1) and dQ's recomputed S, dP (2).
    std::snprintf(label, sizeof label, "backward B=32 H=8 T=256 D=64 causal %s", tag);
    timeIt(label, 20, fwdFlops / 2 * 7, [&] {
      handgrad::attentionBackward(qkv, qkv + C, qkv + 2 * C, out, lse, dout, dqkv, dqkv + C, dqkv + 2 * C, scratch, s);
    });
  }
  handgrad::attentionSetPath(0);
  // Decoding: one new query against a KV cache, B=1.
  for (int Tk : {256, 4096}) {
    AttentionShape d{};
    d.B = 1; d.H = H; d.D = D; d.Tq = 1; d.Tk = Tk; d.causal = true; d.qOffset = Tk - 1;
    d.qStride = 3 * C; d.kvStride = 3 * C; d.oStride = C; d.scale = 0.125f;
    char label[96];
    std::snprintf(label, sizeof label, "decode   B=1 H=8 Tq=1 Tk=%d D=64 (per call)", Tk);
    // The KV cache lives in the same big buffer (Tk·3C floats fit in it).
    timeIt(label, 200, 0, [&] { handgrad::attentionForward(qkv, qkv + C, qkv + 2 * C, out, lse, d); });
  }
  cudaFree(qkv); cudaFree(dqkv); cudaFree(out); cudaFree(dout); cudaFree(lse); cudaFree(scratch);
}

// attentionForwardAt (the decode step of a CUDA graph): the position comes from device memory, the
// shape gives the cache's rows. It must equal attentionForward with qOffset = pos, Tk = pos + Tq,
// bit for bit (the same kernel), for every position, including 0 and the last row.
static void positionAtCases() {
  const int H = 2, D = 64, C = H * D, cap = 40;
  std::vector<float> hkv(static_cast<size_t>(cap) * 3 * C);
  for (auto& x : hkv) x = frand();
  float *kv, *o1, *o2, *l1, *l2;
  int* pos;
  CK(cudaMalloc(&kv, hkv.size() * 4));
  CK(cudaMemcpy(kv, hkv.data(), hkv.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMalloc(&o1, 4 * C * 4)); CK(cudaMalloc(&o2, 4 * C * 4));
  CK(cudaMalloc(&l1, 4 * H * 4)); CK(cudaMalloc(&l2, 4 * H * 4));
  CK(cudaMalloc(&pos, sizeof(int)));
  handgrad::attentionSetPath(0);
  for (int Tq : {1, 3}) {
    for (int p : {0, 17, cap - Tq}) {
      AttentionShape s{};
      s.B = 1; s.H = H; s.D = D; s.Tq = Tq; s.causal = true; s.scale = 0.125f;
      s.qStride = s.kvStride = 3 * C; s.oStride = C;
      const float* q = kv + static_cast<size_t>(p) * 3 * C;  // the new rows are the cache's rows p…
      s.Tk = p + Tq; s.qOffset = p;
      handgrad::attentionForward(q, kv + C, kv + 2 * C, o1, l1, s);
      CK(cudaMemcpy(pos, &p, sizeof(int), cudaMemcpyHostToDevice));
      s.Tk = cap; s.qOffset = -12345;  // ignored
      const bool ok = handgrad::attentionForwardAt(q, kv + C, kv + 2 * C, o2, l2, s, pos);
      CK(cudaDeviceSynchronize());
      std::vector<float> a(Tq * C), b(Tq * C), la(Tq * H), lb(Tq * H);
      CK(cudaMemcpy(a.data(), o1, a.size() * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(b.data(), o2, b.size() * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(la.data(), l1, la.size() * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(lb.data(), l2, lb.size() * 4, cudaMemcpyDeviceToHost));
      const bool same = ok && std::memcmp(a.data(), b.data(), a.size() * 4) == 0 &&
                        std::memcmp(la.data(), lb.data(), la.size() * 4) == 0;
      if (!same) failures++;
      std::printf("%s attentionForwardAt Tq=%d pos=%d cache=%d: %s\n", same ? "PASS" : "FAIL", Tq, p, cap,
                  ok ? (same ? "bit-identical to attentionForward" : "differs") : "refused");
    }
  }
  AttentionShape bad{};
  bad.B = 2; bad.H = H; bad.D = D; bad.Tq = 1; bad.Tk = cap; bad.causal = true; bad.qStride = bad.kvStride = 3 * C; bad.oStride = C;
  if (handgrad::attentionForwardAt(kv, kv + C, kv + 2 * C, o2, l2, bad, pos)) {
    failures++;
    std::printf("FAIL attentionForwardAt accepted B = 2\n");
  }
  cudaFree(kv); cudaFree(o1); cudaFree(o2); cudaFree(l1); cudaFree(l2); cudaFree(pos);
}

int main() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return 2;
  }
  runCase("B2 H3 T17 D5 causal fused-3C", 2, 3, 5, 17, 17, true, 0, true);
  runCase("B2 H3 T17 D5 non-causal fused-3C", 2, 3, 5, 17, 17, false, 0, true);
  runCase("B2 H3 Tq7 Tk23 D5 causal qOffset16", 2, 3, 5, 7, 23, true, 16, false);
  runCase("B2 H2 Tq20 Tk45 D33 non-causal", 2, 2, 33, 20, 45, false, 0, false);
  runCase("B1 H2 T19 D8 causal qOffset-3 (empty rows)", 1, 2, 8, 19, 19, true, -3, false);
  runCase("B2 H2 Tq40 Tk40 D128 causal", 2, 2, 128, 40, 40, true, 0, false);
  runCase("B1 H3 T37 D100 causal fused-3C", 1, 3, 100, 37, 37, true, 0, true);
  runCase("B2 H2 T256 D64 causal fused-3C", 2, 2, 64, 256, 256, true, 0, true);
  runCase("B1 H2 Tq1 Tk300 D64 decode", 1, 2, 64, 1, 300, true, 299, false);
  runCase("B2 H2 Tq3 Tk50 D64 decode causal", 2, 2, 64, 3, 50, true, 47, false);
  runCase("B1 H2 Tq1 Tk2000 D64 decode", 1, 2, 64, 1, 2000, true, 1999, false);
  runCase("B1 H1 Tq5 Tk9 D7 non-causal", 1, 1, 7, 5, 9, false, 0, false);
  // Dropout on P (p 0.3): the fp32 tiled kernels whatever the width (D 64 would take the tensor
  // cores, Tq 3 the decode kernel without dropout); the host reference hashes its own mask.
  gDropP = 0.3; gDropSeed = 12345u;
  runCase("B2 H3 T17 D5 causal fused-3C dropout", 2, 3, 5, 17, 17, true, 0, true);
  runCase("B2 H2 Tq20 Tk45 D33 non-causal dropout", 2, 2, 33, 20, 45, false, 0, false);
  gDropSeed = 0xFFFFFFFFu;
  runCase("B2 H2 T40 D64 causal fused-3C dropout", 2, 2, 64, 40, 40, true, 0, true);
  runCase("B2 H2 Tq3 Tk50 D64 causal qOffset47 dropout", 2, 2, 64, 3, 50, true, 47, false);
  runCase("B1 H2 Tq7 Tk23 D16 causal qOffset16 dropout", 1, 2, 16, 7, 23, true, 16, false);
  gDropP = 0; gDropSeed = 0;
  // The fp32 tiled kernels at widths the dispatcher now sends to the tensor cores.
  runCase("B2 H2 Tq40 Tk40 D128 causal [fp32]", 2, 2, 128, 40, 40, true, 0, false, true, 1);
  runCase("B2 H2 T100 D64 causal fused-3C [fp32]", 2, 2, 64, 100, 100, true, 0, true, true, 1);
  runCase("B2 H2 Tq20 Tk45 D32 non-causal [fp32]", 2, 2, 32, 20, 45, false, 0, false, true, 1);
  // Tensor-core path (forced where the dispatcher would pick the fp32 decode kernel): ragged T,
  // Tq < Tk with qOffset, empty rows, non-causal, every D class, fused 3C stride and padded strides.
  runCase("B2 H2 T17 D64 causal fused-3C [tc]", 2, 2, 64, 17, 17, true, 0, true, true, 2);
  runCase("B1 H2 T100 D64 causal fused-3C [tc]", 1, 2, 64, 100, 100, true, 0, true, true, 2);
  runCase("B1 H2 T257 D64 causal fused-3C [tc]", 1, 2, 64, 257, 257, true, 0, true, true, 2);
  runCase("B2 H2 Tq70 Tk200 D64 causal qOffset130 [tc]", 2, 2, 64, 70, 200, true, 130, false, true, 2);
  runCase("B1 H2 Tq30 Tk90 D64 causal qOffset60 [tc]", 1, 2, 64, 30, 90, true, 60, false, true, 2);
  runCase("B1 H2 T75 D32 causal qOffset-3 (empty rows) [tc]", 1, 2, 32, 75, 75, true, -3, false, true, 2);
  runCase("B2 H2 Tq50 Tk130 D64 non-causal [tc]", 2, 2, 64, 50, 130, false, 0, false, true, 2);
  runCase("B2 H3 T33 D16 causal fused-3C [tc]", 2, 3, 16, 33, 33, true, 0, true, true, 2);
  runCase("B1 H2 T70 D32 non-causal fused-3C [tc]", 1, 2, 32, 70, 70, false, 0, true, true, 2);
  runCase("B1 H2 T80 D48 causal [tc]", 1, 2, 48, 80, 80, true, 0, false, true, 2);
  runCase("B1 H2 T65 D128 causal fused-3C [tc]", 1, 2, 128, 65, 65, true, 0, true, true, 2);
  runCase("B1 H2 Tq45 Tk110 D96 causal qOffset65 [tc]", 1, 2, 96, 45, 110, true, 65, false, true, 2);
  runCase("B1 H1 Tq70 Tk40 D112 non-causal [tc]", 1, 1, 112, 70, 40, false, 0, false, true, 2);
  runCase("B1 H2 Tq3 Tk50 D64 causal qOffset47 [tc]", 1, 2, 64, 3, 50, true, 47, false, true, 2);
  runCase("B1 H2 T150 D64 causal fused-3C [tc no prefetch]", 1, 2, 64, 150, 150, true, 0, true, true, 3);
  runCase("B2 H1 Tq70 Tk200 D32 non-causal [tc no prefetch]", 2, 1, 32, 70, 200, false, 0, false, true, 3);
  positionAtCases();
#ifndef HANDGRAD_HOST_EMU  // native/tests/host-emu: too slow there, and its timings mean nothing
  runCase("B1 H1 Tq1 Tk13000 D64 (tiled path)", 1, 1, 64, 1, 13000, true, 12999, false);
  timeStandard();
#endif
  if (failures) {
    std::printf("%d check(s) FAILED\n", failures);
    return 1;
  }
  std::printf("all attention checks passed\n");
  return 0;
}
