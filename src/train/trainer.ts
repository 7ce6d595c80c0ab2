// THE training loop: the same for every model in the registry.
//
//   setup:  corpus → tokenizer → ids → train/validation split → batchers → model, optimizer, schedule
//   loop:   [next window; resetState when the batcher says the window does not continue the last]
//           zero grads → forwardBackward → global-norm clip → optimizer step at lr = schedule(step)
//           every valEvery steps: validation loss on the held-out tail (mean nats per token, and bits)
//           until --steps are done or --time has passed
//   end:    final validation, checkpoint (model.json + weights.bin), summary
//
// Determinism: every random draw comes from one Rng seeded with `seed`, forked in a fixed order
// (model weights, then data order), so two runs with the same options give identical losses.
// Nothing is allocated inside the step loop: the batchers fill preallocated batches, the
// parameter and gradient lists are built once, and the reporter gets one StepInfo object that is
// updated in place.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createOps, type BackendName } from '../ops/index.js';
import type { Ops, Tensor } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { getModel, modelConfig } from '../models/registry.js';
import { countParams, zeroGrads } from '../layers/param.js';
import { checkEnoughTokens, loadCorpus, splitTokens, type Corpus } from '../data/corpus.js';
import { buildTokenizer, type TokenizerKind } from '../data/tokenizer.js';
import { createBatcher, SequentialBatcher, type SamplerKind } from '../data/batcher.js';
import { createOptimizer, type OptimizerKind, type ParamRef } from './optimizers.js';
import { createSchedule, type ScheduleKind } from './schedules.js';
import { clipGradNorm, gradNorm } from './clip.js';
import { saveCheckpoint } from './checkpoint.js';
import { Rng } from '../util/rng.js';

export const TRAIN_DEFAULTS = {
  steps: 1000,
  batch: 16,
  seq: 64,
  lr: 2e-3,
  optimizer: 'adam' as OptimizerKind,
  schedule: 'constant' as ScheduleKind,
  warmup: 0,
  clip: 5,
  seed: 1,
  valEvery: 100,
  valFraction: 0.1,
  valBatches: 50,
  tokenizer: 'char' as TokenizerKind,
  backend: 'wasm' as BackendName,
};

export interface TrainOptions {
  /** A registered model name or alias (src/models/registry.ts). */
  model: string;
  /** Model-specific options (hidden, layers, …), checked against the model's spec. */
  modelOptions?: Record<string, unknown>;
  /** A --data value (file path or corpus name), an already loaded corpus, or absent for the embedded default. */
  data?: string | Corpus;
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
  /** Validation every this many steps (and always at the end); 0: only at the end. */
  valEvery?: number;
  /** The held-out tail of the corpus, as a fraction (default 0.1); 0: no validation. */
  valFraction?: number;
  /** At most this many windows per validation (the same ones every time). */
  valBatches?: number;
  /** Default: 'sequential' for stateful models, 'random' otherwise. */
  sampler?: SamplerKind;
  /** Checkpoint folder; default runs/<model>-<timestamp>; null writes nothing. */
  out?: string | null;
  backend?: BackendName;
  threads?: number;
  /** Use this backend instead of creating one (it is then not disposed at the end). */
  ops?: Ops;
  reporter?: TrainReporter;
}

/** What `handgrad train --json` prints. */
export interface TrainSummary {
  model: string;
  /** Optimizer steps taken. */
  steps: number;
  /** Mean training loss (nats per token) over the last ≤ 50 steps. */
  trainLoss: number;
  /** Final validation loss, nats per token; null without a validation split. */
  valLoss: number | null;
  /** The same in bits (per character for the char tokenizer). */
  valBits: number | null;
  /** Training tokens per second of time spent in training steps (validation excluded). */
  tokensPerSec: number;
  /** Wall time of the loop, validation included, setup and checkpoint excluded. */
  seconds: number;
  params: number;
  /** The checkpoint folder, or null when none was written. */
  out: string | null;
}

export interface TrainStart {
  model: string;
  params: number;
  backend: string;
  corpus: string;
  tokenizer: TokenizerKind;
  vocabSize: number;
  trainTokens: number;
  valTokens: number;
  tokensPerStep: number;
  sampler: SamplerKind;
  totalSteps: number | null;
  timeLimitMs: number | null;
}

