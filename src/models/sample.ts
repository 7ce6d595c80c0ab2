// Sampling text from any SequenceModel: feed the prompt, then repeatedly draw the next token from
// the model's log-probabilities (sharpened or flattened by a temperature, optionally cut to the
// top k and the top-p nucleus) and feed it back, handing each token out as it is drawn. All randomness comes from the Rng passed in, so a seed reproduces a
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
  /** Tokens to generate after the prompt (at most: a stop ends it sooner). */
  length: number;
  /** 0: greedy (always the most likely token); 1: the model's distribution; > 1 flatter, < 1 sharper. */
  temperature: number;
  /** Draw only among the k most likely tokens; 0 or absent: all of them. */
  topK?: number;
  /**
   * Nucleus sampling: draw only among the most likely tokens whose probabilities (after the
   * temperature and top-k) add up to at least p; 1 or absent: all of them. p → 0 keeps only the most likely.
   */
  topP?: number;
  rng: Rng;
  /**
   * Called with each generated token as soon as it is drawn, before the next one is computed (to
   * stream it out). Returning true ends the sample after this token.
   */
  onToken?: (id: number) => unknown;
  /** Tokens that end the sample when drawn (not included in it): e.g. end-of-text. */
  stopIds?: readonly number[];
  /** false: continue from the model's current sampling state instead of a fresh one (default true). */
  reset?: boolean;
}

/**
 * The next token from log-probabilities: argmax at temperature 0 (ties go to the lowest id),
 * otherwise a draw from softmax(logp / temperature) restricted to the top k, then to the top-p
 * nucleus (the fewest most likely tokens holding at least p of the remaining probability; ties
 * at the edge go to the lower id, so p → 0 is greedy).
 */
export function pickToken(logp: Float64Array, temperature: number, topK: number, rng: Rng, topP = 1): number {
  const V = logp.length;
  if (V === 0) throw new RangeError('pickToken: empty distribution');
  if (!(temperature >= 0)) throw new RangeError(`temperature must be ≥ 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
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
  if (topP < 1) total = nucleus(w, total, topP);
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

/** Zeroes the weights outside the top-p nucleus of `w` (summing to `total`); returns the kept total. */
function nucleus(w: Float64Array, total: number, p: number): number {
  const order: number[] = [];
  for (let j = 0; j < w.length; j++) if (w[j] > 0) order.push(j);
  order.sort((a, b) => w[b] - w[a] || a - b);
  let kept = 0, n = 0;
  while (n < order.length && (n === 0 || kept < p * total)) kept += w[order[n++]];
  for (let i = n; i < order.length; i++) w[order[i]] = 0;
  return kept;
}

/**
 * Feeds `prompt` and returns up to `length` generated token ids (fewer when a stop id is drawn or
 * onToken asks to stop). With `reset: false` and an empty prompt it continues from the sampling
 * state the model has (e.g. after a warm-up).
 */
export function sampleTokens(model: SequenceModel, prompt: number[], opts: SampleOptions): number[] {
  const reset = opts.reset ?? true;
  if (prompt.length === 0 && reset) throw new RangeError('sampling needs a prompt of at least one token');
  if (reset) model.resetSampling();
  const out: number[] = [];
  let logp = model.nextLogProbs(prompt);
  const next = [0];
  const stops = opts.stopIds ?? [];
  for (let i = 0; i < opts.length; i++) {
    const id = pickToken(logp, opts.temperature, opts.topK ?? 0, opts.rng, opts.topP ?? 1);
    if (stops.includes(id)) break;
    out.push(id);
    if (opts.onToken?.(id) === true) break;
    if (i + 1 < opts.length) {
      next[0] = id;
      logp = model.nextLogProbs(next);
    }
  }
  return out;
}

/**
 * Warms a recurrent model's sampling state without a prompt of the user's: generates from a fresh
 * state until at least `minTokens` have passed and the last one is `breakId` (a line break), then
 * feeds it. A recurrent model trained on consecutive windows with carried state has almost never
 * seen a zero state, so its first characters from one are noise; after a burn-in on its own text
 * the state reads like the middle of the corpus, at the start of a line. Gives up waiting for a
 * break after `maxTokens` and feeds one anyway. Draws from `rng` (a seed reproduces it).
 */
export function warmUpBySampling(model: SequenceModel, breakId: number, opts: Omit<SampleOptions, 'length' | 'onToken' | 'reset'> &
  { minTokens?: number; maxTokens?: number }): void {
  const min = opts.minTokens ?? 200, max = opts.maxTokens ?? 1000;
  let n = 0;
  sampleTokens(model, [breakId], { ...opts, length: max, stopIds: [], onToken: (id) => ++n >= min && id === breakId });
  model.nextLogProbs([breakId]);
}
