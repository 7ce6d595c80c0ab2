// A run's checkpoint state (state.json's `training`, state.safetensors' optimizer buffers, carried
// state and loss history): what the training loop (trainer.ts) saves, and how a resume reads it back.
//
//   resumeOptions   a resumed run's options: the checkpoint's settings, with the caller's limits
//   restoreState    the checkpoint's weights, optimizer buffers, RNG and batcher positions and carried
//                   state put back into a freshly built model, optimizer and batcher
//   trainingState   the other way: the `training` object and the tensors of a checkpoint, from the
//                   loop's state at a step (trainer.ts refuses non-finite weights first: firstNonFinite)
//
// This module sits below trainer.ts (which re-exports TrainingState): it sees the run's options
// only as ResumableOptions, the fields a resume reads and fills in.
import { join } from 'node:path';
import type { BackendName } from '../backends/index.js';
import type { Ops, Tensor } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { STDIN_SPEC, type Corpus } from '../data/corpus.js';
import type { TokenizerKind } from '../data/tokenizer.js';
import type { BatcherState, createBatcher, SamplerKind } from '../data/batcher.js';
import type { TrainingDataState } from './training-data.js';
import { TrainConfigError } from './config-error.js';
import type { createOptimizer, OptimizerKind, OptimizerState } from './optimizers.js';
import type { ScheduleKind } from './schedules.js';
import { CheckpointError, loadWeightsInto, WEIGHTS_FILE, type CheckpointFiles } from './checkpoint.js';
import type { SafeDtype, SafeTensorInput } from './safetensors.js';
import type { Rng, RngState } from '../util/rng.js';
import { checkResumeState } from './resume-state.js';
import { OLD_RUN_SETTINGS, type SettingsInput } from './settings.js';

/** The settings a resumed run keeps: giving another value for one of them is refused. */
const KEPT_SETTINGS = [
  'tokenizer', 'vocabSize', 'batch', 'seq', 'lr', 'optimizer', 'weightDecay', 'schedule', 'warmup', 'minLr', 'clip', 'seed',
  'valEvery', 'valEveryMs', 'valFraction', 'valBatches', 'sampler', 'valData',
] as const;

/**
 * The options a resume reads and fills in: trainer.ts's TrainOptions as this module sees it (the
 * same fields, the same types; trainer.ts passes its TrainOptions, so a difference fails to compile).
 */
export interface ResumableOptions extends SettingsInput {
  valData?: string | null;
  data?: string | readonly string[] | Corpus;
  backend?: BackendName;
  threads?: number;
  ops?: Ops;
  resume?: string;
}
type KeptSettings = Partial<Pick<ResumableOptions, (typeof KEPT_SETTINGS)[number]>> & { decayVectors?: boolean; patience?: number };

/** What the loop saves in state.json's `training` (beside the model, tokenizer, step and seed). */
export interface TrainingState {
  /** The resolved settings (defaults filled in), the ones a resume keeps. */
  settings: KeptSettings & { totalSteps: number | null; timeMs: number | null };
  /** The --data value(s) when given (a resume reads the same corpus), and a fingerprint of the text (training-data.ts). */
  data: TrainingDataState;
  /** The backend's own name (e.g. reference-f64, wasm-simd). */
  backend: string;
  /** The backend and thread count a resume uses unless told otherwise (same backend + threads: same bits). */
  backendKind: BackendName;
  threads: number | null;
  optimizer: { kind: OptimizerKind; step: number; roles: string[] };
  rng: { model: RngState; data: RngState };
  batcher: BatcherState;
  /** Whether state.safetensors holds the carried recurrent state (carry.h, carry.c). */
  carry: boolean;
  elapsedMs: number;
  trainMs: number;
  /** true for the checkpoint written at the end of a run (the limits were reached). */
  finished: boolean;
  metrics: {
    /** The last ≤ 50 training losses, oldest first (the whole history is metrics.train_loss in state.safetensors). */
    recentLosses: number[];
    validations: { step: number; valLoss: number }[];
    trainLoss: number | null;
    valLoss: number | null;
    valBits: number | null;
    tokensPerSec: number;
  };
}

/** What a model that carries recurrent state between windows exposes (RecurrentLM.stateFor). */
export interface CarriesState {
  stateFor(batch: number): { h: Tensor; c: Tensor | null };
}
export const carriesState = (m: SequenceModel): m is SequenceModel & CarriesState =>
  typeof (m as Partial<CarriesState>).stateFor === 'function';

const flagOf = (key: string) => '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Is every value finite? (x·0 is 0 for a finite x and NaN otherwise: one add per value, no branch.) */
function allFinite(a: ArrayLike<number>): boolean {
  let z = 0;
  for (let i = 0; i < a.length; i++) z += a[i] * 0;
  return z === 0;
}

