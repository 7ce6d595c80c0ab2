// Learning-rate schedules: pure functions from the step number to a learning rate.
// `step` counts optimizer steps already taken, from 0: the training loop asks for lrAt(step)
// just before taking step number `step`.
//
//   constant:       lr, after an optional linear warmup
//   warmup-cosine:  linear warmup to lr over warmupSteps, then a half cosine from lr down to minLr
//                   at step totalSteps, and minLr from then on
// Warmup starts at lr/warmupSteps rather than 0 so the very first step is not wasted, and reaches
// lr exactly at step warmupSteps − 1 (nanoGPT and most GPT recipes do the same).

export type LrSchedule = (step: number) => number;

export type ScheduleKind = 'constant' | 'cosine';
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'cosine'];

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warmup (default 0). */
  warmupSteps?: number;
  /** cosine: the step at which the decay reaches minLr (required). */
  totalSteps?: number;
  /** cosine: the floor (default 0). */
  minLr?: number;
}

/** lr · (step+1)/warmupSteps during warmup, 1 · lr afterwards. */
function warmupFactor(step: number, warmupSteps: number): number {
  return step < warmupSteps ? (step + 1) / warmupSteps : 1;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`learning-rate schedule: step must be an integer ≥ 0, got ${step}`);
}

/** The constant schedule with optional warmup, as a pure function of the step. */
export function constantLr(step: number, lr: number, warmupSteps = 0): number {
  checkStep(step);
  return lr * warmupFactor(step, warmupSteps);
}

/** Linear warmup then cosine decay from lr to minLr, as a pure function of the step. */
export function warmupCosineLr(step: number, lr: number, warmupSteps: number, totalSteps: number, minLr = 0): number {
  checkStep(step);
  if (step < warmupSteps) return lr * warmupFactor(step, warmupSteps);
  if (step >= totalSteps) return minLr;
  const progress = (step - warmupSteps) / (totalSteps - warmupSteps); // in [0, 1)
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}

/** Validates the options once and returns the schedule as a closure over them. */
export function createSchedule(opts: ScheduleOptions): LrSchedule {
  const { lr } = opts;
  const warmupSteps = opts.warmupSteps ?? 0;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`learning rate must be a positive number, got ${lr}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new RangeError(`warmupSteps must be an integer ≥ 0, got ${warmupSteps}`);
  switch (opts.kind) {
    case 'constant':
      return (step) => constantLr(step, lr, warmupSteps);
    case 'cosine': {
      const { totalSteps } = opts;
      const minLr = opts.minLr ?? 0;
      if (totalSteps === undefined || !Number.isInteger(totalSteps) || totalSteps <= warmupSteps) {
        throw new RangeError(`cosine schedule: totalSteps must be an integer > warmupSteps (${warmupSteps}), got ${totalSteps}`);
      }
      if (!(minLr >= 0 && minLr <= lr)) throw new RangeError(`cosine schedule: minLr must be in [0, lr = ${lr}], got ${minLr}`);
      return (step) => warmupCosineLr(step, lr, warmupSteps, totalSteps, minLr);
    }
    default:
      throw new RangeError(`unknown schedule '${(opts as { kind: string }).kind}' (expected ${SCHEDULE_KINDS.join(', ')})`);
  }
}
