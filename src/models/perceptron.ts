// The perceptron: one neuron that sees every input, squashes its weighted sum with a sigmoid, and
// is trained with binary cross-entropy (logistic regression, the differentiable perceptron).
//
//   z[n]  = x[n×in] · w[in×1] + b          (a Linear layer with one output)
//   p[n]  = σ(z)                           the probability of class 1
//   loss  = mean_i BCE(p_i, y_i) = mean_i softplus(z_i) − y_i·z_i
//
// Backward (n rows):
//   dz = (p − y) / n                       σ'(z) = p(1 − p) cancels against the log's 1/p, 1/(1−p)
//   dw += xᵀ · dz,  db += Σ dz              Linear.backward
//
// Its decision boundary is the hyperplane x·w + b = 0, so it can only separate classes that a
// straight line separates: AND, OR, NAND, NOR yes, XOR no (at most 3 of XOR's 4 points can be on
// the right side of any line; src/tasks/xor.ts shows it). The problem is convex, so the weights
// start at zero: there is no symmetry to break.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { Linear } from '../layers/linear.js';
import { zeros, type Init } from '../layers/init.js';
import { RowBuffer } from '../layers/buffer.js';
import { binaryCrossEntropyWithLogits } from '../layers/losses.js';
import type { Param } from '../layers/param.js';
import { checkSizes } from './checks.js';

/** n examples: inputs x [n, in] and targets y [n] in {0, 1} (any value in [0, 1] works). */
export interface BinaryBatch {
  x: Tensor;
  y: Tensor;
  n: number;
}

export interface PerceptronOptions {
  /** Weight initialisation (default zeros: the loss is convex). */
  init?: Init;
}

export class Perceptron {
  readonly linear: Linear;
  private readonly z: RowBuffer;
  private readonly p: RowBuffer;
  private readonly dz: RowBuffer;

  constructor(readonly ops: Ops, readonly inDim: number, rng: Rng, opts: PerceptronOptions = {}) {
    checkSizes('perceptron', { inDim });
    this.linear = new Linear(ops, 'perceptron', inDim, 1, rng, { init: opts.init ?? zeros });
    this.z = new RowBuffer(ops, 1);
    this.p = new RowBuffer(ops, 1);
    this.dz = new RowBuffer(ops, 1);
  }

  get params(): Param[] {
    return this.linear.params;
  }

  /**
   * Mean binary cross-entropy over the batch. With `train`, also the backward pass, accumulating
   * into w.grad and b.grad (the caller zeroes them).
   */
  forwardBackward(batch: BinaryBatch, train: boolean): number {
    const { n } = batch;
    const z = this.z.rows(n), p = this.p.rows(n);
    this.linear.forward(batch.x, z, n);
    const dz = train ? this.dz.rows(n) : null;
    const loss = binaryCrossEntropyWithLogits(this.ops, z, batch.y, p, dz);
    if (dz) this.linear.backward(batch.x, dz, null, n);
    return loss;
  }

  /** P(class 1) for each of the n rows of x. */
  probabilities(x: Tensor, n: number): Float64Array {
    const z = this.z.rows(n), p = this.p.rows(n);
    this.linear.forward(x, z, n);
    this.ops.activation('sigmoid', z, p);
    return Float64Array.from(p.data);
  }

  /** Predicted classes (p > 0.5, i.e. z > 0) for the n rows of x. */
  predict(x: Tensor, n: number): number[] {
    return Array.from(this.probabilities(x, n), (q) => (q > 0.5 ? 1 : 0));
  }
}
