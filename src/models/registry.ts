// The model registry: model names → factories, each with its default config and the options a
// user may set from the command line. `handgrad train <model>` and checkpoint loading find
// models here and nowhere else, so adding a model is one file plus one line:
//
//   // src/models/bigram.ts (the real one; ModelSpec is in ./types.ts)
//   export const BIGRAM_MODEL: ModelSpec = {
//     name: 'bigram',
//     aliases: ['neuron'],
//     description: 'single-neuron LM: softmax regression on the previous token (a V×V table)',
//     stateful: false,                        // true: trained on consecutive windows (BPTT batcher)
//     defaults: {},                           // every config key it reads; vocabSize is added by the trainer
//     options: [],                            // e.g. { key: 'hidden', type: 'int', min: 1, description: '…' }
//     trainDefaults: { lr: 0.05, optimizer: 'adam' },
//     create: (ops, config, rng) => new BigramLM(ops, config as unknown as BigramConfig, rng),
//   };
//
//   // here, at the bottom of this file:
//   registerModel(BIGRAM_MODEL);
//
// An option's CLI flag is `--<key>` (camelCase keys become kebab-case: `embedSize` → `--embed-size`);
// two models that declare the same key share the flag, so keep the meanings the same
// (`hidden`, `layers`, `embed`, `dropout`, …). The factory receives the merged config
// `{ ...defaults, ...options the user gave, vocabSize }` and must store everything it needs to
// be rebuilt in `model.config` (checkpoints save it and call create() again with it).
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { ModelOption, ModelSpec, SequenceModel } from './types.js';
import { BIGRAM_MODEL } from './bigram.js';
import { GRU_MODEL, LSTM_MODEL, RNN_MODEL } from './recurrent-lm.js';
import { MLP_LM_MODEL } from './mlp-lm.js';
import { TRANSFORMER_MODEL } from './transformer.js';
import { LSTM_ATTENTION_MODEL } from './lstm-attention-lm.js';
import { MOE_DENSE_MODEL, MOE_MODEL } from './moe-transformer.js';
import { MEMORY_LM_MODEL } from './memory-lm.js';

export type { ModelOption, ModelSpec, ModelTrainDefaults } from './types.js';

/** An unknown model name: one line that lists the known ones. */
export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
}

/**
 * Config keys a model may not declare as options: `handgrad train` already has these flags (and
 * the trainer sets vocabSize from the data).
 */
export const RESERVED_OPTION_KEYS: readonly string[] = [
  'data', 'tokenizer', 'vocabSize', 'steps', 'time', 'batch', 'seq', 'lr', 'optimizer', 'weightDecay', 'schedule',
  'warmup', 'minLr', 'clip', 'seed', 'valEvery', 'valFraction', 'valBatches', 'sampler', 'out', 'threads', 'backend',
  'json', 'help', 'version', 'patience',
];

const specs = new Map<string, ModelSpec>();
/** name or alias → spec. */
const byName = new Map<string, ModelSpec>();

/** Adds a model. Names and aliases must be new, non-empty, lowercase-ish words with no spaces. */
export function registerModel(spec: ModelSpec): void {
  for (const n of [spec.name, ...(spec.aliases ?? [])]) {
    if (!/^[a-z][a-z0-9-]*$/.test(n)) throw new Error(`model name '${n}' must be lowercase letters, digits and dashes`);
    if (byName.has(n)) throw new Error(`model name '${n}' is already registered (by '${byName.get(n)!.name}')`);
  }
  for (const o of spec.options) {
    if (!(o.key in spec.defaults)) throw new Error(`model '${spec.name}': option '${o.key}' has no default in defaults`);
    if (RESERVED_OPTION_KEYS.includes(o.key)) {
      throw new Error(`model '${spec.name}': option '${o.key}' would clash with the trainer's own --${optionFlag(o.key)}; name it differently`);
    }
  }
  specs.set(spec.name, spec);
  byName.set(spec.name, spec);
  for (const a of spec.aliases ?? []) byName.set(a, spec);
}

/** The spec registered under `name` (or an alias); an UnknownModelError listing the known models otherwise. */
export function getModel(name: string): ModelSpec {
  const spec = byName.get(name);
  if (!spec) throw new UnknownModelError(`unknown model '${name}' (known models: ${knownNames().join(', ')})`);
  return spec;
}

/** Every registered model, in registration order. */
export function listModels(): ModelSpec[] {
  return [...specs.values()];
}

/** "bigram (neuron), lstm, …": names with their aliases, for messages. */
export function knownNames(): string[] {
  return listModels().map((s) => (s.aliases?.length ? `${s.name} (${s.aliases.join(', ')})` : s.name));
}

