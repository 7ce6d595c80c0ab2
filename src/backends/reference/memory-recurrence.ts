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
import { MemoryState, memoryAdamBlock, memoryAdamOffset, memoryRead, memoryStateOffset, memoryWrite } from '../../ops/memory-recurrence.js';

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
