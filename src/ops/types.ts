// The ops interface: the one contract that every layer and model is written against, and that
// every backend implements: reference (plain TypeScript, the specification), WASM (AssemblyScript
// SIMD kernels) and CUDA (the optional GPU addon). Every backend has every op: the interface has no
// optional members, so a model's type never claims a backend it cannot run on (where the CUDA
// addon has no kernel, CudaOps runs the reference loops on its host mirrors).
//
// Conventions (read these once; every op follows them):
// - All matrices are row-major and contiguous. A matrix "rows×cols" is `rows*cols` elements.
// - Ops never allocate: outputs are tensors the caller made with `ops.tensor()` beforehand
//   (models allocate everything once, at construction). Sizes are passed explicitly, llm.c style,
//   so an op can work on a slice of a bigger buffer made with `t.view(offset, size)`.
// - "accumulate" means `out += …`. Backward ops that produce *parameter* gradients always
//   accumulate (a weight used at every time step needs no special case; the training loop zeroes
//   gradients once per step). Backward ops that produce *activation* gradients say which they do.
// - Outputs may not alias inputs unless an op says so.
// - Arguments are checked before any op runs, once for every backend (./checked.ts).
//
// Adding an op — say `fooForward(x, y, rows, cols)`, in the family of an existing file (the
// families: elementwise, rows, layernorm, embedding, optim, recurrent, attention, moe, gemm,
// memory-recurrence; one file per family per backend). These files, and no others:
//   1. src/ops/types.ts (here): the method on Ops, with its contract in a comment (shapes, what it
//      overwrites or accumulates, what may alias).
//   2. src/ops/checked.ts: its entry in OP_CHECKS (the size checks, once for every backend; null
//      for none). The compiler refuses the build until the entry exists; the CUDA profiler and the
//      argument-check installer find the op there (OP_NAMES).
//   3. Reference backend: the maths, on raw typed arrays, in the family's file
//      (src/backends/reference/<family>.ts: the same name as assembly/<family>.ts), and the method
//      in src/backends/reference/index.ts, which hands it the tensors' `.data`.
//   4. WASM backend: the kernel in assembly/<family>.ts (assembly/index.ts re-exports every
//      family), its signature in src/backends/wasm/kernels.ts, and the method in
//      src/backends/wasm/index.ts. (Or, for an O(n) host loop, the method calls the reference's
//      raw-array function on `.data`, as moeRoute does: then no assembly, no kernels.ts.)
//   5. CUDA backend, either
//      - no kernel: one line in the "ops without a CUDA kernel" block of src/backends/cuda/ops.ts
//        (`fooForward(...a) { this.host.fooForward(...a); }`: the reference on the host mirrors); or
//      - a kernel: its launch function in native/<family>.cu, declared in native/kernels.h, with a
//        stub in native/stubs.cu (under the family's HANDGRAD_STUB_ flag, for partial builds); the
//        N-API binding in native/addon.cc (a function and a row of its `entries` table); the
//        method in src/backends/cuda/ops.ts; and the same function in the emulated addon,
//        tests/backends/cuda-emulated-addon.ts (argument order transcribed from addon.cc).
//   6. src/backends/conformance.ts: a case comparing the op with the reference on ragged shapes;
//      it runs on every backend (tests/backends/conformance.test.ts, cuda-emulated.test.ts,
//      cuda.test.ts on a GPU). The case's name must contain the op's name (a test checks).
//   7. If it has a backward: a gradient check in src/gradcheck/<family>-checks.ts (the registry
//      runs every check of the family's list; tests/gradcheck/ops.test.ts runs them all).
// Then run tsc, tests/backends/conformance.test.ts and the family's gradient check.

export type DType = 'f32' | 'f64';
export type FloatArray = Float32Array | Float64Array;

/** A flat buffer of floats owned by one backend. */
export interface Tensor {
  /** Number of elements. */
  readonly size: number;
  /**
   * A live typed-array view of the elements (Float64Array for the f64 reference backend,
   * Float32Array otherwise). Read it again after any allocation: a backend's memory may move.
   */
  readonly data: FloatArray;
  /** A tensor sharing `size` elements of this one's storage, starting at element `offset`. */
  view(offset: number, size: number): Tensor;
}

