// Reference SwiGLU and Mixture-of-Experts ops (Ops.swiglu … Ops.moeAuxLoss; the same family as
// assembly/moe.ts and native/moe.cu): the gate, routing, the dispatch plan, combine, their backward
// passes and the auxiliary losses, on raw typed arrays (the conventions of every reference family
// file: ./index.ts). The reference and WASM backends run the routing and the plan from here (O(n·E)
// loops: the expert products around them are the heavy part); the CUDA kernels are checked against them.
import type { FloatArray } from '../../ops/types.js';
import { f64Scratch, i32Scratch } from './scratch.js';

// ==== SwiGLU ======================================================================================

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** out[r, c] = silu(a) · b with a = gu[r, c], b = gu[r, F + c]. */
export function swigluForward(gu: FloatArray, out: FloatArray, rows: number, F: number): void {
  for (let r = 0; r < rows; r++) {
    const go = r * 2 * F, oo = r * F;
    for (let c = 0; c < F; c++) {
      const a = gu[go + c];
      out[oo + c] = a * sigmoid(a) * gu[go + F + c];
    }
  }
}

/** dgu[r, :F] = dout · b · silu'(a), dgu[r, F:] = dout · silu(a) (OVERWRITES dgu). */
export function swigluBackward(gu: FloatArray, dout: FloatArray, dgu: FloatArray, rows: number, F: number): void {
  for (let r = 0; r < rows; r++) {
    const go = r * 2 * F, oo = r * F;
    for (let c = 0; c < F; c++) {
      const a = gu[go + c], bb = gu[go + F + c], g = dout[oo + c];
      const sg = sigmoid(a);
      // silu'(a) = σ(a)·(1 + a·(1 − σ(a)))
      dgu[go + c] = g * bb * sg * (1 + a * (1 - sg));
      dgu[go + F + c] = g * a * sg;
    }
  }
}

// ==== MoE routing =================================================================================

/**
 * probs = softmax(logits) row-wise, lse = logsumexp(logits row), topIdx/topGate the k (1 or 2)
 * largest probabilities in descending order, ties to the lower index; topGate renormalised over
 * the chosen k when renormalize.
 */
export function moeRoute(logits: FloatArray, probs: FloatArray, lse: FloatArray, topIdx: Int32Array,
  topGate: FloatArray, n: number, E: number, k: number, renormalize: boolean): void {
  for (let t = 0; t < n; t++) {
    const o = t * E;
    let max = -Infinity;
    for (let e = 0; e < E; e++) if (logits[o + e] > max) max = logits[o + e];
    let sum = 0;
    for (let e = 0; e < E; e++) sum += Math.exp(logits[o + e] - max);
    const l = max + Math.log(sum);
    lse[t] = l;
    for (let e = 0; e < E; e++) probs[o + e] = Math.exp(logits[o + e] - l);
    // Selection compares the stored probabilities (strict > keeps the lower index on ties), so
    // the choice is consistent with what topGate reports.
    let i0 = 0;
    for (let e = 1; e < E; e++) if (probs[o + e] > probs[o + i0]) i0 = e;
    topIdx[t * k] = i0;
    let S = probs[o + i0];
    let i1 = -1;
    if (k === 2) {
      for (let e = 0; e < E; e++) if (e !== i0 && (i1 < 0 || probs[o + e] > probs[o + i1])) i1 = e;
      topIdx[t * k + 1] = i1;
      S += probs[o + i1];
    }
    const div = renormalize ? S : 1;
    topGate[t * k] = probs[o + i0] / div;
    if (k === 2) topGate[t * k + 1] = probs[o + i1] / div;
  }
}

/**
 * Dispatch plan (see Ops.moePlan). Priority order: rank 0 of every token (lower t first), then
 * rank 1; an expert keeps its first `capacity` assignments in that order (all when capacity < 0),
 * and its dispatched rows follow the same order. `routed` counts assignments before dropping.
 */
