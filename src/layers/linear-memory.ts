// Linear attention as an associative memory (Nested Learning, Behrouz et al. 2025: a linear-
// attention layer IS a memory matrix trained by an inner optimiser, one step per token).
//
// Per sequence, a memory matrix M [dv, dk] starts at 0. At step t, with key k_t, value v_t and
// query q_t (projections of the input x_t, learned by the outer loop):
//
//   inner gradient  G_t = ∇_M ℓ(M; k_t, v_t) at the committed state M (see "period" below)
//     rule 'hebbian':  ℓ = −⟨M k, v⟩          G = −v kᵀ
//     rule 'delta':    ℓ = ½‖M k − v‖²        G = (M k − v) kᵀ
//   inner optimiser (applied to the accumulated gradient A; A = G_t when period = 1)
//     'gd':        M ← M − η A                       (hebbian + gd, η = 1: M_t = M_{t−1} + v_t k_tᵀ;
//                                                     delta + gd: the delta rule)
//     'momentum':  S ← β S − η A;  M ← M + S
//     'adam':      m ← β1 m + (1−β1) A;  u ← β2 u + (1−β2) A⊙A;   (n = number of updates so far)
//                  M ← M − η · (m / (1−β1ⁿ)) / √(u / (1−β2ⁿ) + ε)   elementwise (ε inside the root
//                  keeps the map smooth at u = 0, so the exact backward exists everywhere)
//   read            y_t = M q_t   (after the update of step t, if any)
//
// η, β, β1, β2, ε are FIXED hyper-parameters of the inner loop (not learned): the outer loop
// learns the projections, which already control the effective step (a larger ‖k‖ is a larger step
// for the delta rule). `normalize` L2-normalises keys and queries (k̂ = k/‖k‖); with it the delta
// rule at η = 1 writes M k_t = v_t exactly, and η ∈ (0, 2) keeps the memory stable.
//
// period C (the continuum memory of continuum-memory.ts uses C > 1; this layer's default is 1):
// the memory commits an update only every C steps. Between commits it ACCUMULATES the inner
// gradients A = Σ G_t, each taken at the last committed state (a mini-batch step over the chunk),
// and reads from the last committed state. At t = C, 2C, … it applies the optimiser to A, resets A,
// and step t reads the new state. A partial chunk at the end of a sequence is never committed.
//
// Backward (BPTT through every memory update). R_t is the committed state step t reads (R_0 = 0);
// it changes only at commits, so the forward pass STORES one state per commit (T/C + 1 per
// sequence), and for Adam the moments m, u and the accumulated A at each commit: O(T·dv·dk/C) per
// sequence, fine for the model sizes here (recomputing from checkpoints every √T steps would trade
// that for one more forward pass; left for when it matters).
// Walking t = T … 1 with adjoints dM (of the current committed state), dS / dm, du, and dA:
//   read:    dM += dy_t q_tᵀ;  dq_t = R_tᵀ dy_t
//   commit (when t % C = 0; A was reset afterwards, so dA from later steps is dropped):
//     gd:        dA = −η dM;                                            dM unchanged
//     momentum:  dS += dM;  dA = −η dS;  dS ← β dS;                     dM unchanged
//     adam:      dm += dM ⊙ (−η c1 / D);  du += dM ⊙ (η c1 m̂ c2 / (2 D³))  with D = √(c2 u + ε),
//                m̂ = m: dA = (1−β1) dm + 2(1−β2) A ⊙ du;  dm ← β1 dm;  du ← β2 du
//   accumulate A += G_t:  dG = dA
//     delta:   e = R_{t−1} k − v;  de = dG k;  dk = dGᵀ e + R_{t−1}ᵀ de;  dv = −de;  dM += de kᵀ
//     hebbian: dv = −dG k;  dk = −dGᵀ v
// (dM is then the adjoint of R_{t−1}, which is what the previous step reads and updates.)
//
// The recurrence itself is an op (Ops.memoryForward / memoryBackward: the reference loops in
// src/backends/reference/memory-recurrence.ts, a SIMD kernel on the WASM backend, the reference
// loops on the host mirrors on the CUDA backend).
import type { MemoryOptimizer, MemoryRule, MemoryShape, Ops, Tensor } from '../ops/types.js';
import { memorySavedSize, memoryStateOffset } from '../ops/memory-recurrence.js';
import type { Rng } from '../util/rng.js';
import type { Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { RowBuffer } from './buffer.js';

export type { MemoryOptimizer, MemoryRule } from '../ops/types.js';

export interface MemoryCoreOptions {
  rule?: MemoryRule;
  optimizer?: MemoryOptimizer;
  /** Inner learning rate η (default 1). */
  eta?: number;
  /** Momentum β (default 0.9); Adam uses beta1 / beta2 / eps. */
  beta?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Commit an update every `period` steps (default 1). */
  period?: number;
}

/**
 * The memory recurrence on raw keys, values and queries (no projections, no parameters).
 * K, Q [B·T, dk], V [B·T, dv], Y [B·T, dv], batch-major like attention.ts (row b·T + t).
 */
export class MemoryCore {
  readonly rule: MemoryRule;
  readonly optimizer: MemoryOptimizer;
  readonly eta: number;
  readonly beta: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly period: number;
  /** The shape of the last forward (B, T set per call; one object, no allocation per step). */
  readonly shape: MemoryShape;
  // What the forward saves for backward (layout: Ops.memoryForward). Grow-only.
  private saved: Tensor | null = null;

  constructor(private readonly ops: Ops, readonly dk: number, readonly dv: number, opts: MemoryCoreOptions = {}) {
    this.rule = opts.rule ?? 'delta';
    this.optimizer = opts.optimizer ?? 'gd';
    this.eta = opts.eta ?? 1;
    this.beta = opts.beta ?? 0.9;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.period = opts.period ?? 1;
    if (!Number.isInteger(this.period) || this.period < 1) throw new RangeError(`memory: period must be an integer ≥ 1, got ${this.period}`);
    this.shape = { B: 0, T: 0, dk, dv, rule: this.rule, optimizer: this.optimizer, eta: this.eta, beta: this.beta,
      beta1: this.beta1, beta2: this.beta2, eps: this.eps, period: this.period };
  }

  /** The committed memory of sequence b after step t (t = 0: the zero start), [dv, dk] row-major. Last forward. */
  state(b: number, t: number): Float64Array {
    const S = this.dk * this.dv, o = memoryStateOffset(this.shape, b, t);
    if (!this.saved) throw new Error('memory: state() before forward');
    return Float64Array.from(this.saved.data.subarray(o, o + S));
  }

  /** Writes Y (overwrites) and saves the states for backward. */
  forward(K: Tensor, V: Tensor, Q: Tensor, Y: Tensor, B: number, T: number): void {
    const s = this.shape;
    s.B = B; s.T = T;
    const need = memorySavedSize(s);
    if (this.saved === null || this.saved.size < need) this.saved = this.ops.tensor(need);
    this.ops.memoryForward(K, V, Q, Y, this.saved, s);
  }

  /** Given dY [B·T, dv]: writes dK, dQ [B·T, dk] and dV [B·T, dv] (overwrites). Uses the last forward. */
  backward(K: Tensor, V: Tensor, Q: Tensor, dY: Tensor, dK: Tensor, dV: Tensor, dQ: Tensor): void {
    if (!this.saved) throw new Error('memory: backward before forward');
    this.ops.memoryBackward(K, V, Q, this.saved, dY, dK, dV, dQ, this.shape);
  }
}

export interface LinearMemoryOptions extends MemoryCoreOptions {
  /** L2-normalise keys and queries (default false). */
  normalize?: boolean;
  /** Init of the three projections (default Xavier). */
  init?: Init;
}

/** x [B·T, inDim] → y [B·T, dv]: projections k = x·Wk, v = x·Wv, q = x·Wq (no biases), then MemoryCore. */
export class LinearMemory {
  readonly Wk: Linear;
  readonly Wv: Linear;
  readonly Wq: Linear;
  readonly core: MemoryCore;
  readonly normalize: boolean;
  // Saved: raw projections, normalised keys/queries and their norms.
  private readonly kRaw: RowBuffer; private readonly qRaw: RowBuffer; private readonly v: RowBuffer;
  private readonly k: RowBuffer; private readonly q: RowBuffer;
  private readonly dk_: RowBuffer; private readonly dq_: RowBuffer; private readonly dv_: RowBuffer;
  private kNorm = new Float64Array(0);
  private qNorm = new Float64Array(0);

  constructor(private readonly ops: Ops, name: string, readonly inDim: number, readonly dk: number, readonly dv: number,
    rng: Rng, opts: LinearMemoryOptions = {}) {
    const lin = { bias: false, init: opts.init };
    this.Wk = new Linear(ops, `${name}.Wk`, inDim, dk, rng, lin);
    this.Wv = new Linear(ops, `${name}.Wv`, inDim, dv, rng, lin);
    this.Wq = new Linear(ops, `${name}.Wq`, inDim, dk, rng, lin);
    this.core = new MemoryCore(ops, dk, dv, opts);
    this.normalize = opts.normalize ?? false;
    this.kRaw = new RowBuffer(ops, dk); this.qRaw = new RowBuffer(ops, dk); this.v = new RowBuffer(ops, dv);
    this.k = new RowBuffer(ops, dk); this.q = new RowBuffer(ops, dk);
    this.dk_ = new RowBuffer(ops, dk); this.dq_ = new RowBuffer(ops, dk); this.dv_ = new RowBuffer(ops, dv);
  }

  get params(): Param[] {
    return [...this.Wk.params, ...this.Wv.params, ...this.Wq.params];
  }

  /** x: [B·T, inDim] → y: [B·T, dv] (overwrites). */
  forward(x: Tensor, y: Tensor, B: number, T: number): void {
    const n = B * T;
    const kRaw = this.kRaw.rows(n), qRaw = this.qRaw.rows(n), v = this.v.rows(n);
    this.Wk.forward(x, kRaw, n); this.Wv.forward(x, v, n); this.Wq.forward(x, qRaw, n);
    let k = kRaw, q = qRaw;
    if (this.normalize) {
      if (this.kNorm.length < n) { this.kNorm = new Float64Array(n); this.qNorm = new Float64Array(n); }
      k = this.k.rows(n); q = this.q.rows(n);
      l2Normalize(kRaw.data, k.data, this.kNorm, n, this.dk);
      l2Normalize(qRaw.data, q.data, this.qNorm, n, this.dk);
    }
    this.core.forward(k, v, q, y, B, T);
  }

  /** Accumulates the projections' gradients; writes dx (or adds to it, with accumulateDx). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T;
    const v = this.v.rows(n);
    const k = this.normalize ? this.k.rows(n) : this.kRaw.rows(n), q = this.normalize ? this.q.rows(n) : this.qRaw.rows(n);
    const dk = this.dk_.rows(n), dq = this.dq_.rows(n), dv = this.dv_.rows(n);
    this.core.backward(k, v, q, dy, dk, dv, dq);
    if (this.normalize) {
      l2NormalizeBackward(k.data, this.kNorm, dk.data, n, this.dk);
      l2NormalizeBackward(q.data, this.qNorm, dq.data, n, this.dk);
    }
    this.Wk.backward(x, dk, dx, n, accumulateDx);
    this.Wv.backward(x, dv, dx, n, true);
    this.Wq.backward(x, dq, dx, n, true);
  }
}

/** y[r,:] = x[r,:] / ‖x[r,:]‖ (norm floored at 1e-12, saved in norms[r]). */
export function l2Normalize(x: ArrayLike<number>, y: { [i: number]: number }, norms: Float64Array, rows: number, cols: number): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    let s = 0;
    for (let c = 0; c < cols; c++) { const v = x[o + c]; s += v * v; }
    const nrm = Math.max(Math.sqrt(s), 1e-12);
    norms[r] = nrm;
    for (let c = 0; c < cols; c++) y[o + c] = x[o + c] / nrm;
  }
}

/** Given y = x/‖x‖ and dy: dy ← (dy − y (y·dy)) / ‖x‖, in place. */
export function l2NormalizeBackward(y: ArrayLike<number>, norms: Float64Array, dy: { [i: number]: number }, rows: number, cols: number): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += y[o + c] * dy[o + c];
    const nrm = norms[r];
    for (let c = 0; c < cols; c++) dy[o + c] = (dy[o + c] - y[o + c] * dot) / nrm;
  }
}