/** A flat buffer of 32-bit integers (token ids, targets) owned by one backend. */
export interface IntTensor {
  readonly size: number;
  readonly data: Int32Array;
  view(offset: number, size: number): IntTensor;
}

/**
 * A B operand of gemm packed once for many products (Ops.packedGemmB makes it, Ops.packGemmB points
 * it at a B, Ops.gemmPackedB multiplies with it). What it holds is the backend's own business: the
 * WASM backend's micro-kernel panels, a plain copy of op(B) on the reference and CUDA backends. It
 * belongs to the backend that made it.
 */
export interface PackedGemmB {
  /** op(B) is k×n. */
  readonly k: number;
  readonly n: number;
  /** Whether a packGemmB has given it an operand (gemmPackedB refuses it before). */
  readonly ready: boolean;
}

/** Pointwise non-linearities. `gelu` is the tanh approximation (GPT-2, PyTorch approximate='tanh'). */
export type Activation = 'identity' | 'relu' | 'sigmoid' | 'tanh' | 'gelu' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['identity', 'relu', 'sigmoid', 'tanh', 'gelu', 'silu'];

/** The optimizers of src/train/optimizers.ts (named here so a model spec can prefer one). */
export type OptimizerKind = 'sgd' | 'momentum' | 'nesterov' | 'adam' | 'adamw';

/** Hyper-parameters of one Adam / AdamW step. */
export interface AdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 penalty: added to the gradient (Adam) or applied to the weight directly (AdamW). */
  weightDecay: number;
  /** true: AdamW (decoupled decay, θ -= lr·wd·θ); false: classic Adam (g += wd·θ). */
  decoupled: boolean;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** The shape of one fused attention call (see Ops.attention). */
export interface AttentionShape {
  /** Batch items, heads, head width. */
  B: number;
  H: number;
  D: number;
  /** Query rows and key/value rows per batch item. */
  Tq: number;
  Tk: number;
  /** Causal mask: query i sees keys j ≤ i + qOffset. false: every query sees all Tk keys. */
  causal: boolean;
  qOffset: number;
  /** Elements between consecutive rows of q, of k and v, and of out. */
  qStride: number;
  kvStride: number;
  oStride: number;
  /** Score scale, usually 1/√D. */
  scale: number;
  /**
   * Dropout on the attention probabilities (GPT-2's attn_pdrop): p in [0, 1); 0 or absent: none,
   * and every backend takes exactly its dropout-free path. See attentionDropKeep for the mask.
   */
  dropout?: number;
  /** The mask's seed (a uint32); a new one per training forward, the same for its backward. */
  dropoutSeed?: number;
}

/**
 * The attention-dropout mask, one definition for every backend (src/backends/reference/attention.ts,
 * assembly/attention_common.ts, native/attention_common.cuh use these same constants). Like
 * FlashAttention, the mask is never stored: entry (b, h, i, j) (batch item b of the whole call, head
 * h, query row i < Tq, key j < Tk) is a pure function of the seed, so the backward pass regenerates
 * exactly the forward's mask:
 *   fmix(x) = murmur3's 32-bit finaliser: x ^= x >>> 16; x *= 0x85EBCA6B; x ^= x >>> 13;
 *             x *= 0xC2B2AE35; x ^= x >>> 16   (all mod 2³²)
 *   row     = fmix(fmix(seed ^ (b·H + h)·0x9E3779B1) ^ i·0x85EBCA77)
 *   hash    = fmix(row ^ j·0xC2B2AE3D)
 *   keep    ⇔ hash ≥ threshold, threshold = attentionDropThreshold(p) = min(2³² − 1, round(p·2³²)),
 * so an entry is kept with probability 1 − p (to 2⁻³²). Inverted dropout: a kept probability is
 * multiplied by 1/(1 − p), so out_i = Σ_j (m_ij/(1 − p))·P_ij·v_j; lse stays the log-sum-exp of the
 * undropped scores (P is the ordinary softmax).
 */
export const ATTN_DROP_MUL_ROW = 0x9e3779b1;
export const ATTN_DROP_MUL_I = 0x85ebca77;
export const ATTN_DROP_MUL_J = 0xc2b2ae3d;

