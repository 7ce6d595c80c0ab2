// KV-cached sampling over a window of at most `context` tokens, shared by the transformers.
// New tokens that fit go through the layers alone (the caches hold the earlier positions); when the
// window would overflow it slides: every cache is rebuilt from the last `context` tokens at
// positions 0… (learned absolute positions cannot be shifted), so once full each new token costs one
// recompute of the window — exact, and the same logits as an uncached forward over that window.
import type { IntTensor, Tensor } from '../ops/types.js';
import { logSoftmaxRow } from './sample.js';

/**
 * Runs the model on ids[0 … n) at positions pos … pos+n−1 of one sequence, appending to (pos > 0)
 * or restarting (pos = 0) its caches; returns the logits [n, V].
 */
export type CachedForward = (ids: IntTensor, n: number, pos: number) => Tensor;

export class CachedWindow {
  private window: number[] = [];
  /** The longest window used: the model's context, or less (limit()). */
  private length: number;

  constructor(readonly context: number, readonly vocab: number, private readonly ids: IntTensor) {
    this.length = context;
  }

  /**
   * Slides windows of at most `n` tokens (≤ context) from now on: a model trained on windows of n
   * has never trained its position rows n and beyond (learned positions stay at their random
   * init), so sampling must not reach them. Starts a fresh window.
   */
  limit(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`sampling window must be an integer ≥ 1, got ${n}`);
    this.length = Math.min(n, this.context);
    this.window = [];
  }

  /** The longest window sampling uses. */
  get windowLength(): number {
    return this.length;
  }

  /** Log-probabilities of the next token after feeding `tokens` (already checked by the caller). */
  next(tokens: number[], forward: CachedForward): Float64Array {
    const V = this.vocab, ctx = this.length;
    if (tokens.length === 0 && this.window.length === 0) return new Float64Array(V).fill(-Math.log(V));
    let logits: Tensor, rows: number;
    if (this.window.length + tokens.length <= ctx) {
      if (tokens.length === 0) {
        // No new tokens: recompute the last position's logits from the window (cheap enough, rare).
        const w = this.window;
        this.window = [];
        return this.next(w, forward);
      }
      const pos = this.window.length;
      rows = tokens.length;
      const ids = this.ids.view(0, rows);
      ids.data.set(tokens);
      logits = forward(ids, rows, pos);
      this.window.push(...tokens);
    } else {
      this.window = [...this.window, ...tokens].slice(-ctx);
      rows = this.window.length;
      const ids = this.ids.view(0, rows);
      ids.data.set(this.window);
      logits = forward(ids, rows, 0);
    }
    // Only the last row: on a GPU `.data` of that view moves V floats, not the window's logits.
    return logSoftmaxRow(logits.view((rows - 1) * V, V).data, 0, V);
  }

  reset(): void {
    this.window = [];
  }
}
