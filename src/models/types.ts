// What the one training loop (src/train) knows about a model: parameters, and forward/backward
// on a batch. Every model file composes layers and implements this; nothing else is shared.
import type { IntTensor, OptimizerKind, Ops } from '../ops/types.js';
import type { Param } from '../layers/param.js';
import type { Rng } from '../util/rng.js';

/**
 * A batch of token sequences, batch-major: inputs[b·time + t] is fed at step t of sequence b and
 * targets[b·time + t] is what should come next. A negative target is padding (no loss, no grad).
 */
export interface TokenBatch {
  inputs: IntTensor;
  targets: IntTensor;
  batch: number;
  time: number;
}

/** One attention probability matrix over a short sequence (see SequenceModel.attentionMaps). */
export interface AttentionMap {
  /** What it is, e.g. "layer 1 · head 2". */
  label: string;
  /** T rows (queries, one per position) of T weights (keys 0 … T−1); each row sums to 1 and, causal,
   *  is exactly 0 above the diagonal. */
  matrix: number[][];
}

export interface SequenceModel {
  /** The model's registered name, e.g. "lstm" (what `handgrad train <model>` takes). */
  readonly kind: string;
  /** Everything needed to rebuild the model (sizes, options): saved with checkpoints. */
  readonly config: Record<string, unknown>;
  readonly ops: Ops;
  readonly params: Param[];
  /**
   * Runs the forward pass and returns the mean loss per non-padding target (nats). With
   * `train`, also runs the backward pass, ACCUMULATING into every param.grad (the caller zeroes
   * gradients before). Recurrent models carry their hidden state from one call to the next
   * (truncated BPTT over consecutive chunks) until resetState().
   */
  forwardBackward(batch: TokenBatch, train: boolean): number;
  /** Forgets any carried state (start of an epoch, or of validation). */
  resetState(): void;
  /**
   * Next-token log-probabilities for sampling: feeds `tokens` (one sequence) after the current
   * sampling state and returns the log-softmax over the vocabulary after the last one.
   */
  nextLogProbs(tokens: number[]): Float64Array;
  /** Starts a fresh sampling state. */
  resetSampling(): void;
  /**
   * Optional, for models with positions: sample (and read windows) of at most `n` tokens, the
   * length the model was trained on, sliding the window past it; positions it never trained are
   * never used. A checkpoint's reader calls it with the run's --seq.
   */
  limitWindow?(n: number): void;
  /**
   * Optional, for models with attention (for reports and plots): runs one forward pass over
   * `tokens` (one short sequence, e.g. ≤ 32 tokens) and returns its attention probability
   * matrices, T × T each. Never changes parameters or gradients; may overwrite the training
   * path's saved activations (do not call between a forward and its backward). Each model
   * documents what it does to its sampling state.
   */
  attentionMaps?(tokens: number[]): AttentionMap[];
  /**
   * Optional, for Mixture-of-Experts models: the share of routed tokens each expert received, per
   * layer ([layer][expert], each row summing to 1), counted since the previous call. The trainer
   * logs it to metrics.jsonl at validation steps (src/train/expert-load.ts).
   */
  expertLoad?(): number[][];
}

/**
 * Copies a batch-major TokenBatch into time-major id and target buffers (row t·B + b), the layout
 * the recurrent layers step through, and returns how many targets are real (not padding).
 */
export function toTimeMajor(batch: TokenBatch, ids: Int32Array, targets: Int32Array): number {
  const B = batch.batch, T = batch.time, src = batch.inputs.data, tgt = batch.targets.data;
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      ids[t * B + b] = src[b * T + t];
      const y = tgt[b * T + t];
      targets[t * B + b] = y;
      if (y >= 0) count++;
    }
  }
  return count;
}

// ---- what the registry (./registry.ts) holds: one ModelSpec per model file --------------------------

/**
 * One model-specific setting, settable as `--<kebab-case key>` on `handgrad train`. `aliases` are
 * its former keys: still accepted as options (and flags), and read from checkpoints saved with
 * them, but never written.
 */
export type ModelOption = { key: string; description: string; aliases?: readonly string[] } & (
  | { type: 'int'; min?: number; max?: number }
  | { type: 'float'; min?: number; max?: number }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'boolean' });

/** Training defaults a model prefers over the global ones (e.g. a larger lr for a convex model). */
/**
 * Training defaults a model prefers over the global ones (e.g. a larger lr for a convex model);
 * src/train/settings.ts resolves them. Every field is optional. (The tokenizer and schedule kinds
 * are spelled out here rather than imported: data/ and train/ sit above models/.)
 */
export interface ModelTrainDefaults {
  /** The Adam/AdamW learning rate. */
  lr?: number;
  /** The plain SGD learning rate (momentum and Nesterov take a fifth of it). */
  sgdLr?: number;
  optimizer?: OptimizerKind;
  batch?: number;
  /** The window length; 'context': the model's own `context` option (so every position row is trained). */
  seq?: number | 'context';
  tokenizer?: 'char' | 'word' | 'bpe';
  /** Weight decay, when the run uses this spec's optimizer. */
  weightDecay?: number;
  clip?: number;
  valBatches?: number;
  /** 'cosine': warmup then cosine decay when the run has a step count (constant with only --time). */
  schedule?: 'constant' | 'cosine';
  /** Warmup steps as a fraction of --steps, at most maxWarmup; timeWarmup steps with only --time. */
  warmupFraction?: number;
  maxWarmup?: number;
  timeWarmup?: number;
}

export interface ModelSpec {
  /** What `handgrad train <name>` takes, and what checkpoints record as `kind`. */
  name: string;
  /** Other names for it (e.g. `neuron` for `bigram`). */
  aliases?: readonly string[];
  /** One line for `--help` and listings. */
  description: string;
  /**
   * true: the model carries hidden state from one forwardBackward call to the next, so it trains
   * on consecutive windows (SequentialBatcher); false: independent random windows.
   */
  stateful: boolean;
  /** Every config key the model reads, with its default (`vocabSize` excluded: the data sets it). */
  defaults: Record<string, number | string | boolean>;
  /** The subset of config keys a user may set from the CLI. */
  options: readonly ModelOption[];
  trainDefaults?: ModelTrainDefaults;
  /**
   * Checks that go across options (e.g. --d-model a multiple of --heads), on the merged config
   * without vocabSize; throws a RangeError naming the flags. Run by checkModelOptions
   * (./registry.ts) before any data is loaded, so a mistake costs nothing (the constructor checks again).
   */
  check?(config: Record<string, unknown>): void;
  /** Builds the model; `config` is `{ ...defaults, ...userOptions, vocabSize }`, `rng` seeds the weights. */
  create(ops: Ops, config: Record<string, unknown>, rng: Rng): SequenceModel;
}
