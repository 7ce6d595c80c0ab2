// Gradient checks for whole models: the loss is the model's own mean cross-entropy on a fixed
// random batch (forwardBackward(batch, false)), and the analytic gradients are what
// forwardBackward(batch, true) accumulates into every param.grad. So the check covers exactly the
// code the training loop runs, padding and loss scaling included.
//
// Adding a model: append a check to its family's list, as src/gradcheck/memory-checks.ts does:
//   modelCheck('memory-lm', (ops, rng) => ({ model: new MemoryLM(ops, smallMemoryLMConfig(), rng), batch: randomBatch(ops, rng, 7, 2, 7) }))
// (a tiny config: the check runs in float64 on the reference backend). Stateful models are reset before every forward pass, so loss() stays pure.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { SequenceModel, TokenBatch } from '../models/types.js';
import { BigramLM } from '../models/bigram.js';
import type { Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';

/**
 * A batch of random tokens from a vocabulary of `vocab`, batch×time, with the last target of the
 * first row marked as padding (−1) so that the check also covers ignored rows and the 1/count scale.
 */
export function randomBatch(ops: Ops, rng: Rng, vocab: number, batch: number, time: number): TokenBatch {
  const n = batch * time;
  const inputs = ops.ints(n), targets = ops.ints(n);
  for (let i = 0; i < n; i++) {
    inputs.data[i] = rng.int(0, vocab);
    targets.data[i] = rng.int(0, vocab);
  }
  if (n > 1) targets.data[time - 1] = -1;
  return { inputs, targets, batch, time };
}

/**
 * Overwrites every parameter with Normal(0, std²) values: zero-initialised weights (as the bigram
 * uses) would make many products vanish and could hide a wrongly routed gradient.
 */
export function randomizeParams(model: SequenceModel, rng: Rng, std = 0.5): void {
  for (const p of model.params) rng.fillNormal(p.value.data, 0, std);
}

/** A GradCheckDef for a model built by `build`; its params are randomised first. */
export function modelCheck(name: string, build: (ops: Ops, rng: Rng) => { model: SequenceModel; batch: TokenBatch },
  tolerance?: number): GradCheckDef {
  return {
    name,
    tolerance,
    make(ops: Ops, rng: Rng): Checkable {
      const { model, batch } = build(ops, rng);
      randomizeParams(model, rng);
      return {
        name,
        params: model.params,
        loss() {
          model.resetState();
          return model.forwardBackward(batch, false);
        },
        backward() {
          model.resetState();
          model.forwardBackward(batch, true);
        },
      };
    },
  };
}

export const MODEL_CHECKS: GradCheckDef[] = [
  // V = 7 classes, 2 rows of 5 steps: small and odd, so a transposed index cannot hide.
  modelCheck('bigram', (ops, rng) => ({ model: new BigramLM(ops, { vocabSize: 7 }, rng), batch: randomBatch(ops, rng, 7, 2, 5) })),
];
