// Gradient checks of dropout with a fixed mask: the layer alone, and the models that use it
// (transformer, moe, moe-dense, memory-lm: embeddings and both residual branches; LSTM:
// embeddings and outputs; LSTM with attention: embeddings and the LSTM output the attention
// reads) in training mode. A mask is drawn by the first forward pass and frozen (Dropout.freeze), so every loss the
// harness evaluates drops the same elements and the loss is a smooth function of the weights.
//
// The model checks run forwardBackward(batch, true) for the loss too (dropout acts only in
// training): that also accumulates gradients, so backward() zeroes them before its own pass (the
// harness copies the gradients out right after backward(), before any further loss()).
//
// The MoE's top-k routing is piecewise: as in moe-checks.ts, its routers are redrawn until every
// token's routing margin is at least MIN_MARGIN, here in training mode under the frozen masks
// (the router reads the dropped residual stream), so no choice flips during the check. Its loss
// adds the auxiliary losses, whose gradient forwardBackward includes.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { SequenceModel, TokenBatch } from '../models/types.js';
import { Dropout } from '../layers/dropout.js';
import { layerCheckable, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
import { randomBatch, randomizeParams } from './model-checks.js';
import { TransformerLM } from '../models/transformer.js';
import { RecurrentLM } from '../models/recurrent-lm.js';
import { AttentionLM } from '../models/lstm-attention-lm.js';
import { smallTransformerConfig } from './transformer-checks.js';
import { MoeTransformer } from '../models/moe-transformer.js';
import { tinyMoeConfig, untilMargin } from './moe-checks.js';
import { MemoryLM } from '../models/memory-lm.js';
import { smallMemoryLMConfig } from './memory-checks.js';

/** The dropout rate of the checks: high enough that about a third of every tensor is dropped. */
export const CHECK_DROPOUT = 0.35;

/** y = Drop(x) on [n, C] with a frozen mask; L = Σ w ⊙ y. */
function dropoutLayerCheck(ops: Ops, rng: Rng): Checkable {
  const n = 6, C = 7;
  const drop = new Dropout(ops, CHECK_DROPOUT, rng, C);
  drop.freeze();
  return layerCheckable(ops, rng, 'dropout', [], n * C, n * C,
    (x, y) => drop.forward(x, y, n, true), (_x, dy, dx) => drop.backward(dy, dx));
}

/** What a dropout model check runs: the model, its batch and, where the model needs them, two hooks. */
export interface DropoutCheckSubject {
  model: SequenceModel & { dropouts: Dropout[] };
  batch: TokenBatch;
  /** Runs once the weights are drawn and the masks frozen (the MoE redraws its routers here). */
  settle?: () => void;
  /** Loss terms the model's gradient includes beyond the cross-entropy it returns (the MoE's aux losses). */
  extraLoss?: () => number;
}

/** A model in training mode with every dropout mask frozen after the first pass. */
export function dropoutModelCheck(name: string, build: (ops: Ops, rng: Rng) => DropoutCheckSubject,
  tolerance?: number): GradCheckDef {
  return {
    name,
    tolerance,
    make(ops: Ops, rng: Rng): Checkable {
      const { model, batch, settle, extraLoss } = build(ops, rng);
      randomizeParams(model, rng);
      for (const d of model.dropouts) d.freeze();
      settle?.();
      return {
        name,
        params: model.params,
        loss() {
          model.resetState();
          const ce = model.forwardBackward(batch, true);
          return extraLoss ? ce + extraLoss() : ce;
        },
        backward() {
          for (const p of model.params) ops.fill(p.grad, 0);
          model.resetState();
          model.forwardBackward(batch, true);
        },
      };
    },
  };
}

/** The tiny MoE transformer (moe-checks.ts) with dropout, its routing stable under the frozen masks. */
function moeDropoutCheck(name: string, extra: Parameters<typeof tinyMoeConfig>[0]): GradCheckDef {
  return dropoutModelCheck(name, (ops, rng) => {
    const model = new MoeTransformer(ops, tinyMoeConfig({ ...extra, dropout: CHECK_DROPOUT }), rng);
    const batch = randomBatch(ops, rng, 7, 2, 5);
    return {
      model, batch,
      settle: () => untilMargin(name, () => model.forwardBackward(batch, true), () => model.routingMargin(),
        () => { for (const b of model.blocks) if (b.ffn.router) rng.fillNormal(b.ffn.router.W.value.data, 0, 1); }),
      extraLoss: () => model.lastAuxLoss,
    };
  });
}

export const DROPOUT_CHECKS: GradCheckDef[] = [
  { name: 'dropout', make: dropoutLayerCheck },
  dropoutModelCheck('transformer-dropout', (ops, rng) => ({
    model: new TransformerLM(ops, smallTransformerConfig({ dropout: CHECK_DROPOUT }), rng), batch: randomBatch(ops, rng, 7, 2, 5),
  })),
  dropoutModelCheck('lstm-lm-dropout', (ops, rng) => ({
    model: new RecurrentLM(ops, 'lstm', { vocabSize: 7, hidden: 5, layers: 2, embed: 4, dropout: CHECK_DROPOUT }, rng),
    batch: randomBatch(ops, rng, 7, 2, 5),
  })),
  // capacity = ceil(1 · 10 · 2 / 4) = 5 per expert; aux coefficients large enough to matter.
  moeDropoutCheck('moe-dropout', { capacityFactor: 1, balanceCoef: 0.2, zLossCoef: 0.05 }),
  moeDropoutCheck('moe-dense-dropout', { dense: true }),
  dropoutModelCheck('memory-lm-dropout', (ops, rng) => ({
    model: new MemoryLM(ops, smallMemoryLMConfig({ dropout: CHECK_DROPOUT }), rng), batch: randomBatch(ops, rng, 7, 2, 7),
  })),
  dropoutModelCheck('lstm-attention-dropout', (ops, rng) => ({
    model: new AttentionLM(ops, { vocabSize: 5, hidden: 4, layers: 2, embed: 3, dropout: CHECK_DROPOUT }, rng),
    batch: randomBatch(ops, rng, 5, 2, 5),
  })),
];
