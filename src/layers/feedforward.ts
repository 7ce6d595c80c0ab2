// The position-wise feed-forward block of a transformer, on [n, C] rows (C = model width,
// F = hidden width):
//
//   swiglu (Shazeer 2020; LLaMA):  y = (silu(x·W1) ⊙ (x·W3)) · W2      W1, W3: [C, F], W2: [F, C], no biases
//   gelu   (GPT-2):                y = gelu(x·W1 + b1) · W2 + b2       W1: [C, F], W2: [F, C]
//
// Backward (swiglu), with h1 = x·W1, a = silu(h1), h3 = x·W3, g = a ⊙ h3:
//   dW2 += gᵀ·dy,  dg = dy·W2ᵀ
//   da = dg ⊙ h3,  dh3 = dg ⊙ a,  dh1 = da ⊙ silu'(h1)
//   dW1 += xᵀ·dh1, dW3 += xᵀ·dh3,  dx (+)= dh1·W1ᵀ + dh3·W3ᵀ
// Backward (gelu): dW2, db2, da = dy·W2ᵀ; dh = da ⊙ gelu'(h); dW1, db1, dx.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { RowBuffer } from './buffer.js';

export type FfnKind = 'swiglu' | 'gelu';
export const FFN_KINDS: readonly FfnKind[] = ['swiglu', 'gelu'];

export interface FeedForwardOptions {
  kind?: FfnKind;
  /** Init of the input projections (default Xavier). */
  init?: Init;
  /** Multiplies the output projection's initial weights (GPT-2: 1/√(2·layers) on residual branches). */
  outScale?: number;
}

export class FeedForward {
  readonly kind: FfnKind;
  readonly W1: Linear;
  /** The gate's second projection (swiglu only). */
  readonly W3: Linear | null;
  readonly W2: Linear;
  // Saved activations, [n, F]: h1 = x·W1 (+b1), a = act(h1), h3 = x·W3 and g = a ⊙ h3 (swiglu).
  private readonly h1: RowBuffer;
  private readonly a: RowBuffer;
  private readonly h3: RowBuffer;
  private readonly g: RowBuffer;
  // Backward scratch, [n, F].
  private readonly dg: RowBuffer;
  private readonly dh1: RowBuffer;
  private readonly dh3: RowBuffer;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, readonly hidden: number, rng: Rng,
    opts: FeedForwardOptions = {}) {
    this.kind = opts.kind ?? 'swiglu';
    if (!FFN_KINDS.includes(this.kind)) throw new RangeError(`feedforward: unknown kind '${this.kind}' (expected ${FFN_KINDS.join(' or ')})`);
    const bias = this.kind === 'gelu';
    const init = opts.init ?? { kind: 'xavier' };
    this.W1 = new Linear(ops, `${name}.W1`, dim, hidden, rng, { bias, init });
    this.W3 = this.kind === 'swiglu' ? new Linear(ops, `${name}.W3`, dim, hidden, rng, { bias, init }) : null;
    this.W2 = new Linear(ops, `${name}.W2`, hidden, dim, rng, { bias, init });
    if (opts.outScale !== undefined) ops.scale(this.W2.W.value, opts.outScale);
    const buf = () => new RowBuffer(ops, hidden);
    this.h1 = buf(); this.a = buf(); this.h3 = buf(); this.g = buf();
    this.dg = buf(); this.dh1 = buf(); this.dh3 = buf();
  }

  get params(): Param[] {
    return [...this.W1.params, ...(this.W3 ? this.W3.params : []), ...this.W2.params];
  }

  /** x: [n, C] → y: [n, C] (overwrites). */
  forward(x: Tensor, y: Tensor, n: number): void {
    const { ops } = this;
    const h1 = this.h1.rows(n), a = this.a.rows(n);
    this.W1.forward(x, h1, n);
    if (this.kind === 'gelu') {
      ops.activation('gelu', h1, a);
      this.W2.forward(a, y, n);
      return;
    }
    const h3 = this.h3.rows(n), g = this.g.rows(n);
    ops.activation('silu', h1, a);
    this.W3!.forward(x, h3, n);
    ops.mul(a, h3, g);
    this.W2.forward(g, y, n);
  }

  /**
   * Given the forward input x [n, C] and dy [n, C]: accumulates every parameter gradient and
   * writes dx = dL/dx (or adds it, with accumulateDx).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, n: number, accumulateDx = false): void {
    const { ops } = this;
    const h1 = this.h1.rows(n), a = this.a.rows(n), dg = this.dg.rows(n), dh1 = this.dh1.rows(n);
    if (this.kind === 'gelu') {
      this.W2.backward(a, dy, dg, n); // dg = da here
      ops.activationBackward('gelu', h1, a, dg, dh1);
      this.W1.backward(x, dh1, dx, n, accumulateDx);
      return;
    }
    const h3 = this.h3.rows(n), g = this.g.rows(n), dh3 = this.dh3.rows(n);
    this.W2.backward(g, dy, dg, n);
    ops.mul(dg, a, dh3); // dh3 = dg ⊙ a
    ops.mul(dg, h3, dg); // da = dg ⊙ h3 (in place)
    ops.activationBackward('silu', h1, a, dg, dh1);
    this.W1.backward(x, dh1, dx, n, accumulateDx);
    this.W3!.backward(x, dh3, dx, n, true);
  }
}