/** murmur3's fmix32 (see attentionDropKeep). */
export function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The row part of the attention-dropout hash (bh = b·H + h). */
export function attentionDropRow(seed: number, bh: number, i: number): number {
  return fmix32(fmix32((seed ^ Math.imul(bh, ATTN_DROP_MUL_ROW)) >>> 0) ^ Math.imul(i, ATTN_DROP_MUL_I));
}

/** Whether entry (row, j) of the attention-dropout mask is kept (row: attentionDropRow). */
export function attentionDropKeep(row: number, j: number, threshold: number): boolean {
  return fmix32((row ^ Math.imul(j, ATTN_DROP_MUL_J)) >>> 0) >= threshold;
}

/** The uint32 threshold below which a hash drops its entry (0: keeps everything). */
export function attentionDropThreshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 4294967296));
}

/** Write rule and inner optimiser of an associative memory (src/layers/linear-memory.ts). */
export type MemoryRule = 'hebbian' | 'delta';
export type MemoryOptimizer = 'gd' | 'momentum' | 'adam';

/** The shape and fixed inner hyper-parameters of one memory recurrence call (see Ops.memoryForward). */
export interface MemoryShape {
  /** Sequences, steps per sequence, key (and query) width, value width. */
  B: number;
  T: number;
  dk: number;
  dv: number;
  rule: MemoryRule;
  optimizer: MemoryOptimizer;
  /** Inner learning rate η, momentum β, Adam β1, β2, ε (inside the root). */
  eta: number;
  beta: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Commit period C ≥ 1: the accumulated inner gradient is applied at t = C, 2C, … */
  period: number;
  /**
   * Keys and queries are L2-normalised inside the op, each row on its own: k̂ = k / max(‖k‖, 1e-12)
   * (src/layers/linear-memory.ts's `normalize`); the recurrence runs on k̂, q̂, and the backward
   * returns the gradients of the RAW k and q. Absent: false.
   */
  normalize?: boolean;
  /**
   * Elements between consecutive rows of k, v and q (forward and backward) and of dk, dv and dq
   * (backward): a memory can read its projections straight out of a wider matrix (one GEMM for
   * every memory of a layer, each reading its own columns through a view). Absent: packed rows
   * (dk for k, q, dk, dq; dv for v, dv). When given, at least max(dk, dv).
   */
  xStride?: number;
  /** Elements between consecutive rows of y and dy (absent: dv; when given, at least dv). */
  yStride?: number;
  /** Forward only: y += M q instead of y = M q (several memories summed into one output). Absent: false. */
  accumulate?: boolean;
  /**
   * H ≥ 1 independent memories ("heads") of this shape and these hyper-parameters in one call,
   * each over the same B sequences (one call for what would be H, so threads share out H·B
   * sequences). Memory h reads its k, q (writes dk, dq) from element h·xHeadStride on, its v (dv)
   * from h·vHeadStride, its y (dy) from h·yHeadStride, each as one memory would (strides above);
   * `saved` is laid out as for B·H sequences, memory h's sequence b in slot h·B + b. Absent: 1.
   */
  heads?: number;
  /** Elements between memory h's k, q, dk, dq and memory h + 1's (absent: B·T rows, packed after each other). */
  xHeadStride?: number;
  /** The same for v and dv (absent: xHeadStride when that is given, else B·T rows). */
  vHeadStride?: number;
  /** The same for y and dy (absent: B·T rows of y). */
  yHeadStride?: number;
}

export interface Ops {
  /** e.g. "reference-f64", "wasm-revec4x16". */
  readonly name: string;
  readonly dtype: DType;

  // ---- storage -------------------------------------------------------------------------------
  /** A zero-filled tensor of `size` elements. */
  tensor(size: number): Tensor;
  /** A tensor holding a copy of `values`. */
  tensorFrom(values: ArrayLike<number>): Tensor;
  /** A zero-filled int tensor. */
  ints(size: number): IntTensor;
  intsFrom(values: ArrayLike<number>): IntTensor;
  /**
   * Arena scopes: every tensor allocated after `mark()` is released by `release(mark)`.
   * Tests and benchmarks use this to reuse memory; models simply allocate once.
   */
  mark(): number;
  release(mark: number): void;
  /**
   * Storage for a packed gemm B operand whose op(B) is k×n (see packGemmB), in this backend's
   * layout; like tensor() it is allocated (models make it at construction, once) and released by
   * release(). It is not `ready` until the first packGemmB.
   */
  packedGemmB(k: number, n: number): PackedGemmB;

