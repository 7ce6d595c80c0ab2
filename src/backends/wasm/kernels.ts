// The exports of build/wasm/handgrad.{simd,relaxed}.wasm, as the JS side calls them.
// Pointers are byte offsets into the shared memory; sizes are element counts; flags are 0/1.
// Each assembly/*.ts file implements one group; the reference backend defines what they compute.
export interface Kernels {
  heapBase(): number;

  // assembly/gemm.ts: packed GEMM (see src/backends/wasm/gemm.ts for how it is driven)
  [name: `gemm${string}`]: (...args: number[]) => number | void;
  // A B operand packed once (Ops.packGemmB): its size, and the packing (tb 0/1; nr: the reading
  // kernel's tile width). gemmBlockPackedB(Relaxed) multiplies with it, driven as gemmBlock is.
  gemmPackedBFloats(k: number, n: number, nr: number): number;
  gemmPackB(tb: number, b: number, n: number, k: number, bp: number, nr: number): void;

  // assembly/elementwise.ts
  fill(x: number, n: number, value: number): void;
  copy(src: number, dst: number, n: number): void;
  scale(x: number, n: number, alpha: number): void;
  axpy(alpha: number, x: number, y: number, n: number): void;
  add(a: number, b: number, out: number, n: number): void;
  mul(a: number, b: number, out: number, n: number, accumulate: number): void;
  /** kind: index into ACTIVATIONS (identity 0, relu 1, sigmoid 2, tanh 3, gelu 4, silu 5). */
  activation(kind: number, x: number, y: number, n: number): void;
  activationBackward(kind: number, x: number, y: number, dy: number, dx: number, n: number, accumulate: number): void;

  // assembly/rows.ts
  addBias(y: number, bias: number, rows: number, cols: number): void;
  sumRows(x: number, out: number, rows: number, cols: number): void;
  /** sumRows on columns c0 ≤ c < c1 only (the same bits per column: ./row-pool.ts splits by columns). */
  sumRowsRange(x: number, out: number, rows: number, cols: number, c0: number, c1: number): void;
  sumCols(x: number, out: number, rows: number, cols: number): void;
  softmax(x: number, y: number, rows: number, cols: number): void;
  logSoftmax(x: number, y: number, rows: number, cols: number): void;
  softmaxBackward(y: number, dy: number, dx: number, rows: number, cols: number): void;
  logSoftmaxBackward(y: number, dy: number, dx: number, rows: number, cols: number): void;
  /** dlogits = 0 means "no gradient wanted". Returns the summed loss (f64). */
  softmaxCrossEntropy(logits: number, targets: number, rows: number, cols: number, dlogits: number, gradScale: number): number;

  // assembly/layernorm.ts
  layerNorm(x: number, gamma: number, beta: number, y: number, mean: number, rstd: number, rows: number, cols: number, eps: number): void;
  layerNormBackward(x: number, gamma: number, mean: number, rstd: number, dy: number, dx: number, dgamma: number, dbeta: number, rows: number, cols: number): void;
  // layerNormBackward in two parts, for a split across threads (./row-pool.ts): dx of rows r0 ≤ r < r1,
  // and dgamma, dbeta of columns c0 ≤ c < c1 (each bit-identical to the whole kernel's).
  layerNormBackwardDx(x: number, gamma: number, mean: number, rstd: number, dy: number, dx: number, r0: number, r1: number, cols: number): void;
  layerNormBackwardParams(x: number, mean: number, rstd: number, dy: number, dgamma: number, dbeta: number,
    rows: number, cols: number, c0: number, c1: number): void;

  // assembly/embedding.ts
  embedding(table: number, ids: number, out: number, n: number, dim: number): void;
  embeddingBackward(dout: number, ids: number, dtable: number, n: number, dim: number): void;

  // assembly/optim.ts
  sumSquares(x: number, n: number): number;
  /** c1 = 1 − β1ᵗ, c2 = 1 − β2ᵗ (bias corrections, computed in JS in double precision). */
  adam(param: number, grad: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, decoupled: number, c1: number, c2: number): void;

