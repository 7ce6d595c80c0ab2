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
    this.ops.gemm(false, false, n, this.outDim, this.inDim, 1, x, this.W.value, 0, y);
    if (this.b) this.ops.addBias(y, this.b.value, n, this.outDim);
  }

  /**
   * Accumulates dW and db from x [n, in] and dy [n, out]. When dx is given, writes dx = dy · Wᵀ
   * (or adds it, with accumulateDx, for an input that feeds several layers).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor | null, n: number, accumulateDx = false): void {
    this.ops.gemm(true, false, this.inDim, this.outDim, n, 1, x, dy, 1, this.W.grad);
    if (this.b) this.ops.sumRows(dy, this.b.grad, n, this.outDim);
    if (dx) this.ops.gemm(false, true, n, this.inDim, this.outDim, 1, dy, this.W.value, accumulateDx ? 1 : 0, dx);
  }
}
