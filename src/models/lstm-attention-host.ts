// lstm-attention's causal self-attention written out on the host, over the model's TIME-MAJOR rows
// (row b, step t of an [n = T·B, H] tensor at (t·B + b)·H), with the keys K = h·Wa precomputed:
//
//   e_tj = h_t · K_j  (j ≤ t),  α_t = softmax_j e_t,  C_t = Σ_j α_tj h_j
//
// The model trains with the backends' fused attention (Ops.attention); these loops are for what
// that kernel does not take: the CUDA backend's kernels stop at head width 128, so a wider hidden
// state attends here on its host mirrors (as slow as the host, as the LSTM cells are there anyway),
// and for the attention weights the visualisation asks for (attentionRow: the fused kernel keeps
// no α).
//
// Backward (α kept from the forward): dα_tj = dC_t·h_j, dh_j += α_tj dC_t,
// de_tj = α_tj (dα_tj − Σ_k α_tk dα_tk), dh_t += Σ_j de_tj K_j, dK_j += de_tj h_t.
import type { FloatArray } from '../ops/types.js';

/**
 * C = attention(h, K) over B rows of T steps; α of row b, step t, key j is written at
 * (b·T + t)·T + j of `alpha` (B·T·T values). `scratch` holds at least T values.
 */
export function timeMajorAttention(h: FloatArray, K: FloatArray, C: FloatArray, alpha: Float64Array, scratch: Float64Array,
  B: number, T: number, H: number): void {
  const e = scratch;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const q = (t * B + b) * H, aOff = (b * T + t) * T;
      let max = -Infinity;
      for (let j = 0; j <= t; j++) {
        const k = (j * B + b) * H;
        let s = 0;
        for (let d = 0; d < H; d++) s += h[q + d] * K[k + d];
        e[j] = s;
        if (s > max) max = s;
      }
      let z = 0;
      for (let j = 0; j <= t; j++) { e[j] = Math.exp(e[j] - max); z += e[j]; }
      C.fill(0, q, q + H);
      for (let j = 0; j <= t; j++) {
        const a = e[j] / z, k = (j * B + b) * H;
        alpha[aOff + j] = a;
        for (let d = 0; d < H; d++) C[q + d] += a * h[k + d];
      }
    }
  }
}

/**
 * The backward of timeMajorAttention with its α: dh += the gradient through the queries and the
 * values, dK = the keys' gradient (OVERWRITTEN). `scratch` holds at least T values.
 */
export function timeMajorAttentionBackward(h: FloatArray, K: FloatArray, dC: FloatArray, alpha: Float64Array, scratch: Float64Array,
  dh: FloatArray, dK: FloatArray, B: number, T: number, H: number): void {
  const da = scratch;
  dK.fill(0, 0, T * B * H);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const q = (t * B + b) * H, aOff = (b * T + t) * T;
      let sum = 0;
      for (let j = 0; j <= t; j++) {
        const k = (j * B + b) * H, a = alpha[aOff + j];
        let s = 0;
        for (let d = 0; d < H; d++) { s += dC[q + d] * h[k + d]; dh[k + d] += a * dC[q + d]; }
        da[j] = s;
        sum += a * s;
      }
      for (let j = 0; j <= t; j++) {
        const de = alpha[aOff + j] * (da[j] - sum), k = (j * B + b) * H;
        for (let d = 0; d < H; d++) { dh[q + d] += de * K[k + d]; dK[k + d] += de * h[q + d]; }
      }
    }
  }
}

/** α_t of row b (t + 1 weights over h_0 … h_t), in float64, from h and K of B rows. */
export function attentionRow(h: FloatArray, K: FloatArray, B: number, H: number, b: number, t: number): Float64Array {
  const w = new Float64Array(t + 1), q = (t * B + b) * H;
  let max = -Infinity;
  for (let j = 0; j <= t; j++) {
    const k = (j * B + b) * H;
    let s = 0;
    for (let d = 0; d < H; d++) s += h[q + d] * K[k + d];
    w[j] = s;
    if (s > max) max = s;
  }
  let z = 0;
  for (let j = 0; j <= t; j++) { w[j] = Math.exp(w[j] - max); z += w[j]; }
  for (let j = 0; j <= t; j++) w[j] /= z;
  return w;
}