/** Updated in place each step: copy what you keep. */
export interface StepInfo {
  /** Steps completed, 1-based. */
  step: number;
  loss: number;
  lr: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  elapsedMs: number;
  tokensPerSec: number;
  epoch: number;
  /** Progress towards whichever limit comes first, 0…1. */
  fraction: number;
  /** Estimated time left, ms (NaN until there is something to estimate from). */
  etaMs: number;
}

export interface ValInfo {
  step: number;
  valLoss: number;
  valBits: number;
  /** true for the final validation after the last step. */
  final: boolean;
}

/** Where the loop reports to; every method is optional (src/train/progress.ts draws it). */
export interface TrainReporter {
  start?(info: TrainStart): void;
  step?(info: StepInfo): void;
  validation?(info: ValInfo): void;
  finish?(summary: TrainSummary): void;
  /** Training stopped with an error (after start()): tidy up (e.g. stop a live bar). */
  fail?(error: unknown): void;
}

/** A NaN or infinite loss or gradient: training stops rather than write garbage into the weights. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

/** A bad option value or combination, found before training starts (the CLI exits 2 on it). */
export class TrainConfigError extends RangeError {
  override name = 'TrainConfigError';
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TrainConfigError(message);
}

/** Runs `fn`, turning the RangeErrors of option validation elsewhere (schedule, model options) into TrainConfigErrors. */
function asConfig<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError && !(e instanceof TrainConfigError)) throw new TrainConfigError(e.message);
    throw e;
  }
}

const isInt = (v: number, min: number) => Number.isInteger(v) && v >= min;

/** The default checkpoint folder: runs/<model>-<UTC yyyymmdd-hhmmss>, with -2, -3… if taken. */
export function defaultOutDir(model: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  let dir = join('runs', `${model}-${stamp}`);
  for (let i = 2; existsSync(dir); i++) dir = join('runs', `${model}-${stamp}-${i}`);
  return dir;
}