/** The first parameter or optimizer buffer holding a NaN or an infinity, in words; null when all are finite. */
export function firstNonFinite(params: SequenceModel['params'], buffers: Record<string, ArrayLike<number>[]>): string | null {
  for (const p of params) if (!allFinite(p.value.data)) return `the parameter '${p.name}'`;
  for (const [role, list] of Object.entries(buffers)) {
    for (let i = 0; i < list.length; i++) if (!allFinite(list[i])) return `the optimizer's ${role} buffer of '${params[i]?.name ?? i}'`;
  }
  return null;
}

/** Mean of the last min(steps, buffer length) losses in the ring buffer. */
export function meanRecent(ring: Float64Array, steps: number): number {
  const n = Math.min(steps, ring.length);
  if (n === 0) return NaN;
  let s = 0;
  for (let i = 0; i < n; i++) s += ring[(steps - 1 - i) % ring.length];
  return s / n;
}

/** The loop's state at a checkpoint, as trainingState needs it (trainer.ts's snapshot fills it in). */
export interface TrainingStateInput {
  /** The resolved settings (TrainingState.settings). */
  settings: TrainingState['settings'];
  data: TrainingDataState;
  ops: Ops;
  /** The --threads given (null when not). */
  threads: number | null;
  params: SequenceModel['params'];
  dtype: SafeDtype;
  optimizerKind: OptimizerKind;
  /** optimizer.exportState(), its buffers checked finite (firstNonFinite). */
  opt: OptimizerState;
  modelRng: Rng;
  dataRng: Rng;
  trainBatcher: { exportState(): BatcherState };
  /** The carried recurrent state, copied (null for models without one). */
  carry: { h: Float64Array; c: Float64Array | null } | null;
  step: number;
  /** Every training loss so far (the first `step` values are saved). */
  lossHistory: Float64Array;
  /** The ring buffer of recent training losses (loss of step s at s % length). */
  recent: Float64Array;
  validations: { step: number; valLoss: number }[];
  valLoss: number | null;
  elapsedMs: number;
  trainMs: number;
  tokensPerStep: number;
  finished: boolean;
}

/** state.json's `training` object and state.safetensors' tensors for a checkpoint of the run at `s.step`. */
export function trainingState(s: TrainingStateInput): { training: TrainingState; tensors: [string, SafeTensorInput][] } {
  const { dtype, opt, params, carry, step, recent, validations, valLoss, trainMs, finished } = s;
  const RECENT = recent.length;
  const roles = Object.keys(opt.buffers);
  const tensors: [string, SafeTensorInput][] = [];
  for (const role of roles) {
    opt.buffers[role].forEach((b, i) => tensors.push([`optimizer.${role}.${params[i].name}`, { dtype, shape: params[i].shape, data: b }]));
  }
  if (carry) {
    tensors.push(['carry.h', { dtype, shape: [carry.h.length], data: carry.h }]);
    if (carry.c) tensors.push(['carry.c', { dtype, shape: [carry.c.length], data: carry.c }]);
  }
  tensors.push(['metrics.train_loss', { dtype: 'F64', shape: [step], data: s.lossHistory.subarray(0, step) }]);
  const trainLoss = step > 0 ? meanRecent(recent, step) : null;
  const recentLosses: number[] = [];
  for (let i = Math.min(step, RECENT); i >= 1; i--) recentLosses.push(recent[(step - i) % RECENT]);
  const training: TrainingState = {
    settings: s.settings,
    data: s.data,
    backend: s.ops.name,
    backendKind: (s.ops.name.startsWith('reference') ? 'reference' : s.ops.name.startsWith('cuda') ? 'cuda' : 'wasm') as BackendName,
    threads: s.threads,
    optimizer: { kind: s.optimizerKind, step: opt.step, roles },
    rng: { model: s.modelRng.getState(), data: s.dataRng.getState() },
    batcher: s.trainBatcher.exportState(),
    carry: carry !== null,
    elapsedMs: s.elapsedMs,
    trainMs,
    finished,
    metrics: {
      recentLosses, validations, trainLoss, valLoss,
      valBits: valLoss === null ? null : (valLoss as number) / Math.LN2,
      tokensPerSec: trainMs > 0 ? (step * s.tokensPerStep) / (trainMs / 1000) : 0,
    },
  };
  return { training, tensors };
}

