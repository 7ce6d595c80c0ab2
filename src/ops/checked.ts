// Every op's argument checks, written once and run by every backend: a shape mistake fails the
// same way, with the same one-line message naming the operand, on the reference, WASM and CUDA
// backends, before any memory is touched. A backend class calls installArgumentChecks(prototype)
// once, after its definition; its op methods then only compute (they may add limits of their own,
// e.g. the CUDA kernels' largest head width).
//
// OP_CHECKS has one entry per op of the Ops interface (the compiler insists: a new op does not
// build until it has its entry here, null for "nothing to check"), so it is also the list of op
// names that the CUDA profiler wraps (OP_NAMES).
//
// Checks that read data (token ids, targets, expert ids, dispatch slots, group offsets) read int
// tensors through the backend's ReadInts: `.data` on the CPU backends; on CUDA only a host copy
// that is already current (a device-made plan is not downloaded just to be checked).
import type { Activation, IntTensor, Ops, PackedGemmB, Tensor } from './types.js';
import { ACTIVATIONS } from './types.js';
import {
  checkAttentionBackwardArgs, checkAttentionForwardArgs, checkCount, checkExpertIds, checkGemmArgs, checkGroupedGemmArgs,
  checkMoeAuxLossArgs, checkMoeCombineArgs, checkMoeCombineBackwardArgs, checkMoePlanArgs, checkMoeRouteArgs,
  checkMoeRouteBackwardArgs, checkSlots, checkSwigluArgs,
} from './checks.js';
import { checkMemoryBackwardArgs, checkMemoryForwardArgs } from './memory-recurrence.js';

/** Every member of Ops that is an op (the storage, scope and identity members are not checked). */
export type OpName = Exclude<keyof Ops, 'name' | 'dtype' | 'tensor' | 'tensorFrom' | 'ints' | 'intsFrom' | 'mark' | 'release' | 'packedGemmB'
  | 'dispose'>;

/** An int tensor's elements when the host holds them (always on the CPU backends), else null. */
export type ReadInts = (ops: Ops, t: IntTensor) => ArrayLike<number> | null;

type Check<K extends OpName> = (ops: Ops, read: ReadInts, ...args: Parameters<Ops[K]>) => void;

// ---- fixed-arity helpers: a check allocates nothing unless it fails (it runs on every call) ---------