  // ---- matrix products -----------------------------------------------------------------------
  /**
   * C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n.
   * A is stored m×k (transA=false) or k×m (transA=true); B is k×n or n×k (transB=true).
   * beta = 0 overwrites C (whatever it held, NaN included); beta = 1 accumulates.
   * The three products backprop needs: forward A·B, dX = dY·Wᵀ (transB), dW += Xᵀ·dY (transA).
   */
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void;
  /**
   * Makes `packed` stand for op(B), k×n (B stored k×n, or n×k when transB), in the form
   * gemmPackedB reads: a B operand prepared once for many products (a recurrent layer's
   * h_{t−1}·Wh at every step, Wh unchanged within a pass; gemm would prepare it again on every
   * call). `packed` comes from packedGemmB(k, n), the same k and n. B must keep its values (and
   * stay allocated) until the last gemmPackedB with `packed`: a backend may copy B now, copy it
   * at the first product, or read B itself (the WASM backend, for fewer than 4 rows). After B
   * changes, packGemmB again. B and packed may not alias.
   */
  packGemmB(transB: boolean, k: number, n: number, B: Tensor, packed: PackedGemmB): void;
  /**
   * gemm with op(B) from packGemmB: C[m×n] = alpha · op(A) · op(B) + beta · C, op(A) m×k (A stored
   * m×k, or k×m when transA). The same conventions as gemm (beta = 0 overwrites, NaN included); C
   * may not alias A or B.
   */
  gemmPackedB(transA: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, packed: PackedGemmB, beta: number, C: Tensor): void;

  // ---- elementwise (all over the first `n` = x.size elements unless sizes are given) ----------
  fill(x: Tensor, value: number): void;
  /** dst = src (first src.size elements). */
  copy(src: Tensor, dst: Tensor): void;
  /** x *= alpha. */
  scale(x: Tensor, alpha: number): void;
  /** y += alpha · x. */
  axpy(alpha: number, x: Tensor, y: Tensor): void;
  /** out = a + b (out may alias a or b). */
  add(a: Tensor, b: Tensor, out: Tensor): void;
  /** out = a ⊙ b, or out += a ⊙ b when accumulate (out may alias a or b when not accumulating). */
  mul(a: Tensor, b: Tensor, out: Tensor, accumulate?: boolean): void;
  /** y = f(x) elementwise (y may alias x). */
  activation(kind: Activation, x: Tensor, y: Tensor): void;
  /**
   * dx = dy ⊙ f'(x), or dx += … when accumulate. Both the input x and the output y = f(x) are
   * passed: sigmoid and tanh use y, the others use x. dx may alias dy when not accumulating.
   */
  activationBackward(kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor, accumulate?: boolean): void;

