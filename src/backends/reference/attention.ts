// Reference attention (Ops.attention, Ops.attentionBackward; the same family as assembly/attention.ts
// and native/attention.cu): the fused scaled-dot-product attention, forward and backward, on raw
// typed arrays (the conventions of every reference family file: ./index.ts).
import type { AttentionShape, FloatArray } from '../../ops/types.js';
import { f64Scratch } from './scratch.js';

/**
 * Number of keys query row i may see: all Tk without a mask, otherwise j ≤ i + qOffset (clamped to
 * 0…Tk; a query that sees no key gets zero output and lse = −∞).
 */
function visibleKeys(s: AttentionShape, i: number): number {
  if (!s.causal) return s.Tk;
  return Math.max(0, Math.min(s.Tk, i + s.qOffset + 1));
}

/**
 * Fused attention forward: for each (b, h, i), scores scale·q_i·k_j over the visible keys,
 * max-subtracted softmax, out_i = Σ_j p_j v_j, lse[(b·H + h)·Tq + i] = max + log Σ exp.
 * Only the head blocks of `out` are written.
 */
export function attentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
  s: AttentionShape): void {
  const { B, H, D, Tq, Tk, qStride, kvStride, oStride, scale } = s;
  const scores = f64Scratch('a', Tk), acc = f64Scratch('b', D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Tq; i++) {
        const qo = (b * Tq + i) * qStride + h * D, oo = (b * Tq + i) * oStride + h * D;
        const nk = visibleKeys(s, i);
        let max = -Infinity;
        for (let j = 0; j < nk; j++) {
          const ko = (b * Tk + j) * kvStride + h * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          const sc = scale * dot;
          scores[j] = sc;
          if (sc > max) max = sc;
        }
        acc.fill(0, 0, D);
        let sum = 0;
        for (let j = 0; j < nk; j++) {
          const e = Math.exp(scores[j] - max);
          sum += e;
          const vo = (b * Tk + j) * kvStride + h * D;
          for (let d = 0; d < D; d++) acc[d] += e * v[vo + d];
        }
        // nk = 0 (a fully masked row): sum = 0, so out = 0 rather than 0/0, and lse = −∞.
        const inv = sum > 0 ? 1 / sum : 0;
        for (let d = 0; d < D; d++) out[oo + d] = acc[d] * inv;
        lse[(b * H + h) * Tq + i] = nk > 0 ? max + Math.log(sum) : -Infinity;
      }
    }
  }
}

/**
 * Attention backward. Recomputes P_ij = exp(scale·q_i·k_j − lse_i) from the saved lse, then
 *   dV = Pᵀ dO;  dP = dO Vᵀ;  D_i = rowsum(dO_i ⊙ O_i);  dS = P ⊙ (dP − D);
 *   dQ = scale · dS K;  dK = scale · dSᵀ Q.
 * dq, dk, dv are OVERWRITTEN, but only in their own head blocks (row·stride + h·D … + D): they may
 * be views into one fused [rows, 3C] dQKV buffer, whose other blocks belong to the other tensors.
 * Masked keys get exactly zero, since they are never visited after the zeroing.
 */
export function attentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
  dout: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, s: AttentionShape): void {
  const { B, H, D, Tq, Tk, qStride, kvStride, oStride, scale } = s;
  const dqAcc = f64Scratch('a', D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < Tk; j++) {
        const ko = (b * Tk + j) * kvStride + h * D;
        dk.fill(0, ko, ko + D);
        dv.fill(0, ko, ko + D);
      }
      for (let i = 0; i < Tq; i++) {
        const qo = (b * Tq + i) * qStride + h * D, oo = (b * Tq + i) * oStride + h * D;
        const nk = visibleKeys(s, i);
        const l = lse[(b * H + h) * Tq + i];
        let rowD = 0;
        for (let d = 0; d < D; d++) rowD += dout[oo + d] * out[oo + d];
        dqAcc.fill(0, 0, D);
        for (let j = 0; j < nk; j++) {
          const ko = (b * Tk + j) * kvStride + h * D;
          let dot = 0, dP = 0;
          for (let d = 0; d < D; d++) {
            dot += q[qo + d] * k[ko + d];
            dP += dout[oo + d] * v[ko + d];
          }
          const p = Math.exp(scale * dot - l);
          const dS = p * (dP - rowD);
          for (let d = 0; d < D; d++) {
            dv[ko + d] += p * dout[oo + d];
            dk[ko + d] += scale * dS * q[qo + d];
            dqAcc[d] += scale * dS * k[ko + d];
          }
        }
        for (let d = 0; d < D; d++) dq[qo + d] = dqAcc[d];
      }
    }
  }
}
