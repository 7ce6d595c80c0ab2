// The reference backend: plain TypeScript loops, in float64 (used by gradient checks) or float32.
// It is the specification of every op: other backends are tested against it. Clarity beats speed.
//
// The maths lives in one file per op family, named as the family's file in assembly/ and native/:
// elementwise, rows, layernorm, embedding, optim, gemm, recurrent, attention, moe, memory-recurrence.
// Those functions take raw typed arrays (Float32Array or Float64Array alike), never Tensors, so the
// WASM backend can run some of them on views of its heap (the MoE routing) and the CUDA backend's
// kernels are checked against them; they check nothing (src/ops/checked.ts checks the arguments of
// every op of every backend first), allocate nothing per call (./scratch.ts), keep sums in JS
// numbers (float64) and round once on store. This class only hands each op's `.data` to them.
import type {
  Activation, AdamParams, AttentionShape, DType, FloatArray, IntTensor, MemoryShape, Ops, PackedGemmB, Tensor,
} from '../../ops/types.js';
import { installArgumentChecks } from '../../ops/checked.js';
import { checkCount } from '../../ops/checks.js';
import * as elementwise from './elementwise.js';
import * as rows from './rows.js';
import * as layernorm from './layernorm.js';
import * as embedding from './embedding.js';
import * as optim from './optim.js';
import * as gemm from './gemm.js';
import * as recurrent from './recurrent.js';
import * as attention from './attention.js';
import * as moe from './moe.js';
import * as memory from './memory-recurrence.js';

export { activate, activateDerivative } from './elementwise.js';

class RefTensor implements Tensor {
  constructor(readonly data: FloatArray) {}
  get size(): number { return this.data.length; }
  view(offset: number, size: number): Tensor {
    if (offset < 0 || size < 0 || offset + size > this.data.length) {
      throw new RangeError(`view(${offset}, ${size}) is outside a tensor of ${this.data.length} elements`);
    }
    return new RefTensor(this.data.subarray(offset, offset + size));
  }
}

class RefInts implements IntTensor {
  constructor(readonly data: Int32Array) {}
  get size(): number { return this.data.length; }
  view(offset: number, size: number): IntTensor {
    if (offset < 0 || size < 0 || offset + size > this.data.length) {
      throw new RangeError(`view(${offset}, ${size}) is outside an int tensor of ${this.data.length} elements`);
    }
    return new RefInts(this.data.subarray(offset, offset + size));
  }
}

/** The reference's packed gemm operand: op(B) itself, k×n row-major (./gemm.ts packGemmB). */
class RefPackedGemmB implements PackedGemmB {
  ready = false;
  constructor(readonly k: number, readonly n: number, readonly data: FloatArray) {}
}
function refPacked(p: PackedGemmB): RefPackedGemmB {
  if (!(p instanceof RefPackedGemmB)) throw new TypeError('reference backend: got a packed operand from another backend');
  return p;
}

export class ReferenceOps implements Ops {
  readonly name: string;
  private readonly Float: Float32ArrayConstructor | Float64ArrayConstructor;

  constructor(readonly dtype: DType = 'f64') {
    this.name = `reference-${dtype}`;
    this.Float = dtype === 'f64' ? Float64Array : Float32Array;
  }

