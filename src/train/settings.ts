// A training run's settings: the caller's TrainOptions, filled in from the model spec's own
// training defaults (ModelSpec.trainDefaults) and then the global ones (TRAIN_DEFAULTS), and
// checked. The training loop (trainer.ts) reads only the resolved values.
//
//   option given  >  the model's trainDefaults  >  TRAIN_DEFAULTS
//
// A few defaults depend on others:
//   - seq: a model whose spec says `seq: 'context'` (the transformers: learned positions) trains on
//     windows of its whole context, so every position row it will be asked about is trained; a
//     --seq longer than --context is refused here, not at the first step.
//   - lr: the spec's `lr` is for the Adam family; plain SGD takes `sgdLr`, momentum and Nesterov a
//     fifth of it (the velocity sums about 1/(1−0.9) gradients, so a tenth would match the step
//     size; measured, twice that still trains stably and faster).
//   - weightDecay: the spec's value applies only when the run uses the spec's own optimizer.
//   - schedule/warmup: a spec with `schedule: 'cosine'` gets it only when the run has a step count
//     (with only --time there is no end to decay to), with a warmup of warmupFraction of the steps
//     (at most maxWarmup; timeWarmup steps with only --time).
//   - validation cadence: by default every valEvery steps AND at least valEveryMs apart, so a fast
//     model does not spend its run validating; an explicit --val-every N is steps only (and a
//     duration, valEveryMs alone, is time only).
//
// Resume: a resumed run passes the checkpoint's saved settings in as if given (trainer.ts
// resumeOptions), so a default changed here never changes a run that was started before — a
// setting an old checkpoint did not save gets the value the old code used (OLD_RUN_SETTINGS).
import type { ModelSpec, ModelTrainDefaults } from '../models/registry.js';
import { checkModelOptions } from '../models/registry.js';
import type { BackendName } from '../backends/index.js';
import type { SamplerKind } from '../data/batcher.js';
import type { TokenizerKind } from '../data/tokenizer.js';
import type { OptimizerKind } from './optimizers.js';
import type { ScheduleKind } from './schedules.js';
import { TrainConfigError } from './config-error.js';

export const TRAIN_DEFAULTS = {
  steps: 1000,
  batch: 16,
  /** For models without a context of their own (recurrent: the BPTT length). */
  seq: 64,
  /** The Adam family's rate, where the model names none. */
  lr: 2e-3,
  /** Plain SGD's rate, where the model names none. */
  sgdLr: 0.5,
  optimizer: 'adam' as OptimizerKind,
  schedule: 'constant' as ScheduleKind,
  warmup: 0,
  clip: 5,
  seed: 1,
  valEvery: 100,
  /** With the default cadence, validations are also at least this far apart (ms of run time). */
  valEveryMs: 5000,
  valFraction: 0.1,
  valBatches: 50,
  tokenizer: 'char' as TokenizerKind,
  backend: 'wasm' as BackendName,
  patience: 0,
};

/** Momentum and Nesterov SGD take this fraction of the plain SGD rate (see the top of this file). */
export const MOMENTUM_LR_FACTOR = 0.2;

/**
 * What an old checkpoint that did not save a setting ran with: a resume keeps that behaviour.
 * (valEveryMs: validation was by steps only; decayVectors: weight decay applied to every tensor.)
 */
export const OLD_RUN_SETTINGS = { valEveryMs: 0, decayVectors: true, patience: 0 } as const;

export { TrainConfigError };

