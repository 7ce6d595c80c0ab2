// Linear (fully connected) layer: y[n×out] = x[n×in] · W[in×out] + b[out].
// W is stored [in, out] so the forward pass is a plain A·B and the two backward products are
// the transposes the ops interface provides:
//   dW += xᵀ · dy    (gemm transA, accumulate: a weight reused across time steps just adds up)
//   db += Σ_rows dy  (sumRows)
//   dx  = dy · Wᵀ    (gemm transB)
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { zeros, type Init } from './init.js';

export interface LinearOptions {
  bias?: boolean;
  init?: Init;
}

export class Linear {
  readonly W: Param;
  readonly b: Param | null;

  constructor(private readonly ops: Ops, name: string, readonly inDim: number, readonly outDim: number,
    rng: Rng, opts: LinearOptions = {}) {
    this.W = makeParam(ops, `${name}.W`, [inDim, outDim], opts.init ?? { kind: 'xavier' }, rng);
    this.b = opts.bias === false ? null : makeParam(ops, `${name}.b`, [outDim], zeros, rng);
  }

  get params(): Param[] {
    return this.b ? [this.W, this.b] : [this.W];
  }

  /** x: [n, in] → y: [n, out] (overwrites y). */
  forward(x: Tensor, y: Tensor, n: number): void {
    projectRows(this.ops, x, this.W, this.b, n, this.inDim, this.outDim, y);
  }

  /**
   * Accumulates dW and db from x [n, in] and dy [n, out]. When dx is given, writes dx = dy · Wᵀ
   * (or adds it, with accumulateDx, for an input that feeds several layers).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor | null, n: number, accumulateDx = false): void {
    projectRowsBackward(this.ops, x, dy, this.W, this.b, n, this.inDim, this.outDim, dx, accumulateDx);
  }
}

/**
 * The dense layer's forward on given parameters: out [n,G] = in [n,K]·W [K,G] (+ b [G]). The
 * recurrent layers call it for their input product over all T·B rows at once (or one step's).
 */
export function projectRows(ops: Ops, input: Tensor, W: Param, b: Param | null, n: number, K: number, G: number, out: Tensor): void {
  ops.gemm(false, false, n, G, K, 1, input, W.value, 0, out);
  if (b) ops.addBias(out, b.value, n, G);
}

/**
 * The backward of projectRows: dW += inᵀ·dOut and db += Σ dOut (ACCUMULATED), and, when dIn is
 * given, dIn = dOut·Wᵀ (or += with accumulate, for an input that feeds two products).
 */
export function projectRowsBackward(ops: Ops, input: Tensor, dOut: Tensor, W: Param, b: Param | null, n: number, K: number, G: number,
  dIn: Tensor | null, accumulate = false): void {
  ops.gemm(true, false, K, G, n, 1, input, dOut, 1, W.grad);
  if (b) ops.sumRows(dOut, b.grad, n, G);
  if (dIn) ops.gemm(false, true, n, K, G, 1, dOut, W.value, accumulate ? 1 : 0, dIn);
}
