// Argument checks shared by every backend, so a shape mistake fails the same way everywhere:
// a clear message naming the operand, instead of silently reading past a buffer. The helpers live
// here; which op runs which is the table of ./checked.ts, installed on every backend.
import type { AttentionShape, Tensor } from './types.js';

export function checkGemmArgs(m: number, n: number, k: number, A: Tensor, B: Tensor, C: Tensor): void {
  // Fixed-arity calls, no array of pairs: this runs on every gemm (50 per step of a batch-1 LSTM).
  checkCount('gemm', 'm', m);
  checkCount('gemm', 'n', n);
  checkCount('gemm', 'k', k);
  if (A.size < m * k) throw new RangeError(`gemm: A holds ${A.size} elements, needs m·k = ${m}·${k} = ${m * k}`);
  if (B.size < k * n) throw new RangeError(`gemm: B holds ${B.size} elements, needs k·n = ${k}·${n} = ${k * n}`);
  if (C.size < m * n) throw new RangeError(`gemm: C holds ${C.size} elements, needs m·n = ${m}·${n} = ${m * n}`);
}

// ---- the transformer / MoE ops -------------------------------------------------------------------
// Fixed-arity helpers (no rest arrays or object literals), so a check allocates nothing unless it
// fails: every backend runs them on every call.

export function checkCount(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
}

/** t must hold at least n elements (`what` says how n was worked out, e.g. 'n·k'). */
export function checkNeed(op: string, name: string, t: { size: number }, n: number, what: string): void {
  if (t.size < n) throw new RangeError(`${op}: ${name} holds ${t.size} elements, needs ${what} = ${n}`);
}

/** Elements a strided [rows, width] matrix spans: the last row need only hold its width. */
export function spanOf(rows: number, stride: number, width: number): number {
  return rows === 0 ? 0 : (rows - 1) * stride + width;
}

function checkStride(op: string, name: string, stride: number, width: number): void {
  if (stride < width) throw new RangeError(`${op}: ${name} = ${stride} is less than H·D = ${width}, so rows would overlap`);
}

export function checkAttentionArgs(op: string, s: AttentionShape, q: Tensor, k: Tensor, v: Tensor, out: Tensor): void {
  checkCount(op, 'B', s.B); checkCount(op, 'H', s.H); checkCount(op, 'D', s.D); checkCount(op, 'Tq', s.Tq);
  checkCount(op, 'Tk', s.Tk); checkCount(op, 'qStride', s.qStride); checkCount(op, 'kvStride', s.kvStride);
  checkCount(op, 'oStride', s.oStride);
  if (!Number.isInteger(s.qOffset)) throw new RangeError(`${op}: qOffset must be an integer, got ${s.qOffset}`);
  if (!Number.isFinite(s.scale)) throw new RangeError(`${op}: scale must be finite, got ${s.scale}`);
  const p = s.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new RangeError(`${op}: dropout must be in [0, 1), got ${s.dropout}`);
  const seed = s.dropoutSeed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`${op}: dropoutSeed must be a uint32, got ${s.dropoutSeed}`);
  }
  const width = s.H * s.D;
  checkStride(op, 'qStride', s.qStride, width);
  checkStride(op, 'kvStride', s.kvStride, width);
  checkStride(op, 'oStride', s.oStride, width);
  const qRows = s.B * s.Tq, kRows = s.B * s.Tk;
  checkNeed(op, 'q', q, spanOf(qRows, s.qStride, width), 'rows·qStride');
  checkNeed(op, 'k', k, spanOf(kRows, s.kvStride, width), 'rows·kvStride');
  checkNeed(op, 'v', v, spanOf(kRows, s.kvStride, width), 'rows·kvStride');
  checkNeed(op, 'out', out, spanOf(qRows, s.oStride, width), 'rows·oStride');
}

export function checkRoutingArgs(op: string, n: number, E: number, k: number): void {
  checkCount(op, 'n', n); checkCount(op, 'E', E);
  if (k !== 1 && k !== 2) throw new RangeError(`${op}: k must be 1 or 2, got ${k}`);
  if (E < k) throw new RangeError(`${op}: E = ${E} experts cannot give k = ${k} distinct choices`);
}

/** Expert ids in 0..E−1. `d` null: not checked (the CUDA backend's device-made ids, not on the host). */
export function checkExpertIds(op: string, d: ArrayLike<number> | null, count: number, E: number): void {
  if (!d) return;
  for (let a = 0; a < count; a++) {
    if (d[a] < 0 || d[a] >= E) throw new RangeError(`${op}: topIdx[${a}] = ${d[a]} is outside 0..${E - 1}`);
  }
}

