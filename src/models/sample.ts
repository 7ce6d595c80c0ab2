// Sampling text from any SequenceModel: feed the prompt, then repeatedly draw the next token from
// the model's log-probabilities (sharpened or flattened by a temperature, optionally cut to the
// top k) and feed it back. All randomness comes from the Rng passed in, so a seed reproduces a
// sample exactly.
import type { Rng } from '../util/rng.js';
import type { SequenceModel } from './types.js';

/**
 * log-softmax of row `row` of a [rows, V] logits array, in float64: what every model's
 * nextLogProbs returns (max-subtracted, so large logits do not overflow).
 */
export function logSoftmaxRow(l: ArrayLike<number>, row: number, V: number): Float64Array {
  const out = new Float64Array(V);
  for (let j = 0; j < V; j++) out[j] = l[row * V + j];
  return logSoftmaxInPlace(out);
}

/** Replaces the logits in `out` by their log-softmax (for a row computed on the host); returns it. */
export function logSoftmaxInPlace(out: Float64Array): Float64Array {
  const V = out.length;
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (out[j] > max) max = out[j];
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(out[j] - max);
  const lse = max + Math.log(s);
  for (let j = 0; j < V; j++) out[j] -= lse;
  return out;
}

export interface SampleOptions {
  /** Tokens to generate after the prompt. */
  length: number;
  /** 0: greedy (always the most likely token); 1: the model's distribution; > 1 flatter, < 1 sharper. */
  temperature: number;
  /** Draw only among the k most likely tokens; 0 or absent: all of them. */
  topK?: number;
  rng: Rng;
  /** Called with each generated token as it is drawn (e.g. to print it). */
  onToken?: (id: number) => void;
}

/**
 * The next token from log-probabilities: argmax at temperature 0 (ties go to the lowest id),
 * otherwise a draw from softmax(logp / temperature) restricted to the top k.
 */
export function pickToken(logp: Float64Array, temperature: number, topK: number, rng: Rng): number {
  const V = logp.length;
  if (V === 0) throw new RangeError('pickToken: empty distribution');
  if (!(temperature >= 0)) throw new RangeError(`temperature must be ≥ 0, got ${temperature}`);
  if (temperature === 0) {
    let best = 0;
    for (let j = 1; j < V; j++) if (logp[j] > logp[best]) best = j;
    return best;
  }
  // The k-th largest log-probability is the cut-off (ties at the cut-off all stay in).
  let cutoff = -Infinity;
  if (topK > 0 && topK < V) cutoff = Array.from(logp).sort((a, b) => b - a)[topK - 1];
  let max = -Infinity;
  for (let j = 0; j < V; j++) if (logp[j] >= cutoff && logp[j] > max) max = logp[j];
  const w = new Float64Array(V);
  let total = 0;
  for (let j = 0; j < V; j++) {
    if (logp[j] >= cutoff) {
      w[j] = Math.exp((logp[j] - max) / temperature);
      total += w[j];
    }
  }
  let u = rng.next() * total;
  for (let j = 0; j < V; j++) {
    if (w[j] === 0) continue;
    u -= w[j];
    if (u < 0) return j;
  }
  // Rounding can leave u a hair above zero: the last candidate takes it.
  for (let j = V - 1; j >= 0; j--) if (w[j] > 0) return j;
  return 0;
}

/** Feeds `prompt` (at least one token) and returns `length` generated token ids. */
export function sampleTokens(model: SequenceModel, prompt: number[], opts: SampleOptions): number[] {
  if (prompt.length === 0) throw new RangeError('sampling needs a prompt of at least one token');
  model.resetSampling();
  const out: number[] = [];
  let logp = model.nextLogProbs(prompt);
  const next = [0];
  for (let i = 0; i < opts.length; i++) {
    const id = pickToken(logp, opts.temperature, opts.topK ?? 0, opts.rng);
    out.push(id);
    opts.onToken?.(id);
    if (i + 1 < opts.length) {
      next[0] = id;
      logp = model.nextLogProbs(next);
    }
  }
  return out;
}
