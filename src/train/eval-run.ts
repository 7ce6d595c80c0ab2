// How well a trained model predicts a text: the mean loss per token (nats and bits), per character
// of the text those tokens spell, and the perplexity — and, for models that read independent
// windows (the position models: transformers, MLP and memory LMs), the loss by position in the
// window, which shows whether every position the model is used at was trained (a model trained on
// windows of 64 with a context of 128 has a cliff at 64).
//
// The text is read as train() validates: B contiguous streams cut into windows of T tokens (T: the
// run's --seq); a recurrent model carries its state from one window to the next, a window model
// starts each window afresh. Dropout and other training-only behaviour are off (forwardBackward
// with train = false). The profile masks targets: one pass per position bucket with every other
// target set to padding, so the bucket's mean loss comes back from the ordinary forward pass of any
// model; the buckets' losses, weighted by their token counts, give the overall mean.
import type { Ops } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import { SequentialBatcher } from '../data/batcher.js';

export interface EvalOptions {
  /** Window length (the run's --seq). */
  seq: number;
  /** Streams read side by side (default 8, fewer when the text is short). */
  batch?: number;
  /** Read at most this many tokens (default: all of them). */
  maxTokens?: number;
  /** Whether the model carries state between windows (a recurrent model): then no profile. */
  stateful: boolean;
  /** Position buckets of the profile (default min(seq, 16)); 0: no profile. */
  buckets?: number;
  /** Characters the given target tokens spell (for per-character figures). */
  countChars(ids: Int32Array): number;
}

/** The loss over positions from … to (inclusive) of the windows. */
export interface PositionLoss {
  from: number;
  to: number;
  /** Mean nats per token at these positions. */
  nats: number;
}

export interface EvalResult {
  /** Tokens predicted (targets). */
  tokens: number;
  /** Characters those tokens spell. */
  chars: number;
  /** Mean loss per token, nats and bits. */
  natsPerToken: number;
  bitsPerToken: number;
  /** Total loss divided by characters, nats and bits. */
  natsPerChar: number;
  bitsPerChar: number;
  /** exp(natsPerToken). */
  perplexity: number;
  /** Window length and streams read. */
  seq: number;
  batch: number;
  windows: number;
  /** Loss by position in the window (window models); null for recurrent models. */
  profile: PositionLoss[] | null;
}

/** Evaluates `model` on `tokens` (see the top of this file). */
export function evaluateText(ops: Ops, model: SequenceModel, tokens: Int32Array, opts: EvalOptions): EvalResult {
  const T = opts.seq;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`eval: the window length must be an integer ≥ 1, got ${T}`);
  const usable = Math.min(tokens.length, opts.maxTokens === undefined ? Infinity : opts.maxTokens + 1);
  if (usable < T + 1) throw new RangeError(`eval: the text has ${tokens.length} tokens, fewer than one window of ${T} + 1`);
  const text = tokens.subarray(0, usable);
  const B = Math.max(1, Math.min(opts.batch ?? 8, Math.floor((usable - 1) / T)));
  const batcher = new SequentialBatcher(ops, text, B, T);
  const W = batcher.windowsPerEpoch;
  const nBuckets = opts.stateful ? 0 : Math.min(opts.buckets ?? Math.min(T, 16), T);
  // Bucket k covers positions [edges[k], edges[k+1]).
  const edges = Array.from({ length: nBuckets + 1 }, (_, k) => Math.round((k * T) / nBuckets));
  const bucketSum = new Float64Array(nBuckets);
  let sum = 0;
  model.resetState();
  const targets = batcher.batch.targets;
  const saved = new Int32Array(B * T);
  for (let w = 0; w < W; w++) {
    batcher.next();
    if (nBuckets === 0) {
      sum += model.forwardBackward(batcher.batch, false) * B * T;
      continue;
    }
    saved.set(targets.data);
    for (let k = 0; k < nBuckets; k++) {
      const data = targets.data;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) data[b * T + t] = t >= edges[k] && t < edges[k + 1] ? saved[b * T + t] : -1;
      }
      const mean = model.forwardBackward(batcher.batch, false);
      const count = B * (edges[k + 1] - edges[k]);
      bucketSum[k] += mean * count;
      sum += mean * count;
    }
    targets.data.set(saved);
  }
  model.resetState();
  const n = W * B * T;
  // The targets read: stream b's windows cover tokens b·L + 1 … b·L + W·T.
  let chars = 0;
  for (let b = 0; b < B; b++) {
    const start = b * batcher.streamLength + 1;
    chars += opts.countChars(text.subarray(start, start + W * T));
  }
  const natsPerToken = sum / n;
  return {
    tokens: n, chars, natsPerToken, bitsPerToken: natsPerToken / Math.LN2,
    natsPerChar: sum / chars, bitsPerChar: sum / chars / Math.LN2, perplexity: Math.exp(natsPerToken),
    seq: T, batch: B, windows: W,
    profile: nBuckets === 0 ? null : Array.from({ length: nBuckets }, (_, k) => ({
      from: edges[k], to: edges[k + 1] - 1, nats: bucketSum[k] / (W * B * (edges[k + 1] - edges[k])),
    })),
  };
}
