// Continuum memory system (Nested Learning, Behrouz et al. 2025): a spectrum of memories, each
// updated at its own frequency. Level l is a LinearMemory (linear-memory.ts) with its own
// projections and period C_l (default 1, 4, 16): it accumulates its inner gradients over a chunk of
// C_l steps, commits them at the chunk boundary, and reads its last committed state in between —
// fast levels track the last few tokens, slow levels hold what changes slowly.
//
//   y_l = LinearMemory_l(x)                       [B·T, dv]   l = 0 … L−1
//   y   = Σ_l y_l              (mix 'sum')
//   y   = Σ_l α_l y_l          (mix 'learned': α [L] a parameter, initialised to 1/L)
//
// Backward: dy_l = α_l dy (or dy), dα_l += ⟨y_l, dy⟩, and each level's BPTT (linear-memory.ts);
// the levels' dx add up.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { LinearMemory, type LinearMemoryOptions } from './linear-memory.js';
import { RowBuffer } from './buffer.js';

export interface ContinuumMemoryOptions extends Omit<LinearMemoryOptions, 'period'> {
  /** Update period of each level, fastest first (default [1, 4, 16]). */
  periods?: number[];
  /** Inner learning rate of each level (default: `eta` for every level). */
  etas?: number[];
  /** How the levels' outputs combine (default 'sum'). */
  mix?: 'sum' | 'learned';
}

export class ContinuumMemory {
  readonly levels: LinearMemory[];
  readonly periods: number[];
  /** α [L] when mix = 'learned'. */
  readonly alpha: Param | null;
  private readonly ys: RowBuffer[];
  private readonly dyl: RowBuffer;

  constructor(private readonly ops: Ops, name: string, readonly inDim: number, readonly dk: number, readonly dv: number,
    rng: Rng, opts: ContinuumMemoryOptions = {}) {
    this.periods = opts.periods ?? [1, 4, 16];
    if (this.periods.length === 0) throw new RangeError('continuum memory: at least one level');
    if (opts.etas && opts.etas.length !== this.periods.length) throw new RangeError('continuum memory: one eta per level');
    this.levels = this.periods.map((period, l) => new LinearMemory(ops, `${name}.level${l}`, inDim, dk, dv, rng,
      { ...opts, period, eta: opts.etas?.[l] ?? opts.eta }));
    const L = this.levels.length;
    this.alpha = opts.mix === 'learned' ? makeParam(ops, `${name}.alpha`, [L], { kind: 'constant', value: 1 / L }, rng) : null;
    this.ys = this.levels.map(() => new RowBuffer(ops, dv));
    this.dyl = new RowBuffer(ops, dv);
  }

  get params(): Param[] {
    const ps = this.levels.flatMap((l) => l.params);
    return this.alpha ? [...ps, this.alpha] : ps;
  }

  /** The output of level l in the last forward, [B·T, dv]. */
  levelOutput(l: number, n: number): Tensor { return this.ys[l].rows(n); }

  /** x: [B·T, inDim] → y: [B·T, dv] (overwrites). */
  forward(x: Tensor, y: Tensor, B: number, T: number): void {
    const n = B * T;
    this.ops.fill(y, 0);
    this.levels.forEach((level, l) => {
      const yl = this.ys[l].rows(n);
      level.forward(x, yl, B, T);
      this.ops.axpy(this.alpha ? this.alpha.value.data[l] : 1, yl, y);
    });
  }

  /** Accumulates every level's gradients (and dα); writes dx (or adds to it, with accumulateDx). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T, { ops } = this;
    const dyl = this.dyl.rows(n);
    this.levels.forEach((level, l) => {
      const yl = this.ys[l].rows(n);
      if (this.alpha) {
        const a = yl.data, g = dy.data;
        let s = 0;
        for (let i = 0; i < n * this.dv; i++) s += a[i] * g[i];
        this.alpha.grad.data[l] += s;
        ops.copy(dy, dyl);
        ops.scale(dyl, this.alpha.value.data[l]);
        level.backward(x, dyl, dx, B, T, accumulateDx || l > 0);
      } else {
        level.backward(x, dy, dx, B, T, accumulateDx || l > 0);
      }
    });
  }
}