/** Trains a registered model on a corpus and writes a checkpoint; see the top of this file. */
export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const spec = getModel(opts.model);
  const td = spec.trainDefaults ?? {};
  const batch = opts.batch ?? td.batch ?? TRAIN_DEFAULTS.batch;
  const seq = opts.seq ?? td.seq ?? TRAIN_DEFAULTS.seq;
  const lr = opts.lr ?? td.lr ?? TRAIN_DEFAULTS.lr;
  const optimizerKind = opts.optimizer ?? td.optimizer ?? TRAIN_DEFAULTS.optimizer;
  const scheduleKind = opts.schedule ?? TRAIN_DEFAULTS.schedule;
  const warmup = opts.warmup ?? TRAIN_DEFAULTS.warmup;
  const clip = opts.clip ?? TRAIN_DEFAULTS.clip;
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  const valEvery = opts.valEvery ?? TRAIN_DEFAULTS.valEvery;
  const valFraction = opts.valFraction ?? TRAIN_DEFAULTS.valFraction;
  const valBatches = opts.valBatches ?? TRAIN_DEFAULTS.valBatches;
  const timeMs = opts.timeMs ?? null;
  const totalSteps = opts.steps ?? (timeMs === null ? TRAIN_DEFAULTS.steps : null);
  const sampler = opts.sampler ?? (spec.stateful ? 'sequential' : 'random');
  const tokenizerKind = opts.tokenizer ?? TRAIN_DEFAULTS.tokenizer;

  check(isInt(batch, 1) && isInt(seq, 1), `batch and seq must be integers ≥ 1, got ${batch} and ${seq}`);
  check(totalSteps === null || isInt(totalSteps, 1), `steps must be an integer ≥ 1, got ${totalSteps}`);
  check(timeMs === null || timeMs > 0, `the time limit must be > 0, got ${timeMs} ms`);
  check(clip >= 0 && Number.isFinite(clip), `clip must be a number ≥ 0 (0 turns clipping off), got ${clip}`);
  check(isInt(valEvery, 0), `valEvery must be an integer ≥ 0, got ${valEvery}`);
  check(isInt(valBatches, 1), `valBatches must be an integer ≥ 1, got ${valBatches}`);
  check(Number.isFinite(seed), `seed must be a number, got ${seed}`);
  check(!(opts.weightDecay! < 0), `weight decay must be ≥ 0, got ${opts.weightDecay}`);
  check(opts.vocabSize === undefined || tokenizerKind === 'word', '--vocab-size applies to the word tokenizer only (add --tokenizer word)');
  check(valFraction >= 0 && valFraction < 1, `the validation fraction must be in [0, 1), got ${valFraction}`);
  check(scheduleKind !== 'cosine' || totalSteps !== null,
    'the cosine schedule needs --steps (it decays to its floor at the last step), not only --time');
  const schedule = asConfig(() => createSchedule({
    kind: scheduleKind, lr, warmupSteps: warmup, totalSteps: totalSteps ?? undefined, minLr: opts.minLr,
  }));

  // ---- data -----------------------------------------------------------------------------------
  const corpus = typeof opts.data === 'object' ? opts.data : loadCorpus(opts.data);
  const tokenizer = asConfig(() => buildTokenizer(corpus.text, { kind: tokenizerKind, maxVocab: opts.vocabSize }));
  const ids = tokenizer.encode(corpus.text);
  const split = splitTokens(ids, valFraction);
  checkEnoughTokens(split.train, batch, seq, 'training split', corpus.source);
  const validate = split.val.length > 0;
  if (validate) {
    checkEnoughTokens(split.val, batch, seq, `validation split (the last ${valFraction} of the corpus)`, corpus.source,
      'use a larger --val-fraction, a smaller --batch/--seq, or --val-fraction 0 for no validation');
  }

  // The model's options are checked before a backend starts, so a typo costs nothing.
  const config = asConfig(() => modelConfig(spec, opts.modelOptions ?? {}, tokenizer.vocabSize));

  const ops = opts.ops ?? await createOps({
    backend: opts.backend ?? TRAIN_DEFAULTS.backend,
    threads: opts.threads,
    dtype: (opts.backend ?? TRAIN_DEFAULTS.backend) === 'reference' ? 'f64' : undefined,
  });
  try {
    // ---- model, optimizer, batchers ----------------------------------------------------------
    const rng = new Rng(seed);
    const modelRng = rng.fork();
    const dataRng = rng.fork();
    const model = spec.create(ops, config, modelRng);
    const params = model.params;
    const refs: ParamRef[] = params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows })); // rows: sparse (embedding) updates
    const grads: Tensor[] = params.map((p) => p.grad);
    const optimizer = createOptimizer(ops, { kind: optimizerKind, weightDecay: opts.weightDecay });
    const trainBatcher = createBatcher(sampler, ops, split.train, batch, seq, dataRng);
    const valBatcher = validate ? new SequentialBatcher(ops, split.val, batch, seq) : null;
    const nParams = countParams(params);
    const tokensPerStep = batch * seq;
    const reporter = opts.reporter ?? {};

    reporter.start?.({
      model: spec.name, params: nParams, backend: ops.name, corpus: corpus.name, tokenizer: tokenizer.kind,
      vocabSize: tokenizer.vocabSize, trainTokens: split.train.length, valTokens: split.val.length,
      tokensPerStep, sampler, totalSteps, timeLimitMs: timeMs,
    });

    // ---- the loop ------------------------------------------------------------------------------
    const RECENT = 50;
    const recent = new Float64Array(RECENT);
    const info: StepInfo = { step: 0, loss: NaN, lr: 0, gradNorm: 0, elapsedMs: 0, tokensPerSec: 0, epoch: 0, fraction: 0, etaMs: NaN };
    const valInfo: ValInfo = { step: 0, valLoss: NaN, valBits: NaN, final: false };
    let step = 0, trainMs = 0, valLoss: number | null = null;
    const t0 = performance.now();
    const runValidation = (final: boolean) => {
      valLoss = evaluate(model, valBatcher!, valBatches);
      if (!Number.isFinite(valLoss)) {
        throw new TrainingDivergedError(`training stopped: the validation loss became ${valLoss} after step ${step} (lower --lr or --clip)`);
      }
      valInfo.step = step;
      valInfo.valLoss = valLoss;
      valInfo.valBits = valLoss / Math.LN2;
      valInfo.final = final;
      reporter.validation?.(valInfo);
    };

    for (;;) {
      const elapsed = performance.now() - t0;
      if (totalSteps !== null && step >= totalSteps) break;
      if (timeMs !== null && elapsed >= timeMs) break;
      const s0 = performance.now();
      if (trainBatcher.next()) model.resetState();
      zeroGrads(ops, params);
      const loss = model.forwardBackward(trainBatcher.batch, true);
      const rate = schedule(step);
      if (!Number.isFinite(loss)) {
        throw new TrainingDivergedError(`training stopped: the loss became ${loss} at step ${step + 1} (lr ${rate.toExponential(2)}); ` +
          'lower --lr or --clip');
      }
      const norm = clip > 0 ? clipGradNorm(ops, grads, clip) : gradNorm(ops, grads);
      if (!Number.isFinite(norm)) {
        throw new TrainingDivergedError(`training stopped: the gradient norm became ${norm} at step ${step + 1} (loss ${loss.toFixed(4)}, ` +
          `lr ${rate.toExponential(2)}); lower --lr or --clip`);
      }
      optimizer.step(refs, rate);
      recent[step % RECENT] = loss;
      step++;
      const now = performance.now();
      trainMs += now - s0;

      info.step = step;
      info.loss = loss;
      info.lr = rate;
      info.gradNorm = norm;
      info.elapsedMs = now - t0;
      info.tokensPerSec = (step * tokensPerStep) / (trainMs / 1000);
      info.epoch = trainBatcher.epoch;
      info.fraction = Math.min(1, Math.max(totalSteps !== null ? step / totalSteps : 0, timeMs !== null ? info.elapsedMs / timeMs : 0));
      info.etaMs = info.fraction > 0 ? (info.elapsedMs * (1 - info.fraction)) / info.fraction : NaN;
      reporter.step?.(info);

      const last = (totalSteps !== null && step >= totalSteps) || (timeMs !== null && info.elapsedMs >= timeMs);
      if (valBatcher && valEvery > 0 && step % valEvery === 0 && !last) {
        runValidation(false);
        // Validation ran the model on other text: its carried state no longer belongs to the
        // training streams, so the next training window starts from a fresh state.
        model.resetState();
      }
    }
    if (valBatcher && step > 0) runValidation(true);
    const seconds = (performance.now() - t0) / 1000;

    const trainLoss = meanRecent(recent, step);
    const finalVal = valLoss as number | null;
    const summary: TrainSummary = {
      model: spec.name,
      steps: step,
      trainLoss,
      valLoss: finalVal,
      valBits: finalVal === null ? null : finalVal / Math.LN2,
      tokensPerSec: trainMs > 0 ? (step * tokensPerStep) / (trainMs / 1000) : 0,
      seconds,
      params: nParams,
      out: null,
    };

    // ---- checkpoint ------------------------------------------------------------------------------
    if (opts.out !== null) {
      const dir = opts.out ?? defaultOutDir(spec.name);
      saveCheckpoint(dir, {
        model,
        tokenizer,
        training: {
          steps: step, optimizer: optimizerKind, lr, schedule: scheduleKind, warmup, clip, batch, seq, sampler, seed,
          backend: ops.name,
          data: { name: corpus.name, source: corpus.source, tokens: ids.length, trainTokens: split.train.length, valTokens: split.val.length },
          trainLoss, valLoss: summary.valLoss, valBits: summary.valBits, seconds, tokensPerSec: summary.tokensPerSec,
        },
      });
      summary.out = dir;
    }
    reporter.finish?.(summary);
    return summary;
  } catch (e) {
    opts.reporter?.fail?.(e);
    throw e;
  } finally {
    if (!opts.ops) ops.dispose();
  }
}

/** Mean of the last min(steps, buffer length) losses in the ring buffer. */
function meanRecent(ring: Float64Array, steps: number): number {
  const n = Math.min(steps, ring.length);
  if (n === 0) return NaN;
  let s = 0;
  for (let i = 0; i < n; i++) s += ring[(steps - 1 - i) % ring.length];
  return s / n;
}

/**
 * Mean loss (nats per token) over the first `maxWindows` windows of the validation split, from a
 * fresh state, carrying state across windows as training does. The same windows every call, so
 * successive validations are comparable. Every window has batch·time targets, so the mean of the
 * window means is the mean per token.
 */
export function evaluate(model: SequenceModel, batcher: SequentialBatcher, maxWindows: number): number {
  const windows = Math.min(maxWindows, batcher.windowsPerEpoch);
  batcher.rewind();
  model.resetState();
  let sum = 0;
  for (let w = 0; w < windows; w++) {
    batcher.next();
    sum += model.forwardBackward(batcher.batch, false);
  }
  batcher.rewind();
  return sum / windows;
}

