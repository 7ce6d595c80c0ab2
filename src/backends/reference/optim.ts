// Reference optimisation ops (Ops.sumSquares, Ops.adam; the same family as assembly/optim.ts and
// native/optim.cu), on raw typed arrays (the conventions of every reference family file: ./index.ts).
import type { AdamParams, FloatArray } from '../../ops/types.js';

export function sumSquares(x: FloatArray, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

export function adam(w: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, n: number, p: AdamParams): void {
  const c1 = 1 - Math.pow(p.beta1, p.step), c2 = 1 - Math.pow(p.beta2, p.step);
  for (let i = 0; i < n; i++) {
    let gi = g[i];
    if (!p.decoupled && p.weightDecay !== 0) gi += p.weightDecay * w[i];
    m[i] = p.beta1 * m[i] + (1 - p.beta1) * gi;
    v[i] = p.beta2 * v[i] + (1 - p.beta2) * gi * gi;
    const mhat = m[i] / c1, vhat = v[i] / c2;
    if (p.decoupled && p.weightDecay !== 0) w[i] -= p.lr * p.weightDecay * w[i];
    w[i] -= p.lr * mhat / (Math.sqrt(vhat) + p.eps);
  }
}
