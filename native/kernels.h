// Launch functions of the CUDA backend's kernels: the contract between the N-API glue
// (addon.cc) and the kernel files. Every function enqueues work on the default stream and
// returns at once (no synchronisation) unless it says otherwise; pointers are device pointers
// to float32 / int32 arrays laid out exactly as in src/ops/types.ts, whose comments define the
// semantics (the TypeScript reference backend is the specification every kernel is tested against).
// Matrix products use tensor cores (mma.sync, bf16 inputs, fp32 accumulation); everything
// else is fp32.
#pragma once
#include <cstddef>
#include <cstdint>

namespace handgrad {

// ---- gemm.cu --------------------------------------------------------------------------------
// C[m×n] = alpha · op(A) · op(B) + beta · C (row-major; A is m×k or k×m when transA, B is k×n or
// n×k when transB). beta == 0 must not read C (it may hold NaN).
// Ah / Bh (optional): bf16 copies of A / B (the 16-bit patterns of bf16(A), bf16(B), same layout),
// which the tensor-core kernels then read instead (half the bytes, cp.async staging); the result is
// the same, since every product rounds its operands to bf16 anyway. A copy is ignored where no
// kernel takes it (gemm.cu: hasBf16Kernel) and on the m ≤ 16 path.
void gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* A, const float* B,
          float beta, float* C, const uint16_t* Ah = nullptr, const uint16_t* Bh = nullptr);
// Grouped GEMM: mode 0 = 'nn', 1 = 'nt', 2 = 'tn' (see Ops.groupedGemm). offsets (G+1 ints) is a
// device array: the kernel reads the group boundaries itself, so no host synchronisation.
// maxRows is an upper bound on offsets[G] (the dispatched buffer's row count), for grid sizing.
// Ah / Bh: optional bf16 copies, as for gemm.
void groupedGemm(int mode, int G, const int* offsets, int maxRows, int n, int k, const float* A, const float* B,
                 float beta, float* C, const uint16_t* Ah = nullptr, const uint16_t* Bh = nullptr);

// ---- attention.cu ---------------------------------------------------------------------------
struct AttentionShape {
  int B, H, D, Tq, Tk, qOffset, qStride, kvStride, oStride;
  bool causal;
  float scale;
  // Dropout on P (the mask: attentionDropKeep in src/ops/types.ts): the uint32 threshold (0: none,
  // the dropout-free kernels run exactly as before), 1/(1 − p), the mask's seed.
  unsigned dropThr = 0;
  float dropScale = 1.f;
  unsigned dropSeed = 0;
};
void attentionForward(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s);
// The same with the position read on the device: qOffset = pos[0] and Tk = pos[0] + Tq (at most
// s.Tk, the rows the cache holds); s.qOffset is ignored. Decoding only: B = 1, Tq ≤ 4 (the row
// kernel). Returns false (and launches nothing) for a shape outside that.
bool attentionForwardAt(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s,
                        const int* pos);
// dq, dk, dv are overwritten. `scratch` holds at least B·H·Tq floats (the rowsum(dO ⊙ O) term).
void attentionBackward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv, float* scratch, const AttentionShape& s);

// ---- moe.cu ---------------------------------------------------------------------------------
void swiglu(const float* gu, float* out, int rows, int F);
void swigluBackward(const float* gu, const float* dout, float* dgu, int rows, int F);
void moeRoute(const float* logits, float* probs, float* lse, int* topIdx, float* topGate, int n, int E, int k,
              bool renormalize);
void moePlan(const int* topIdx, int n, int E, int k, int capacity, int* slot, int* rowToken, int* offsets, int* routed);
void moeCombine(const float* yd, const int* slot, const float* topGate, float* y, int n, int k, int C);
void moeCombineBackward(const float* yd, const int* slot, const float* topGate, const float* dy, float* dyd,
                        float* dgate, int n, int k, int C);
// balanceGrad may be null.
void moeRouteBackward(const float* probs, const float* lse, const int* topIdx, const float* topGate,
                      const float* dgate, const float* balanceGrad, float zGrad, float* dlogits, int n, int E, int k,
                      bool renormalize);
// Ops.moeAuxLoss: balanceGrad [E], loss [2] (the balance and z-losses) and counts [2E] (kept,
// routed) are overwritten; with accumulate, loss[2..3] and counts[2E..4E) also get them added.
// One block; E ≤ 4096 (routed[] in shared memory).
void moeAuxLoss(const float* probs, const float* lse, const int* offsets, const int* routed, int n, int E, int k,
                float balanceCoef, float zLossCoef, float* balanceGrad, float* loss, int* counts, bool accumulate);

// ---- elementwise.cu, rows.cu, layernorm.cu, embedding.cu, optim.cu (the fp32 families) --------
void fill(float* x, size_t n, float value);
void fillInts(int* x, size_t n, int value);
void copy(const float* src, float* dst, size_t n);
// dst[pos[0]·stride + i] = src[i] for i < n, with pos a device int: a decode step appends its row
// to the KV cache at a position the step reads on the device, so a CUDA graph of the step replays
// for every position (graph.h).
void copyAt(const float* src, float* dst, size_t n, const int* pos, size_t stride);
void scale(float* x, size_t n, float alpha);
void axpy(float alpha, const float* x, float* y, size_t n);
void add(const float* a, const float* b, float* out, size_t n);
void mul(const float* a, const float* b, float* out, size_t n, bool accumulate);
// kind: 0 identity, 1 relu, 2 sigmoid, 3 tanh, 4 gelu (tanh approximation), 5 silu (ACTIVATIONS order).
void activation(int kind, const float* x, float* y, size_t n);
void activationBackward(int kind, const float* x, const float* y, const float* dy, float* dx, size_t n, bool accumulate);
void addBias(float* y, const float* bias, int rows, int cols);
void sumRows(const float* x, float* out, int rows, int cols);   // out[c] += Σ_r x[r,c]
void sumCols(const float* x, float* out, int rows, int cols);   // out[r] = Σ_c x[r,c]
void softmax(const float* x, float* y, int rows, int cols);
void logSoftmax(const float* x, float* y, int rows, int cols);
void softmaxBackward(const float* y, const float* dy, float* dx, int rows, int cols);
void logSoftmaxBackward(const float* y, const float* dy, float* dx, int rows, int cols);
// Writes the summed loss (one double) to lossOut (device); dlogits may be null.
void softmaxCrossEntropy(const float* logits, const int* targets, int rows, int cols, float* dlogits,
                         float gradScale, double* lossOut);
void layerNorm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd, int rows,
               int cols, float eps);
void layerNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                       float* dx, float* dgamma, float* dbeta, int rows, int cols);
// vocab = the table's rows: ids outside 0..vocab−1 that the host could not check (made on the
// device) give a zero row / no update instead of an out-of-bounds access.
// outBf16 (optional): the same rows as bf16 too (the MoE gather's copy for the grouped GEMM).
void embedding(const float* table, const int* ids, float* out, int n, int dim, int vocab, uint16_t* outBf16 = nullptr);
void embeddingBackward(const float* dout, const int* ids, float* dtable, int n, int dim, int vocab);
// Adds Σ x² (accumulated in double) to *out (device).
void sumSquares(const float* x, size_t n, double* out);
// paramBf16 (optional): also writes the updated weights' bf16 rounding there (the copy gemm's Bh reads).
void adam(float* param, const float* grad, float* m, float* v, size_t n, float lr, float beta1, float beta2,
          float eps, float weightDecay, bool decoupled, int step, uint16_t* paramBf16 = nullptr);

}  // namespace handgrad
