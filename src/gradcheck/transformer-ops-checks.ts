// Gradient checks for the transformer and Mixture-of-Experts ops (the block "transformer and
// Mixture-of-Experts ops" of src/ops/types.ts): fused attention, SwiGLU, grouped GEMM, combine and
// the router chain moeRoute → moeRouteBackward. Each backward is written the way a layer would
// use it. Sizes are small and ragged (T = 5, D = 3, H = 2, Tq ≠ Tk) so a transposed index or a
// wrong stride cannot hide behind a square shape.
import type { AttentionShape, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RandomProjection, checkTensorFrom, randomCheckTensor, type Checkable, type CheckTensor } from './harness.js';
import type { GradCheckDef } from './types.js';

// ---- attention ---------------------------------------------------------------------------------

interface AttentionCase {
  B: number; H: number; D: number; Tq: number; Tk: number; causal: boolean; qOffset: number;
  /** q, k, v as views into one [rows, 3C] buffer (requires Tq = Tk), like a fused QKV projection. */
  fused?: boolean;
  /** Extra columns after each output row (oStride = H·D + pad), so out is a strided view too. */
  outPad?: number;
  /** Dropout on P with a fixed seed: the mask is a function of the seed, so the loss is smooth. */
  dropout?: number;
}

/**
 * L = Σ w ⊙ out over the written head blocks. Separate q, k, v tensors, or one fused QKV tensor
 * whose gradient is one fused dQKV tensor written through three views by one attentionBackward.
 */
function attentionCheck(ops: Ops, rng: Rng, c: AttentionCase): Checkable {
  const { B, H, D, Tq, Tk } = c;
  const C = H * D, oStride = C + (c.outPad ?? 0);
  const qRows = B * Tq, kRows = B * Tk;
  const shape: AttentionShape = {
    B, H, D, Tq, Tk, causal: c.causal, qOffset: c.qOffset,
    qStride: c.fused ? 3 * C : C, kvStride: c.fused ? 3 * C : C, oStride, scale: 1 / Math.sqrt(D),
  };
  if (c.dropout) { shape.dropout = c.dropout; shape.dropoutSeed = 0x2545f491; }
  let checked: CheckTensor[];
  let q: Tensor, k: Tensor, v: Tensor, dq: Tensor, dk: Tensor, dv: Tensor;
  if (c.fused) {
    if (Tq !== Tk) throw new RangeError('attentionCheck: a fused QKV buffer needs Tq = Tk');
    const qkv = randomCheckTensor(ops, 'qkv (rows×3C)', qRows * 3 * C, rng);
    // Views start at column 0, C, 2C; each spans up to the end of its last row's head blocks.
    const span = (qRows - 1) * 3 * C + C;
    q = qkv.value.view(0, span); k = qkv.value.view(C, span); v = qkv.value.view(2 * C, span);
    dq = qkv.grad.view(0, span); dk = qkv.grad.view(C, span); dv = qkv.grad.view(2 * C, span);
    checked = [qkv];
  } else {
    const qt = randomCheckTensor(ops, 'q (B·Tq×C)', qRows * C, rng);
    const kt = randomCheckTensor(ops, 'k (B·Tk×C)', kRows * C, rng);
    const vt = randomCheckTensor(ops, 'v (B·Tk×C)', kRows * C, rng);
    q = qt.value; k = kt.value; v = vt.value; dq = qt.grad; dk = kt.grad; dv = vt.grad;
    checked = [qt, kt, vt];
  }
  const out = ops.tensor(qRows * oStride), lse = ops.tensor(B * H * Tq), dout = ops.tensor(qRows * oStride);
  const proj = new RandomProjection(ops, qRows * oStride, rng);
  // The padding columns of out are never written; zero their weights so they carry no loss.
  for (let r = 0; r < qRows; r++) proj.w.data.fill(0, r * oStride + C, (r + 1) * oStride);
  return {
    name: c.dropout ? 'attention-dropout' : 'attention',
    params: [],
    inputs: checked,
    loss() {
      ops.attention(q, k, v, out, lse, shape);
      return proj.loss(out);
    },
    backward() {
      proj.backward(dout);
      ops.attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, shape);
    },
  };
}

// ---- SwiGLU ------------------------------------------------------------------------------------

function swigluCheck(ops: Ops, rng: Rng): Checkable {
  const rows = 3, F = 4;
  const gu = randomCheckTensor(ops, 'gu (rows×2F)', rows * 2 * F, rng, 1.5);
  const out = ops.tensor(rows * F), dout = ops.tensor(rows * F);
  const proj = new RandomProjection(ops, rows * F, rng);
  return {
    name: 'swiglu',
    params: [],
    inputs: [gu],
    loss() { ops.swiglu(gu.value, out, rows, F); return proj.loss(out); },
    backward() { proj.backward(dout); ops.swigluBackward(gu.value, dout, gu.grad, rows, F); },
  };
}

// ---- grouped GEMM ------------------------------------------------------------------------------

