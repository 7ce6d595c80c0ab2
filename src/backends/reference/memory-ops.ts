// Reference implementation of the associative-memory recurrence (Ops.memoryForward and
// memoryBackward in src/ops/types.ts; the maths of both passes is written out in the header of
// src/layers/linear-memory.ts). These functions on raw typed arrays ARE the specification: the
// reference backend delegates to them, the WASM kernel (assembly/memory_recurrence.ts) is tested
// against them, the layer runs them on `.data` where a backend lacks the op (CUDA), and the
// memory-lm sampler steps one sequence with memoryWrite / memoryRead.
//
// As in ./transformer-ops.ts: typed arrays in (Float32Array or Float64Array), no argument checks
// (the Ops wrapper checks), no allocation per call. The running state is float64 whatever the
// arrays' type (a `MemoryState`, cached per (dk, dv) here), rounded only when stored.
import type { FloatArray, MemoryShape } from '../../ops/types.js';
import { memoryAdamBlock, memoryAdamOffset, memoryStateOffset } from '../../ops/memory.js';

/** The inner hyper-parameters a step needs (a MemoryShape has them all). */
export type MemoryRuleParams = Pick<MemoryShape, 'dk' | 'dv' | 'rule' | 'optimizer' | 'eta' | 'beta' | 'beta1' | 'beta2' | 'eps' | 'period'>;

/**
 * One sequence's running state: the committed memory M, the accumulated inner gradient A, the
 * momentum S, Adam's m and u (all [dv·dk]), e [dv], the step count t and the number of commits.
 * The backward pass reuses the same shapes for the adjoints dM, dA, dS, dm, du, e and de.
 */
export class MemoryState {
  readonly M: Float64Array;
  readonly A: Float64Array;
  readonly Sm: Float64Array;
  readonly m: Float64Array;
  readonly u: Float64Array;
  readonly e: Float64Array;
  readonly de: Float64Array;
  t = 0;
  commits = 0;

  constructor(readonly dk: number, readonly dv: number) {
    const S = dk * dv;
    this.M = new Float64Array(S); this.A = new Float64Array(S); this.Sm = new Float64Array(S);
    this.m = new Float64Array(S); this.u = new Float64Array(S);
    this.e = new Float64Array(dv); this.de = new Float64Array(dv);
  }

  /** Back to M = 0, t = 0 (a new sequence). */
  reset(): void {
    this.M.fill(0); this.A.fill(0); this.Sm.fill(0); this.m.fill(0); this.u.fill(0);
    this.t = 0; this.commits = 0;
  }
}

// One forward and one backward state, re-made only when (dk, dv) changes (every memory of a model
// usually has the same shape, so in practice once).
let fwdState: MemoryState | null = null;
let bwdState: MemoryState | null = null;
function stateFor(which: 'fwd' | 'bwd', dk: number, dv: number): MemoryState {
  let st = which === 'fwd' ? fwdState : bwdState;
  if (st === null || st.dk !== dk || st.dv !== dv) {
    st = new MemoryState(dk, dv);
    if (which === 'fwd') fwdState = st; else bwdState = st;
  }
  return st;
}

/**
 * The write of one step (t ← t + 1): A += G_t at the committed state M (key k at ko, value v at
 * vo), then, when t % C = 0, the inner optimiser's commit of A (and A ← 0). At a commit with Adam
 * and `saved` given, stores m, u and A (before its reset) at saved[mo…], saved[uo…], saved[ao…].
 */
export function memoryWrite(p: MemoryRuleParams, st: MemoryState, k: ArrayLike<number>, ko: number,
  v: ArrayLike<number>, vo: number, saved: FloatArray | null = null, mo = 0, uo = 0, ao = 0): void {
  const { dk, dv, eta } = p, S = dk * dv, { M, A, e } = st;
  if (p.rule === 'delta') {
    for (let i = 0; i < dv; i++) {
      let s = -v[vo + i];
      for (let j = 0; j < dk; j++) s += M[i * dk + j] * k[ko + j];
      e[i] = s;
    }
  } else {
    for (let i = 0; i < dv; i++) e[i] = -v[vo + i];
  }
  for (let i = 0; i < dv; i++) for (let j = 0; j < dk; j++) A[i * dk + j] += e[i] * k[ko + j];
  st.t++;
  if (st.t % p.period !== 0) return;
  st.commits++;
  if (p.optimizer === 'gd') {
    for (let x = 0; x < S; x++) M[x] -= eta * A[x];
  } else if (p.optimizer === 'momentum') {
    const Sm = st.Sm;
    for (let x = 0; x < S; x++) { Sm[x] = p.beta * Sm[x] - eta * A[x]; M[x] += Sm[x]; }
  } else {
    const { beta1: b1, beta2: b2, eps } = p, { m, u } = st;
    const c1 = 1 / (1 - b1 ** st.commits), c2 = 1 / (1 - b2 ** st.commits);
    for (let x = 0; x < S; x++) {
      m[x] = b1 * m[x] + (1 - b1) * A[x];
      u[x] = b2 * u[x] + (1 - b2) * A[x] * A[x];
      M[x] -= eta * c1 * m[x] / Math.sqrt(c2 * u[x] + eps);
    }
    if (saved !== null) {
      for (let x = 0; x < S; x++) { saved[mo + x] = m[x]; saved[uo + x] = u[x]; saved[ao + x] = A[x]; }
    }
  }
  A.fill(0);
}

