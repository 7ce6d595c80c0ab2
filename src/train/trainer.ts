// THE training loop: the same for every model in the registry.
//
//   setup:  settings (settings.ts) → data (src/train/training-data.ts: corpus → tokenizer → token
//           file → train/validation token sources → fingerprint) → batchers → model, optimizer, schedule
//   loop:   [next window; resetState when the batcher says the window does not continue the last]
//           zero grads → forwardBackward → global-norm clip → optimizer step at lr = schedule(step)
//           at multiples of valEvery steps, at least valEveryMs apart: validation loss on the held-out
//           tail (mean nats per token, and bits), the carried state put back after it
//           until --steps are done, --time has passed, or --patience validations bring no new best
//   end:    final validation, checkpoint (src/train/checkpoint.ts), summary
//
// Checkpoints and resume: with checkpointEverySteps / checkpointEveryMs the loop also saves
// mid-run (a new generation each time, the newest keepCheckpoints kept; after a validation with
// the lowest loss so far, best/ too), and on `signal` it stops after the current step,
// saves and returns. `resume` continues a checkpoint exactly: the weights, optimizer buffers and
// step, RNG and batcher positions, the carried recurrent state, the elapsed time and the metrics
// come back, so N steps + resume + N steps gives the same bits as 2N steps on a deterministic
// backend (reference, or wasm with one thread). A resumed run keeps the checkpoint's settings;
// only the limits (steps, time), checkpointing, output folder and backend may change.
// What a checkpoint holds of the run, and how a resume reads it back: src/train/train-state.ts.
//
// Determinism: every random draw comes from one Rng seeded with `seed`, forked in a fixed order
// (model weights, then data order), so two runs with the same options give identical losses.
// Nothing is allocated inside the step loop: the batchers fill preallocated batches, the
// parameter and gradient lists are built once, and the reporter gets one StepInfo object that is
// updated in place.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createOps, type BackendName } from '../backends/index.js';
import type { Ops, Tensor } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { canonicalConfig, checkModelOptions, getModel, modelConfig } from '../models/registry.js';
import { countParams, zeroGrads } from '../layers/param.js';
import type { Corpus } from '../data/corpus.js';
import { tokenizerFromJSON, type TokenizerKind } from '../data/tokenizer.js';
import { createBatcher, SequentialBatcher, type SamplerKind } from '../data/batcher.js';
import { prepareTrainingData, type DataReporter, type TrainingData } from './training-data.js';
import { asConfig, TrainConfigError } from './config-error.js';
import { createOptimizer, type OptimizerKind, type ParamRef } from './optimizers.js';
import { createSchedule, type ScheduleKind } from './schedules.js';
import { clipGradNorm, gradNorm } from './clip.js';
import {
  BEST_DIR, CheckpointError, DEFAULT_KEEP_CHECKPOINTS, dtypeOf, POINTER_FILE, readCheckpoint, saveCheckpoint,
  type CheckpointFiles, type SaveCheckpointInput,
} from './checkpoint.js';
import { Rng } from '../util/rng.js';
import { MetricsLog } from './metrics-log.js';
import { checkNotInUse, openRunFolder, sameFolder, type RunFolder } from './run-folder.js';
import { resolveSettings, TRAIN_DEFAULTS } from './settings.js';
import {
  carriesState, firstNonFinite, meanRecent, restoreState, resumeOptions, trainingState, type CarriesState, type ResumableOptions,
  type TrainingState,
} from './train-state.js';
import { expertLoadOf, ExpertLoadTracker } from './expert-load.js';

export { TRAIN_DEFAULTS } from './settings.js';
export type { TrainingState } from './train-state.js';

/** metrics.jsonl has a line for every one of the first this many steps… */
const METRICS_EVERY_STEP_UNTIL = 100;
/** …and after them lines at least this far apart (ms of run time), beside the validation steps. */
const METRICS_INTERVAL_MS = 250;

export { companionValidation, VALIDATION_COMPANIONS } from './training-data.js';
export { TrainConfigError } from './config-error.js';

