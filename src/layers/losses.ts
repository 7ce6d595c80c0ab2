// Losses that are compositions of ops (softmax cross-entropy is a fused op of its own:
// ops.softmaxCrossEntropy). Each returns the mean loss and writes the gradient of that mean.
//
//   binary cross-entropy on a logit z with label y ∈ {0, 1} (or any target in [0, 1]):
//     p = σ(z),  L = −[y·log p + (1 − y)·log(1 − p)] = softplus(z) − y·z
//     dL/dz = σ(z) − y = p − y        (the sigmoid's derivative cancels the log's: no p(1−p) term)
//   mean squared error over every element of pred:
//     L = Σ (pred − target)² / count,  dL/dpred = 2·(pred − target) / count
import type { Ops, Tensor } from '../ops/types.js';

/**
 * Mean binary cross-entropy of sigmoid(z) against targets y (z, y, p, dz: n elements each).
 * Writes p = σ(z); when dz is given, overwrites it with dL/dz = (p − y)/n.
 * The loss is summed on the host in double precision, in the stable form
 * softplus(z) − y·z = max(z, 0) − y·z + log(1 + e^−|z|).
 */
export function binaryCrossEntropyWithLogits(ops: Ops, z: Tensor, y: Tensor, p: Tensor, dz: Tensor | null): number {
  const n = z.size;
  if (y.size !== n || p.size !== n || (dz && dz.size !== n)) {
    throw new RangeError(`binaryCrossEntropyWithLogits: sizes differ (z ${n}, y ${y.size}, p ${p.size}${dz ? `, dz ${dz.size}` : ''})`);
  }
  ops.activation('sigmoid', z, p);
  const zd = z.data, yd = y.data;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const zi = zd[i];
    sum += Math.max(zi, 0) - yd[i] * zi + Math.log1p(Math.exp(-Math.abs(zi)));
  }
  if (dz) {
    ops.copy(p, dz);
    ops.axpy(-1, y, dz);
    ops.scale(dz, 1 / n);
  }
  return sum / n;
}

/**
 * Mean squared error over all elements of pred (pred, target, dpred: the same size).
 * dpred is always overwritten (it holds pred − target on the way); with `train` it ends as
 * dL/dpred = 2·(pred − target)/count, otherwise its contents are scratch.
 */
export function meanSquaredError(ops: Ops, pred: Tensor, target: Tensor, dpred: Tensor, train: boolean): number {
  const count = pred.size;
  if (target.size !== count || dpred.size !== count) {
    throw new RangeError(`meanSquaredError: sizes differ (pred ${count}, target ${target.size}, dpred ${dpred.size})`);
  }
  ops.copy(pred, dpred);
  ops.axpy(-1, target, dpred);
  const loss = ops.sumSquares(dpred) / count;
  if (train) ops.scale(dpred, 2 / count);
  return loss;
}