/** The training settings train() takes (TrainOptions extends this), as settings resolution reads them. */
export interface SettingsInput {
  /** Model-specific options (hidden, layers, …), checked against the model's spec. */
  modelOptions?: Record<string, unknown>;
  tokenizer?: TokenizerKind;
  /** word tokenizer only: the vocabulary cap, <unk> included. */
  vocabSize?: number;
  /** Stop after this many optimizer steps (default 1000 when no time limit is given either). */
  steps?: number;
  /** Stop once this much time (ms) has passed; with `steps` too, whichever comes first. */
  timeMs?: number;
  batch?: number;
  seq?: number;
  lr?: number;
  optimizer?: OptimizerKind;
  weightDecay?: number;
  schedule?: ScheduleKind;
  warmup?: number;
  /** The cosine schedule's floor (default 0). */
  minLr?: number;
  /** Global gradient-norm limit; 0 turns clipping off (the norm is still computed and guarded). */
  clip?: number;
  seed?: number;
  /**
   * Validation at multiples of this many steps (and always at the end); 0: only at the end. Given
   * alone it is the whole rule; by default validations are also at least `valEveryMs` apart.
   */
  valEvery?: number;
  /** Validations at least this many ms of run time apart (given alone: at the first step after that). */
  valEveryMs?: number;
  /** The held-out tail of the corpus, as a fraction (default 0.1); 0: no validation. */
  valFraction?: number;
  /** At most this many windows per validation (the same ones every time). */
  valBatches?: number;
  /** Default: 'sequential' for stateful models, 'random' otherwise. */
  sampler?: SamplerKind;
  /** Stop after this many validations in a row without a new best validation loss (default 0: never). */
  patience?: number;
  /**
   * Weight decay on 1-D tensors (biases, norm gains) too, not only on matrices. Internal: runs
   * saved before the distinction decayed everything, and a resume of one keeps doing so.
   */
  decayVectors?: boolean;
}

/** Every setting the loop uses, defaults filled in. */
export interface TrainSettings {
  tokenizer: TokenizerKind;
  vocabSize: number | undefined;
  batch: number;
  seq: number;
  lr: number;
  optimizer: OptimizerKind;
  weightDecay: number | undefined;
  schedule: ScheduleKind;
  warmup: number;
  minLr: number | undefined;
  clip: number;
  seed: number;
  /** Validation at multiples of this many steps (0: only at the end)… */
  valEvery: number;
  /** …that are at least this many ms of run time after the previous validation (0: no time condition). */
  valEveryMs: number;
  valFraction: number;
  valBatches: number;
  sampler: SamplerKind;
  totalSteps: number | null;
  timeMs: number | null;
  /** Stop after this many validations in a row without a new best (0: never). */
  patience: number;
  /** Whether weight decay also applies to 1-D tensors (biases, norm gains): old runs did. */
  decayVectors: boolean;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TrainConfigError(message);
}

const isInt = (v: number, min: number) => Number.isInteger(v) && v >= min;

/** The learning rate a run uses by default: the model's for its optimizer family, else the global one. */
export function defaultLr(td: ModelTrainDefaults, optimizer: OptimizerKind): number {
  if (optimizer === 'adam' || optimizer === 'adamw') return td.lr ?? TRAIN_DEFAULTS.lr;
  const sgd = td.sgdLr ?? TRAIN_DEFAULTS.sgdLr;
  return optimizer === 'sgd' ? sgd : sgd * MOMENTUM_LR_FACTOR;
}

/**
 * The model's context length (the longest window it can be trained on) from the options given
 * over `base` (a resume's checkpoint config; default the spec's defaults), or null when its spec
 * has no `context` option. Options are checked here (a typo costs nothing).
 */
export function modelContext(spec: ModelSpec, modelOptions: Record<string, unknown>, base?: Record<string, unknown>): number | null {
  if (!('context' in spec.defaults)) return null;
  let config: Record<string, unknown>;
  try { config = checkModelOptions(spec, modelOptions, base); } catch (e) {
    if (e instanceof RangeError) throw new TrainConfigError(e.message);
    throw e;
  }
  return Number(config.context);
}

