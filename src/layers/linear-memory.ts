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
// Backward (BPTT through every memory update). The forward pass STORES the committed state R_t
// after every step t (R_0 = 0), and for Adam the moments m, u and the accumulated A at each
// commit: O(T·dv·dk) per sequence, fine for the model sizes here (recomputing from checkpoints
// every √T steps would trade that for one more forward pass; left for when it matters).
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
// The inner loops are small matrix-vector products on the host (`.data`), like the head split in
// attention.ts: there is no ops kernel for them yet, so this runs on any backend, unaccelerated.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { RowBuffer } from './buffer.js';

export type MemoryRule = 'hebbian' | 'delta';
export type MemoryOptimizer = 'gd' | 'momentum' | 'adam';

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
  // Saved forward state: R [B, T+1, dv·dk]; Adam: m, u, A at commits [B, T, dv·dk].
  private R = new Float64Array(0);
  private mS = new Float64Array(0);
  private uS = new Float64Array(0);
  private aS = new Float64Array(0);
  private lastB = 0;
  private lastT = 0;
  // Per-sequence working state of forward and backward ([dv·dk] and [dv] each), made once: the
  // sizes are fixed by dk and dv, and these run for every head and level at every step.
  private readonly w: Float64Array[];
  private readonly e: Float64Array;
  private readonly de: Float64Array;

  constructor(readonly dk: number, readonly dv: number, opts: MemoryCoreOptions = {}) {
    this.w = Array.from({ length: 5 }, () => new Float64Array(dk * dv));
    this.e = new Float64Array(dv);
    this.de = new Float64Array(dv);
    this.rule = opts.rule ?? 'delta';
    this.optimizer = opts.optimizer ?? 'gd';
    this.eta = opts.eta ?? 1;
    this.beta = opts.beta ?? 0.9;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.period = opts.period ?? 1;
    if (!Number.isInteger(this.period) || this.period < 1) throw new RangeError(`memory: period must be an integer ≥ 1, got ${this.period}`);
  }

  /** The committed memory of sequence b after step t (t = 0: the zero start), [dv, dk] row-major. */
  state(b: number, t: number): Float64Array {
    const S = this.dk * this.dv;
    return this.R.slice((b * (this.lastT + 1) + t) * S, (b * (this.lastT + 1) + t + 1) * S);
  }

  /** Writes Y (overwrites) and saves the states for backward. */
  forward(K: ArrayLike<number>, V: ArrayLike<number>, Q: ArrayLike<number>, Y: { [i: number]: number }, B: number, T: number): void {
    const { dk, dv, period: C, eta, optimizer } = this;
    const S = dk * dv;
    this.lastB = B; this.lastT = T;
    if (this.R.length < B * (T + 1) * S) this.R = new Float64Array(B * (T + 1) * S);
    if (optimizer === 'adam' && this.mS.length < B * T * S) {
      this.mS = new Float64Array(B * T * S); this.uS = new Float64Array(B * T * S); this.aS = new Float64Array(B * T * S);
    }
    const [M, A, Sm, m, u] = this.w, e = this.e;
    for (let b = 0; b < B; b++) {
      M.fill(0); A.fill(0); Sm.fill(0); m.fill(0); u.fill(0);
      let commits = 0;
      const base = b * (T + 1) * S;
      this.R.fill(0, base, base + S);
      for (let t = 1; t <= T; t++) {
        const row = b * T + t - 1, ko = row * dk, vo = row * dv;
        // A += G_t at the committed state M.
        if (this.rule === 'delta') {
          for (let i = 0; i < dv; i++) {
            let s = -V[vo + i];
            for (let j = 0; j < dk; j++) s += M[i * dk + j] * K[ko + j];
            e[i] = s;
          }
        } else {
          for (let i = 0; i < dv; i++) e[i] = -V[vo + i];
        }
        for (let i = 0; i < dv; i++) for (let j = 0; j < dk; j++) A[i * dk + j] += e[i] * K[ko + j];
        if (t % C === 0) {
          commits++;
          if (optimizer === 'gd') {
            for (let x = 0; x < S; x++) M[x] -= eta * A[x];
          } else if (optimizer === 'momentum') {
            for (let x = 0; x < S; x++) { Sm[x] = this.beta * Sm[x] - eta * A[x]; M[x] += Sm[x]; }
          } else {
            const { beta1: b1, beta2: b2, eps } = this;
            const c1 = 1 / (1 - b1 ** commits), c2 = 1 / (1 - b2 ** commits);
            const so = row * S;
            for (let x = 0; x < S; x++) {
              m[x] = b1 * m[x] + (1 - b1) * A[x];
              u[x] = b2 * u[x] + (1 - b2) * A[x] * A[x];
              M[x] -= eta * c1 * m[x] / Math.sqrt(c2 * u[x] + eps);
              this.mS[so + x] = m[x]; this.uS[so + x] = u[x]; this.aS[so + x] = A[x];
            }
          }
          A.fill(0);
        }
        this.R.set(M, base + t * S);
        const qo = row * dk;
        for (let i = 0; i < dv; i++) {
          let s = 0;
          for (let j = 0; j < dk; j++) s += M[i * dk + j] * Q[qo + j];
          Y[vo + i] = s;
        }
      }
    }
  }

  /** Given dY [B·T, dv]: writes dK, dQ [B·T, dk] and dV [B·T, dv] (overwrites). Uses the last forward. */
  backward(K: ArrayLike<number>, V: ArrayLike<number>, Q: ArrayLike<number>, dY: ArrayLike<number>,
    dK: { [i: number]: number }, dV: { [i: number]: number }, dQ: { [i: number]: number }): void {
    const { dk, dv, period: C, eta, optimizer } = this;
    const B = this.lastB, T = this.lastT, S = dk * dv, R = this.R;
    const [dM, dA, dS, dm, du] = this.w, e = this.e, de = this.de;
    for (let b = 0; b < B; b++) {
      dM.fill(0); dA.fill(0); dS.fill(0); dm.fill(0); du.fill(0);
      let commits = Math.floor(T / C);
      const base = b * (T + 1) * S;
      for (let t = T; t >= 1; t--) {
        const row = b * T + t - 1, ko = row * dk, vo = row * dv, qo = row * dk;
        const Rt = base + t * S, Rp = base + (t - 1) * S;
        // read y_t = R_t q_t
        for (let j = 0; j < dk; j++) dQ[qo + j] = 0;
        for (let i = 0; i < dv; i++) {
          const g = dY[vo + i];
          for (let j = 0; j < dk; j++) { dM[i * dk + j] += g * Q[qo + j]; dQ[qo + j] += R[Rt + i * dk + j] * g; }
        }
        // commit
        if (t % C === 0) {
          if (optimizer === 'gd') {
            for (let x = 0; x < S; x++) dA[x] = -eta * dM[x];
          } else if (optimizer === 'momentum') {
            for (let x = 0; x < S; x++) { dS[x] += dM[x]; dA[x] = -eta * dS[x]; dS[x] *= this.beta; }
          } else {
            const { beta1: b1, beta2: b2, eps } = this;
            const c1 = 1 / (1 - b1 ** commits), c2 = 1 / (1 - b2 ** commits);
            const so = row * S;
            for (let x = 0; x < S; x++) {
              const mx = this.mS[so + x], ux = this.uS[so + x], D = Math.sqrt(c2 * ux + eps);
              dm[x] += dM[x] * (-eta * c1 / D);
              du[x] += dM[x] * (eta * c1 * mx * c2 / (2 * D * D * D));
              dA[x] = (1 - b1) * dm[x] + 2 * (1 - b2) * this.aS[so + x] * du[x];
              dm[x] *= b1; du[x] *= b2;
            }
          }
          commits--;
        }
        // A += G_t (dG = dA)
        if (this.rule === 'delta') {
          for (let i = 0; i < dv; i++) {
            let s = -V[vo + i], g = 0;
            for (let j = 0; j < dk; j++) { s += R[Rp + i * dk + j] * K[ko + j]; g += dA[i * dk + j] * K[ko + j]; }
            e[i] = s; de[i] = g;
          }
          for (let j = 0; j < dk; j++) {
            let s = 0;
            for (let i = 0; i < dv; i++) s += dA[i * dk + j] * e[i] + R[Rp + i * dk + j] * de[i];
            dK[ko + j] = s;
          }
          for (let i = 0; i < dv; i++) {
            dV[vo + i] = -de[i];
            for (let j = 0; j < dk; j++) dM[i * dk + j] += de[i] * K[ko + j];
          }
        } else {
          for (let i = 0; i < dv; i++) {
            let g = 0;
            for (let j = 0; j < dk; j++) g += dA[i * dk + j] * K[ko + j];
            dV[vo + i] = -g;
          }
          for (let j = 0; j < dk; j++) {
            let s = 0;
            for (let i = 0; i < dv; i++) s -= dA[i * dk + j] * V[vo + i];
            dK[ko + j] = s;
          }
        }
      }
    }
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
    this.core = new MemoryCore(dk, dv, opts);
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
    this.core.forward(k.data, v.data, q.data, y.data, B, T);
  }

  /** Accumulates the projections' gradients; writes dx (or adds to it, with accumulateDx). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T;
    const v = this.v.rows(n);
    const k = this.normalize ? this.k.rows(n) : this.kRaw.rows(n), q = this.normalize ? this.q.rows(n) : this.qRaw.rows(n);
    const dk = this.dk_.rows(n), dq = this.dq_.rows(n), dv = this.dv_.rows(n);
    this.core.backward(k.data, v.data, q.data, dy.data, dk.data, dv.data, dq.data);
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
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c] ** 2;
    const nrm = Math.max(Math.sqrt(s), 1e-12);
    norms[r] = nrm;
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] / nrm;
  }
}

/** Given y = x/‖x‖ and dy: dy ← (dy − y (y·dy)) / ‖x‖, in place. */
export function l2NormalizeBackward(y: ArrayLike<number>, norms: Float64Array, dy: { [i: number]: number }, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += y[r * cols + c] * dy[r * cols + c];
    for (let c = 0; c < cols; c++) dy[r * cols + c] = (dy[r * cols + c] - y[r * cols + c] * dot) / norms[r];
  }
}
