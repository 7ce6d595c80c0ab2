// Normalisation over the last dimension of an [n, C] activation, with a learned gain gamma [C]
// (and, for LayerNorm, a learned shift beta [C]).
//
//   layernorm:  y = (x − μ) · rstd · gamma + beta,   rstd = 1/√(var(x) + eps)       (ops.layerNorm)
//   rmsnorm:    y = x · rstd · gamma,                rstd = 1/√(mean(x²) + eps)      (composed, below)
//
// RMSNorm (Zhang & Sennrich 2019) is composed from existing ops so that no new kernel is needed:
// the per-row statistic comes from ops.mul + ops.sumCols, the n values of rstd are finished on the
// host, and row broadcasts (rstd over a row, gamma down the rows) are rank-1 gemms (k = 1) with a
// vector of ones. Backward, with x̂ = x·rstd:
//   dgamma += Σ_rows dy ⊙ x̂
//   dx̂      = dy ⊙ gamma
//   dx     += rstd · (dx̂ − x̂ · mean_c(dx̂ ⊙ x̂))
// Both backward passes ACCUMULATE into dx (a residual stream adds the branch's gradient to the
// skip path's) and into the parameter gradients.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { ones, zeros } from './init.js';
import { RowBuffer } from './buffer.js';

export type NormKind = 'layernorm' | 'rmsnorm';
export const NORM_KINDS: readonly NormKind[] = ['layernorm', 'rmsnorm'];

export interface NormOptions {
  kind?: NormKind;
  eps?: number;
}

export class Norm {
  readonly kind: NormKind;
  readonly eps: number;
  readonly gamma: Param;
  readonly beta: Param | null;
  /** Saved per row for the backward pass: μ (layernorm only) and rstd. */
  private readonly mean: RowBuffer;
  private readonly rstd: RowBuffer;
  // rmsnorm scratch: x̂ and the rank-1 broadcasts, [n, C]; a row statistic [n]; ones [C] and [n].
  private readonly xhat: RowBuffer;
  private readonly R: RowBuffer;
  private readonly G: RowBuffer;
  private readonly tmp: RowBuffer;
  private readonly stat: RowBuffer;
  private readonly onesRow: Tensor;
  private readonly onesCol: RowBuffer;
  private onesColRows = 0;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, rng: Rng, opts: NormOptions = {}) {
    this.kind = opts.kind ?? 'layernorm';
    if (!NORM_KINDS.includes(this.kind)) throw new RangeError(`norm: unknown kind '${this.kind}' (expected ${NORM_KINDS.join(' or ')})`);
    this.eps = opts.eps ?? 1e-5;
    this.gamma = makeParam(ops, `${name}.gamma`, [dim], ones, rng);
    this.beta = this.kind === 'layernorm' ? makeParam(ops, `${name}.beta`, [dim], zeros, rng) : null;
    this.mean = new RowBuffer(ops, 1);
    this.rstd = new RowBuffer(ops, 1);
    this.xhat = new RowBuffer(ops, dim);
    this.R = new RowBuffer(ops, dim);
    this.G = new RowBuffer(ops, dim);
    this.tmp = new RowBuffer(ops, dim);
    this.stat = new RowBuffer(ops, 1);
    this.onesRow = ops.tensor(dim);
    ops.fill(this.onesRow, 1);
    this.onesCol = new RowBuffer(ops, 1);
  }

  get params(): Param[] {
    return this.beta ? [this.gamma, this.beta] : [this.gamma];
  }

  private ones(n: number): Tensor {
    const t = this.onesCol.rows(n);
    if (n > this.onesColRows) { this.ops.fill(t, 1); this.onesColRows = n; }
    return t;
  }

  /** x: [n, C] → y: [n, C] (overwrites; y may not alias x). Saves the row statistics. */
  forward(x: Tensor, y: Tensor, n: number): void {
    const { ops, dim: C } = this;
    if (this.kind === 'layernorm') {
      ops.layerNorm(x, this.gamma.value, this.beta!.value, y, this.mean.rows(n), this.rstd.rows(n), n, C, this.eps);
      return;
    }
    // rmsnorm: stat[r] = Σ_c x², rstd = 1/√(stat/C + eps) (n values, on the host)
    const sq = this.tmp.rows(n), stat = this.stat.rows(n), rstd = this.rstd.rows(n);
    ops.mul(x, x, sq);
    ops.sumCols(sq, stat, n, C);
    const s = stat.data, r = rstd.data;
    for (let i = 0; i < n; i++) r[i] = 1 / Math.sqrt(s[i] / C + this.eps);
    const R = this.R.rows(n), G = this.G.rows(n), xhat = this.xhat.rows(n);
    ops.gemm(false, false, n, C, 1, 1, rstd, this.onesRow, 0, R); // R[r,c] = rstd[r]
    ops.gemm(false, false, n, C, 1, 1, this.ones(n), this.gamma.value, 0, G); // G[r,c] = gamma[c]
    ops.mul(x, R, xhat);
    ops.mul(xhat, G, y);
  }

  /**
   * Given x [n, C] (the forward input) and dy [n, C]: ACCUMULATES dx += dL/dx, gamma.grad and
   * beta.grad. Uses the statistics saved by the last forward() (which must have been on x).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, n: number): void {
    const { ops, dim: C } = this;
    if (this.kind === 'layernorm') {
      ops.layerNormBackward(x, this.gamma.value, this.mean.rows(n), this.rstd.rows(n), dy, dx,
        this.gamma.grad, this.beta!.grad, n, C);
      return;
    }
    const xhat = this.xhat.rows(n), R = this.R.rows(n), G = this.G.rows(n), tmp = this.tmp.rows(n);
    const stat = this.stat.rows(n);
    // dgamma += Σ_rows dy ⊙ x̂
    ops.mul(dy, xhat, tmp);
    ops.sumRows(tmp, this.gamma.grad, n, C);
    // dx̂ = dy ⊙ gamma (kept in G: the broadcast gamma is not needed after this)
    ops.mul(dy, G, G);
    // stat[r] = mean_c(dx̂ ⊙ x̂), broadcast into tmp, then tmp = x̂ ⊙ that
    ops.mul(G, xhat, tmp);
    ops.sumCols(tmp, stat, n, C);
    ops.scale(stat, 1 / C);
    ops.gemm(false, false, n, C, 1, 1, stat, this.onesRow, 0, tmp);
    ops.mul(tmp, xhat, tmp);
    // dx += rstd ⊙ (dx̂ − x̂·mean(dx̂⊙x̂))
    ops.axpy(-1, tmp, G);
    ops.mul(G, R, dx, true);
  }
}