  // ---- row-wise ops on rows×cols matrices ----------------------------------------------------
  /** y[r,:] += bias (bias has cols elements). */
  addBias(y: Tensor, bias: Tensor, rows: number, cols: number): void;
  /** out[c] += Σ_r x[r,c]: the bias gradient (a column sum). */
  sumRows(x: Tensor, out: Tensor, rows: number, cols: number): void;
  /** out[r] = Σ_c x[r,c] (a row sum; overwrites). */
  sumCols(x: Tensor, out: Tensor, rows: number, cols: number): void;
  /** y[r,:] = softmax(x[r,:]), max-subtracted (y may alias x). */
  softmax(x: Tensor, y: Tensor, rows: number, cols: number): void;
  /** y[r,:] = x[r,:] − logsumexp(x[r,:]) (y may alias x). */
  logSoftmax(x: Tensor, y: Tensor, rows: number, cols: number): void;
  /** Given y = softmax(x): dx = y ⊙ (dy − rowsum(dy ⊙ y)) (overwrites; dx may alias dy). */
  softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void;
  /** Given y = logSoftmax(x): dx = dy − exp(y) · rowsum(dy) (overwrites; dx may alias dy). */
  logSoftmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, rows: number, cols: number): void;
  /**
   * Fused softmax cross-entropy, forward and backward. Row r scores class targets[r]; a negative
   * target marks a padded row, which adds no loss and gets zero gradient.
   * Returns the summed loss Σ_r (logsumexp(x_r) − x_r[t_r]) over non-ignored rows.
   * When dlogits is given it is overwritten with (softmax(x_r) − onehot(t_r)) · gradScale
   * (pass gradScale = 1/count for the gradient of the mean). dlogits may alias logits.
   */
  softmaxCrossEntropy(logits: Tensor, targets: IntTensor, rows: number, cols: number,
    dlogits: Tensor | null, gradScale: number): number;
  /**
   * LayerNorm over each row: y = (x − μ) · rstd · gamma + beta, rstd = 1/√(var + eps).
   * Saves μ and rstd (rows elements each) for the backward pass.
   */
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor,
    rows: number, cols: number, eps: number): void;
  /** Accumulates into dx, dgamma and dbeta. */
  layerNormBackward(x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
    dx: Tensor, dgamma: Tensor, dbeta: Tensor, rows: number, cols: number): void;

  // ---- embeddings ------------------------------------------------------------------------------
  /** out[i,:] = table[ids[i],:] for i < n (dim columns). */
  embedding(table: Tensor, ids: IntTensor, out: Tensor, n: number, dim: number): void;
  /** dtable[ids[i],:] += dout[i,:] for i < n: a scatter-add, so repeated ids sum. */
  embeddingBackward(dout: Tensor, ids: IntTensor, dtable: Tensor, n: number, dim: number): void;

  // ---- optimisation ----------------------------------------------------------------------------
  /** Σ x²: the building block of gradient-norm clipping. Accumulates in double precision. */
  sumSquares(x: Tensor): number;
  /**
   * Σ over all of xs of sumSquares(x), in one go (in the order of xs). On a backend where every
   * number returned costs a synchronisation (CUDA) clipping then waits once, not once per tensor.
   */
  sumSquaresMany(xs: readonly Tensor[]): number;
  /**
   * One Adam/AdamW step over param, grad, and the moment buffers m and v (all the same size),
   * with bias correction: m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ), θ −= lr · m̂ / (√v̂ + eps).
   */
  adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamParams): void;

  // ==== recurrent cells ==========================================================================
  // Fused per-time-step cells of the recurrent layers (src/layers/{lstm,gru}.ts). Each works on a
  // batch of B rows; the recurrent matrix product (h·Wh) is a separate gemm the layer runs first.
  // Gate blocks are laid out side by side in each row: a [B, 4H] LSTM gate tensor holds, in row b,
  // i (H values), then f, then g, then o. The plain tanh RNN needs no cell op (gemm + activation).

  /**
   * LSTM cell forward. gates[B,4H] holds the pre-activations (x·Wx + b + h·Wh) in the order
   * i, f, g, o and is OVERWRITTEN with the activations σ(i), σ(f), tanh(g), σ(o) (the backward
   * pass reads them). Writes c = f⊙cPrev + i⊙g, tanhC = tanh(c) and h = o⊙tanhC, all [B,H].
   * c, tanhC and h may not alias each other or an input.
   */
  lstmCell(gates: Tensor, cPrev: Tensor, c: Tensor, tanhC: Tensor, h: Tensor, B: number, H: number): void;
  /**
   * LSTM cell backward, given the activated gates, cPrev and tanhC saved by lstmCell:
   *   dh[B,H]      dL/dh_t (all paths: output and next step's recurrent product), read only;
   *   dc[B,H]      IN: dL/dc_t arriving from step t+1 (zeros at the last step);
   *                OUT: dL/dcPrev = (dc + dh⊙o⊙(1−tanhC²))⊙f, in place;
   *   dgates[B,4H] OUT (overwritten): the pre-activation gradients in the order i, f, g, o.
   */
  lstmCellBackward(gates: Tensor, cPrev: Tensor, tanhC: Tensor, dh: Tensor, dc: Tensor, dgates: Tensor,
    B: number, H: number): void;

  /**
   * GRU cell, PyTorch convention (torch.nn.GRU): with xp = x·Wx + bx and hp = hPrev·Wh + bh, both
   * [B,3H] in the order r, z, n,
   *   r = σ(xp_r + hp_r),  z = σ(xp_z + hp_z),  n = tanh(xp_n + r⊙hp_n),  h = (1−z)⊙n + z⊙hPrev.
   * xp is OVERWRITTEN with the activations r, z, n; hp is read only (its n block is saved for the
   * backward pass); writes h[B,H].
   */
  gruCell(xp: Tensor, hp: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void;
  /**
   * Backward of gruCell, given the activations (gates = xp after gruCell), hp and hPrev:
   *   dh[B,H] read only; dxp[B,3H] OUT (overwritten) = dL/dxp (r, z, n pre-activation grads);
   *   dhp[B,3H] OUT (overwritten) = dL/dhp (= dxp except the n block, which is dxp_n⊙r);
   *   dhPrev[B,H] ACCUMULATES the direct path z⊙dh (the layer adds dhp·Whᵀ with a gemm).
   */
  gruCellBackward(gates: Tensor, hp: Tensor, hPrev: Tensor, dh: Tensor, dxp: Tensor, dhp: Tensor, dhPrev: Tensor,
    B: number, H: number): void;

  /**
   * GRU cell, paper convention (Cho et al. 2014): the reset gate acts BEFORE the recurrent
   * product, h̃ = tanh(Wn x + bn + Un (r⊙hPrev)). Two halves around the product (r⊙hPrev)·Un:
   * gruPaperGates: xrz[B,2H] holds x·Wrz + brz (r then z) and is OVERWRITTEN with σ(xrz + hrz);
   * hrz[B,2H] = hPrev·Urz (read only); writes rh[B,H] = r⊙hPrev.
   */
  gruPaperGates(xrz: Tensor, hrz: Tensor, hPrev: Tensor, rh: Tensor, B: number, H: number): void;
  /**
   * gruPaperOutput: xn[B,H] holds x·Wn + bn + rh·Un and is OVERWRITTEN with n = tanh(xn);
   * rz[B,2H] are the activated gates; writes h = (1−z)⊙n + z⊙hPrev.
   */
  gruPaperOutput(rz: Tensor, xn: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void;
  /**
   * Backward of gruPaperOutput: dh[B,H] read only; writes the z block of drz[B,2H]
   * (dL/dz pre-activation) and dn[B,H] (dL/dxn pre-activation, overwritten); dhPrev ACCUMULATES z⊙dh.
   */
  gruPaperOutputBackward(rz: Tensor, n: Tensor, hPrev: Tensor, dh: Tensor, drz: Tensor, dn: Tensor, dhPrev: Tensor,
    B: number, H: number): void;
  /**
   * Backward of gruPaperGates: drh[B,H] = dL/d(r⊙hPrev) (read only); writes the r block of
   * drz[B,2H] (dL/dr pre-activation); dhPrev ACCUMULATES r⊙drh.
   */
  gruPaperGatesBackward(rz: Tensor, hPrev: Tensor, drh: Tensor, drz: Tensor, dhPrev: Tensor, B: number, H: number): void;

  // ==== transformer and Mixture-of-Experts ops ====================================================
  // Written so that a whole (MoE) transformer step runs through ops alone, with no host loop and
  // no host read in the hot path: the CUDA backend keeps everything on the device, and the WASM
  // backend runs fused kernels. Semantics are fixed by the reference backend.

  /**
   * Fused scaled-dot-product attention, one head of width D per block of D columns, without a
   * T×T matrix in memory (flash-style: scores, mask, online softmax and weighted sum per row block).
   * Query row (b, i) for i < Tq is at element (b·Tq + i)·qStride + h·D of q; key/value row (b, j),
   * j < Tk, at (b·Tk + j)·kvStride + h·D of k and v; the output row at (b·Tq + i)·oStride + h·D.
   * Causal: query i sees keys j ≤ i + qOffset (qOffset = Tk − Tq for a KV cache, 0 in training).
   * Strides let q, k and v be views into one fused [rows, 3C] QKV buffer (qStride = kvStride = 3C).
   * Writes out and lse[(b·H + h)·Tq + i] = logsumexp_j(scale · q·k_j) over the visible keys, which
   * the backward pass needs. Elements of `out` outside the written head blocks are left untouched.
   * With s.dropout = p > 0: out_i = Σ_j (m_ij/(1 − p)) P_ij v_j, the mask m from the hash of
   * s.dropoutSeed (attentionDropKeep); lse is still that of the undropped scores.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void;
  /**
   * Backward of attention given q, k, v, out, lse from the forward pass and dout (laid out like out):
   * OVERWRITES dq, dk, dv (laid out like q, k, v: same strides; they may be views into one fused
   * dQKV buffer). Uses the softmax Jacobian in its vectorised form, dS = P ⊙ (dP − rowsum(dO ⊙ O)),
   * recomputing P row block by row block; masked positions get exactly zero gradient. With dropout
   * (the same s as the forward: the mask is regenerated, never stored), c = m/(1 − p):
   * dV_j = Σ_i c_ij P_ij dO_i, dP_ij = c_ij dO_i·v_j, and dS = P ⊙ (dP − rowsum(dO ⊙ O)) still holds
   * because O is the dropped output (src/backends/reference/attention.ts).
   */
  attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void;

  /** SwiGLU gate: gu [rows, 2F] holds a (first F columns) then b; out[rows, F] = silu(a) ⊙ b. */
  swiglu(gu: Tensor, out: Tensor, rows: number, F: number): void;
  /** Backward of swiglu: OVERWRITES dgu [rows, 2F] (da then db) from gu and dout [rows, F]. */
  swigluBackward(gu: Tensor, dout: Tensor, dgu: Tensor, rows: number, F: number): void;

  /**
   * Grouped GEMM over G groups of token rows (the experts of an MoE layer), with the group
   * boundaries on the backend (offsets: G+1 ints, offsets[0] = 0, non-decreasing; group g owns
   * token rows [offsets[g], offsets[g+1])). Rows of A/C outside every group are not touched.
   *  'nn': C[rows_g, n]  = A[rows_g, k] · B_g          B = [G, k, n] (B_g is k×n)
   *  'nt': C[rows_g, n]  = A[rows_g, k] · B_gᵀ         B = [G, n, k] (B_g is n×k)
   *  'tn': C_g[k, n]    += A[rows_g, k]ᵀ · B[rows_g, n]   C = [G, k, n]: per-group weight gradient
   *        (always accumulates; a group with no rows leaves C_g exactly as it was).
   * For 'nn'/'nt', beta 0 overwrites and 1 accumulates into C's group rows.
   */
  groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: IntTensor, n: number, k: number,
    A: Tensor, B: Tensor, beta: 0 | 1, C: Tensor): void;

  /**
   * MoE router, forward: probs[t,:] = softmax(logits[t,:]) over E experts; lse[t] = logsumexp of
   * the logits row (for the z-loss); topIdx[t,j] (j < k, k = 1 or 2) the k largest probabilities
   * in descending order (ties: the lower index first); topGate[t,j] = probs[t, topIdx[t,j]],
   * divided by Σ_j probs[t, topIdx[t,j]] when renormalize.
   */
  moeRoute(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void;
  /**
   * MoE dispatch plan from topIdx [n, k]. Assignments (t, j) are grouped by expert into a
   * dispatched buffer of n·k rows: expert e owns rows [offsets[e], offsets[e+1]). Priority
   * (which assignments are kept when an expert is over capacity, and the row order inside a
   * group): rank j = 0 for all tokens first, then j = 1; within a rank, lower t first.
   * capacity < 0: dropless. Writes slot[t,j] = the assignment's dispatched row, or −1 when
   * dropped; rowToken[r] = the token of dispatched row r (rows ≥ offsets[E] get 0 and are unused);
   * offsets [E+1]; routed[e] = assignments to e before dropping (for the balance loss and stats).
   */
  moePlan(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
    slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void;
  /**
   * Combine: y[t,:] = Σ_j topGate[t,j] · yd[slot[t,j],:] over kept assignments (slot ≥ 0);
   * OVERWRITES y [n, C] (a token with no kept assignment gets zeros).
   */
  moeCombine(yd: Tensor, slot: IntTensor, topGate: Tensor, y: Tensor, n: number, k: number, C: number): void;
  /**
   * Backward of moeCombine: OVERWRITES dyd [n·k, C] (row slot[t,j] = topGate[t,j] · dy[t]; every
   * other row zero) and dgate [n, k] (dy[t] · yd[slot[t,j]], 0 for dropped assignments).
   */
  moeCombineBackward(yd: Tensor, slot: IntTensor, topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor,
    n: number, k: number, C: number): void;
  /**
   * Router backward: from dgate [n, k] to dlogits [n, E] (OVERWRITTEN), through the gate
   * renormalisation (when renormalize) and the softmax, plus the auxiliary-loss terms:
   *   dp[t,i] += balanceGrad[i] (the balance loss's constant per-expert gradient α·E·f_i/n;
   *              pass null for none) and dlogits[t,i] += zGrad · lse[t] · probs[t,i]
   *              (the router z-loss β·mean lse², zGrad = 2β/n; pass 0 for none).
   */
  moeRouteBackward(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
    balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void;
  /**
   * MoE auxiliary losses and routing counts of one forward, computed where the routing lives so
   * that a training forward needs no host read. From moeRoute's probs [n, E] and lse [n] and
   * moePlan's offsets [E+1] and routed [E], with f_e = routed[e] / (n·k):
   *   balanceGrad[e] = α·E·f_e / n                              OVERWRITTEN (moeRouteBackward's input)
   *   loss[0] = α·E·Σ_e f_e·P_e,  P_e = (1/n)·Σ_t probs[t,e]     the balance loss, OVERWRITTEN
   *   loss[1] = β·(1/n)·Σ_t lse[t]²                              the router z-loss, OVERWRITTEN
   *   counts[e] = offsets[e+1] − offsets[e] (kept), counts[E+e] = routed[e]   OVERWRITTEN
   * (α = balanceCoef, β = zLossCoef; 0 gives exact zeros). With `accumulate`, also running totals:
   *   loss[2] += loss[0], loss[3] += loss[1], counts[2E+e] += kept, counts[3E+e] += routed[e]
   * (loss then needs 4 elements and counts 4E; without, 2 and 2E). The sums use a double accumulator.
   */
  moeAuxLoss(probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    balanceCoef: number, zLossCoef: number, balanceGrad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean): void;

  // ==== associative memory ======================================================================
  /**
   * The inner loop of an associative memory, src/layers/linear-memory.ts (its header
   * writes out the maths of both passes), over B independent sequences of T steps, each starting
   * from M = 0. k and q are [B·T, dk], v is [B·T, dv], rows b·T + t (batch-major; rows s.xStride
   * apart when given, and y's s.yStride apart: see MemoryShape). OVERWRITES (s.accumulate: adds to)
   * y [B·T, dv] (y_t = M_t q_t, M_t the committed state after step t) and fills `saved`, which
   * must hold at least memorySavedSize(s) elements (src/ops/memory-recurrence.ts), laid out as
   *   R [B, n, dv·dk]    the committed states, n = ⌊T/C⌋ + 1: R[b, c] after c commits (R[b, 0] = 0),
   *                      row-major [dv, dk]; step t reads R[b, ⌊t/C⌋]. TIME-REVERSED within a
   *                      sequence, R[b, c] at element (b·n + n − 1 − c)·dv·dk, so that the backward
   *                      pass, walking t downwards, reads it in ascending order (memoryStateOffset);
   *   Adam only: m, u, A [B·T, dv·dk] each: the moments and the accumulated gradient at the
   *              commit of step t (row b·T + t − 1; rows of steps without a commit unspecified);
   *   a working area of memoryWorkSize(dk, dv) = 5·dv·dk + 2·dv + 2·dk elements (unspecified;
   *   so that the op allocates nothing).
   * With s.heads = H, everything above holds for each of the H memories, and `saved` is laid out
   * for H·B sequences (B read as H·B above; memory h's sequence b is slot h·B + b).
   * y may not overlap k, v, q or saved (k, v and q may be interleaved columns of one matrix).
   */
  memoryForward(k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor, s: MemoryShape): void;
  /**
   * Backward of memoryForward (BPTT through every update), given its inputs, its `saved` and
   * dy [B·T, dv]: OVERWRITES dk, dq [B·T, dk] and dv [B·T, dv] (rows s.xStride apart when given,
   * dy's s.yStride: so dk, dv, dq may be interleaved columns of one matrix, but overlap none of
   * k, v, q, dy, saved; s.accumulate is ignored). With s.normalize, dk and dq are the gradients of
   * the raw keys and queries. May overwrite the working area of
   * `saved`, never R or the Adam blocks (backward may run again from the same forward).
   */
  memoryBackward(k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor, dk: Tensor, dv: Tensor, dq: Tensor,
    s: MemoryShape): void;

  /** Frees worker threads and other resources. The ops object is unusable afterwards. */
  dispose(): void;
}