/**
 * G = 3 groups with offsets [0, 2, 2, 5] (group 1 is empty) over a 6-row A, so the last row is
 * outside every group and must get zero gradient. The backward uses groupedGemm itself:
 *   'nn' C = A·B_g:   dA = dC·B_gᵀ ('nt'),  dB_g += A_gᵀ·dC_g ('tn')
 *   'nt' C = A·B_gᵀ:  dA = dC·B_g ('nn'),   dB_g += dC_gᵀ·A_g ('tn')
 *   'tn' C_g = C0_g + A_gᵀ·Y_g:  dA = Y·dC_gᵀ ('nt'),  dY = A·dC_g ('nn'),  dC0 = dC
 * 'nn' runs with beta 0, 'nt' with beta 1 over a C0 input (so the accumulate path is checked).
 */
function groupedGemmCheck(ops: Ops, rng: Rng, mode: 'nn' | 'nt' | 'tn'): Checkable {
  const G = 3, rows = 6, n = 4, k = 3;
  const offsets = ops.intsFrom([0, 2, 2, 5]);
  const A = randomCheckTensor(ops, 'A (rows×k)', rows * k, rng);
  const dC = ops.tensor(mode === 'tn' ? G * k * n : rows * n);
  const C = ops.tensor(dC.size);
  const C0 = randomCheckTensor(ops, 'C0', dC.size, rng);
  const proj = new RandomProjection(ops, dC.size, rng);
  if (mode === 'tn') {
    const Y = randomCheckTensor(ops, 'Y (rows×n)', rows * n, rng);
    return {
      name: 'groupedGemm-tn',
      params: [],
      inputs: [A, Y, C0],
      loss() {
        ops.copy(C0.value, C);
        ops.groupedGemm('tn', G, offsets, n, k, A.value, Y.value, 1, C);
        return proj.loss(C);
      },
      backward() {
        proj.backward(dC);
        ops.groupedGemm('nt', G, offsets, k, n, Y.value, dC, 1, A.grad);
        ops.groupedGemm('nn', G, offsets, n, k, A.value, dC, 1, Y.grad);
        ops.axpy(1, dC, C0.grad);
      },
    };
  }
  const W = randomCheckTensor(ops, mode === 'nn' ? 'B (G×k×n)' : 'B (G×n×k)', G * k * n, rng);
  const beta = mode === 'nn' ? 0 : 1;
  return {
    name: `groupedGemm-${mode}`,
    params: [W],
    inputs: beta === 1 ? [A, C0] : [A],
    loss() {
      // beta 0: fill C with NaN first, so an op that reads C instead of overwriting it fails.
      if (beta === 0) ops.fill(C, NaN); else ops.copy(C0.value, C);
      ops.groupedGemm(mode, G, offsets, n, k, A.value, W.value, beta, C);
      // Row 5 lies outside every group: beta 0 leaves it NaN; it is excluded from the loss.
      let s = 0;
      const c = C.data, w = proj.w.data;
      for (let i = 0; i < 5 * n; i++) s += w[i] * c[i];
      return s;
    },
    backward() {
      proj.backward(dC);
      dC.data.fill(0, 5 * n);
      if (mode === 'nn') {
        ops.groupedGemm('nt', G, offsets, k, n, dC, W.value, 1, A.grad);
        ops.groupedGemm('tn', G, offsets, n, k, A.value, dC, 1, W.grad);
      } else {
        ops.groupedGemm('nn', G, offsets, k, n, dC, W.value, 1, A.grad);
        ops.groupedGemm('tn', G, offsets, k, n, dC, A.value, 1, W.grad);
      }
      if (beta === 1) ops.axpy(1, dC, C0.grad);
    },
  };
}

// ---- combine -----------------------------------------------------------------------------------

/** y = Σ_j gate·yd[slot]; n = 4 tokens, k = 2, one dropped assignment, one unused dispatched row. */
function moeCombineCheck(ops: Ops, rng: Rng): Checkable {
  const n = 4, k = 2, C = 3;
  // Dispatched rows 0..6 used, row 7 unused; token 2's second assignment dropped.
  const slot = ops.intsFrom([3, 0, 5, 1, 6, -1, 2, 4]);
  const yd = randomCheckTensor(ops, 'yd (n·k×C)', n * k * C, rng);
  const gate = checkTensorFrom(ops, 'topGate (n×k)', Array.from({ length: n * k }, () => rng.uniform(0.1, 0.9)));
  const y = ops.tensor(n * C), dy = ops.tensor(n * C);
  const proj = new RandomProjection(ops, n * C, rng);
  return {
    name: 'moeCombine',
    params: [],
    inputs: [yd, gate],
    loss() { ops.moeCombine(yd.value, slot, gate.value, y, n, k, C); return proj.loss(y); },
    backward() {
      proj.backward(dy);
      ops.moeCombineBackward(yd.value, slot, gate.value, dy, yd.grad, gate.grad, n, k, C);
    },
  };
}

// ---- router ------------------------------------------------------------------------------------