/** `embedSize` → `embed-size`: the CLI flag of a config key. */
export function optionFlag(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * `config` with each option's former key (an alias, e.g. transformer's `tie`) renamed to the
 * current one (`tiedEmbeddings`): for options given under an old name and for configs read from
 * checkpoints saved before a rename. Giving both names with different values is a RangeError.
 */
export function canonicalConfig(spec: ModelSpec, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const o of spec.options) {
    for (const alias of o.aliases ?? []) {
      if (!(alias in out)) continue;
      const v = out[alias];
      delete out[alias];
      if (v === undefined) continue;
      if (out[o.key] !== undefined && String(out[o.key]) !== String(v)) {
        throw new RangeError(`--${optionFlag(alias)} is the old name of --${optionFlag(o.key)}; give one of them, not both with different values`);
      }
      out[o.key] ??= v;
    }
  }
  return out;
}

/**
 * Checks user-given option values against the spec (types, ranges, choices) and returns the
 * merged config `{ ...defaults, ...given, vocabSize }`. Errors are RangeErrors naming the flag.
 * Strings are accepted for numbers and booleans (the CLI hands over what was typed).
 */
export function modelConfig(spec: ModelSpec, given: Record<string, unknown>, vocabSize: number): Record<string, unknown> {
  const config: Record<string, unknown> = { ...spec.defaults };
  for (const [key, raw] of Object.entries(canonicalConfig(spec, given))) {
    if (raw === undefined) continue;
    const opt = spec.options.find((o) => o.key === key);
    if (!opt) {
      const known = spec.options.map((o) => `--${optionFlag(o.key)}`).join(', ') || 'none';
      throw new RangeError(`model '${spec.name}' has no option --${optionFlag(key)} (its options: ${known})`);
    }
    config[key] = parseOptionValue(opt, raw);
  }
  config.vocabSize = vocabSize;
  return config;
}

/**
 * The user-given options merged over `base` (default: the spec's defaults; a resume passes the
 * checkpoint's config), each checked as modelConfig does, then the spec's cross-option check.
 * Needs no data (no vocabSize), so train() runs it first. Errors are RangeErrors naming the flags.
 */
export function checkModelOptions(spec: ModelSpec, given: Record<string, unknown>, base?: Record<string, unknown>): Record<string, unknown> {
  const parsed = modelConfig(spec, given, 0);
  delete parsed.vocabSize;
  const config: Record<string, unknown> = { ...(base ?? spec.defaults) };
  for (const [key, v] of Object.entries(given)) if (v !== undefined) config[key] = parsed[key];
  delete config.vocabSize;
  spec.check?.(config);
  return config;
}

/** One typed option value from what was given (CLI text or a value); a RangeError naming the flag otherwise. */
export function parseOptionValue(opt: ModelOption, raw: unknown): number | string | boolean {
  const flag = `--${optionFlag(opt.key)}`;
  switch (opt.type) {
    case 'int':
    case 'float': {
      const text = String(raw).trim();
      // Typed text must look like a number (as the CLI's own parsers demand): no '0x10', '1e3' for an int, or ''.
      const looksRight = opt.type === 'int' ? /^[+-]?\d+$/.test(text) : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text);
      const v = typeof raw === 'number' ? raw : looksRight ? Number(text) : Number.NaN;
      const min = opt.min ?? -Infinity, max = opt.max ?? Infinity;
      const what = opt.type === 'int' ? 'an integer' : 'a number';
      const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` ≥ ${min}` : max < Infinity ? ` ≤ ${max}` : '';
      if (!Number.isFinite(v) || (opt.type === 'int' && !Number.isSafeInteger(v)) || v < min || v > max) {
        throw new RangeError(`${flag} expects ${what}${range}, got '${String(raw)}'`);
      }
      return v;
    }
    case 'choice': {
      const v = String(raw);
      if (!opt.choices.includes(v)) throw new RangeError(`${flag} expects one of ${opt.choices.join(', ')}, got '${v}'`);
      return v;
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const v = String(raw).toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return true;
      if (v === 'false' || v === '0' || v === 'no') return false;
      throw new RangeError(`${flag} expects true or false, got '${String(raw)}'`);
    }
  }
}

/** Builds a registered model from a full config (as saved in a checkpoint, or from modelConfig()). */
export function createModel(ops: Ops, name: string, config: Record<string, unknown>, rng: Rng): SequenceModel {
  return getModel(name).create(ops, config, rng);
}

// ---- the built-in models: one line each ------------------------------------------------------
registerModel(BIGRAM_MODEL);
registerModel(MLP_LM_MODEL);
registerModel(RNN_MODEL);
registerModel(LSTM_MODEL);
registerModel(GRU_MODEL);
registerModel(TRANSFORMER_MODEL);
registerModel(LSTM_ATTENTION_MODEL);
registerModel(MOE_MODEL);
registerModel(MOE_DENSE_MODEL);
registerModel(MEMORY_LM_MODEL);