/** The read y = M q (q at qo; y[yo … yo + dv) overwritten). */
export function memoryRead(st: MemoryState, q: ArrayLike<number>, qo: number, y: { [i: number]: number }, yo: number): void {
  const { dk, dv, M } = st;
  for (let i = 0; i < dv; i++) {
    let s = 0;
    for (let j = 0; j < dk; j++) s += M[i * dk + j] * q[qo + j];
    y[yo + i] = s;
  }
}

/** Ops.memoryForward: B sequences of T steps from M = 0; writes y and `saved` (R at every commit, Adam blocks). */
export function memoryForward(k: ArrayLike<number>, v: ArrayLike<number>, q: ArrayLike<number>, y: { [i: number]: number },
  saved: FloatArray, s: MemoryShape): void {
  const { B, T, dk, dv } = s, S = dk * dv, adam = memoryAdamBlock(s);
  const st = stateFor('fwd', dk, dv), mBase = memoryAdamOffset(s);
  for (let b = 0; b < B; b++) {
    st.reset();
    saved.fill(0, memoryStateOffset(s, b, 0), memoryStateOffset(s, b, 0) + S); // R[b, 0] = 0
    for (let t = 1; t <= T; t++) {
      const row = b * T + t - 1, so = mBase + row * S;
      memoryWrite(s, st, k, row * dk, v, row * dv, saved, so, so + adam, so + 2 * adam);
      if (t % s.period === 0) saved.set(st.M, memoryStateOffset(s, b, t)); // a new committed state
      memoryRead(st, q, row * dk, y, row * dv);
    }
  }
}

/** Ops.memoryBackward: BPTT from `saved` and dy; overwrites dk, dv, dq. */
export function memoryBackward(k: ArrayLike<number>, v: ArrayLike<number>, q: ArrayLike<number>, saved: FloatArray,
  dY: ArrayLike<number>, dK: { [i: number]: number }, dV: { [i: number]: number }, dQ: { [i: number]: number },
  s: MemoryShape): void {
  const { B, T, dk, dv, period: C, eta, optimizer } = s, S = dk * dv, R = saved;
  const adam = memoryAdamBlock(s), mBase = memoryAdamOffset(s), uBase = mBase + adam, aBase = mBase + 2 * adam;
  const st = stateFor('bwd', dk, dv);
  const { M: dM, A: dA, Sm: dS, m: dm, u: du, e, de } = st;
  for (let b = 0; b < B; b++) {
    st.reset();
    let commits = Math.floor(T / C);
    for (let t = T; t >= 1; t--) {
      const row = b * T + t - 1, ko = row * dk, vo = row * dv, qo = row * dk;
      const Rt = memoryStateOffset(s, b, t), Rp = memoryStateOffset(s, b, t - 1);
      // read y_t = R_t q_t
      for (let j = 0; j < dk; j++) dQ[qo + j] = 0;
      for (let i = 0; i < dv; i++) {
        const g = dY[vo + i];
        for (let j = 0; j < dk; j++) { dM[i * dk + j] += g * q[qo + j]; dQ[qo + j] += R[Rt + i * dk + j] * g; }
      }
      // commit
      if (t % C === 0) {
        if (optimizer === 'gd') {
          for (let x = 0; x < S; x++) dA[x] = -eta * dM[x];
        } else if (optimizer === 'momentum') {
          for (let x = 0; x < S; x++) { dS[x] += dM[x]; dA[x] = -eta * dS[x]; dS[x] *= s.beta; }
        } else {
          const { beta1: b1, beta2: b2, eps } = s;
          const c1 = 1 / (1 - b1 ** commits), c2 = 1 / (1 - b2 ** commits);
          const so = row * S;
          for (let x = 0; x < S; x++) {
            const mx = saved[mBase + so + x], ux = saved[uBase + so + x], D = Math.sqrt(c2 * ux + eps);
            dm[x] += dM[x] * (-eta * c1 / D);
            du[x] += dM[x] * (eta * c1 * mx * c2 / (2 * D * D * D));
            dA[x] = (1 - b1) * dm[x] + 2 * (1 - b2) * saved[aBase + so + x] * du[x];
            dm[x] *= b1; du[x] *= b2;
          }
        }
        commits--;
      }
      // A += G_t (dG = dA)
      if (s.rule === 'delta') {
        for (let i = 0; i < dv; i++) {
          let sum = -v[vo + i], g = 0;
          for (let j = 0; j < dk; j++) { sum += R[Rp + i * dk + j] * k[ko + j]; g += dA[i * dk + j] * k[ko + j]; }
          e[i] = sum; de[i] = g;
        }
        for (let j = 0; j < dk; j++) {
          let sum = 0;
          for (let i = 0; i < dv; i++) sum += dA[i * dk + j] * e[i] + R[Rp + i * dk + j] * de[i];
          dK[ko + j] = sum;
        }
        for (let i = 0; i < dv; i++) {
          dV[vo + i] = -de[i];
          for (let j = 0; j < dk; j++) dM[i * dk + j] += de[i] * k[ko + j];
        }
      } else {
        for (let i = 0; i < dv; i++) {
          let g = 0;
          for (let j = 0; j < dk; j++) g += dA[i * dk + j] * k[ko + j];
          dV[vo + i] = -g;
        }
        for (let j = 0; j < dk; j++) {
          let sum = 0;
          for (let i = 0; i < dv; i++) sum -= dA[i * dk + j] * v[vo + i];
          dK[ko + j] = sum;
        }
      }
    }
  }
}
