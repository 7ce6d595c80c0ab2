// Position embeddings, added to the token embeddings of a batch-major [B, T, C] activation:
//
//   learned     (GPT-2):  x[b, t, :] += P[start + t, :]    P: [context, C], a parameter, N(0, std²)
//   sinusoidal  (Vaswani et al. 2017):  the same add with a fixed table,
//               P[p, 2i] = sin(p / 10000^(2i/C)),  P[p, 2i+1] = cos(p / 10000^(2i/C)); no parameters.
//
// Backward (learned): dP[start + t, :] += Σ_b dx[b, t, :]  (one axpy per sequence of the batch);
// the gradient to x itself passes through unchanged (it is an add), so the caller keeps it.
// `start` is the position of the first row: 0 in training, the cache length when decoding.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';

export type PositionKind = 'learned' | 'sinusoidal';
export const POSITION_KINDS: readonly PositionKind[] = ['learned', 'sinusoidal'];

export interface PositionalOptions {
  kind?: PositionKind;
  /** Std of the learned table's N(0, std²) init (default 0.02, as GPT-2). */
  std?: number;
}

/** The sinusoidal table [context, C] as plain numbers. */
export function sinusoidalTable(context: number, dim: number): Float64Array {
  const out = new Float64Array(context * dim);
  for (let p = 0; p < context; p++) {
    for (let i = 0; i < dim; i += 2) {
      const angle = p / Math.pow(10000, i / dim);
      out[p * dim + i] = Math.sin(angle);
      if (i + 1 < dim) out[p * dim + i + 1] = Math.cos(angle);
    }
  }
  return out;
}

export class Positional {
  readonly kind: PositionKind;
  /** The learned table [context, C], or null for sinusoidal. */
  readonly table: Param | null;
  /** What is added: the learned table's value, or the fixed sinusoidal table. */
  private readonly values: Tensor;

  constructor(private readonly ops: Ops, name: string, readonly context: number, readonly dim: number, rng: Rng,
    opts: PositionalOptions = {}) {
    this.kind = opts.kind ?? 'learned';
    if (!POSITION_KINDS.includes(this.kind)) throw new RangeError(`positional: unknown kind '${this.kind}' (expected ${POSITION_KINDS.join(' or ')})`);
    if (this.kind === 'learned') {
      this.table = makeParam(ops, `${name}.table`, [context, dim], { kind: 'normal', std: opts.std ?? 0.02 }, rng);
      this.values = this.table.value;
    } else {
      this.table = null;
      this.values = ops.tensorFrom(sinusoidalTable(context, dim));
    }
  }

  get params(): Param[] {
    return this.table ? [this.table] : [];
  }

  private check(T: number, start: number): void {
    if (start < 0 || start + T > this.context) {
      throw new RangeError(`positional: positions ${start}..${start + T - 1} exceed the context length ${this.context}`);
    }
  }

  /** x [B, T, C] += P[start … start+T) for every sequence b (in place). */
  forward(x: Tensor, B: number, T: number, start = 0): void {
    this.check(T, start);
    const C = this.dim, p = this.values.view(start * C, T * C);
    for (let b = 0; b < B; b++) {
      const xb = x.view(b * T * C, T * C);
      this.ops.add(xb, p, xb);
    }
  }

  /** dP[start … start+T) += Σ_b dx[b] (accumulates; nothing for sinusoidal). */
  backward(dx: Tensor, B: number, T: number, start = 0): void {
    if (!this.table) return;
    this.check(T, start);
    const C = this.dim, dp = this.table.grad.view(start * C, T * C);
    for (let b = 0; b < B; b++) this.ops.axpy(1, dx.view(b * T * C, T * C), dp);
  }
}
