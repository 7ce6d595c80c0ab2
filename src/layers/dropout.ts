// Dropout (inverted): in training, each element survives with probability 1 − p and is scaled by
// 1/(1 − p), so the expected activation is unchanged and nothing needs rescaling at evaluation:
//
//   forward:   y = x ⊙ m        m[i] = 1/(1−p) with probability 1−p, else 0   (a fresh m per call)
//   backward:  dx = dy ⊙ m      (the same m: the gradient flows only where the element survived)
//   eval:      y = x            (train = false, or p = 0: no mask, nothing drawn)
//
// The mask is drawn on the host from the seeded Rng the model was built with (so a run is
// reproducible, and a resumed run draws the masks the uninterrupted one would have: the trainer
// saves that Rng's state) and applied with the backends' elementwise product, ops.mul, so every
// backend runs it without a kernel of its own.
//
// One Dropout object serves one site of a model and keeps the mask of its last forward for the
// backward. freeze() keeps that mask for every later forward too: a gradient check compares
// finite differences of the loss, which only works when each evaluation drops the same elements.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RowBuffer } from './buffer.js';

export class Dropout {
  private readonly mask: RowBuffer;
  /** Elements the last forward multiplied by the mask (0: it dropped nothing). */
  private drawn = 0;
  /** Elements of the mask that hold a draw (a frozen mask is reused while the size stays). */
  private maskSize = 0;
  private frozen = false;
  /** The last seedFor() draw (reused while frozen). */
  private seed = 0;
  private seeded = false;

  /** `width`: the row length of what passes through (the mask grows by rows, as the activations do). */
  constructor(private readonly ops: Ops, readonly p: number, private readonly rng: Rng, width: number) {
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout must be in [0, 1), got ${p}`);
    this.mask = new RowBuffer(ops, width);
  }

  /** Whether a forward with this `train` flag drops anything. */
  active(train: boolean): boolean {
    return train && this.p > 0;
  }

  /**
   * y = x ⊙ m over n rows when active (y may alias x), else y = x (copied unless y is x). Draws a
   * fresh mask unless frozen.
   */
  forward(x: Tensor, y: Tensor, n: number, train: boolean): void {
    if (!this.active(train)) {
      this.drawn = 0;
      if (y !== x) this.ops.copy(x, y);
      return;
    }
    const m = this.mask.rows(n);
    if (!this.frozen || this.maskSize !== m.size) {
      const data = m.data, keep = 1 - this.p, scale = 1 / keep;
      for (let i = 0; i < data.length; i++) data[i] = this.rng.next() < keep ? scale : 0;
      this.maskSize = m.size;
    }
    this.drawn = m.size;
    this.ops.mul(x, m, y);
  }

  /**
   * dx = dy ⊙ m with the last forward's mask (dx += … when accumulate), or dy passed on when that
   * forward dropped nothing. dx may alias dy when not accumulating.
   */
  backward(dy: Tensor, dx: Tensor, accumulate = false): void {
    if (this.drawn === 0) {
      if (accumulate) this.ops.axpy(1, dy, dx);
      else if (dx !== dy) this.ops.copy(dy, dx);
      return;
    }
    if (dy.size !== this.drawn) throw new RangeError(`dropout backward: ${dy.size} gradients for a mask of ${this.drawn}`);
    this.ops.mul(dy, this.mask.rows(this.drawn / this.mask.cols), dx, accumulate);
  }

  /**
   * A uint32 seed for a mask that a fused kernel regenerates from a hash instead of reading it
   * (dropout on the attention probabilities: AttentionShape.dropoutSeed), with this site's p: a
   * fresh draw from the same Rng per training forward, the last one again while frozen (so a
   * gradient check sees one mask). Call only when active(train).
   */
  seedFor(): number {
    if (!this.frozen || !this.seeded) {
      this.seed = Math.floor(this.rng.next() * 0x100000000) >>> 0;
      this.seeded = true;
    }
    return this.seed;
  }

  /** Keeps the current mask (and seedFor()'s seed) for later forwards of the same size (gradient checks); unfreeze() draws again. */
  freeze(): void {
    this.frozen = true;
  }

  unfreeze(): void {
    this.frozen = false;
  }
}