function dims(op: string, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${op}: rows and cols must be non-negative integers, got ${rows}×${cols}`);
  }
}
/** t holds at least rows×cols elements. */
function fits(op: string, rows: number, cols: number, name: string, t: { size: number }): void {
  dims(op, rows, cols);
  if (t.size < rows * cols) throw new RangeError(`${op}: ${name} holds ${t.size} elements, needs ${rows}×${cols} = ${rows * cols}`);
}
/** t holds at least as many elements as t0. */
function same(op: string, n0: string, t0: { size: number }, name: string, t: { size: number }): void {
  if (t.size < t0.size) throw new RangeError(`${op}: ${name} holds ${t.size} elements, ${n0} holds ${t0.size}`);
}
function activation(kind: Activation): void {
  if (!ACTIVATIONS.includes(kind)) throw new RangeError(`unknown activation '${kind as string}' (expected one of ${ACTIVATIONS.join(', ')})`);
}
/** ids holds n ids, each in 0..vocab−1 (when readable). */
function ids(op: string, ops: Ops, read: ReadInts, ids: IntTensor, n: number, dim: number, table: Tensor): void {
  dims(op, n, dim);
  if (ids.size < n) throw new RangeError(`${op}: ids holds ${ids.size} ids, needs ${n}`);
  const d = read(ops, ids);
  if (d === null) return;
  const vocab = dim > 0 ? Math.floor(table.size / dim) : 0;
  for (let i = 0; i < n; i++) {
    if (d[i] < 0 || d[i] >= vocab) throw new RangeError(`${op}: id ${d[i]} at position ${i} is outside 0..${vocab - 1}`);
  }
}

/** packed was made for op(B) k×n (packedGemmB(k, n)). */
function packedFor(op: string, k: number, n: number, packed: PackedGemmB): void {
  if (packed.k !== k || packed.n !== n) {
    throw new RangeError(`${op}: packed holds a k×n = ${packed.k}×${packed.n} operand, the call needs ${k}×${n}`);
  }
}

// ---- one entry per op --------------------------------------------------------------------------------

export const OP_CHECKS: { readonly [K in OpName]: Check<K> | null } = {
  gemm: (_o, _r, _ta, _tb, m, n, k, _alpha, A, B, _beta, C) => checkGemmArgs(m, n, k, A, B, C),
  packGemmB: (_o, _r, _tb, k, n, B, packed) => {
    checkCount('packGemmB', 'k', k); checkCount('packGemmB', 'n', n);
    if (B.size < k * n) throw new RangeError(`packGemmB: B holds ${B.size} elements, needs k·n = ${k}·${n} = ${k * n}`);
    packedFor('packGemmB', k, n, packed);
  },
  gemmPackedB: (_o, _r, _ta, m, n, k, _alpha, A, packed, _beta, C) => {
    checkCount('gemmPackedB', 'm', m); checkCount('gemmPackedB', 'n', n); checkCount('gemmPackedB', 'k', k);
    if (A.size < m * k) throw new RangeError(`gemmPackedB: A holds ${A.size} elements, needs m·k = ${m}·${k} = ${m * k}`);
    if (C.size < m * n) throw new RangeError(`gemmPackedB: C holds ${C.size} elements, needs m·n = ${m}·${n} = ${m * n}`);
    packedFor('gemmPackedB', k, n, packed);
    if (!packed.ready) throw new RangeError('gemmPackedB: packed holds no operand yet (packGemmB first)');
  },

  fill: null,
  copy: (_o, _r, src, dst) => same('copy', 'src', src, 'dst', dst),
  scale: null,
  axpy: (_o, _r, _alpha, x, y) => same('axpy', 'x', x, 'y', y),
  add: (_o, _r, a, b, out) => { same('add', 'a', a, 'b', b); same('add', 'a', a, 'out', out); },
  mul: (_o, _r, a, b, out) => { same('mul', 'a', a, 'b', b); same('mul', 'a', a, 'out', out); },
  activation: (_o, _r, kind, x, y) => { activation(kind); same('activation', 'x', x, 'y', y); },
  activationBackward: (_o, _r, kind, x, y, dy, dx) => {
    activation(kind);
    same('activationBackward', 'dy', dy, 'x', x); same('activationBackward', 'dy', dy, 'y', y);
    same('activationBackward', 'dy', dy, 'dx', dx);
  },

  addBias: (_o, _r, y, bias, rows, cols) => { fits('addBias', rows, cols, 'y', y); fits('addBias', 1, cols, 'bias', bias); },
  sumRows: (_o, _r, x, out, rows, cols) => { fits('sumRows', rows, cols, 'x', x); fits('sumRows', 1, cols, 'out', out); },
  sumCols: (_o, _r, x, out, rows, cols) => { fits('sumCols', rows, cols, 'x', x); fits('sumCols', rows, 1, 'out', out); },
  softmax: (_o, _r, x, y, rows, cols) => { fits('softmax', rows, cols, 'x', x); fits('softmax', rows, cols, 'y', y); },
  logSoftmax: (_o, _r, x, y, rows, cols) => { fits('logSoftmax', rows, cols, 'x', x); fits('logSoftmax', rows, cols, 'y', y); },
  softmaxBackward: (_o, _r, y, dy, dx, rows, cols) => {
    fits('softmaxBackward', rows, cols, 'y', y); fits('softmaxBackward', rows, cols, 'dy', dy); fits('softmaxBackward', rows, cols, 'dx', dx);
  },
  logSoftmaxBackward: (_o, _r, y, dy, dx, rows, cols) => {
    fits('logSoftmaxBackward', rows, cols, 'y', y); fits('logSoftmaxBackward', rows, cols, 'dy', dy);
    fits('logSoftmaxBackward', rows, cols, 'dx', dx);
  },
  softmaxCrossEntropy: (o, read, logits, targets, rows, cols, dlogits) => {
    fits('softmaxCrossEntropy', rows, cols, 'logits', logits);
    if (dlogits) fits('softmaxCrossEntropy', rows, cols, 'dlogits', dlogits);
    if (targets.size < rows) throw new RangeError(`softmaxCrossEntropy: targets holds ${targets.size} ids, needs ${rows}`);
    // A negative target is a padded row; one produced on the CUDA device is not checked (the kernel
    // counts a bad one as padding).
    const t = read(o, targets);
    if (t === null) return;
    for (let r = 0; r < rows; r++) {
      if (t[r] >= cols) throw new RangeError(`softmaxCrossEntropy: target ${t[r]} in row ${r} is not below ${cols} classes`);
    }
  },
  layerNorm: (_o, _r, x, gamma, beta, y, mean, rstd, rows, cols) => {
    fits('layerNorm', rows, cols, 'x', x); fits('layerNorm', rows, cols, 'y', y);
    fits('layerNorm', 1, cols, 'gamma', gamma); fits('layerNorm', 1, cols, 'beta', beta);
    fits('layerNorm', rows, 1, 'mean', mean); fits('layerNorm', rows, 1, 'rstd', rstd);
  },
  layerNormBackward: (_o, _r, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols) => {
    const op = 'layerNormBackward';
    fits(op, rows, cols, 'x', x); fits(op, rows, cols, 'dy', dy); fits(op, rows, cols, 'dx', dx);
    fits(op, 1, cols, 'gamma', gamma); fits(op, 1, cols, 'dgamma', dgamma); fits(op, 1, cols, 'dbeta', dbeta);
    fits(op, rows, 1, 'mean', mean); fits(op, rows, 1, 'rstd', rstd);
  },

  embedding: (o, read, table, idx, out, n, dim) => { ids('embedding', o, read, idx, n, dim, table); fits('embedding', n, dim, 'out', out); },
  embeddingBackward: (o, read, dout, idx, dtable, n, dim) => {
    ids('embeddingBackward', o, read, idx, n, dim, dtable); fits('embeddingBackward', n, dim, 'dout', dout);
  },

  sumSquares: null,
  sumSquaresMany: null,
  adam: (_o, _r, param, grad, m, v, p) => {
    same('adam', 'param', param, 'grad', grad); same('adam', 'param', param, 'm', m); same('adam', 'param', param, 'v', v);
    if (!Number.isInteger(p.step) || p.step < 1) throw new RangeError(`adam: step must be a positive integer, got ${p.step}`);
  },

  lstmCell: (_o, _r, gates, cPrev, c, tanhC, h, B, H) => {
    const op = 'lstmCell';
    fits(op, B, 4 * H, 'gates', gates);
    fits(op, B, H, 'cPrev', cPrev); fits(op, B, H, 'c', c); fits(op, B, H, 'tanhC', tanhC); fits(op, B, H, 'h', h);
  },
  lstmCellBackward: (_o, _r, gates, cPrev, tanhC, dh, dc, dgates, B, H) => {
    const op = 'lstmCellBackward';
    fits(op, B, 4 * H, 'gates', gates); fits(op, B, 4 * H, 'dgates', dgates);
    fits(op, B, H, 'cPrev', cPrev); fits(op, B, H, 'tanhC', tanhC); fits(op, B, H, 'dh', dh); fits(op, B, H, 'dc', dc);
  },
  gruCell: (_o, _r, xp, hp, hPrev, h, B, H) => {
    const op = 'gruCell';
    fits(op, B, 3 * H, 'xp', xp); fits(op, B, 3 * H, 'hp', hp); fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'h', h);
  },
  gruCellBackward: (_o, _r, gates, hp, hPrev, dh, dxp, dhp, dhPrev, B, H) => {
    const op = 'gruCellBackward';
    fits(op, B, 3 * H, 'gates', gates); fits(op, B, 3 * H, 'hp', hp); fits(op, B, 3 * H, 'dxp', dxp); fits(op, B, 3 * H, 'dhp', dhp);
    fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'dh', dh); fits(op, B, H, 'dhPrev', dhPrev);
  },
  gruPaperGates: (_o, _r, xrz, hrz, hPrev, rh, B, H) => {
    const op = 'gruPaperGates';
    fits(op, B, 2 * H, 'xrz', xrz); fits(op, B, 2 * H, 'hrz', hrz); fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'rh', rh);
  },
  gruPaperOutput: (_o, _r, rz, xn, hPrev, h, B, H) => {
    const op = 'gruPaperOutput';
    fits(op, B, 2 * H, 'rz', rz); fits(op, B, H, 'xn', xn); fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'h', h);
  },
  gruPaperOutputBackward: (_o, _r, rz, n, hPrev, dh, drz, dn, dhPrev, B, H) => {
    const op = 'gruPaperOutputBackward';
    fits(op, B, 2 * H, 'rz', rz); fits(op, B, 2 * H, 'drz', drz);
    fits(op, B, H, 'n', n); fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'dh', dh); fits(op, B, H, 'dn', dn); fits(op, B, H, 'dhPrev', dhPrev);
  },
  gruPaperGatesBackward: (_o, _r, rz, hPrev, drh, drz, dhPrev, B, H) => {
    const op = 'gruPaperGatesBackward';
    fits(op, B, 2 * H, 'rz', rz); fits(op, B, 2 * H, 'drz', drz);
    fits(op, B, H, 'hPrev', hPrev); fits(op, B, H, 'drh', drh); fits(op, B, H, 'dhPrev', dhPrev);
  },

  attention: (_o, _r, q, k, v, out, lse, s) => checkAttentionForwardArgs(s, q, k, v, out, lse),
  attentionBackward: (_o, _r, q, k, v, out, lse, dout, dq, dk, dv, s) => checkAttentionBackwardArgs(s, q, k, v, out, lse, dout, dq, dk, dv),
  swiglu: (_o, _r, gu, out, rows, F) => checkSwigluArgs('swiglu', rows, F, gu, out, null),
  swigluBackward: (_o, _r, gu, dout, dgu, rows, F) => checkSwigluArgs('swigluBackward', rows, F, gu, dout, dgu),
  groupedGemm: (o, read, mode, G, offsets, n, k, A, B, beta, C) => {
    checkGroupedGemmArgs(mode, G, offsets, read(o, offsets), n, k, A, B, beta, C);
  },
  moeRoute: (_o, _r, logits, probs, lse, topIdx, topGate, n, E, k) => checkMoeRouteArgs(n, E, k, logits, probs, lse, topIdx, topGate),
  moePlan: (o, read, topIdx, n, E, k, capacity, slot, rowToken, offsets, routed) => {
    checkMoePlanArgs(n, E, k, capacity, topIdx, slot, rowToken, offsets, routed);
    checkExpertIds('moePlan', read(o, topIdx), n * k, E);
  },
  moeCombine: (o, read, yd, slot, topGate, y, n, k, C) => {
    checkMoeCombineArgs(n, k, C, slot, topGate, y);
    // yd's rows are addressed through slot (with C = 0 nothing is read).
    checkSlots('moeCombine', read(o, slot), n * k, C > 0 ? Math.floor(yd.size / C) : Infinity);
  },
  moeCombineBackward: (o, read, yd, slot, topGate, dy, dyd, dgate, n, k, C) => {
    checkMoeCombineBackwardArgs(n, k, C, yd, slot, topGate, dy, dyd, dgate);
    checkSlots('moeCombineBackward', read(o, slot), n * k, n * k);
  },
  moeRouteBackward: (o, read, probs, lse, topIdx, topGate, dgate, balanceGrad, _zGrad, dlogits, n, E, k) => {
    checkMoeRouteBackwardArgs(n, E, k, probs, lse, topIdx, topGate, dgate, balanceGrad, dlogits);
    checkExpertIds('moeRouteBackward', read(o, topIdx), n * k, E);
  },
  moeAuxLoss: (_o, _r, probs, lse, offsets, routed, n, E, k, balanceCoef, zLossCoef, balanceGrad, loss, counts, accumulate) =>
    checkMoeAuxLossArgs(n, E, k, balanceCoef, zLossCoef, probs, lse, offsets, routed, balanceGrad, loss, counts, accumulate),

  memoryForward: (_o, _r, k, v, q, y, saved, s) => checkMemoryForwardArgs(s, k, v, q, y, saved),
  memoryBackward: (_o, _r, k, v, q, saved, dy, dk, dv, dq, s) => checkMemoryBackwardArgs(s, k, v, q, saved, dy, dk, dv, dq),
};

/** The name of every op, in the order of the interface (src/ops/types.ts). */
export const OP_NAMES: readonly OpName[] = Object.keys(OP_CHECKS) as OpName[];

/** The CPU backends' ReadInts: their tensors' `.data` is their storage. */
export const readHostInts: ReadInts = (_ops, t) => t.data;

const installed = new WeakSet<object>();

/**
 * Makes every op method of a backend class check its arguments first (OP_CHECKS), then run. Call
 * it once per class, on its prototype, after the class definition; a subclass inherits the checks.
 * The wrapper takes a fixed number of arguments (no rest array), so a call allocates nothing.
 */
export function installArgumentChecks(proto: Ops, read: ReadInts = readHostInts): void {
  if (installed.has(proto)) throw new Error('installArgumentChecks: this prototype already checks its arguments');
  installed.add(proto);
  const methods = proto as unknown as Record<string, unknown>;
  for (const name of OP_NAMES) {
    const check = OP_CHECKS[name] as ((ops: Ops, read: ReadInts, ...args: unknown[]) => void) | null;
    const run = methods[name];
    if (typeof run !== 'function') throw new Error(`installArgumentChecks: the backend has no method ${name}`);
    if (check === null) continue;
    type Fn = (this: Ops, ...args: unknown[]) => unknown;
    const op = run as Fn;
    // Thirteen parameters: the most any op takes (moeAuxLoss).
    methods[name] = function checked(this: Ops, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown,
      g: unknown, h: unknown, i: unknown, j: unknown, k: unknown, l: unknown, m: unknown): unknown {
      check(this, read, a, b, c, d, e, f, g, h, i, j, k, l, m);
      return op.call(this, a, b, c, d, e, f, g, h, i, j, k, l, m);
    };
  }
}
