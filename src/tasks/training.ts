// What the recurrent and encoder–decoder tasks share around their own model and data: the backend
// they run on, and the way they train.
import { createOps } from '../backends/index.js';
import type { Ops } from '../ops/types.js';
import { fit, type FitResult, type SupervisedModel } from '../train/fit.js';
import { createSchedule } from '../train/schedules.js';

/**
 * Runs `body` on the WASM backend with one thread (about 15× faster than the reference at these
 * sizes, float32, and deterministic on a given machine) and disposes the backend afterwards.
 */
export async function onTaskBackend<T>(body: (ops: Ops) => T | Promise<T>): Promise<T> {
  const ops = await createOps({ backend: 'wasm', threads: 1 });
  try {
    return await body(ops);
  } finally {
    ops.dispose();
  }
}

export interface CosineFitOptions {
  steps: number;
  /** The learning rate at step 0, decaying on a cosine to minLr at the last step. */
  lr: number;
  minLr: number;
  /** Global gradient-norm limit. */
  clip: number;
}

/** `steps` of fit() on the batches next() gives, with a cosine-decayed learning rate and clipping. */
export function fitCosine<B>(ops: Ops, model: SupervisedModel<B>, next: () => B, { steps, lr, minLr, clip }: CosineFitOptions): FitResult {
  return fit(ops, model, next, { steps, lr: createSchedule({ kind: 'cosine', lr, totalSteps: steps, minLr }), clip });
}