/** The options of a resumed run: the checkpoint's settings, with the caller's limits; refuses changed settings. */
export function resumeOptions<O extends ResumableOptions>(opts: O, model: string, files: CheckpointFiles): { opts: O; saved: TrainingState } {
  const where = `--resume ${opts.resume}`;
  const { state } = files;
  if (state.kind !== model) {
    throw new TrainConfigError(`${where}: the checkpoint is a ${state.kind} model, not ${model} (train ${state.kind} to resume it)`);
  }
  checkResumeState(files); // every value used below: CheckpointErrors naming state.json and the field
  const saved = state.training as unknown as TrainingState;
  const merged: O = { ...opts };
  const s = saved.settings as Record<string, unknown>;
  for (const key of KEPT_SETTINGS) {
    const given = opts[key];
    // A setting the checkpoint's version did not save: what that version ran with.
    const kept = s[key] ?? (key in OLD_RUN_SETTINGS ? OLD_RUN_SETTINGS[key as keyof typeof OLD_RUN_SETTINGS] : undefined);
    if (given !== undefined && given !== kept) {
      throw new TrainConfigError(`${where}: the checkpoint was trained with ${flagOf(key)} ${kept ?? '(unset)'}, ` +
        `not ${given}; a resumed run keeps its settings (leave ${flagOf(key)} out)`);
    }
    (merged as unknown as Record<string, unknown>)[key] = kept;
  }
  merged.decayVectors = (s.decayVectors as boolean | undefined) ?? OLD_RUN_SETTINGS.decayVectors;
  // Patience is a stopping rule like the limits: a resume may change it.
  merged.patience = opts.patience ?? (s.patience as number | undefined) ?? OLD_RUN_SETTINGS.patience;
  if (opts.steps === undefined && opts.timeMs === undefined) {
    merged.steps = saved.settings.totalSteps ?? undefined;
    merged.timeMs = saved.settings.timeMs ?? undefined;
  } else if (opts.steps === undefined && saved.settings.schedule === 'cosine') {
    // A new --time total alone (legs of a long run: --time 8m, then 16m, …) keeps the step count the
    // cosine schedule decays over; the run stops at whichever comes first, as it would have.
    merged.steps = saved.settings.totalSteps ?? undefined;
  }
  if (saved.settings.schedule === 'cosine' && merged.steps !== saved.settings.totalSteps) {
    throw new TrainConfigError(`${where}: the cosine schedule decays over --steps ${saved.settings.totalSteps}; a resume cannot change it`);
  }
  if (merged.data === undefined && saved.data.arg !== null) {
    // Standard input was read once, by that run: it cannot be read back from here.
    const args = typeof saved.data.arg === 'string' ? [saved.data.arg] : saved.data.arg;
    if (args.includes(STDIN_SPEC)) {
      throw new TrainConfigError(`${where}: the checkpoint was trained on standard input (--data -); pipe the same text in again ` +
        `and give --data - (or --data FILE with that text)`);
    }
    merged.data = saved.data.arg;
  }
  // A checkpoint that validated on its corpus's tail keeps doing so (no companion file is looked for).
  if (merged.valData === undefined) merged.valData = null;
  if (merged.backend === undefined && merged.ops === undefined && saved.backendKind) {
    merged.backend = saved.backendKind;
    if (merged.threads === undefined && saved.threads !== null) merged.threads = saved.threads;
  }
  return { opts: merged, saved };
}

export interface Restorable {
  model: SequenceModel;
  optimizer: ReturnType<typeof createOptimizer>;
  trainBatcher: ReturnType<typeof createBatcher>;
  modelRng: Rng;
  dataRng: Rng;
  batch: number;
}

/** Puts a checkpoint's weights, optimizer buffers, RNG and batcher positions and carried state back. */
export function restoreState(files: CheckpointFiles, saved: TrainingState, r: Restorable): void {
  const { model } = r;
  const tensors = files.tensors.tensors;
  const file = join(files.dir, 'state.safetensors');
  loadWeightsInto(model, files.weights, join(files.dir, WEIGHTS_FILE));
  const buffers: Record<string, number[][]> = {};
  for (const role of saved.optimizer.roles) {
    buffers[role] = saved.optimizer.step === 0 ? [] : model.params.map((p) => {
      const t = tensors.get(`optimizer.${role}.${p.name}`);
      if (!t || t.data.length !== p.value.size) throw new CheckpointError(`${file}: no ${role} buffer of ${p.value.size} values for '${p.name}'`);
      return Array.from(t.data);
    });
  }
  try {
    r.optimizer.importState({ kind: saved.optimizer.kind, step: saved.optimizer.step, buffers });
    r.trainBatcher.importState(saved.batcher);
  } catch (e) {
    if (e instanceof RangeError) throw new CheckpointError(`${join(files.dir, 'state.json')}: ${e.message}`);
    throw e;
  }
  r.modelRng.setState(saved.rng.model);
  r.dataRng.setState(saved.rng.data);
  if (saved.carry && carriesState(model)) {
    const s = model.stateFor(r.batch);
    const h = tensors.get('carry.h'), c = tensors.get('carry.c');
    if (!h || h.data.length !== s.h.size || (s.c && (!c || c.data.length !== s.c.size))) {
      throw new CheckpointError(`${file}: the carried state does not fit the model`);
    }
    s.h.data.set(h.data);
    if (s.c && c) s.c.data.set(c.data);
  }
}
