// Sparse Mixture-of-Experts feed-forward layer (Shazeer et al. 2017; GShard; Switch Transformer),
// on x [n, C]. E experts, each a SwiGLU FeedForward [C → F → C] (src/layers/feedforward.ts).
//
// Forward:
//   logits = x·Wr                  [n, E]   router (Linear C→E, no bias)
//   p      = softmax(logits)       [n, E]
//   top-k  (k = 1 or 2): each token picks the k experts with the largest p (ties: lower index).
//   gates  renormalised: g_j = p_j / Σ_{chosen} p   (default for k = 2)
//          raw:          g_j = p_j                  (default for k = 1: a renormalised top-1 gate
//          is the constant 1 and the router would learn nothing from the task; Switch uses p)
//   dispatch: the (token, expert) assignments are grouped per expert into one contiguous buffer
//          xd [S, C]; expert e runs ONE batched forward on its rows only; an expert chosen by no
//          token is never run.
//   combine: y[t] = Σ_{kept assignments (t,e)} g · expert_e(x[t])
//
// Capacity (capacityFactor = c; null = dropless, the default): each expert keeps at most
//   capacity = ceil(c · n · k / E) assignments. Priority: first choices before second choices
//   (all tokens' first choices are placed, then the second choices), and within a rank, earlier
//   tokens (lower row index) first. A dropped assignment contributes zero output (the token still
//   gets its other expert, if kept; a token dropped everywhere gets y = 0, the residual carries it).
//   Gates are NOT renormalised again after dropping.
//
// Auxiliary losses (added to `auxLoss`; their gradient is part of backward()):
//   balance = α · E · Σ_i f_i · P_i,  f_i = (# tokens choosing i among their top-k, before
//             dropping) / (n·k), P_i = mean_t p[t,i]. f is a count (no gradient); dP flows.
//             A uniform router gives α.   dp[t,i] += α·E·f_i / n
//   z-loss  = β · mean_t lse_t²,  lse_t = logsumexp(logits[t,:]).   dlogits[t,i] += 2β·lse_t·p[t,i] / n
//
// Backward, given dy [n, C] (slot s = assignment (t, e) with gate g, expert output o_s):
//   dO_s = g · dy[t];  dg_s = dy[t] · o_s
//   experts: dxd = expert_e.backward(xd_e, dO_e);  dx[t] += dxd_s (scatter)
//   renormalised gates: dp_i = (dg_i − Σ_j dg_j g_j) / Σ_{chosen} p  for chosen i;  raw: dp_i = dg_i
//   dlogits = softmaxBackward(p, dp) + z-loss term;  dWr += xᵀ·dlogits;  dx += dlogits·Wrᵀ
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { FeedForward } from './feedforward.js';
import { RowBuffer } from './buffer.js';

export interface MoeOptions {
  /** Experts per token, 1 or 2 (default 2). */
  topK?: 1 | 2;
  /** Renormalise the chosen gates to sum to 1 (default: topK > 1). */
  renormalize?: boolean;
  /** null (default): dropless. Otherwise capacity = ceil(factor · n · k / E) per expert. */
  capacityFactor?: number | null;
  /** Load-balancing loss coefficient α (default 0: off). */
  balanceCoef?: number;
  /** Router z-loss coefficient β (default 0: off). */
  zLossCoef?: number;
  /** Init of the router and the experts' input projections (default Xavier). */
  init?: Init;
}

/** Counters for statistics; cumulative since construction or resetCounters(). */
export interface MoeCounters {
  /** Multiply-adds executed by the experts in forward passes (3·C·F per kept assignment). */
  expertForwardMacs: number;
  /** Multiply-adds executed by the experts in backward passes (6·C·F per kept assignment). */
  expertBackwardMacs: number;
  /** Kept assignments per expert (tokens each expert actually processed). */
  tokensPerExpert: Float64Array;
  /** Assignments per expert before capacity dropping. */
  routedPerExpert: Float64Array;
  /** Assignments dropped for capacity. */
  dropped: number;
  /** Forward passes counted. */
  forwards: number;
}

export class MixtureOfExperts {
  readonly router: Linear;
  readonly experts: FeedForward[];
  readonly topK: 1 | 2;
  readonly renormalize: boolean;
  readonly capacityFactor: number | null;
  readonly balanceCoef: number;
  readonly zLossCoef: number;
  /** Auxiliary losses of the last forward pass (already multiplied by α and β). */
  balanceLoss = 0;
  zLoss = 0;
  get auxLoss(): number { return this.balanceLoss + this.zLoss; }
  /** Per expert, the kept assignments of the last forward pass. */
  lastCounts: Int32Array;
  counters!: MoeCounters;

