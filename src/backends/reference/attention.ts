// Reference attention (Ops.attention, Ops.attentionBackward; the same family as assembly/attention.ts
// and native/attention.cu): the fused scaled-dot-product attention, forward and backward, on raw
// typed arrays (the conventions of every reference family file: ./index.ts).
import { attentionDropKeep, attentionDropRow, attentionDropThreshold } from '../../ops/types.js';
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
 * The inverted-dropout factors of row (b, h, i) for its first nk keys into keep[j]: 1/(1 − p) where
 * kept, 0 where dropped (the mask: attentionDropKeep in src/ops/types.ts). null without dropout.
 */
function dropRow(s: AttentionShape, b: number, h: number, i: number, nk: number, keep: Float64Array): Float64Array | null {
  const p = s.dropout ?? 0;
  if (p === 0) return null;
  const thr = attentionDropThreshold(p), inv = 1 / (1 - p);
  const row = attentionDropRow(s.dropoutSeed ?? 0, b * s.H + h, i);
  for (let j = 0; j < nk; j++) keep[j] = attentionDropKeep(row, j, thr) ? inv : 0;
  return keep;
}

/**
 * Fused attention forward: for each (b, h, i), scores scale·q_i·k_j over the visible keys,
 * max-subtracted softmax, out_i = Σ_j p_j v_j, lse[(b·H + h)·Tq + i] = max + log Σ exp.
 * With dropout p: out_i = Σ_j (m_ij/(1 − p)) p_j v_j, lse unchanged. Only the head blocks of
 * `out` are written.
 */
export function attentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
  s: AttentionShape): void {
  const { B, H, D, Tq, Tk, qStride, kvStride, oStride, scale } = s;
  const scores = f64Scratch('a', Tk), acc = f64Scratch('b', D), keepBuf = f64Scratch('c', Tk);
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
        const keep = dropRow(s, b, h, i, nk, keepBuf);
        for (let j = 0; j < nk; j++) {
          const e = Math.exp(scores[j] - max);
          sum += e; // the softmax's sum (and lse) is over the undropped scores
          const w = keep ? e * keep[j] : e;
          const vo = (b * Tk + j) * kvStride + h * D;
          for (let d = 0; d < D; d++) acc[d] += w * v[vo + d];
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
 * With dropout (keep factor c_ij = m_ij/(1 − p), regenerated from the seed): O_i = Σ_j c_ij P_ij v_j,
 * so dV_j = Σ_i c_ij P_ij dO_i and ∂L/∂P_ij = dP_ij = c_ij dO_i·v_j. The softmax Jacobian gives
 * dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik), and Σ_k P_ik dP_ik = dO_i · Σ_k c_ik P_ik v_k = dO_i·O_i
 * = D_i, because O is the dropped output: the same D_i as without dropout.
 * dq, dk, dv are OVERWRITTEN, but only in their own head blocks (row·stride + h·D … + D): they may
 * be views into one fused [rows, 3C] dQKV buffer, whose other blocks belong to the other tensors.
 * Masked keys get exactly zero, since they are never visited after the zeroing.
 */
export function attentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
  dout: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, s: AttentionShape): void {
  const { B, H, D, Tq, Tk, qStride, kvStride, oStride, scale } = s;
  const dqAcc = f64Scratch('a', D), keepBuf = f64Scratch('c', Tk);
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
        const keep = dropRow(s, b, h, i, nk, keepBuf);
        for (let j = 0; j < nk; j++) {
          const ko = (b * Tk + j) * kvStride + h * D;
          let dot = 0, dP = 0;
          for (let d = 0; d < D; d++) {
            dot += q[qo + d] * k[ko + d];
            dP += dout[oo + d] * v[ko + d];
          }
          const p = Math.exp(scale * dot - l);
          const c = keep ? keep[j] : 1;
          const dS = keep ? p * (c * dP - rowD) : p * (dP - rowD);
          const pv = keep ? c * p : p;
          for (let d = 0; d < D; d++) {
            dv[ko + d] += pv * dout[oo + d];
            dk[ko + d] += scale * dS * q[qo + d];
            dqAcc[d] += scale * dS * k[ko + d];
          }
        }
        for (let d = 0; d < D; d++) dq[qo + d] = dqAcc[d];
      }
    }
  }
}
