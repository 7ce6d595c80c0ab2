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
//
// The swiglu gate runs as the fused swiglu op (one pass: g from h1 and h3, and in backward dh1 and
// dh3 from h1, h3 and dg) instead of silu, then a product (forward) and two products then silu's
// derivative (backward): half the memory traffic over [n, F], and silu(h1) is never stored. The op
// takes a row's a | b halves side by side; h1 and h3 are laid out as the first and second half of
// ONE buffer, [h1 (n·F) | h3 (n·F)], so the whole gate is a single "row" of n·F (likewise
// [dh1 | dh3]). It computes exactly the same products in the same order, bit for bit.
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
  // Saved activations. gelu, [n, F]: h1 = x·W1 + b1 and a = gelu(h1). swiglu: h13 [n, 2F] holds
  // h1 = x·W1 in its first n·F floats and h3 = x·W3 in its last n·F (see the top), and g = silu(h1) ⊙ h3 [n, F].
  private readonly h1: RowBuffer;
  private readonly a: RowBuffer;
  private readonly h13: RowBuffer;
  private readonly g: RowBuffer;
  // Backward scratch: dg [n, F]; gelu: dh1 [n, F]; swiglu: dh13 [n, 2F] = [dh1 | dh3] as h13.
  private readonly dg: RowBuffer;
  private readonly dh1: RowBuffer;
  private readonly dh13: RowBuffer;

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
    this.h1 = buf(); this.a = buf(); this.g = buf();
    this.dg = buf(); this.dh1 = buf();
    this.h13 = new RowBuffer(ops, 2 * hidden); this.dh13 = new RowBuffer(ops, 2 * hidden);
  }

  get params(): Param[] {
    return [...this.W1.params, ...(this.W3 ? this.W3.params : []), ...this.W2.params];
  }

  /** x: [n, C] → y: [n, C] (overwrites). */
  forward(x: Tensor, y: Tensor, n: number): void {
    const { ops } = this;
    if (this.kind === 'gelu') {
      const h1 = this.h1.rows(n), a = this.a.rows(n);
      this.W1.forward(x, h1, n);
      ops.activation('gelu', h1, a);
      this.W2.forward(a, y, n);
      return;
    }
    const nF = n * this.hidden, h13 = this.h13.rows(n), g = this.g.rows(n);
    this.W1.forward(x, h13.view(0, nF), n);
    this.W3!.forward(x, h13.view(nF, nF), n);
    ops.swiglu(h13, g, 1, nF); // g = silu(h1) ⊙ h3
    this.W2.forward(g, y, n);
  }

  /**
   * Given the forward input x [n, C] and dy [n, C]: accumulates every parameter gradient and
   * writes dx = dL/dx (or adds it, with accumulateDx).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, n: number, accumulateDx = false): void {
    const { ops } = this;
    const dg = this.dg.rows(n);
    if (this.kind === 'gelu') {
      const h1 = this.h1.rows(n), a = this.a.rows(n), dh1 = this.dh1.rows(n);
      this.W2.backward(a, dy, dg, n); // dg = da here
      ops.activationBackward('gelu', h1, a, dg, dh1);
      this.W1.backward(x, dh1, dx, n, accumulateDx);
      return;
    }
    const nF = n * this.hidden, h13 = this.h13.rows(n), g = this.g.rows(n), dh13 = this.dh13.rows(n);
    this.W2.backward(g, dy, dg, n);
    // dh1 = dg ⊙ h3 ⊙ silu'(h1), dh3 = dg ⊙ silu(h1)
    ops.swigluBackward(h13, dg, dh13, 1, nF);
    this.W1.backward(x, dh13.view(0, nF), dx, n, accumulateDx);
    this.W3!.backward(x, dh13.view(nF, nF), dx, n, true);
  }
}
