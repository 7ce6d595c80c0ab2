// The training loop for in-memory problems (the toy tasks, gates, regression): the same step as
// trainer.ts — zero grads → forwardBackward → global-norm clip → optimizer step at lr(step) — without
// the corpus, tokenizer and checkpoint machinery around it. Any model with params and a
// forwardBackward over its own batch type plugs in.
import type { Ops, Tensor } from '../ops/types.js';
import { zeroGrads, type Param } from '../layers/param.js';
import { createOptimizer, type OptimizerKind, type ParamRef } from './optimizers.js';
import { clipGradNorm, gradNorm } from './clip.js';
import { TrainingDivergedError } from './trainer.js';

/** What fit() needs from a model: its parameters and a loss (with backward when `train`). */
export interface SupervisedModel<B> {
  readonly params: Param[];
  /** Mean loss on the batch; with `train`, accumulates every param.grad (fit zeroes them first). */
  forwardBackward(batch: B, train: boolean): number;
}

export interface FitOptions {
  steps: number;
  /** A constant, or the learning rate of step `step` (0-based). */
  lr: number | ((step: number) => number);
  /** Default adam. */
  optimizer?: OptimizerKind;
  /** Global gradient-norm limit; 0 or absent: no clipping. */
  clip?: number;
  weightDecay?: number;
  /**
   * Called after each step with the 1-based step count and its loss; return true to stop early
   * (e.g. once a task is solved).
   */
  onStep?: (step: number, loss: number) => boolean | void;
}

export interface FitResult {
  /** Steps taken. */
  steps: number;
  /** The loss of the last step (before its update). */
  loss: number;
}

/** Trains `model` on `batchAt(step)` for opts.steps steps (or until onStep says stop). */
export function fit<B>(ops: Ops, model: SupervisedModel<B>, batchAt: (step: number) => B, opts: FitOptions): FitResult {
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new RangeError(`fit: steps must be an integer ≥ 0, got ${opts.steps}`);
  const params = model.params;
  const refs: ParamRef[] = params.map((p) => ({ value: p.value, grad: p.grad }));
  const grads: Tensor[] = params.map((p) => p.grad);
  const optimizer = createOptimizer(ops, { kind: opts.optimizer ?? 'adam', weightDecay: opts.weightDecay });
  const lrAt = typeof opts.lr === 'number' ? ((lr: number) => () => lr)(opts.lr) : opts.lr;
  const clip = opts.clip ?? 0;
  let loss = NaN, step = 0;
  while (step < opts.steps) {
    zeroGrads(ops, params);
    loss = model.forwardBackward(batchAt(step), true);
    const norm = clip > 0 ? clipGradNorm(ops, grads, clip) : gradNorm(ops, grads);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      throw new TrainingDivergedError(`training stopped: loss ${loss}, gradient norm ${norm} at step ${step + 1}`);
    }
    optimizer.step(refs, lrAt(step));
    step++;
    if (opts.onStep?.(step, loss) === true) break;
  }
  return { steps: step, loss };
}