  // Saved by forward: logits/probs [n, E]; per slot (grouped by expert) the token, gate and the
  // chosen-set sum; per token its slots.
  private readonly logits: RowBuffer;
  private readonly probs: RowBuffer;
  private readonly dprobs: RowBuffer;
  private readonly xd: RowBuffer;   // [n·k, C] dispatched inputs
  private readonly od: RowBuffer;   // [n·k, C] expert outputs
  private readonly dod: RowBuffer;  // [n·k, C] their gradients
  private readonly dxd: RowBuffer;  // [n·k, C] input gradients of the dispatched rows
  private n = 0;
  private chosen = new Int32Array(0);     // [n, k] chosen experts, by rank
  private gate = new Float64Array(0);     // [n, k] gates
  private chosenSum = new Float64Array(0); // [n] Σ_{chosen} p
  private slotOf = new Int32Array(0);     // [n, k] slot index, −1 if dropped
  private slotToken = new Int32Array(0);  // [S]
  private offsets = new Int32Array(0);    // [E + 1] slot offsets per expert
  private frac = new Float64Array(0);     // [E] f_i of the balance loss

  constructor(private readonly ops: Ops, name: string, readonly dim: number, readonly hidden: number,
    readonly numExperts: number, rng: Rng, opts: MoeOptions = {}) {
    this.topK = opts.topK ?? 2;
    if (this.topK !== 1 && this.topK !== 2) throw new RangeError(`moe: topK must be 1 or 2, got ${this.topK}`);
    if (numExperts < this.topK) throw new RangeError(`moe: ${numExperts} experts is fewer than topK = ${this.topK}`);
    this.renormalize = opts.renormalize ?? this.topK > 1;
    this.capacityFactor = opts.capacityFactor ?? null;
    if (this.capacityFactor !== null && !(this.capacityFactor > 0)) throw new RangeError('moe: capacityFactor must be > 0');
    this.balanceCoef = opts.balanceCoef ?? 0;
    this.zLossCoef = opts.zLossCoef ?? 0;
    const init = opts.init ?? { kind: 'xavier' };
    this.router = new Linear(ops, `${name}.router`, dim, numExperts, rng, { bias: false, init });
    this.experts = Array.from({ length: numExperts },
      (_, e) => new FeedForward(ops, `${name}.expert${e}`, dim, hidden, rng, { kind: 'swiglu', init }));
    this.logits = new RowBuffer(ops, numExperts);
    this.probs = new RowBuffer(ops, numExperts);
    this.dprobs = new RowBuffer(ops, numExperts);
    this.xd = new RowBuffer(ops, dim);
    this.od = new RowBuffer(ops, dim);
    this.dod = new RowBuffer(ops, dim);
    this.dxd = new RowBuffer(ops, dim);
    this.lastCounts = new Int32Array(numExperts);
    this.resetCounters();
  }

  get params(): Param[] {
    return [...this.router.params, ...this.experts.flatMap((e) => e.params)];
  }

  resetCounters(): void {
    const E = this.numExperts;
    this.counters = {
      expertForwardMacs: 0, expertBackwardMacs: 0, tokensPerExpert: new Float64Array(E),
      routedPerExpert: new Float64Array(E), dropped: 0, forwards: 0,
    };
  }

  /** Each expert's share of the kept assignments counted so far (sums to 1; zeros before any). */
  tokenShares(): Float64Array {
    const t = this.counters.tokensPerExpert;
    const total = t.reduce((a, b) => a + b, 0);
    return t.map((v) => (total > 0 ? v / total : 0));
  }

  /**
   * The smallest gap, over the last forward's tokens, between the k-th and (k+1)-th largest router
   * logit (Infinity when E = k). Top-k is piecewise: a finite-difference check is only valid while
   * perturbations move no logit by more than half this gap.
   */
  routingMargin(): number {
    const E = this.numExperts, k = this.topK, lg = this.logits.rows(this.n).data;
    if (E <= k) return Infinity;
    let margin = Infinity;
    for (let t = 0; t < this.n; t++) {
      const row = Array.from({ length: E }, (_, e) => lg[t * E + e]).sort((a, b) => b - a);
      margin = Math.min(margin, row[k - 1] - row[k]);
    }
    return margin;
  }

