// The checks a resume applies to a checkpoint's training state (state.json's `training`, and the
// step) before anything is built from it. The manifest's checksums catch damage, not a state.json
// written by something else or edited by hand: a value of the wrong type or range would otherwise
// surface deep inside training as an error that names no file ("learning-rate schedule: step must
// be …", "Invalid typed array length"). Each check throws a CheckpointError naming state.json (or
// state.safetensors) and the field: one line, exit 2.
import { join } from 'node:path';
import { CheckpointError, STATE_FILE, STATE_TENSORS_FILE, type CheckpointFiles } from './checkpoint.js';
import { OPTIMIZER_KINDS } from './optimizers.js';
import { SCHEDULE_KINDS } from './schedules.js';
import { SAMPLER_KINDS } from '../data/batcher.js';
import { TOKENIZER_KINDS } from '../data/tokenizer.js';

type Rule = (v: unknown) => string | null;

const int = (min: number): Rule => (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? null : `an integer ≥ ${min}`);
const num = (min: number, exclusive = false): Rule => (v) =>
  (typeof v === 'number' && Number.isFinite(v) && (exclusive ? v > min : v >= min) ? null : `a number ${exclusive ? '>' : '≥'} ${min}`);
const fraction: Rule = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? null : 'a number in [0, 1)');
const finite: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'a number');
const oneOf = (choices: readonly string[]): Rule => (v) => (typeof v === 'string' && choices.includes(v) ? null : `one of ${choices.join(', ')}`);
const str: Rule = (v) => (typeof v === 'string' ? null : 'a string');
const bool: Rule = (v) => (typeof v === 'boolean' ? null : 'true or false');
const optional = (rule: Rule): Rule => (v) => (v === undefined ? null : rule(v));
const nullable = (rule: Rule): Rule => (v) => (v === null ? null : rule(v));
const object: Rule = (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? null : 'an object');
const rngState: Rule = (v) => {
  const r = v as { s?: unknown; spare?: unknown } | null;
  return object(v) === null && typeof r!.s === 'number' && Number.isInteger(r!.s) && r!.s >= 0 && r!.s < 2 ** 32 &&
    (r!.spare === null || (typeof r!.spare === 'number' && Number.isFinite(r!.spare))) ? null : 'an RNG state { s: uint32, spare: number | null }';
};

/** The settings a resume keeps (trainer.ts's KEPT_SETTINGS and the limits), with what each must be. */
const SETTINGS: Record<string, Rule> = {
  tokenizer: oneOf(TOKENIZER_KINDS), vocabSize: optional(int(2)), batch: int(1), seq: int(1), lr: num(0, true),
  optimizer: oneOf(OPTIMIZER_KINDS), weightDecay: optional(num(0)), schedule: oneOf(SCHEDULE_KINDS), warmup: int(0),
  minLr: optional(num(0)), clip: num(0), seed: finite, valEvery: int(0), valFraction: fraction, valBatches: int(1),
  sampler: oneOf(SAMPLER_KINDS), valData: optional(str), totalSteps: nullable(int(1)), timeMs: nullable(num(0, true)),
};

/**
 * Throws a CheckpointError naming the file and field for the first value in `files` a resume
 * could not use. Returns nothing: the state is then safe to read as trainer.ts's TrainingState.
 */
export function checkResumeState(files: CheckpointFiles): void {
  const spath = join(files.dir, STATE_FILE);
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new CheckpointError(`${spath}: ${field} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
  };
  const at = (field: string, v: unknown, rule: Rule) => {
    const expected = rule(v);
    if (expected !== null) fail(field, expected, v);
  };
  const { state } = files;
  at('step', state.step, int(0));
  const t = state.training as Record<string, unknown> | undefined;
  if (!t || object(t) !== null || ['settings', 'optimizer', 'batcher', 'rng', 'metrics', 'data'].some((k) => object(t[k]) !== null)) {
    throw new CheckpointError(`${spath}: lacks the training state a resume needs (training.settings, optimizer, batcher, rng, metrics, data)`);
  }
  const settings = t.settings as Record<string, unknown>;
  for (const [key, rule] of Object.entries(SETTINGS)) at(`training.settings.${key}`, settings[key], rule);

  const opt = t.optimizer as Record<string, unknown>;
  at('training.optimizer.kind', opt.kind, oneOf(OPTIMIZER_KINDS));
  at('training.optimizer.step', opt.step, int(0));
  if (!Array.isArray(opt.roles) || opt.roles.some((r) => typeof r !== 'string')) fail('training.optimizer.roles', 'a list of names', opt.roles);
  at('training.batcher.kind', (t.batcher as Record<string, unknown>).kind, oneOf(SAMPLER_KINDS));
  const rng = t.rng as Record<string, unknown>;
  at('training.rng.model', rng.model, rngState);
  at('training.rng.data', rng.data, rngState);
  at('training.carry', t.carry, bool);
  at('training.elapsedMs', t.elapsedMs, num(0));
  at('training.trainMs', t.trainMs, num(0));
  at('training.backendKind', t.backendKind, optional(oneOf(['wasm', 'reference', 'cuda'])));
  at('training.threads', t.threads, optional(nullable(int(1))));

  const m = t.metrics as Record<string, unknown>;
  const recent = m.recentLosses;
  const most = Math.min(50, state.step);
  if (!Array.isArray(recent) || recent.length > most || recent.some((x) => typeof x !== 'number')) {
    fail('training.metrics.recentLosses', `a list of at most ${most} numbers`, recent);
  }
  const vals = m.validations;
  if (!Array.isArray(vals) || vals.some((v) => object(v) !== null || int(0)((v as { step: unknown }).step) !== null ||
    typeof (v as { valLoss: unknown }).valLoss !== 'number')) {
    fail('training.metrics.validations', 'a list of { step, valLoss }', vals);
  }
  at('training.metrics.valLoss', m.valLoss, nullable(finite));

  const d = t.data as Record<string, unknown>;
  at('training.data.arg', d.arg, nullable(str));
  at('training.data.source', d.source, str);
  at('training.data.sha256', d.sha256, str);
  if (d.val !== undefined && d.val !== null) {
    const v = d.val as Record<string, unknown>;
    if (object(v) !== null || typeof v.arg !== 'string' || typeof v.source !== 'string' || typeof v.sha256 !== 'string') {
      fail('training.data.val', 'null or { arg, source, sha256 }', d.val);
    }
  }

  // The loss history holds one value per step: a step count that disagrees was not written by the loop.
  const history = files.tensors.tensors.get('metrics.train_loss');
  if (history && history.data.length !== state.step) {
    throw new CheckpointError(`${join(files.dir, STATE_TENSORS_FILE)}: metrics.train_loss has ${history.data.length} values, ` +
      `${STATE_FILE} says step ${state.step}`);
  }
}
