// MLP models for fixed-size inputs: a classifier (softmax cross-entropy over the output logits)
// and a regressor (mean squared error on the outputs). The network itself, forward and backward,
// is src/layers/mlp.ts; here only the loss on top and the prediction helpers.
//
//   classifier: logits = mlp(x) [n, C];  loss = mean_i CE(softmax(logits_i), t_i)
//               dlogits = (softmax(logits) − onehot(t)) / count        (fused in the op)
//   regressor:  pred = mlp(x) [n, D];    loss = Σ (pred − y)² / (n·D)
//               dpred = 2·(pred − y) / (n·D)                           (layers/losses.ts)
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { Mlp, type MlpOptions } from '../layers/mlp.js';
import { RowBuffer } from '../layers/buffer.js';
import { meanSquaredError } from '../layers/losses.js';
import type { Param } from '../layers/param.js';
import { countTargets } from './bigram.js';

/** n examples: inputs x [n, in] and class ids [n] (a negative id: ignored, no loss, no gradient). */
export interface ClassBatch {
  x: Tensor;
  targets: IntTensor;
  n: number;
  /** When given (n·in elements), the backward pass also writes dL/dx here. */
  dx?: Tensor;
}

/** n examples: inputs x [n, in] and real targets y [n, out]. */
export interface RegressionBatch {
  x: Tensor;
  y: Tensor;
  n: number;
  /** When given (n·in elements), the backward pass also writes dL/dx here. */
  dx?: Tensor;
}

export class MlpClassifier {
  readonly mlp: Mlp;
  readonly classes: number;
  private readonly dlogits: RowBuffer;

  /** sizes = [inputs, hidden…, classes]. */
  constructor(readonly ops: Ops, sizes: readonly number[], rng: Rng, opts: MlpOptions = {}) {
    this.mlp = new Mlp(ops, 'mlp', sizes, rng, opts);
    this.classes = this.mlp.outDim;
    this.dlogits = new RowBuffer(ops, this.classes);
  }

  get params(): Param[] {
    return this.mlp.params;
  }

  /** Mean cross-entropy over the non-ignored rows; with `train`, the backward pass too (accumulating). */
  forwardBackward(batch: ClassBatch, train: boolean): number {
    const { n } = batch, C = this.classes;
    const count = countTargets(batch.targets, n);
    if (count === 0) return 0;
    const logits = this.mlp.forward(batch.x, n);
    const dlogits = train ? this.dlogits.rows(n) : null;
    const sum = this.ops.softmaxCrossEntropy(logits, batch.targets, n, C, dlogits, 1 / count);
    if (dlogits) this.mlp.backward(dlogits, batch.dx ?? null);
    return sum / count;
  }

  /** The most likely class of each of the n rows of x (ties: the lowest id). */
  predict(x: Tensor, n: number): number[] {
    const logits = this.mlp.forward(x, n).data, C = this.classes;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
      out.push(best);
    }
    return out;
  }

  /** The fraction of the n rows whose predicted class is the target. */
  accuracy(x: Tensor, targets: ArrayLike<number>, n: number): number {
    const pred = this.predict(x, n);
    let right = 0;
    for (let i = 0; i < n; i++) if (pred[i] === targets[i]) right++;
    return right / n;
  }
}

export class MlpRegressor {
  readonly mlp: Mlp;
  private readonly dpred: RowBuffer;

  /** sizes = [inputs, hidden…, outputs]. */
  constructor(readonly ops: Ops, sizes: readonly number[], rng: Rng, opts: MlpOptions = {}) {
    this.mlp = new Mlp(ops, 'mlp', sizes, rng, opts);
    this.dpred = new RowBuffer(ops, this.mlp.outDim);
  }

  get params(): Param[] {
    return this.mlp.params;
  }

  /** Mean squared error over every output of every row; with `train`, the backward pass too. */
  forwardBackward(batch: RegressionBatch, train: boolean): number {
    const pred = this.mlp.forward(batch.x, batch.n);
    const dpred = this.dpred.rows(batch.n);
    const loss = meanSquaredError(this.ops, pred, batch.y, dpred, train);
    if (train) this.mlp.backward(dpred, batch.dx ?? null);
    return loss;
  }

  /** The outputs [n, out] for the n rows of x, copied out. */
  predict(x: Tensor, n: number): Float64Array {
    return Float64Array.from(this.mlp.forward(x, n).data);
  }
}