  tensor(size: number): Tensor { return new RefTensor(new this.Float(size)); }
  tensorFrom(values: ArrayLike<number>): Tensor { return new RefTensor(this.Float.from(values)); }
  ints(size: number): IntTensor { return new RefInts(new Int32Array(size)); }
  intsFrom(values: ArrayLike<number>): IntTensor { return new RefInts(Int32Array.from(values)); }
  // Garbage collection frees reference tensors; scopes only need to nest correctly.
  private depth = 0;
  mark(): number { return ++this.depth; }
  release(mark: number): void { this.depth = mark - 1; }
  dispose(): void {}
  packedGemmB(k: number, n: number): PackedGemmB {
    checkCount('packedGemmB', 'k', k); checkCount('packedGemmB', 'n', n);
    return new RefPackedGemmB(k, n, new this.Float(k * n));
  }

  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, B: Tensor, beta: number, C: Tensor): void {
    gemm.gemm(transA, transB, m, n, k, alpha, A.data, B.data, beta, C.data);
  }
  packGemmB(transB: boolean, k: number, n: number, B: Tensor, packed: PackedGemmB): void {
    const p = refPacked(packed);
    gemm.packGemmB(transB, k, n, B.data, p.data);
    p.ready = true;
  }
  gemmPackedB(transA: boolean, m: number, n: number, k: number,
    alpha: number, A: Tensor, packed: PackedGemmB, beta: number, C: Tensor): void {
    gemm.gemm(transA, false, m, n, k, alpha, A.data, refPacked(packed).data, beta, C.data);
  }

  // ---- elementwise (over the first x.size elements)
  fill(x: Tensor, value: number): void { x.data.fill(value); }
  copy(src: Tensor, dst: Tensor): void { dst.data.set(src.data); }
  scale(x: Tensor, alpha: number): void { elementwise.scale(x.data, x.size, alpha); }
  axpy(alpha: number, x: Tensor, y: Tensor): void { elementwise.axpy(alpha, x.data, y.data, x.size); }
  add(a: Tensor, b: Tensor, out: Tensor): void { elementwise.add(a.data, b.data, out.data, a.size); }
  mul(a: Tensor, b: Tensor, out: Tensor, accumulate = false): void {
    elementwise.mul(a.data, b.data, out.data, a.size, accumulate);
  }
  activation(kind: Activation, x: Tensor, y: Tensor): void { elementwise.activation(kind, x.data, y.data, x.size); }
  activationBackward(kind: Activation, x: Tensor, y: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
    elementwise.activationBackward(kind, x.data, y.data, dy.data, dx.data, dy.size, accumulate);
  }

  // ---- rows
  addBias(y: Tensor, bias: Tensor, r: number, c: number): void { rows.addBias(y.data, bias.data, r, c); }
  sumRows(x: Tensor, out: Tensor, r: number, c: number): void { rows.sumRows(x.data, out.data, r, c); }
  sumCols(x: Tensor, out: Tensor, r: number, c: number): void { rows.sumCols(x.data, out.data, r, c); }
  softmax(x: Tensor, y: Tensor, r: number, c: number): void { rows.softmax(x.data, y.data, r, c); }
  logSoftmax(x: Tensor, y: Tensor, r: number, c: number): void { rows.logSoftmax(x.data, y.data, r, c); }
  softmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, r: number, c: number): void {
    rows.softmaxBackward(y.data, dy.data, dx.data, r, c);
  }
  logSoftmaxBackward(y: Tensor, dy: Tensor, dx: Tensor, r: number, c: number): void {
    rows.logSoftmaxBackward(y.data, dy.data, dx.data, r, c);
  }
  softmaxCrossEntropy(logits: Tensor, targets: IntTensor, r: number, c: number,
    dlogits: Tensor | null, gradScale: number): number {
    return rows.softmaxCrossEntropy(logits.data, targets.data, r, c, dlogits ? dlogits.data : null, gradScale);
  }
  layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, y: Tensor, mean: Tensor, rstd: Tensor,
    r: number, c: number, eps: number): void {
    layernorm.layerNorm(x.data, gamma.data, beta.data, y.data, mean.data, rstd.data, r, c, eps);
  }
  layerNormBackward(x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor,
    dx: Tensor, dgamma: Tensor, dbeta: Tensor, r: number, c: number): void {
    layernorm.layerNormBackward(x.data, gamma.data, mean.data, rstd.data, dy.data, dx.data, dgamma.data, dbeta.data, r, c);
  }

  // ---- embeddings
  embedding(table: Tensor, ids: IntTensor, out: Tensor, n: number, dim: number): void {
    embedding.embedding(table.data, ids.data, out.data, n, dim);
  }
  embeddingBackward(dout: Tensor, ids: IntTensor, dtable: Tensor, n: number, dim: number): void {
    embedding.embeddingBackward(dout.data, ids.data, dtable.data, n, dim);
  }

  // ---- optimisation
  sumSquares(x: Tensor): number { return optim.sumSquares(x.data, x.size); }
  sumSquaresMany(xs: readonly Tensor[]): number {
    let s = 0;
    for (const x of xs) s += this.sumSquares(x);
    return s;
  }
  adam(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamParams): void {
    optim.adam(param.data, grad.data, m.data, v.data, param.size, p);
  }

  // ---- recurrent cells
  lstmCell(gates: Tensor, cPrev: Tensor, c: Tensor, tanhC: Tensor, h: Tensor, B: number, H: number): void {
    recurrent.lstmCell(gates.data, cPrev.data, c.data, tanhC.data, h.data, B, H);
  }
  lstmCellBackward(gates: Tensor, cPrev: Tensor, tanhC: Tensor, dh: Tensor, dc: Tensor, dgates: Tensor,
    B: number, H: number): void {
    recurrent.lstmCellBackward(gates.data, cPrev.data, tanhC.data, dh.data, dc.data, dgates.data, B, H);
  }
  gruCell(xp: Tensor, hp: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    recurrent.gruCell(xp.data, hp.data, hPrev.data, h.data, B, H);
  }
  gruCellBackward(gates: Tensor, hp: Tensor, hPrev: Tensor, dh: Tensor, dxp: Tensor, dhp: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    recurrent.gruCellBackward(gates.data, hp.data, hPrev.data, dh.data, dxp.data, dhp.data, dhPrev.data, B, H);
  }
  gruPaperGates(xrz: Tensor, hrz: Tensor, hPrev: Tensor, rh: Tensor, B: number, H: number): void {
    recurrent.gruPaperGates(xrz.data, hrz.data, hPrev.data, rh.data, B, H);
  }
  gruPaperOutput(rz: Tensor, xn: Tensor, hPrev: Tensor, h: Tensor, B: number, H: number): void {
    recurrent.gruPaperOutput(rz.data, xn.data, hPrev.data, h.data, B, H);
  }
  gruPaperOutputBackward(rz: Tensor, n: Tensor, hPrev: Tensor, dh: Tensor, drz: Tensor, dn: Tensor, dhPrev: Tensor,
    B: number, H: number): void {
    recurrent.gruPaperOutputBackward(rz.data, n.data, hPrev.data, dh.data, drz.data, dn.data, dhPrev.data, B, H);
  }
  gruPaperGatesBackward(rz: Tensor, hPrev: Tensor, drh: Tensor, drz: Tensor, dhPrev: Tensor, B: number, H: number): void {
    recurrent.gruPaperGatesBackward(rz.data, hPrev.data, drh.data, drz.data, dhPrev.data, B, H);
  }

  // ---- transformer and MoE ops
  attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void {
    attention.attentionForward(q.data, k.data, v.data, out.data, lse.data, s);
  }
  attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
    dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void {
    attention.attentionBackward(q.data, k.data, v.data, out.data, lse.data, dout.data, dq.data, dk.data, dv.data, s);
  }
  swiglu(gu: Tensor, out: Tensor, r: number, F: number): void { moe.swigluForward(gu.data, out.data, r, F); }
  swigluBackward(gu: Tensor, dout: Tensor, dgu: Tensor, r: number, F: number): void {
    moe.swigluBackward(gu.data, dout.data, dgu.data, r, F);
  }
  groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: IntTensor, n: number, k: number,
    A: Tensor, B: Tensor, beta: 0 | 1, C: Tensor): void {
    gemm.groupedGemm(mode, G, offsets.data, n, k, A.data, B.data, beta, C.data);
  }
  moeRoute(logits: Tensor, probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    moe.moeRoute(logits.data, probs.data, lse.data, topIdx.data, topGate.data, n, E, k, renormalize);
  }
  moePlan(topIdx: IntTensor, n: number, E: number, k: number, capacity: number,
    slot: IntTensor, rowToken: IntTensor, offsets: IntTensor, routed: IntTensor): void {
    moe.moePlan(topIdx.data, n, E, k, capacity, slot.data, rowToken.data, offsets.data, routed.data);
  }
  moeCombine(yd: Tensor, slot: IntTensor, topGate: Tensor, y: Tensor, n: number, k: number, C: number): void {
    moe.moeCombine(yd.data, slot.data, topGate.data, y.data, n, k, C);
  }
  moeCombineBackward(yd: Tensor, slot: IntTensor, topGate: Tensor, dy: Tensor, dyd: Tensor, dgate: Tensor,
    n: number, k: number, C: number): void {
    moe.moeCombineBackward(yd.data, slot.data, topGate.data, dy.data, dyd.data, dgate.data, n, k, C);
  }
  moeRouteBackward(probs: Tensor, lse: Tensor, topIdx: IntTensor, topGate: Tensor, dgate: Tensor,
    balanceGrad: Tensor | null, zGrad: number, dlogits: Tensor,
    n: number, E: number, k: number, renormalize: boolean): void {
    moe.moeRouteBackward(probs.data, lse.data, topIdx.data, topGate.data, dgate.data, balanceGrad?.data ?? null,
      zGrad, dlogits.data, n, E, k, renormalize);
  }
  moeAuxLoss(probs: Tensor, lse: Tensor, offsets: IntTensor, routed: IntTensor, n: number, E: number, k: number,
    balanceCoef: number, zLossCoef: number, balanceGrad: Tensor, loss: Tensor, counts: IntTensor, accumulate: boolean): void {
    moe.moeAuxLoss(probs.data, lse.data, offsets.data, routed.data, n, E, k, balanceCoef, zLossCoef, balanceGrad.data,
      loss.data, counts.data, accumulate);
  }

  // ---- the associative-memory recurrence
  memoryForward(k: Tensor, v: Tensor, q: Tensor, y: Tensor, saved: Tensor, s: MemoryShape): void {
    memory.memoryForward(k.data, v.data, q.data, y.data, saved.data, s);
  }
  memoryBackward(k: Tensor, v: Tensor, q: Tensor, saved: Tensor, dy: Tensor, dk: Tensor, dv: Tensor, dq: Tensor,
    s: MemoryShape): void {
    memory.memoryBackward(k.data, v.data, q.data, saved.data, dy.data, dk.data, dv.data, dq.data, s);
  }
}

// Every op checks its arguments first (src/ops/checked.ts).
installArgumentChecks(ReferenceOps.prototype);