export interface TrainOptions extends ResumableOptions {
  /** A registered model name or alias (src/models/registry.ts). */
  model: string;
  /**
   * --data: a value or several (a file, a folder of .txt files, a corpus name, or '-' for standard
   * input; src/data/corpus.ts), an already loaded corpus, or absent for the embedded default.
   */
  data?: string | readonly string[] | Corpus;
  /**
   * A separate validation corpus (file or $HANDGRAD_DATA name) instead of the held-out tail; the
   * whole of `data` is then trained on. Default: the companion file of a named corpus
   * (VALIDATION_COMPANIONS: --data tinystories validates on tinystories-valid) when it exists;
   * null: none, always split the tail.
   */
  valData?: string | null;
  /**
   * The folder of token files (src/data/token-file.ts), one per (tokenizer hash, text hash): BPE
   * streams, and any stream too large for memory. Default: .token-cache beside the run folder
   * (runs/.token-cache); null: encode every time (large streams into a temporary file).
   */
  tokenCache?: string | null;
  /** BPE: train the tokenizer on at most this many bytes of the corpus (default DEFAULT_BPE_SAMPLE_BYTES in training-data.ts). */
  bpeSample?: number;
  /** Where data preparation reports (notices and progress of a long encode). */
  dataReporter?: DataReporter;
  /**
   * Checkpoint folder; default runs/<model>-<timestamp>; null writes nothing. A folder that holds
   * anything is refused unless it is the `resume` folder or `force` is given (src/train/run-folder.ts).
   */
  out?: string | null;
  /** Write into a non-empty `out` anyway, replacing handgrad's own files there (never others). */
  force?: boolean;
  backend?: BackendName;
  threads?: number;
  /** Use this backend instead of creating one (it is then not disposed at the end). */
  ops?: Ops;
  reporter?: TrainReporter;
  /** Continue the checkpoint in this folder exactly (its settings are kept; see the top of this file). */
  resume?: string;
  /** Also save a checkpoint every this many steps… */
  checkpointEverySteps?: number;
  /** …or every this many ms of training time (into `out`, as a new generation: src/train/checkpoint.ts). */
  checkpointEveryMs?: number;
  /** Keep this many newest checkpoint generations in `out` (default 2; src/train/checkpoint.ts). */
  keepCheckpoints?: number;
  /** When aborted: finish the current step, save a checkpoint, and return (the loop checks it between steps). */
  signal?: AbortSignal;
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
  /** The lowest validation loss of the run (resumed legs included) and its step; null without validation. */
  bestValLoss: number | null;
  bestStep: number | null;
  /** true when --patience ended the run (that many validations in a row without a new best). */
  stoppedEarly: boolean;
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
  /** Resumed runs: the step and the run's clock (ms) the checkpoint had reached; 0 for a new run. */
  startStep: number;
  startElapsedMs: number;
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
  /** A one-line notice about the run (e.g. a stale lock taken over). */
  notice?(line: string): void;
}