export function moePlan(topIdx: Int32Array, n: number, E: number, k: number, capacity: number,
  slot: Int32Array, rowToken: Int32Array, offsets: Int32Array, routed: Int32Array): void {
  routed.fill(0, 0, E);
  for (let a = 0; a < n * k; a++) routed[topIdx[a]]++;
  offsets[0] = 0;
  for (let e = 0; e < E; e++) {
    const kept = capacity < 0 ? routed[e] : Math.min(routed[e], capacity);
    offsets[e + 1] = offsets[e] + kept;
  }
  // Per-expert fill cursor: O(E) scratch.
  const next = i32Scratch(E);
  next.fill(0, 0, E);
  for (let j = 0; j < k; j++) {
    for (let t = 0; t < n; t++) {
      const e = topIdx[t * k + j];
      const r = offsets[e] + next[e];
      if (r < offsets[e + 1]) {
        slot[t * k + j] = r;
        rowToken[r] = t;
        next[e]++;
      } else {
        slot[t * k + j] = -1;
      }
    }
  }
  rowToken.fill(0, offsets[E], n * k);
}

/** y[t] = Σ_j topGate[t,j] · yd[slot[t,j]] over kept assignments (OVERWRITES y). */
export function moeCombine(yd: FloatArray, slot: Int32Array, topGate: FloatArray, y: FloatArray,
  n: number, k: number, C: number): void {
  for (let t = 0; t < n; t++) {
    const yo = t * C;
    y.fill(0, yo, yo + C);
    for (let j = 0; j < k; j++) {
      const r = slot[t * k + j];
      if (r < 0) continue;
      const g = topGate[t * k + j], ro = r * C;
      for (let c = 0; c < C; c++) y[yo + c] += g * yd[ro + c];
    }
  }
}

/**
 * Backward of moeCombine: OVERWRITES dyd [n·k, C] (row slot[t,j] = topGate[t,j]·dy[t], all other
 * rows zero) and dgate [n, k] (dy[t]·yd[slot[t,j]], 0 when dropped).
 */
export function moeCombineBackward(yd: FloatArray, slot: Int32Array, topGate: FloatArray, dy: FloatArray,
  dyd: FloatArray, dgate: FloatArray, n: number, k: number, C: number): void {
  dyd.fill(0, 0, n * k * C);
  for (let t = 0; t < n; t++) {
    const yo = t * C;
    for (let j = 0; j < k; j++) {
      const r = slot[t * k + j];
      if (r < 0) { dgate[t * k + j] = 0; continue; }
      const g = topGate[t * k + j], ro = r * C;
      let dot = 0;
      for (let c = 0; c < C; c++) {
        dyd[ro + c] = g * dy[yo + c];
        dot += dy[yo + c] * yd[ro + c];
      }
      dgate[t * k + j] = dot;
    }
  }
}

/**
 * Router backward (OVERWRITES dlogits [n, E]). Per token, dp over the E probabilities:
 *   renormalised gates g_j = p_j / S, S = Σ_chosen p:  dp_i = (dg_i − Σ_j dg_j g_j) / S for chosen i;
 *   raw gates: dp_i = dg_i for chosen i;  0 for the others; then dp += balanceGrad (every i);
 *   dlogits = p ⊙ (dp − Σ dp ⊙ p) + zGrad · lse_t · p.
 * g_j is read from topGate (= p_j / S when renormalize, as moeRoute wrote it).
 */
export function moeRouteBackward(probs: FloatArray, lse: FloatArray, topIdx: Int32Array, topGate: FloatArray,
  dgate: FloatArray, balanceGrad: FloatArray | null, zGrad: number, dlogits: FloatArray,
  n: number, E: number, k: number, renormalize: boolean): void {
  const dp = f64Scratch('a', E); // O(E) scratch: dp kept in float64 even for float32 arrays
  for (let t = 0; t < n; t++) {
    const o = t * E;
    for (let e = 0; e < E; e++) dp[e] = balanceGrad ? balanceGrad[e] : 0;
    if (renormalize) {
      let S = 0, dot = 0;
      for (let j = 0; j < k; j++) {
        S += probs[o + topIdx[t * k + j]];
        dot += dgate[t * k + j] * topGate[t * k + j];
      }
      for (let j = 0; j < k; j++) dp[topIdx[t * k + j]] += (dgate[t * k + j] - dot) / S;
    } else {
      for (let j = 0; j < k; j++) dp[topIdx[t * k + j]] += dgate[t * k + j];
    }
    let dotP = 0;
    for (let e = 0; e < E; e++) dotP += dp[e] * probs[o + e];
    const z = zGrad * lse[t];
    for (let e = 0; e < E; e++) {
      const p = probs[o + e];
      dlogits[o + e] = p * (dp[e] - dotP) + z * p;
    }
  }
}

// ==== auxiliary losses ============================================================================

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