/** Dispatch slots below `rows` (−1 = dropped). `d` null: not checked, as in checkExpertIds. */
export function checkSlots(op: string, d: ArrayLike<number> | null, count: number, rows: number): void {
  if (!d) return;
  for (let a = 0; a < count; a++) {
    if (d[a] >= rows) throw new RangeError(`${op}: slot[${a}] = ${d[a]} is past the ${rows} dispatched rows of yd`);
  }
}

// One function per op, for the sizes every backend checks before touching memory (./checked.ts
// calls them, and the data checks above with the ids the host holds: none of device-made data).

export function checkAttentionForwardArgs(s: AttentionShape, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor): void {
  checkAttentionArgs('attention', s, q, k, v, out);
  checkNeed('attention', 'lse', lse, s.B * s.H * s.Tq, 'B·H·Tq');
}

export function checkAttentionBackwardArgs(s: AttentionShape, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
  dout: Tensor, dq: Tensor, dk: Tensor, dv: Tensor): void {
  const op = 'attentionBackward';
  checkAttentionArgs(op, s, q, k, v, out);
  checkNeed(op, 'lse', lse, s.B * s.H * s.Tq, 'B·H·Tq');
  const qRows = s.B * s.Tq, kRows = s.B * s.Tk, width = s.H * s.D;
  checkNeed(op, 'dout', dout, spanOf(qRows, s.oStride, width), 'rows·oStride');
  checkNeed(op, 'dq', dq, spanOf(qRows, s.qStride, width), 'rows·qStride');
  checkNeed(op, 'dk', dk, spanOf(kRows, s.kvStride, width), 'rows·kvStride');
  checkNeed(op, 'dv', dv, spanOf(kRows, s.kvStride, width), 'rows·kvStride');
}

/** swiglu (dgu null) and swigluBackward (`out` is then dout). */
export function checkSwigluArgs(op: string, rows: number, F: number, gu: Tensor, out: Tensor, dgu: Tensor | null): void {
  checkCount(op, 'rows', rows); checkCount(op, 'F', F);
  checkNeed(op, 'gu', gu, rows * 2 * F, 'rows·2F');
  checkNeed(op, dgu ? 'dout' : 'out', out, rows * F, 'rows·F');
  if (dgu) checkNeed(op, 'dgu', dgu, rows * 2 * F, 'rows·2F');
}

export function checkMoeRouteArgs(n: number, E: number, k: number, logits: Tensor, probs: Tensor, lse: Tensor,
  topIdx: { size: number }, topGate: Tensor): void {
  const op = 'moeRoute';
  checkRoutingArgs(op, n, E, k);
  checkNeed(op, 'logits', logits, n * E, 'n·E');
  checkNeed(op, 'probs', probs, n * E, 'n·E');
  checkNeed(op, 'lse', lse, n, 'n');
  checkNeed(op, 'topIdx', topIdx, n * k, 'n·k');
  checkNeed(op, 'topGate', topGate, n * k, 'n·k');
}

export function checkMoePlanArgs(n: number, E: number, k: number, capacity: number, topIdx: { size: number },
  slot: { size: number }, rowToken: { size: number }, offsets: { size: number }, routed: { size: number }): void {
  const op = 'moePlan';
  checkRoutingArgs(op, n, E, k);
  if (!Number.isInteger(capacity)) throw new RangeError(`moePlan: capacity must be an integer (negative: dropless), got ${capacity}`);
  checkNeed(op, 'topIdx', topIdx, n * k, 'n·k');
  checkNeed(op, 'slot', slot, n * k, 'n·k');
  checkNeed(op, 'rowToken', rowToken, n * k, 'n·k');
  checkNeed(op, 'offsets', offsets, E + 1, 'E+1');
  checkNeed(op, 'routed', routed, E, 'E');
}

export function checkMoeCombineArgs(n: number, k: number, C: number, slot: { size: number }, topGate: Tensor, y: Tensor): void {
  const op = 'moeCombine';
  checkCount(op, 'n', n); checkCount(op, 'k', k); checkCount(op, 'C', C);
  checkNeed(op, 'slot', slot, n * k, 'n·k');
  checkNeed(op, 'topGate', topGate, n * k, 'n·k');
  checkNeed(op, 'y', y, n * C, 'n·C');
}

export function checkMoeCombineBackwardArgs(n: number, k: number, C: number, yd: Tensor, slot: { size: number },
  topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor): void {
  const op = 'moeCombineBackward';
  checkCount(op, 'n', n); checkCount(op, 'k', k); checkCount(op, 'C', C);
  checkNeed(op, 'yd', yd, n * k * C, 'n·k·C');
  checkNeed(op, 'slot', slot, n * k, 'n·k');
  checkNeed(op, 'topGate', topGate, n * k, 'n·k');
  checkNeed(op, 'dy', dy, n * C, 'n·C');
  checkNeed(op, 'dyd', dyd, n * k * C, 'n·k·C');
  checkNeed(op, 'dgate', dgate, n * k, 'n·k');
}