  // assembly/recurrent.ts: fused recurrent cells (contracts in src/ops/types.ts, "recurrent cells")
  lstmCell(gates: number, cPrev: number, c: number, tanhC: number, h: number, B: number, H: number): void;
  lstmCellBackward(gates: number, cPrev: number, tanhC: number, dh: number, dc: number, dgates: number, B: number, H: number): void;
  gruCell(xp: number, hp: number, hPrev: number, h: number, B: number, H: number): void;
  gruCellBackward(gates: number, hp: number, hPrev: number, dh: number, dxp: number, dhp: number, dhPrev: number, B: number, H: number): void;
  gruPaperGates(xrz: number, hrz: number, hPrev: number, rh: number, B: number, H: number): void;
  gruPaperOutput(rz: number, xn: number, hPrev: number, h: number, B: number, H: number): void;
  gruPaperOutputBackward(rz: number, n: number, hPrev: number, dh: number, drz: number, dn: number, dhPrev: number, B: number, H: number): void;
  gruPaperGatesBackward(rz: number, hPrev: number, drh: number, drz: number, dhPrev: number, B: number, H: number): void;

  // assembly/attention.ts: fused flash-style attention (contract: Ops.attention in src/ops/types.ts).
  // causal is 0/1; scratch is attentionScratchBytes() bytes, allocated once by the backend.
  attentionScratchBytes(): number;
  // Dropout on P: dropThr the uint32 threshold (0: none), dropScale = 1/(1 − p), seed, b0 the first
  // batch item's index in the whole call (the mask: attentionDropKeep in src/ops/types.ts).
  // wide: 1 for the 16-wide register tiles (for revectorized code), 0 for 8-wide ones.
  attention(q: number, k: number, v: number, out: number, lse: number, B: number, H: number, D: number,
    Tq: number, Tk: number, causal: number, qOffset: number, qStride: number, kvStride: number, oStride: number,
    scale: number, dropThr: number, dropScale: number, seed: number, b0: number, scratch: number, wide: number): void;
  attentionBackward(q: number, k: number, v: number, out: number, lse: number, dout: number,
    dq: number, dk: number, dv: number, B: number, H: number, D: number, Tq: number, Tk: number, causal: number,
    qOffset: number, qStride: number, kvStride: number, oStride: number, scale: number,
    dropThr: number, dropScale: number, seed: number, b0: number, scratch: number, wide: number): void;

  // assembly/moe.ts
  swiglu(gu: number, out: number, rows: number, F: number): void;
  swigluBackward(gu: number, dout: number, dgu: number, rows: number, F: number): void;
  swigluSpan(a: number, b: number, out: number, count: number): void;
  swigluBackwardSpan(a: number, b: number, dout: number, da: number, db: number, count: number): void;
  dot(a: number, b: number, n: number): number;

  // assembly/memory_recurrence.ts (contract: Ops.memoryForward). rule: 0 delta, 1 hebbian;
  // opt: 0 gd, 1 momentum, 2 adam; ks, vs, ys: elements between rows of k/q/dk/dq, v/dv, y/dy;
  // norm: 1 to L2-normalise k and q inside; acc: 1 for y += M q; H memories in the call, khs, vhs,
  // yhs: elements between memory h's k/q, v, y and memory h + 1's. b0…b1 (the Range entries): slots h·B + b.
  memoryForward(k: number, v: number, q: number, y: number, saved: number, B: number, T: number, dk: number, dv: number,
    rule: number, opt: number, period: number, eta: number, beta: number, beta1: number, beta2: number, eps: number,
    ks: number, vs: number, ys: number, norm: number, acc: number, H: number, khs: number, vhs: number, yhs: number): void;
  memoryBackward(k: number, v: number, q: number, saved: number, dy: number, dK: number, dV: number, dQ: number,
    B: number, T: number, dk: number, dv: number, rule: number, opt: number, period: number,
    eta: number, beta: number, beta1: number, beta2: number, eps: number, ks: number, vs: number, ys: number, norm: number,
    H: number, khs: number, vhs: number, yhs: number): void;
  // The same on sequences b0 ≤ b < b1 with the working area at `work` (memoryWorkSize floats): what
  // the worker pool's threads run as batch jobs, each with its own working area (src/backends/wasm/batch-pool.ts).
  memoryForwardRange(k: number, v: number, q: number, y: number, saved: number, B: number, T: number, dk: number,
    dv: number, rule: number, opt: number, period: number, eta: number, beta: number, beta1: number, beta2: number,
    eps: number, ks: number, vs: number, ys: number, norm: number, acc: number, H: number, khs: number, vhs: number, yhs: number,
    b0: number, b1: number, work: number): void;
  memoryBackwardRange(k: number, v: number, q: number, saved: number, dy: number, dK: number, dV: number, dQ: number,
    B: number, T: number, dk: number, dv: number, rule: number, opt: number, period: number,
    eta: number, beta: number, beta1: number, beta2: number, eps: number, ks: number, vs: number, ys: number, norm: number,
    H: number, khs: number, vhs: number, yhs: number, b0: number, b1: number, work: number): void;
}
