// Reference implementation of the associative-memory recurrence (Ops.memoryForward and
// memoryBackward in src/ops/types.ts; the maths of both passes is written out in the header of
// src/layers/linear-memory.ts): B sequences of T steps, each step the memoryWrite / memoryRead of
// src/ops/memory-recurrence.ts (the definition of one step, which the memory-lm sampler also
// steps token by token). These functions on raw typed arrays are the specification: the
// reference backend delegates to them, and the WASM kernel (assembly/memory_recurrence.ts) is
// tested against them.
//
// As every reference family file (./index.ts): typed arrays in (Float32Array or Float64Array), no argument checks
// (src/ops/checked.ts runs them), no allocation per call. The running state is float64 whatever
// the arrays' type (a `MemoryState`, cached per (dk, dv) here), rounded only when stored.
import type { FloatArray, MemoryShape } from '../../ops/types.js';
import {
  MemoryState, memoryAdamBlock, memoryAdamOffset, memoryKeyHeadStride, memoryKeyStride, memoryNormalizeRow,
  memoryNormalizeRowBackward, memoryOutHeadStride, memoryOutStride, memoryRead, memorySlots, memoryStateOffset,
  memoryValueHeadStride, memoryValueStride, memoryWrite,
} from '../../ops/memory-recurrence.js';

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

// With MemoryShape.normalize: the step's k̂ and q̂ (float64), re-made only when dk changes.
let kHat = new Float64Array(0);
let qHat = new Float64Array(0);
function hatsFor(dk: number): void {
  if (kHat.length !== dk) { kHat = new Float64Array(dk); qHat = new Float64Array(dk); }
}

/** Ops.memoryForward: B sequences of T steps from M = 0; writes y and `saved` (R at every commit, Adam blocks). */
export function memoryForward(k: ArrayLike<number>, v: ArrayLike<number>, q: ArrayLike<number>, y: { [i: number]: number },
  saved: FloatArray, s: MemoryShape): void {
  const { B, T, dk, dv } = s, S = dk * dv, adam = memoryAdamBlock(s);
  const ks = memoryKeyStride(s), vs = memoryValueStride(s), ys = memoryOutStride(s), norm = s.normalize === true;
  const st = stateFor('fwd', dk, dv), mBase = memoryAdamOffset(s);
  const kh = memoryKeyHeadStride(s), vh = memoryValueHeadStride(s), yh = memoryOutHeadStride(s);
  hatsFor(dk);
  // Sequence slot sb = h·B + b: memory h (MemoryShape.heads), sequence b.
  for (let sb = 0; sb < memorySlots(s); sb++) {
    const h = Math.floor(sb / B), b = sb - h * B;
    st.reset();
    saved.fill(0, memoryStateOffset(s, sb, 0), memoryStateOffset(s, sb, 0) + S); // R[sb, 0] = 0
    for (let t = 1; t <= T; t++) {
      const row = b * T + t - 1, so = mBase + (sb * T + t - 1) * S;
      let kk: ArrayLike<number> = k, ko = h * kh + row * ks, qq: ArrayLike<number> = q, qo = h * kh + row * ks;
      if (norm) {
        memoryNormalizeRow(k, ko, kHat, dk); memoryNormalizeRow(q, qo, qHat, dk);
        kk = kHat; ko = 0; qq = qHat; qo = 0;
      }
      memoryWrite(s, st, kk, ko, v, h * vh + row * vs, saved, so, so + adam, so + 2 * adam);
      if (t % s.period === 0) saved.set(st.M, memoryStateOffset(s, sb, t)); // a new committed state
      memoryRead(st, qq, qo, y, h * yh + row * ys, s.accumulate === true);
    }
  }
}

/** Ops.memoryBackward: BPTT from `saved` and dy; overwrites dk, dv, dq. */
export function memoryBackward(kIn: ArrayLike<number>, v: ArrayLike<number>, qIn: ArrayLike<number>, saved: FloatArray,
  dY: ArrayLike<number>, dK: { [i: number]: number }, dV: { [i: number]: number }, dQ: { [i: number]: number },
  s: MemoryShape): void {
  const { B, T, dk, dv, period: C, eta, optimizer } = s, S = dk * dv, R = saved;
  const adam = memoryAdamBlock(s), mBase = memoryAdamOffset(s), uBase = mBase + adam, aBase = mBase + 2 * adam;
  const st = stateFor('bwd', dk, dv);
  const { M: dM, A: dA, Sm: dS, m: dm, u: du, e, de } = st;
  const ks = memoryKeyStride(s), vs = memoryValueStride(s), ys = memoryOutStride(s), norm = s.normalize === true;
  const kh = memoryKeyHeadStride(s), vh = memoryValueHeadStride(s), yh = memoryOutHeadStride(s);
  hatsFor(dk);
  for (let sb = 0; sb < memorySlots(s); sb++) {
    const h = Math.floor(sb / B), b = sb - h * B;
    st.reset();
    let commits = Math.floor(T / C);
    for (let t = T; t >= 1; t--) {
      const row = b * T + t - 1, xo = h * kh + row * ks, vo = h * vh + row * vs, yo = h * yh + row * ys;
      // k and q as the recurrence saw them (normalised: k̂, q̂ at offset 0); dK, dQ rows at xo.
      let k: ArrayLike<number> = kIn, ko = xo, q: ArrayLike<number> = qIn, qo = xo, kn = 1, qn = 1;
      if (norm) {
        kn = memoryNormalizeRow(kIn, xo, kHat, dk); qn = memoryNormalizeRow(qIn, xo, qHat, dk);
        k = kHat; ko = 0; q = qHat; qo = 0;
      }
      const Rt = memoryStateOffset(s, sb, t), Rp = memoryStateOffset(s, sb, t - 1);
      // read y_t = R_t q_t
      for (let j = 0; j < dk; j++) dQ[xo + j] = 0;
      for (let i = 0; i < dv; i++) {
        const g = dY[yo + i];
        for (let j = 0; j < dk; j++) { dM[i * dk + j] += g * q[qo + j]; dQ[xo + j] += R[Rt + i * dk + j] * g; }
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
          const so = (sb * T + t - 1) * S;
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
          dK[xo + j] = sum;
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
          dK[xo + j] = sum;
        }
      }
      if (norm) { memoryNormalizeRowBackward(kHat, kn, dK, xo, dk); memoryNormalizeRowBackward(qHat, qn, dQ, xo, dk); }
    }
  }
}
