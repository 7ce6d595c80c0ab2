// Gradient checks for the sparse Mixture-of-Experts layer (src/layers/moe.ts).
//
// Top-k routing and capacity dropping are piecewise: the loss jumps where a token's k-th and
// (k+1)-th expert swap. The checks therefore draw the router and the input until every token's
// routing margin (gap between its k-th and (k+1)-th largest logit) is at least MIN_MARGIN = 0.05.
// The harness's step is h = 1e-5·max(1, |θ|); with |x|, |Wr| ≲ 3 and C = 6 a perturbation moves a
// logit by well under 1e-3, so no choice (and so no dropped token) flips during the check. Router
// weights are drawn with std 1 so that logits are spread out and such draws come quickly.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './registry.js';
import { MixtureOfExperts, type MoeOptions } from '../layers/moe.js';

export const MIN_MARGIN = 0.05;

export function moeCheck(name: string, opts: MoeOptions, n = 8, C = 6, F = 5, E = 4): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const moe = new MixtureOfExperts(ops, 'moe', C, F, E, rng, opts);
      for (const ex of moe.experts) for (const p of ex.params) rng.fillNormal(p.value.data, 0, 0.5);
      const x = randomCheckTensor(ops, 'x', n * C, rng);
      const y = ops.tensor(n * C), dy = ops.tensor(n * C);
      for (let tries = 0; ; tries++) {
        rng.fillNormal(moe.router.W.value.data, 0, 1);
        moe.forward(x.value, y, n);
        if (moe.routingMargin() >= MIN_MARGIN) break;
        if (tries === 100) throw new Error(`${name}: no router draw with routing margin ≥ ${MIN_MARGIN}`);
        rng.fillNormal(x.value.data, 0, 1);
      }
      const proj = new RandomProjection(ops, n * C, rng);
      return {
        name,
        params: moe.params,
        inputs: [x],
        loss() { moe.forward(x.value, y, n); return proj.loss(y) + moe.auxLoss; },
        backward() { proj.backward(dy); moe.backward(x.value, dy, x.grad, n); },
      };
    },
  };
}

export const MOE_CHECKS: GradCheckDef[] = [
  // Raw gate p (top-1 renormalised would be the constant 1).
  moeCheck('moe-top1', { topK: 1 }),
  moeCheck('moe-top2', { topK: 2 }),
  moeCheck('moe-top2-aux', { topK: 2, balanceCoef: 0.3, zLossCoef: 0.05 }),
  // capacity = ceil(0.5 · 8 · 2 / 4) = 2 per expert: 16 assignments, at most 8 kept.
  moeCheck('moe-top2-capacity', { topK: 2, capacityFactor: 0.5, balanceCoef: 0.3, zLossCoef: 0.05 }),
  moeCheck('moe-top1-renorm-capacity', { topK: 1, renormalize: true, capacityFactor: 1, balanceCoef: 0.3 }),
];
