// Gradient checks for the sparse Mixture-of-Experts layer (src/layers/moe.ts), one MoE transformer
// block and the whole MoE transformer and its dense variant (src/models/moe-transformer.ts).
//
// Top-k routing and capacity dropping are piecewise: the loss jumps where a token's k-th and
// (k+1)-th expert swap. The checks therefore draw the router (and the layer's input) until every
// token's routing margin (gap between its k-th and (k+1)-th largest logit, in every layer) is at
// least MIN_MARGIN = 0.05. The harness's step is h = 1e-5·max(1, |θ|); with |x|, |W| ≲ 3 and C ≤ 8
// a perturbation moves a logit by well under 1e-3, so no choice (and so no dropped token) flips
// during the check. Router weights are drawn with std 1 so that logits spread out and such draws
// come quickly.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
import { randomBatch } from './model-checks.js';
import { MixtureOfExperts, type MoeOptions } from '../layers/moe.js';
import { MoeBlock, MoeTransformer, type MoeTransformerConfig } from '../models/moe-transformer.js';

export const MIN_MARGIN = 0.05;

function randomize(params: Param[], rng: Rng, std = 0.5): void {
  for (const p of params) rng.fillNormal(p.value.data, 0, std);
}

/** Redraws `redraw` until `margin()` (after `forward`) reaches MIN_MARGIN. */
export function untilMargin(name: string, forward: () => void, margin: () => number, redraw: () => void): void {
  for (let tries = 0; ; tries++) {
    forward();
    if (margin() >= MIN_MARGIN) return;
    if (tries === 200) throw new Error(`${name}: no router draw with routing margin ≥ ${MIN_MARGIN}`);
    redraw();
  }
}

export function moeCheck(name: string, opts: MoeOptions, n = 8, C = 6, F = 5, E = 4): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const moe = new MixtureOfExperts(ops, 'moe', C, F, E, rng, opts);
      randomize([moe.W13, moe.W2], rng);
      const x = randomCheckTensor(ops, 'x', n * C, rng);
      const y = ops.tensor(n * C), dy = ops.tensor(n * C);
      if (moe.router) {
        const W = moe.router.W.value;
        untilMargin(name, () => moe.forward(x.value, y, n), () => moe.routingMargin(),
          () => { rng.fillNormal(W.data, 0, 1); rng.fillNormal(x.value.data, 0, 1); });
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

/** One pre-LN MoE block on x [B·T, C] (B = 2, T = 5, C = 8, 2 heads, E = 4, top-2, capacity, aux). */
function moeBlockCheck(name: string, recompute: boolean): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const B = 2, T = 5, C = 8, H = 2, E = 4, F = 6, n = B * T;
      const block = new MoeBlock(ops, 'block', C, H, E, F, rng, {
        topK: 2, capacityFactor: 1, balanceCoef: 0.3, zLossCoef: 0.05, recompute, dense: false, outScale: 1,
      });
      randomize(block.params, rng);
      const x = randomCheckTensor(ops, 'x', n * C, rng);
      const y = ops.tensor(n * C), dy = ops.tensor(n * C);
      const mode = { count: false, dropless: false };
      const W = block.ffn.router!.W.value;
      untilMargin(name, () => block.forward(x.value, y, B, T, mode), () => block.ffn.routingMargin(),
        () => rng.fillNormal(W.data, 0, 1));
      const proj = new RandomProjection(ops, n * C, rng);
      return {
        name,
        params: block.params,
        inputs: [x],
        loss() { block.forward(x.value, y, B, T, mode); return proj.loss(y) + block.ffn.auxLoss; },
        backward() { proj.backward(dy); block.backward(x.value, dy, x.grad, B, T); },
      };
    },
  };
}

/** The tiny model of the checks: vocab 7, d 8, 2 heads, 2 layers, 4 experts, top-2, hidden 6, context 6. */
export function tinyMoeConfig(extra: Partial<MoeTransformerConfig> = {}): MoeTransformerConfig {
  return {
    vocabSize: 7, context: 6, dModel: 8, heads: 2, layers: 2, experts: 4, topK: 2, expertHidden: 6,
    capacityFactor: null, balanceCoef: 0.01, zLossCoef: 0.001, tiedEmbeddings: true, recompute: true, ...extra,
  };
}

/**
 * The whole model on a random batch (B = 2, T = 5, one padded target): the loss is the model's
 * cross-entropy plus its auxiliary loss, whose gradient forwardBackward includes.
 */
function moeModelCheck(name: string, config: MoeTransformerConfig): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const model = new MoeTransformer(ops, config, rng);
      randomize(model.params, rng);
      const batch = randomBatch(ops, rng, config.vocabSize, 2, 5);
      untilMargin(name, () => model.forwardBackward(batch, false), () => model.routingMargin(),
        () => { for (const b of model.blocks) if (b.ffn.router) rng.fillNormal(b.ffn.router.W.value.data, 0, 1); });
      return {
        name,
        params: model.params,
        loss() { return model.forwardBackward(batch, false) + model.lastAuxLoss; },
        backward() { model.forwardBackward(batch, true); },
      };
    },
  };
}

export const MOE_CHECKS: GradCheckDef[] = [
  // Raw gate p (top-1 renormalised would be the constant 1).
  moeCheck('moe-top1', { topK: 1 }),
  moeCheck('moe-top2', { topK: 2 }),
  moeCheck('moe-top2-aux', { topK: 2, balanceCoef: 0.3, zLossCoef: 0.05 }),
  moeCheck('moe-top2-aux-recompute', { topK: 2, balanceCoef: 0.3, zLossCoef: 0.05, recompute: true }),
  // capacity = ceil(0.5 · 8 · 2 / 4) = 2 per expert: 16 assignments, at most 8 kept.
  moeCheck('moe-top2-capacity', { topK: 2, capacityFactor: 0.5, balanceCoef: 0.3, zLossCoef: 0.05 }),
  moeCheck('moe-top2-capacity-recompute', { topK: 2, capacityFactor: 0.5, balanceCoef: 0.3, zLossCoef: 0.05, recompute: true }),
  moeCheck('moe-top1-renorm-capacity', { topK: 1, renormalize: true, capacityFactor: 1, balanceCoef: 0.3 }),
  // The dense variant's FFN: the same stacked parameters with E = 1 and no router.
  moeCheck('moe-dense-ffn', { dense: true }, 8, 6, 5, 1),
  moeCheck('moe-dense-ffn-recompute', { dense: true, recompute: true }, 8, 6, 5, 1),
  moeBlockCheck('moe-block', false),
  moeBlockCheck('moe-block-recompute', true),
  // capacity = ceil(1 · 10 · 2 / 4) = 5 per expert; aux coefficients large enough to matter.
  moeModelCheck('moe-transformer', tinyMoeConfig({ capacityFactor: 1, balanceCoef: 0.2, zLossCoef: 0.05 })),
  moeModelCheck('moe-transformer-untied-top1', tinyMoeConfig({ topK: 1, tiedEmbeddings: false, recompute: false })),
  moeModelCheck('moe-transformer-dense', tinyMoeConfig({ dense: true })),
];
