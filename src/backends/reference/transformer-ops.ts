// Reference implementations of the transformer and Mixture-of-Experts ops (see the block
// "transformer and Mixture-of-Experts ops" of src/ops/types.ts for the contracts).
//
// These standalone functions on raw typed arrays ARE the specification: the reference backend
// delegates to them, the WASM and CUDA backends are tested against them, and the WASM backend may
// call them directly as a host fallback on Float32Array views of its memory. Hence:
// - they take typed arrays, never Tensors, and work on Float32Array and Float64Array alike;
// - they allocate nothing per call: the O(rows) scratch (one score row, one head-width row, one
//   E-wide row) lives in grow-only module buffers, reused by every later call (JS is
//   single-threaded and none of these functions calls another while holding its scratch);
// - they check nothing: argument checks run before every op of every backend (src/ops/checked.ts),
//   so a host fallback that has already validated its arguments pays nothing twice.
// Sums are kept in JS numbers (float64) and rounded once on store; for float64 arrays that is the
// array's precision, for float32 arrays it is at least as accurate as a float32 kernel.
import type { AttentionShape, FloatArray } from '../../ops/types.js';

/** Grow-only scratch buffers, one per role, so two live at once never share storage. */
const scratch = { a: new Float64Array(64), b: new Float64Array(64), i: new Int32Array(64) };
function f64Scratch(role: 'a' | 'b', n: number): Float64Array {
  if (scratch[role].length < n) scratch[role] = new Float64Array(Math.max(n, 2 * scratch[role].length));
  return scratch[role];
}
function i32Scratch(n: number): Int32Array {
  if (scratch.i.length < n) scratch.i = new Int32Array(Math.max(n, 2 * scratch.i.length));
  return scratch.i;
}

// ==== attention ===================================================================================

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

// ==== grouped GEMM ================================================================================

/**
 * The reference gemm's maths on sub-ranges of raw arrays: C[cOff…] = op(A)·op(B) (+ C when
 * beta = 1), op(A) m×k, op(B) k×n, A stored m×k (or k×m when transA), B k×n (or n×k when transB).
 * beta = 0 overwrites, NaN included, as the reference gemm does.
 */
function gemmAt(transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: FloatArray, aOff: number, b: FloatArray, bOff: number, beta: 0 | 1, c: FloatArray, cOff: number): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const aip = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
        const bpj = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
        s += aip * bpj;
      }
      c[cOff + i * n + j] = beta === 0 ? s : s + c[cOff + i * n + j];
    }
  }
}

/**
 * Grouped GEMM over G groups of rows [offsets[g], offsets[g+1]) (see Ops.groupedGemm):
 *   'nn': C[rows_g] = A[rows_g] · B_g (B_g k×n);  'nt': C[rows_g] = A[rows_g] · B_gᵀ (B_g n×k);
 *   'tn': C_g[k, n] += A[rows_g]ᵀ · B[rows_g] (always accumulates).
 */
export function groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: Int32Array, n: number, k: number,
  A: FloatArray, B: FloatArray, beta: 0 | 1, C: FloatArray): void {
  for (let g = 0; g < G; g++) {
    const r0 = offsets[g], m = offsets[g + 1] - r0;
    if (m <= 0) continue;
    if (mode === 'tn') {
      // A's group rows are an m×k block from row r0; C_g (k×n) += that blockᵀ · B's m×n block.
      gemmAt(true, false, k, n, m, A, r0 * k, B, r0 * n, 1, C, g * k * n);
    } else {
      gemmAt(false, mode === 'nt', m, n, k, A, r0 * k, B, g * k * n, beta, C, r0 * n);
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