/**
 * The router chain with routing held fixed:
 *   L = Σ w ⊙ topGate + Σ_i c_i · mean_t p_ti + β · mean_t lse_t²
 * so dgate = w, balanceGrad_i = c_i / n and zGrad = 2β/n, and moeRouteBackward gives dlogits.
 * Each token's logits are a shuffled ladder 0, 0.8, 1.6, … plus noise of at most ±0.1, so the
 * gaps between experts are ≥ 0.6: a central-difference step (1e-5 · max(1, |θ|)) cannot change
 * the top-k choice, and the loss is smooth where it is probed.
 */
function routerCheck(ops: Ops, rng: Rng, k: 1 | 2, renormalize: boolean, aux: boolean): Checkable {
  const n = 5, E = 4, beta = aux ? 0.07 : 0;
  const values: number[] = [];
  for (let t = 0; t < n; t++) {
    const rungs = Array.from({ length: E }, (_, i) => 0.8 * i + rng.uniform(-0.1, 0.1));
    for (let i = E - 1; i > 0; i--) { const j = rng.int(0, i + 1); [rungs[i], rungs[j]] = [rungs[j], rungs[i]]; }
    values.push(...rungs.map((x) => x - 1.2));
  }
  const logits = checkTensorFrom(ops, 'logits (n×E)', values);
  const probs = ops.tensor(n * E), lse = ops.tensor(n), topIdx = ops.ints(n * k), topGate = ops.tensor(n * k);
  const w = ops.tensor(n * k);
  rng.fillNormal(w.data);
  const c = Array.from({ length: E }, () => (aux ? rng.normal() : 0));
  const balanceGrad = aux ? ops.tensorFrom(c.map((ci) => ci / n)) : null;
  const zGrad = 2 * beta / n;
  return {
    name: 'moeRoute',
    params: [],
    inputs: [logits],
    loss() {
      ops.moeRoute(logits.value, probs, lse, topIdx, topGate, n, E, k, renormalize);
      let L = 0;
      for (let a = 0; a < n * k; a++) L += w.data[a] * topGate.data[a];
      for (let t = 0; t < n; t++) {
        for (let i = 0; i < E; i++) L += c[i] * probs.data[t * E + i] / n;
        L += beta * lse.data[t] * lse.data[t] / n;
      }
      return L;
    },
    backward() {
      ops.moeRouteBackward(probs, lse, topIdx, topGate, w, balanceGrad, zGrad, logits.grad, n, E, k, renormalize);
    },
  };
}

export const TRANSFORMER_OPS_CHECKS: GradCheckDef[] = [
  { name: 'attention-causal', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 5, Tk: 5, causal: true, qOffset: 0 }) },
  { name: 'attention-full', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 3, Tk: 5, causal: false, qOffset: 0 }) },
  // A KV-cache step: 3 new queries after 2 cached positions (qOffset = Tk − Tq).
  { name: 'attention-kvcache', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 3, Tk: 5, causal: true, qOffset: 2, outPad: 2 }) },
  { name: 'attention-fused-qkv', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 5, Tk: 5, causal: true, qOffset: 0, fused: true, outPad: 1 }) },
  // Dropout on P (p 0.3, a fixed seed: the same mask in every probe), causal, full and KV-cache.
  { name: 'attention-dropout-causal', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 5, Tk: 5, causal: true, qOffset: 0, dropout: 0.3 }) },
  { name: 'attention-dropout-full', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 3, Tk: 5, causal: false, qOffset: 0, dropout: 0.3 }) },
  { name: 'attention-dropout-fused-qkv', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 5, Tk: 5, causal: true, qOffset: 0, fused: true, outPad: 1, dropout: 0.3 }) },
  { name: 'attention-dropout-kvcache', make: (ops, rng) => attentionCheck(ops, rng, { B: 2, H: 2, D: 3, Tq: 3, Tk: 5, causal: true, qOffset: 2, outPad: 2, dropout: 0.3 }) },
  { name: 'swiglu', make: swigluCheck },
  { name: 'groupedGemm-nn', make: (ops, rng) => groupedGemmCheck(ops, rng, 'nn') },
  { name: 'groupedGemm-nt', make: (ops, rng) => groupedGemmCheck(ops, rng, 'nt') },
  { name: 'groupedGemm-tn', make: (ops, rng) => groupedGemmCheck(ops, rng, 'tn') },
  { name: 'moeCombine', make: moeCombineCheck },
  { name: 'moeRoute-top1-raw', make: (ops, rng) => routerCheck(ops, rng, 1, false, false) },
  { name: 'moeRoute-top2-raw-aux', make: (ops, rng) => routerCheck(ops, rng, 2, false, true) },
  { name: 'moeRoute-top2-renorm', make: (ops, rng) => routerCheck(ops, rng, 2, true, false) },
  { name: 'moeRoute-top2-renorm-aux', make: (ops, rng) => routerCheck(ops, rng, 2, true, true) },
  { name: 'moeRoute-top1-renorm-aux', make: (ops, rng) => routerCheck(ops, rng, 1, true, true) },
];