/** Fills in and checks the settings of a run of `spec` (see the top of this file). */
export function resolveSettings(opts: SettingsInput, spec: ModelSpec, baseConfig?: Record<string, unknown>): TrainSettings {
  const td: ModelTrainDefaults = spec.trainDefaults ?? {};
  const d = TRAIN_DEFAULTS;
  const context = td.seq === 'context' ? modelContext(spec, opts.modelOptions ?? {}, baseConfig) : null;
  const batch = opts.batch ?? td.batch ?? d.batch;
  const seq = opts.seq ?? (td.seq === 'context' ? context ?? d.seq : td.seq) ?? d.seq;
  const optimizer = opts.optimizer ?? td.optimizer ?? d.optimizer;
  const lr = opts.lr ?? defaultLr(td, optimizer);
  const weightDecay = opts.weightDecay ?? (td.weightDecay !== undefined && optimizer === (td.optimizer ?? d.optimizer) ? td.weightDecay : undefined);
  const timeMs = opts.timeMs ?? null;
  const totalSteps = opts.steps ?? (timeMs === null ? d.steps : null);
  const cosine = td.schedule === 'cosine' && totalSteps !== null;
  const schedule = opts.schedule ?? (cosine ? 'cosine' : d.schedule);
  const warmup = opts.warmup ?? (td.warmupFraction === undefined ? d.warmup
    : totalSteps !== null ? Math.min(td.maxWarmup ?? Infinity, Math.floor(totalSteps * td.warmupFraction)) : td.timeWarmup ?? 0);
  const clip = opts.clip ?? td.clip ?? d.clip;
  const seed = opts.seed ?? d.seed;
  // --val-every N alone: steps only; a duration alone: time only; neither: both (the default).
  const valEvery = opts.valEvery ?? (opts.valEveryMs !== undefined ? 1 : d.valEvery);
  const valEveryMs = opts.valEveryMs ?? (opts.valEvery !== undefined ? 0 : d.valEveryMs);
  const valFraction = opts.valFraction ?? d.valFraction;
  const valBatches = opts.valBatches ?? td.valBatches ?? d.valBatches;
  const sampler = opts.sampler ?? (spec.stateful ? 'sequential' : 'random');
  const tokenizer = opts.tokenizer ?? td.tokenizer ?? d.tokenizer;
  const patience = opts.patience ?? d.patience;

  check(isInt(batch, 1) && isInt(seq, 1), `batch and seq must be integers ≥ 1, got ${batch} and ${seq}`);
  check(context === null || seq <= context,
    `--seq ${seq} is longer than the model's --context ${context}: positions past ${context} have no embedding (give --seq ≤ --context, or a larger --context)`);
  check(totalSteps === null || isInt(totalSteps, 1), `steps must be an integer ≥ 1, got ${totalSteps}`);
  check(timeMs === null || timeMs > 0, `the time limit must be > 0, got ${timeMs} ms`);
  check(clip >= 0 && Number.isFinite(clip), `clip must be a number ≥ 0 (0 turns clipping off), got ${clip}`);
  check(isInt(valEvery, 0), `valEvery must be an integer ≥ 0, got ${valEvery}`);
  check(valEveryMs >= 0 && Number.isFinite(valEveryMs), `valEveryMs must be a number ≥ 0, got ${valEveryMs}`);
  check(isInt(valBatches, 1), `valBatches must be an integer ≥ 1, got ${valBatches}`);
  check(Number.isFinite(seed), `seed must be a number, got ${seed}`);
  check(!(opts.weightDecay! < 0), `weight decay must be ≥ 0, got ${opts.weightDecay}`);
  check(isInt(patience, 0), `patience must be an integer ≥ 0 (0: never stop early), got ${patience}`);
  check(opts.vocabSize === undefined || tokenizer === 'word' || tokenizer === 'bpe',
    '--vocab-size applies to the word tokenizer only (add --tokenizer word), or to bpe (--tokenizer bpe)');
  check(valFraction >= 0 && valFraction < 1, `the validation fraction must be in [0, 1), got ${valFraction}`);
  check(schedule !== 'cosine' || totalSteps !== null,
    'the cosine schedule needs --steps (it decays to its floor at the last step), not only --time');
  check(schedule !== 'cosine' || totalSteps === null || totalSteps > warmup,
    `the cosine schedule needs more --steps than --warmup steps, got ${totalSteps} steps and ${warmup} warmup steps`);
  return {
    tokenizer, vocabSize: opts.vocabSize, batch, seq, lr, optimizer, weightDecay, schedule, warmup, minLr: opts.minLr, clip, seed,
    valEvery, valEveryMs, valFraction, valBatches, sampler, totalSteps, timeMs, patience,
    decayVectors: opts.decayVectors ?? false,
  };
}