/** A NaN or infinite loss or gradient: training stops rather than write garbage into the weights. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new TrainConfigError(message);
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
export async function train(options: TrainOptions): Promise<TrainSummary> {
  // The run folder is opened (created, locked, probed) part-way through setup, before any data is
  // loaded; whatever happens after, it is tidied up and its lock released here.
  const run: { folder: RunFolder | null } = { folder: null };
  try {
    return await trainInFolder(options, run);
  } catch (e) {
    throw run.folder ? run.folder.fail(e) : e;
  } finally {
    run.folder?.release();
  }
}

async function trainInFolder(options: TrainOptions, run: { folder: RunFolder | null }): Promise<TrainSummary> {
  let opts = options;
  const spec = getModel(opts.model);
  let resumed: CheckpointFiles | null = null;
  let saved: TrainingState | null = null;
  if (opts.resume !== undefined) {
    // Resuming in place: a run still writing there is named, rather than a checkpoint read mid-save.
    if (opts.out === undefined || (opts.out !== null && sameFolder(opts.out, opts.resume))) checkNotInUse(opts.resume, `--resume ${opts.resume}`);
    resumed = readCheckpoint(opts.resume);
    ({ opts, saved } = resumeOptions(opts, spec.name, resumed));
  }
  check(opts.checkpointEverySteps === undefined || isInt(opts.checkpointEverySteps, 1),
    `checkpointEverySteps must be an integer ≥ 1, got ${opts.checkpointEverySteps}`);
  check(opts.checkpointEveryMs === undefined || opts.checkpointEveryMs > 0, `checkpointEveryMs must be > 0, got ${opts.checkpointEveryMs}`);
  const keepCheckpoints = opts.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS;
  check(isInt(keepCheckpoints, 1), `--keep-checkpoints must be an integer ≥ 1, got ${opts.keepCheckpoints}`);
  // The model's options are checked before anything else happens (a resume's over its checkpoint's config).
  asConfig(() => checkModelOptions(spec, opts.modelOptions ?? {}, resumed?.state.config));
  // Defaults and checks: src/train/settings.ts (option > the model's trainDefaults > TRAIN_DEFAULTS).
  const settings = resolveSettings(opts, spec, resumed?.state.config); // a resume's context is its checkpoint's
  const {
    batch, seq, lr, optimizer: optimizerKind, weightDecay, timeMs, totalSteps, schedule: scheduleKind, warmup, clip, seed,
    valEvery, valEveryMs, valFraction, valBatches, sampler, tokenizer: tokenizerKind, patience, decayVectors,
  } = settings;
  // A GPU backend that is not there is a mistake in the call: say so before any data work. (Only a
  // probe: opened and closed at once, so a config error below leaves no device pool behind.)
  if (!opts.ops && (opts.backend as string) === 'cuda') (await openBackend('cuda', opts.threads)).dispose();
  const schedule = asConfig(() => createSchedule({
    kind: scheduleKind, lr, warmupSteps: warmup, totalSteps: totalSteps ?? undefined, minLr: opts.minLr,
  }));
  // A rate the backend's numbers cannot hold (f32: above 3.4e38 it is infinite, below 1.4e-45 it is
  // 0) would write NaN, or nothing, into every weight on the first step: refused up front.
  const backendKind = opts.ops ? opts.ops.name : opts.backend ?? TRAIN_DEFAULTS.backend;
  const f32 = opts.ops ? opts.ops.dtype === 'f32' : backendKind !== 'reference';
  const lrAsStored = f32 ? Math.fround(lr) : lr;
  check(!f32 || (Number.isFinite(lrAsStored) && lrAsStored > 0),
    `--lr ${lr}: the ${backendKind} backend computes in f32, which holds learning rates from 1.4e-45 to 3.4e+38 only`);

  // ---- the run folder (src/train/run-folder.ts): refused, locked or unwritable before any data work ----
  const outArg = opts.out === null ? null : opts.out ?? opts.resume ?? defaultOutDir(spec.name);
  const folder = run.folder = outArg === null ? null : openRunFolder(outArg, {
    force: opts.force, resumeDir: opts.resume, unique: opts.out === undefined && opts.resume === undefined,
    label: opts.out !== undefined ? `--out ${outArg}` : opts.resume !== undefined ? `--resume ${outArg}` : `the run folder ${outArg}`,
    notice: (line) => opts.reporter?.notice?.(line),
  });
  const dir = folder?.dir ?? null;

  // ---- data (src/train/training-data.ts) ------------------------------------------------------
  // Token files are cached beside the run folder by default (the tokenizer's and the text's hashes name them).
  const cacheDir = opts.tokenCache !== undefined ? opts.tokenCache
    : typeof opts.out === 'string' ? join(dirname(resolve(opts.out)), '.token-cache')
      : opts.out === null ? null : opts.resume !== undefined ? join(dirname(resolve(opts.resume)), '.token-cache') : join('runs', '.token-cache');
  const data: TrainingData = await prepareTrainingData({
    data: opts.data, valData: opts.valData, valFraction, batch, seq, tokenizer: tokenizerKind, vocabSize: opts.vocabSize,
    resumedTokenizer: resumed ? fromCheckpoint(resumed, () => tokenizerFromJSON(resumed!.state.tokenizer)) : undefined,
    saved: saved?.data ?? null, cacheDir, threads: opts.threads, bpeSampleBytes: opts.bpeSample, reporter: opts.dataReporter,
  });
  const { tokenizer } = data;
  const validate = data.val.length > 0;

  // The model's options are checked before a backend starts, so a typo costs nothing.
  const checked = asConfig(() => modelConfig(spec, opts.modelOptions ?? {}, tokenizer.vocabSize));
  // A resumed model is the checkpoint's; options given anyway must agree with it.
  const config = resumed ? canonicalConfig(spec, resumed.state.config) : checked;
  if (resumed) {
    for (const k of Object.keys(opts.modelOptions ?? {})) {
      const v = checked[k];
      if (JSON.stringify(v) !== JSON.stringify(resumed.state.config[k])) {
        throw new TrainConfigError(`--resume: the checkpoint's ${spec.name} has ${k} ${JSON.stringify(resumed.state.config[k])}, ` +
          `not ${JSON.stringify(v)}; leave --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} out to keep it`);
      }
    }
  }

  const ops = opts.ops ?? await createOps({
    backend: opts.backend ?? TRAIN_DEFAULTS.backend,
    threads: opts.threads,
    dtype: (opts.backend ?? TRAIN_DEFAULTS.backend) === 'reference' ? 'f64' : undefined,
  });
  let metrics: MetricsLog | null = null;
  try {
    // ---- model, optimizer, batchers ----------------------------------------------------------
    const rng = new Rng(seed);
    const modelRng = rng.fork();
    const dataRng = rng.fork();
    const model = resumed ? fromCheckpoint(resumed, () => spec.create(ops, config, modelRng)) : spec.create(ops, config, modelRng);
    const params = model.params;
    // rows: sparse (embedding) updates; decay: weight decay on matrices, not on biases and norm gains
    // (1-D), unless the run predates that rule (decayVectors).
    const refs: ParamRef[] = params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows, decay: decayVectors || p.shape.length > 1 }));
    const grads: Tensor[] = params.map((p) => p.grad);
    const optimizer = createOptimizer(ops, { kind: optimizerKind, weightDecay });
    const trainBatcher = createBatcher(sampler, ops, data.train, batch, seq, dataRng);
    const valBatcher = validate ? new SequentialBatcher(ops, data.val, batch, seq) : null;
    const nParams = countParams(params);
    const tokensPerStep = batch * seq;
    const reporter = opts.reporter ?? {};
    if (resumed && saved) restoreState(resumed, saved, { model, optimizer, trainBatcher, modelRng, dataRng, batch });
    // ---- metrics log (<out>/metrics.jsonl, src/train/metrics-log.ts) ----
    metrics = dir === null ? null : new MetricsLog(dir, resumed ? { dir: opts.resume!, step: resumed.state.step } : null);
    let loggedStep = resumed ? resumed.state.step : 0;
    const logStep = (i: StepInfo, val: number | null) => {
      loggedStep = i.step;
      lastLineMs = i.elapsedMs;
      metrics?.append(i.step, i.loss, val ?? NaN, i.lr, i.gradNorm, i.tokensPerSec, i.elapsedMs / 1000);
    };
    // Mixture-of-Experts models: the share of tokens each expert of each layer received, logged
    // with the metrics line of every validation step (and the last), counted over the training
    // steps since the previous one (the validation passes' routing is left out).
    const experts = expertLoadOf(model) ? new ExpertLoadTracker(expertLoadOf(model)!) : null;
    experts?.discard();
    const logExperts = () => {
      const rec = experts?.take();
      if (rec && metrics) metrics.attach(rec);
    };

    reporter.start?.({
      model: spec.name, params: nParams, backend: ops.name, corpus: data.name, tokenizer: tokenizer.kind,
      vocabSize: tokenizer.vocabSize, trainTokens: data.train.length, valTokens: data.val.length,
      tokensPerStep, sampler, totalSteps, timeLimitMs: timeMs,
      startStep: resumed ? resumed.state.step : 0, startElapsedMs: saved?.elapsedMs ?? 0,
    });

    // ---- the loop ------------------------------------------------------------------------------
    const RECENT = 50;
    const recent = new Float64Array(RECENT);
    const info: StepInfo = { step: 0, loss: NaN, lr: 0, gradNorm: 0, elapsedMs: 0, tokensPerSec: 0, epoch: 0, fraction: 0, etaMs: NaN };
    const valInfo: ValInfo = { step: 0, valLoss: NaN, valBits: NaN, final: false };
    let step = resumed ? resumed.state.step : 0;
    let trainMs = saved?.trainMs ?? 0, valLoss: number | null = saved?.metrics.valLoss ?? null;
    const validations = saved ? [...saved.metrics.validations] : [];
    // Early stopping (--patience): the best validation so far and how many validations since it.
    let best: { step: number; valLoss: number } | null = null, sinceBest = 0;
    for (const v of validations) {
      if (best === null || v.valLoss < best.valLoss) { best = v; sinceBest = 0; } else sinceBest++;
    }
    let stoppedEarly = false;
    // Validation cadence (settings.ts): multiples of valEvery steps at least valEveryMs apart.
    let lastValElapsedMs = saved?.elapsedMs ?? 0;
    const validationDue = (elapsedMs: number) =>
      valEvery > 0 && step % valEvery === 0 && step > 0 && (valEveryMs === 0 || elapsedMs - lastValElapsedMs >= valEveryMs);
    // metrics.jsonl cadence: every step at first (the steep part of the curve), then lines at least
    // METRICS_INTERVAL_MS apart plus every validation step, so a fast model's log stays small (the
    // full loss history is in state.safetensors either way).
    let lastLineMs = -Infinity;
    const lineDue = (elapsedMs: number) => step <= METRICS_EVERY_STEP_UNTIL || elapsedMs - lastLineMs >= METRICS_INTERVAL_MS;
    let lossHistory = new Float64Array(Math.max(1024, 2 * step));
    if (resumed) {
      const h = resumed.tensors.tensors.get('metrics.train_loss');
      if (h) lossHistory.set(h.data.subarray(0, Math.min(h.data.length, step)));
      const r = saved!.metrics.recentLosses;
      for (let i = 0; i < r.length; i++) recent[(step - r.length + i) % RECENT] = r[i];
    }
    const t0 = performance.now() - (saved?.elapsedMs ?? 0);
    let lastSaveStep = resumed ? step : -1, lastSaveDir = resumed ? opts.resume! : dir;
    let lastSaveMs = performance.now(), lastYield = performance.now();
    const lastGood = () => (lastSaveDir !== null && lastSaveStep >= 0 ? `; the last good checkpoint (step ${lastSaveStep}) is in ${lastSaveDir}` : '');

    /** The carried recurrent state, copied (null for models without one). */
    const carrySnapshot = (zero: boolean): { h: Float64Array; c: Float64Array | null } | null => {
      if (!carriesState(model)) return null;
      const s = model.stateFor(batch);
      const h = Float64Array.from(s.h.data), c = s.c ? Float64Array.from(s.c.data) : null;
      if (zero) { h.fill(0); c?.fill(0); }
      return { h, c };
    };
    const putCarry = (carry: NonNullable<ReturnType<typeof carrySnapshot>>) => {
      const s = (model as SequenceModel & CarriesState).stateFor(batch);
      s.h.data.set(carry.h);
      if (s.c && carry.c) s.c.data.set(carry.c);
    };
    // best/: the checkpoint of the lowest validation loss so far (a resumed run continues the
    // record of the one it resumed); written at the first validation when the folder has none.
    let bestValLoss = validations.reduce((m, v) => Math.min(m, v.valLoss), Infinity);
    let bestDue = false;

    /** The run as it stands, for a checkpoint: refused (TrainingDivergedError) when a weight or moment is not finite. */
    const snapshot = (finished: boolean, carry: ReturnType<typeof carrySnapshot>): SaveCheckpointInput => {
      const dtype = dtypeOf(model);
      const opt = optimizer.exportState();
      // A NaN or infinity that reached the weights or the optimizer's moments (an overflowing
      // step) must never become "the last good checkpoint": the previous one stays that.
      const bad = firstNonFinite(params, opt.buffers);
      if (bad !== null) {
        throw new TrainingDivergedError(`training stopped: ${bad} holds NaN or infinite values after step ${step}; ` +
          `no checkpoint was written for it; lower --lr or --clip${lastGood()}`);
      }
      const { training, tensors } = trainingState({
        settings: {
          tokenizer: tokenizer.kind, vocabSize: opts.vocabSize, batch, seq, lr, optimizer: optimizerKind, weightDecay,
          schedule: scheduleKind, warmup, minLr: opts.minLr, clip, seed, valEvery, valEveryMs, valFraction, valBatches, sampler, totalSteps, timeMs,
          valData: data.valArg ?? undefined, patience, decayVectors,
        },
        data: data.state, ops, threads: opts.threads ?? null, params, dtype, optimizerKind, opt, modelRng, dataRng, trainBatcher,
        carry, step, lossHistory, recent, validations, valLoss, elapsedMs: performance.now() - t0, trainMs, tokensPerStep, finished,
      });
      return { model, tokenizer, step, seed, training: training as unknown as Record<string, unknown>, tensors };
    };
    /** Writes the run's checkpoint (`main`: a new generation in `dir`) and/or best/ when a new best is due. */
    const save = (finished: boolean, carry: ReturnType<typeof carrySnapshot>, main = true) => {
      if (dir === null || !(main || bestDue)) return;
      metrics?.flush();
      const input = snapshot(finished, carry);
      if (main) {
        saveCheckpoint(dir, input, { keep: keepCheckpoints });
        lastSaveStep = step;
        lastSaveDir = dir;
        lastSaveMs = performance.now();
      }
      if (bestDue) {
        saveCheckpoint(join(dir, BEST_DIR), input, { keep: 1 });
        bestDue = false;
      }
      folder?.keep(); // a failure from now on keeps the folder
    };

    const runValidation = (final: boolean) => {
      logExperts(); // the training steps' routing, before validation routes tokens of its own
      // Validation runs the model on other text from a fresh state: the carried training state is
      // put back afterwards, so when (and whether) validation runs never changes the training.
      const held = carrySnapshot(false);
      valLoss = evaluate(model, valBatcher!, valBatches);
      if (held) putCarry(held);
      else model.resetState();
      lastValElapsedMs = performance.now() - t0;
      experts?.discard();
      if (!Number.isFinite(valLoss)) {
        throw new TrainingDivergedError(`training stopped: the validation loss became ${valLoss} after step ${step} (lower --lr or --clip)${lastGood()}`);
      }
      validations.push({ step, valLoss });
      if (dir !== null && (valLoss < bestValLoss || !existsSync(join(dir, BEST_DIR, POINTER_FILE)))) {
        bestValLoss = valLoss;
        bestDue = true;
      }
      if (best === null || valLoss < best.valLoss) { best = { step, valLoss }; sinceBest = 0; } else sinceBest++;
      valInfo.step = step;
      valInfo.valLoss = valLoss;
      valInfo.valBits = valLoss / Math.LN2;
      valInfo.final = final;
      reporter.validation?.(valInfo);
    };

    let interrupted = false;
    for (;;) {
      // Let signal handlers (SIGINT) run now and then: the loop itself never waits for anything.
      if (opts.signal && performance.now() - lastYield >= 50) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      if (opts.signal?.aborted) { interrupted = true; break; }
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
          `lower --lr or --clip${lastGood()}`);
      }
      const norm = clip > 0 ? clipGradNorm(ops, grads, clip) : gradNorm(ops, grads);
      if (!Number.isFinite(norm)) {
        throw new TrainingDivergedError(`training stopped: the gradient norm became ${norm} at step ${step + 1} (loss ${loss.toFixed(4)}, ` +
          `lr ${rate.toExponential(2)}); lower --lr or --clip${lastGood()}`);
      }
      optimizer.step(refs, rate);
      recent[step % RECENT] = loss;
      if (step >= lossHistory.length) {
        const grown = new Float64Array(2 * lossHistory.length);
        grown.set(lossHistory);
        lossHistory = grown;
      }
      lossHistory[step] = loss;
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
      const due = !last && validationDue(info.elapsedMs);
      const validating = !!valBatcher && due;
      if (validating) runValidation(false);
      if (validating && patience > 0 && sinceBest >= patience) stoppedEarly = true;
      // Without a validation split, expert load is still logged at the validation cadence.
      if (!validating && due && experts) {
        logExperts();
        lastValElapsedMs = info.elapsedMs;
      }
      // The last step is logged after the final validation.
      if (!last && !stoppedEarly && (validating || lineDue(info.elapsedMs))) logStep(info, validating ? valLoss : null);
      const periodic = dir !== null && !last && ((opts.checkpointEverySteps !== undefined && step % opts.checkpointEverySteps === 0) ||
        (opts.checkpointEveryMs !== undefined && performance.now() - lastSaveMs >= opts.checkpointEveryMs));
      if (periodic || bestDue) save(false, carrySnapshot(false), periodic);
      if (stoppedEarly) break;
    }
    // The state a run that went on would carry into the next step (validation leaves it as it was).
    const carry = carrySnapshot(false);
    // Early stopping has just validated at this step: that is the final validation.
    if (stoppedEarly) valInfo.final = true;
    else if (valBatcher && step > 0 && !interrupted) runValidation(true);
    else if (step > loggedStep) logExperts();
    if (info.step === step && step > loggedStep) logStep(info, valBatcher && !interrupted ? valLoss : null);
    const seconds = (performance.now() - t0) / 1000;

    const trainLoss = meanRecent(recent, step);
    const finalVal = valLoss as number | null;
    const summary: TrainSummary = {
      model: spec.name,
      steps: step,
      trainLoss,
      valLoss: finalVal,
      valBits: finalVal === null ? null : finalVal / Math.LN2,
      bestValLoss: best?.valLoss ?? null,
      bestStep: best?.step ?? null,
      stoppedEarly,
      tokensPerSec: trainMs > 0 ? (step * tokensPerStep) / (trainMs / 1000) : 0,
      seconds,
      params: nParams,
      out: null,
    };

    // ---- checkpoint ------------------------------------------------------------------------------
    if (dir !== null) {
      save(!interrupted, carry); // and best/, when the final validation was the best so far
      summary.out = dir;
    }
    reporter.finish?.(summary);
    return summary;
  } catch (e) {
    opts.reporter?.fail?.(e);
    try { metrics?.flush(); } catch { /* the error above is the one to report */ }
    throw e; // train() tidies the run folder (run-folder.ts)
  } finally {
    if (!opts.ops) ops.dispose();
    data.close();
  }
}

/**
 * Opens a backend by name, turning "not available here" into a TrainConfigError (the CLI prints
 * one line and exits 2): `--device cuda` on a machine without the addon or a GPU is a mistake
 * in the call, not a crash.
 */
export async function openBackend(backend: string, threads?: number): Promise<Ops> {
  try {
    return await createOps({
      backend: backend as BackendName, threads: backend === 'cuda' ? undefined : threads,
      dtype: backend === 'reference' ? 'f64' : undefined,
    });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (backend === 'cuda') throw new TrainConfigError(`--device cuda: ${/unknown backend/.test(msg) ? 'CUDA unavailable (this build has no CUDA backend)' : msg}`);
    throw e;
  }
}

/** Runs `fn` on a checkpoint's contents: its errors become CheckpointErrors naming the checkpoint's state.json. */
function fromCheckpoint<T>(files: CheckpointFiles, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`${join(files.dir, 'state.json')}: does not describe a usable model (${(e as Error).message})`);
  }
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