  /** Per-expert capacity for a batch of n rows (Infinity when dropless). */
  capacity(n: number): number {
    return this.capacityFactor === null ? Infinity : Math.ceil(this.capacityFactor * n * this.topK / this.numExperts);
  }

  /** x: [n, C] → y: [n, C] (overwrites). Sets balanceLoss and zLoss. */
  forward(x: Tensor, y: Tensor, n: number): void {
    const { ops, numExperts: E, topK: k, dim: C } = this;
    this.n = n;
    const logitsT = this.logits.rows(n), probsT = this.probs.rows(n);
    this.router.forward(x, logitsT, n);
    ops.softmax(logitsT, probsT, n, E);
    if (this.chosen.length < n * k) {
      this.chosen = new Int32Array(n * k); this.gate = new Float64Array(n * k); this.slotOf = new Int32Array(n * k);
      this.slotToken = new Int32Array(n * k); this.chosenSum = new Float64Array(n);
    }
    this.offsets = new Int32Array(E + 1);
    this.frac = new Float64Array(E);
    const xdT = this.xd.rows(n * k), odT = this.od.rows(n * k);
    const p = probsT.data, lg = logitsT.data;

    // Top-k and gates.
    for (let t = 0; t < n; t++) {
      let b0 = 0;
      for (let e = 1; e < E; e++) if (p[t * E + e] > p[t * E + b0]) b0 = e;
      this.chosen[t * k] = b0;
      let sum = p[t * E + b0];
      if (k === 2) {
        let b1 = b0 === 0 ? 1 : 0;
        for (let e = b1 + 1; e < E; e++) if (e !== b0 && p[t * E + e] > p[t * E + b1]) b1 = e;
        this.chosen[t * k + 1] = b1;
        sum += p[t * E + b1];
      }
      this.chosenSum[t] = sum;
      for (let r = 0; r < k; r++) {
        const pe = p[t * E + this.chosen[t * k + r]];
        this.gate[t * k + r] = this.renormalize ? pe / sum : pe;
        this.frac[this.chosen[t * k + r]] += 1 / (n * k);
      }
    }

    // Capacity: rank-major, then token order. counts = kept assignments per expert.
    const cap = this.capacity(n);
    const counts = new Int32Array(E);
    let dropped = 0;
    for (let r = 0; r < k; r++) {
      for (let t = 0; t < n; t++) {
        const e = this.chosen[t * k + r];
        this.counters.routedPerExpert[e]++;
        if (counts[e] < cap) { this.slotOf[t * k + r] = counts[e]++; } else { this.slotOf[t * k + r] = -1; dropped++; }
      }
    }
    for (let e = 0; e < E; e++) this.offsets[e + 1] = this.offsets[e] + counts[e];
    for (let i = 0; i < n * k; i++) {
      if (this.slotOf[i] < 0) continue;
      const t = (i / k) | 0, e = this.chosen[i];
      const s = this.offsets[e] + this.slotOf[i];
      this.slotOf[i] = s;
      this.slotToken[s] = t;
    }

    // Dispatch: gather rows into xd, grouped by expert.
    const S = this.offsets[E];
    {
      const xs = x.data, xdd = xdT.data;
      for (let s = 0; s < S; s++) {
        const t = this.slotToken[s];
        for (let c = 0; c < C; c++) xdd[s * C + c] = xs[t * C + c];
      }
    }
    // One batched forward per used expert.
    for (let e = 0; e < E; e++) {
      const cnt = counts[e];
      if (cnt === 0) continue;
      const off = this.offsets[e] * C;
      this.experts[e].forward(xdT.view(off, cnt * C), odT.view(off, cnt * C), cnt);
    }
    // Combine.
    ops.fill(y, 0);
    {
      const yd = y.data, o = odT.data;
      for (let i = 0; i < n * k; i++) {
        const s = this.slotOf[i];
        if (s < 0) continue;
        const t = (i / k) | 0, g = this.gate[i];
        for (let c = 0; c < C; c++) yd[t * C + c] += g * o[s * C + c];
      }
    }

    // Auxiliary losses (re-read the views: an expert's first forward may have moved memory).
    const p2 = probsT.data, lg2 = logitsT.data;
    let bal = 0;
    for (let e = 0; e < E; e++) {
      let P = 0;
      for (let t = 0; t < n; t++) P += p2[t * E + e];
      bal += this.frac[e] * (P / n);
    }
    this.balanceLoss = this.balanceCoef * E * bal;
    let z = 0;
    if (this.zLossCoef !== 0) for (let t = 0; t < n; t++) { const l = lse(lg2, t * E, E); z += l * l; }
    this.zLoss = this.zLossCoef * z / n;

    // Counters.
    this.lastCounts = counts;
    for (let e = 0; e < E; e++) this.counters.tokensPerExpert[e] += counts[e];
    this.counters.expertForwardMacs += 3 * C * this.hidden * S;
    this.counters.dropped += dropped;
    this.counters.forwards++;
  }