export function checkMoeRouteBackwardArgs(n: number, E: number, k: number, probs: Tensor, lse: Tensor,
  topIdx: { size: number }, topGate: Tensor, dgate: Tensor, balanceGrad: Tensor | null, dlogits: Tensor): void {
  const op = 'moeRouteBackward';
  checkRoutingArgs(op, n, E, k);
  checkNeed(op, 'probs', probs, n * E, 'n·E');
  checkNeed(op, 'lse', lse, n, 'n');
  checkNeed(op, 'topIdx', topIdx, n * k, 'n·k');
  checkNeed(op, 'topGate', topGate, n * k, 'n·k');
  checkNeed(op, 'dgate', dgate, n * k, 'n·k');
  if (balanceGrad) checkNeed(op, 'balanceGrad', balanceGrad, E, 'E');
  checkNeed(op, 'dlogits', dlogits, n * E, 'n·E');
}

/**
 * groupedGemm: mode, beta, sizes, and — when the offsets are on the host (`off` non-null) — that they
 * start at 0, never decrease, and that their last row fits A, B and C.
 */
export function checkGroupedGemmArgs(mode: string, G: number, offsets: { size: number }, off: ArrayLike<number> | null,
  n: number, k: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
  const op = `groupedGemm(${mode})`;
  if (mode !== 'nn' && mode !== 'nt' && mode !== 'tn') throw new RangeError(`groupedGemm: unknown mode '${mode}'`);
  if (beta !== 0 && beta !== 1) throw new RangeError(`${op}: beta must be 0 or 1, got ${beta}`);
  checkCount(op, 'G', G); checkCount(op, 'n', n); checkCount(op, 'k', k);
  if (offsets.size < G + 1) throw new RangeError(`${op}: offsets holds ${offsets.size} ints, needs G+1 = ${G + 1}`);
  if (mode === 'tn') checkNeed(op, 'C', C, G * k * n, 'G·k·n');
  else checkNeed(op, 'B', B, G * k * n, 'G·k·n');
  if (off) {
    if (off[0] !== 0) throw new RangeError(`${op}: offsets[0] must be 0, got ${off[0]}`);
    for (let g = 0; g < G; g++) {
      if (off[g + 1] < off[g]) throw new RangeError(`${op}: offsets must be non-decreasing, offsets[${g + 1}] = ${off[g + 1]} < offsets[${g}] = ${off[g]}`);
    }
    const rows = off[G];
    checkNeed(op, 'A', A, rows * k, 'offsets[G]·k');
    if (mode === 'tn') checkNeed(op, 'B', B, rows * n, 'offsets[G]·n');
    else checkNeed(op, 'C', C, rows * n, 'offsets[G]·n');
  }
}

/**
 * The most token rows a groupedGemm's A, B and C can hold (0 when unbounded): the CUDA kernel's
 * grid bound when the offsets stay on the device.
 */
export function groupedGemmMaxRows(mode: 'nn' | 'nt' | 'tn', n: number, k: number, A: Tensor, B: Tensor, C: Tensor): number {
  let maxRows = k > 0 ? Math.floor(A.size / k) : Infinity;
  if (n > 0) maxRows = Math.min(maxRows, Math.floor((mode === 'tn' ? B.size : C.size) / n));
  return maxRows === Infinity ? 0 : maxRows;
}

export function checkMoeAuxLossArgs(n: number, E: number, k: number, balanceCoef: number, zLossCoef: number,
  probs: Tensor, lse: Tensor, offsets: { size: number }, routed: { size: number }, balanceGrad: Tensor, loss: Tensor,
  counts: { size: number }, accumulate: boolean): void {
  const op = 'moeAuxLoss';
  checkRoutingArgs(op, n, E, k);
  if (!Number.isFinite(balanceCoef) || !Number.isFinite(zLossCoef)) {
    throw new RangeError(`moeAuxLoss: balanceCoef and zLossCoef must be finite, got ${balanceCoef} and ${zLossCoef}`);
  }
  checkNeed(op, 'probs', probs, n * E, 'n·E');
  checkNeed(op, 'lse', lse, n, 'n');
  checkNeed(op, 'offsets', offsets, E + 1, 'E+1');
  checkNeed(op, 'routed', routed, E, 'E');
  checkNeed(op, 'balanceGrad', balanceGrad, E, 'E');
  // The running totals follow the last forward's values: 2 more losses and 2E more counts.
  if (accumulate) {
    checkNeed(op, 'loss', loss, 4, '4 (accumulate)');
    checkNeed(op, 'counts', counts, 4 * E, '4E (accumulate)');
  } else {
    checkNeed(op, 'loss', loss, 2, '2');
    checkNeed(op, 'counts', counts, 2 * E, '2E');
  }
}
