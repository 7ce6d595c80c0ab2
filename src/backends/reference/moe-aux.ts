// The MoE auxiliary losses and routing counts of one forward (Ops.moeAuxLoss) as a raw-array
// function: the specification the CUDA kernel (native/moe.cu) is checked against, and the whole
// implementation on the reference and WASM backends (an O(n·E) loop; the WASM backend runs it on
// Float32Array views of its heap, so it allocates nothing).
import type { FloatArray } from '../../ops/types.js';

/**
 * See Ops.moeAuxLoss. The sums run in double precision whatever the storage (as ops.sumRows and
 * ops.sumSquares did when the layer computed these on the host), in the order the maths reads:
 * P_e = (1/n)·Σ_t p[t,e] first, then Σ_e f_e·P_e.
 */
export function moeAuxLoss(probs: FloatArray, lse: FloatArray, offsets: Int32Array, routed: Int32Array,
  n: number, E: number, k: number, balanceCoef: number, zLossCoef: number, balanceGrad: FloatArray,
  loss: FloatArray, counts: Int32Array, accumulate: boolean): void {
  let balance = 0;
  for (let e = 0; e < E; e++) {
    let P = 0;
    for (let t = 0; t < n; t++) P += probs[t * E + e];
    const f = n > 0 ? routed[e] / (n * k) : 0;
    balance += f * P / Math.max(n, 1);
    balanceGrad[e] = n > 0 ? balanceCoef * E * f / n : 0;
  }
  balance *= balanceCoef * E;
  let z = 0;
  for (let t = 0; t < n; t++) z += lse[t] * lse[t];
  z = n > 0 ? zLossCoef * z / n : 0;
  loss[0] = balance;
  loss[1] = z;
  for (let e = 0; e < E; e++) {
    const kept = offsets[e + 1] - offsets[e];
    counts[e] = kept;
    counts[E + e] = routed[e];
    if (accumulate) {
      counts[2 * E + e] += kept;
      counts[3 * E + e] += routed[e];
    }
  }
  if (accumulate) {
    loss[2] += balance;
    loss[3] += z;
  }
}