  /**
   * Given the forward input x [n, C] and dy = dL/dy [n, C]: accumulates every parameter gradient,
   * including those of the auxiliary losses (the total loss is L(y) + auxLoss), and writes dx
   * (or adds it, with accumulateDx).
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, n: number, accumulateDx = false): void {
    const { ops, numExperts: E, topK: k, dim: C } = this;
    if (n !== this.n) throw new RangeError(`moe backward: n = ${n} but the last forward had ${this.n}`);
    const S = this.offsets[E];
    const odT = this.od.rows(n * k), dodT = this.dod.rows(n * k), dxdT = this.dxd.rows(n * k), xdT = this.xd.rows(n * k);
    const probsT = this.probs.rows(n), dpT = this.dprobs.rows(n), logitsT = this.logits.rows(n);
    // dO_s = g · dy[t];  dg = dy[t] · o_s.
    const dgate = new Float64Array(n * k);
    {
      const dyd = dy.data, o = odT.data, dO = dodT.data;
      for (let i = 0; i < n * k; i++) {
        const s = this.slotOf[i];
        if (s < 0) continue;
        const t = (i / k) | 0, g = this.gate[i];
        let dot = 0;
        for (let c = 0; c < C; c++) { const d = dyd[t * C + c]; dO[s * C + c] = g * d; dot += d * o[s * C + c]; }
        dgate[i] = dot;
      }
    }
    // Experts.
    for (let e = 0; e < E; e++) {
      const cnt = this.offsets[e + 1] - this.offsets[e];
      if (cnt === 0) continue;
      const off = this.offsets[e] * C;
      this.experts[e].backward(xdT.view(off, cnt * C), dodT.view(off, cnt * C), dxdT.view(off, cnt * C), cnt);
    }
    this.counters.expertBackwardMacs += 6 * C * this.hidden * S;
    // Scatter dx.
    if (!accumulateDx) ops.fill(dx, 0);
    {
      const dxs = dx.data, dxd = dxdT.data;
      for (let s = 0; s < S; s++) {
        const t = this.slotToken[s];
        for (let c = 0; c < C; c++) dxs[t * C + c] += dxd[s * C + c];
      }
    }
    // dp from the gates and the balance loss.
    ops.fill(dpT, 0);
    const dp = dpT.data, p = probsT.data;
    for (let t = 0; t < n; t++) {
      if (this.renormalize) {
        let sgd = 0;
        for (let r = 0; r < k; r++) sgd += dgate[t * k + r] * this.gate[t * k + r];
        for (let r = 0; r < k; r++) dp[t * E + this.chosen[t * k + r]] += (dgate[t * k + r] - sgd) / this.chosenSum[t];
      } else {
        for (let r = 0; r < k; r++) dp[t * E + this.chosen[t * k + r]] += dgate[t * k + r];
      }
    }
    if (this.balanceCoef !== 0) {
      for (let e = 0; e < E; e++) {
        const d = this.balanceCoef * E * this.frac[e] / n;
        for (let t = 0; t < n; t++) dp[t * E + e] += d;
      }
    }
    // dlogits (in place over dp) = softmax backward + z-loss term.
    ops.softmaxBackward(probsT, dpT, dpT, n, E);
    if (this.zLossCoef !== 0) {
      const dl = dpT.data, lg = logitsT.data, pp = probsT.data;
      for (let t = 0; t < n; t++) {
        const f = 2 * this.zLossCoef * lse(lg, t * E, E) / n;
        for (let e = 0; e < E; e++) dl[t * E + e] += f * pp[t * E + e];
      }
    }
    this.router.backward(x, dpT, dx, n, true);
  }
}

function lse(v: ArrayLike<number>, off: number, len: number): number {
  let m = -Infinity;
  for (let i = 0; i < len; i++) if (v[off + i] > m) m = v[off + i];
  let s = 0;
  for (let i = 0; i < len; i++) s += Math.exp(v[off + i] - m);
  return m + Math.log(s);
}
