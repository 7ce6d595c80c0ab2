// Sparse Mixture-of-Experts feed-forward layer (Shazeer et al. 2017; GShard; Switch Transformer),
// on x [n, C], written entirely against the ops interface: routing, dispatch, the experts and the
// combine are ops (no host loop over activations), so the same code runs on the reference, WASM
// and CUDA backends. E experts, each a SwiGLU FFN [C → F → C], stored STACKED for the grouped GEMM:
//   W13 [E, C, 2F]  row c of expert e holds the gate projection (F columns) then the up projection
//   W2  [E, F, C]
// Two Params whatever E, so the optimiser, checkpoints and gradient clipping see 2 tensors, not 2E.
//
// Forward:
//   logits = x·Wr                  [n, E]   router (Linear C→E, no bias)             gemm
//   probs, lse, topIdx, topGate             softmax, top-k (k = 1 or 2, ties: lower index) moeRoute
//   gates  renormalised: g_j = p_j / Σ_{chosen} p   (default for k = 2)
//          raw:          g_j = p_j                  (default for k = 1: a renormalised top-1 gate
//          is the constant 1 and the router would learn nothing from the task; Switch uses p)
//   plan:  assignments grouped by expert into n·k dispatched rows (offsets, slot, rowToken)  moePlan
//   xd  = x[rowToken]              [S, C]   S = kept assignments                     embedding (row gather)
//   gu  = xd · W13_e               [S, 2F]                                            groupedGemm nn
//   hd  = silu(gate) ⊙ up          [S, F]                                             swiglu
//   yd  = hd · W2_e                [S, C]                                             groupedGemm nn
//   y[t] = Σ_{kept (t,j)} g · yd[slot[t,j]]                                          moeCombine
// An expert chosen by no token owns an empty group: the grouped GEMM does no work for it and its
// weight gradient stays exactly zero.
//
// Capacity (capacityFactor = c; null = dropless, the default): each expert keeps at most
//   capacity = ceil(c · n · k / E) assignments. Priority: first choices before second choices,
//   and within a rank, earlier tokens first (moePlan). A dropped assignment contributes zero output
//   (the token still gets its other expert, if kept; a token dropped everywhere gets y = 0, the
//   residual carries it). Gates are NOT renormalised again after dropping.
//
// Auxiliary losses (added to `auxLoss`; their gradient is part of backward()):
//   balance = α · E · Σ_i f_i · P_i,  f_i = routed_i / (n·k) (before dropping; no gradient),
//             P_i = mean_t p[t,i].                      dp[t,i] += α·E·f_i / n  (balanceGrad [E])
//   z-loss  = β · mean_t lse_t².                        dlogits[t,i] += (2β/n)·lse_t·p[t,i]
// Both, balanceGrad and the per-expert kept/routed counts come from one op (ops.moeAuxLoss), into
// small tensors on the backend: a dropless training forward reads NOTHING back to the host (on a
// GPU it only enqueues launches). The losses and counts are read when asked for (auxLoss,
// lastCounts, counters): running totals accumulate on the backend and are folded into the host
// counters (float64) by syncCounters(), so int32 totals only have to span one read interval.
// With a capacity the forward still reads offsets[E] = S, the kept rows: the gather, swiglu and
// the scatter-add of dx must stop there (rows past S hold stale data the scatter would add to dx).
//
// Backward, given dy [n, C]:
//   dyd, dgate = moeCombineBackward                       dW2 += hdᵀ·dyd (tn), dhd = dyd·W2ᵀ (nt)
//   dgu = swigluBackward                                  dW13 += xdᵀ·dgu (tn), dxd = dgu·W13ᵀ (nt)
//   dx += scatter-add of dxd by rowToken (ops.embeddingBackward)
//   dlogits = moeRouteBackward(dgate, balanceGrad, zGrad); dWr += xᵀ·dlogits; dx += dlogits·Wrᵀ
//
// Recompute (option): the forward keeps only what routing needs (probs, lse, topIdx, topGate,
// slot, rowToken, offsets: O(E + k) per token) and the backward pass re-runs the gather, W13,
// swiglu and W2 from the layer input. The expert activations (xd, gu, hd, yd: k·(2C + 3F) floats
// per token) then live in ONE scratch set shared by every layer of a model (MoeScratch) instead of
// one set per layer: what makes an 8-layer, 8-expert model with F = 2C fit in a few GiB.
// Recompute on or off runs the same ops on the same inputs, so the gradients are bit-identical.
//
// Dense mode (`dense: true`): one SwiGLU FFN [C → F → C] on every token, through the same stacked
// parameters with E = 1 (plain gemms instead of the grouped GEMM), no router, gate 1, no aux
// losses. The 'moe-dense' baseline of the MoE transformer uses it with F = k · expertHidden
// (matched active parameters).
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { IntRowBuffer, RowBuffer } from './buffer.js';

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
  /** Init of the router (default Xavier). The experts use Xavier per C×F matrix. */
  init?: Init;
  /** Multiplies the W2 init (residual-branch output scaling, e.g. 1/√(2·layers)); default 1. */
  outScale?: number;
  /** Recompute the experts' forward inside backward instead of saving it (default false). */
  recompute?: boolean;
  /** One dense SwiGLU FFN instead of experts (E must be 1; no router). */
  dense?: boolean;
  /** Scratch shared with other layers of the same sizes (default: the layer makes its own). */
  scratch?: MoeScratch;
  /** Where the auxiliary losses and counts live on the backend (default: the layer's own). */
  stats?: MoeStatBuffers;
}

/** Counters for statistics; cumulative since construction or resetCounters(). */
export interface MoeCounters {
  /** Σ over the counted forwards of their auxiliary loss (balance + z). */
  auxLoss: number;
  /** Multiply-adds executed by the experts in forward passes (3·C·F per kept assignment). */
  expertForwardMacs: number;
  /** Multiply-adds executed by the experts in backward passes (6·C·F per kept assignment; recompute not counted). */
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

/**
 * Where a layer keeps what ops.moeAuxLoss writes: loss [4] (last balance and z-loss, then their
 * running totals) and counts [4E] (last kept and routed per expert, then their totals). A model
 * hands its layers views of one tensor of each kind, so that all layers are read in one go.
 */
export interface MoeStatBuffers {
  loss: Tensor;
  counts: IntTensor;
}


/**
 * The expert activations and backward scratch of MoE layers of one size: dispatched inputs xd [R, C],
 * gate/up gu [R, 2F], hidden hd [R, F], expert outputs yd [R, C], and for backward dyd [R, C],
 * dgu [R, 2F] (R = n·k rows; n rows for a dense layer), plus the router's dgate [n, k] and
 * dlogits [n, E]. Backward reuses hd for dhd and yd for dxd once they are consumed.
 * Layers with recompute keep their expert activations here; without, only the backward part is shared.
 */
export class MoeScratch {
  readonly xd: RowBuffer;
  readonly gu: RowBuffer;
  readonly hd: RowBuffer;
  readonly yd: RowBuffer;
  readonly dyd: RowBuffer;
  readonly dgu: RowBuffer;
  readonly dgate: RowBuffer;
  readonly dlogits: RowBuffer;

  constructor(ops: Ops, readonly dim: number, readonly hidden: number, readonly experts: number, readonly topK: number) {
    this.xd = new RowBuffer(ops, dim);
    this.gu = new RowBuffer(ops, 2 * hidden);
    this.hd = new RowBuffer(ops, hidden);
    this.yd = new RowBuffer(ops, dim);
    this.dyd = new RowBuffer(ops, dim);
    this.dgu = new RowBuffer(ops, 2 * hidden);
    this.dgate = new RowBuffer(ops, topK);
    this.dlogits = new RowBuffer(ops, experts);
  }
}

export class MixtureOfExperts {
  /** The router (null in dense mode). */
  readonly router: Linear | null;
  /** Stacked expert weights: W13 [E, C, 2F] (gate then up), W2 [E, F, C]. */
  readonly W13: Param;
  readonly W2: Param;
  readonly topK: 1 | 2;
  readonly renormalize: boolean;
  readonly capacityFactor: number | null;
  readonly balanceCoef: number;
  readonly zLossCoef: number;
  readonly recompute: boolean;
  readonly dense: boolean;
  /** Auxiliary losses of the last forward pass (already multiplied by α and β; 0 after a sampling
   *  or dense forward). Each read is a read from the backend (a synchronisation on a GPU). */
  get balanceLoss(): number { return this.auxValid ? this.auxOut.data[0] : 0; }
  get zLoss(): number { return this.auxValid ? this.auxOut.data[1] : 0; }
  get auxLoss(): number {
    if (!this.auxValid) return 0;
    const l = this.auxOut.data;
    return l[0] + l[1];
  }
  /** Per expert, the kept assignments of the last forward pass that computed them (every forward
   *  except an uncounted dropless one — sampling — which leaves them as they were). Read from the
   *  backend on each access: a view of its storage, current until the next forward. */
  get lastCounts(): Int32Array {
    return this.dense ? this.denseLast : this.lastCountsView.data.subarray(0, this.numExperts);
  }
  /** Per expert, the assignments before dropping of the last forward pass (as lastCounts). */
  get lastRouted(): Int32Array {
    return this.dense ? this.denseLast : this.lastCountsView.data.subarray(this.numExperts, 2 * this.numExperts);
  }
  /** The counters, with the backend's running totals folded in first (a read when any are pending). */
  get counters(): MoeCounters {
    this.syncCounters();
    return this.hostCounters;
  }
  /** true while counted forwards have added to the backend's totals since the last syncCounters(). */
  get countersPending(): boolean { return this.pending; }

  private readonly scratch: MoeScratch;
  // Expert activations: the scratch's (recompute) or the layer's own (saved for backward).
  private readonly xdB: RowBuffer;
  private readonly guB: RowBuffer;
  private readonly hdB: RowBuffer;
  private readonly ydB: RowBuffer;
  // Routing state saved by forward (per layer; O(E + k) per token).
  private readonly logits: RowBuffer;   // [n, E]
  private readonly probs: RowBuffer;    // [n, E]
  private readonly lse: RowBuffer;      // [n]
  private readonly topGate: RowBuffer;  // [n, k]
  private readonly topIdx: IntRowBuffer;   // [n, k]
  private readonly slot: IntRowBuffer;     // [n, k]
  private readonly rowToken: IntRowBuffer; // [n·k]
  private readonly offsets: IntTensor;     // [E + 1]
  private readonly offsetsEnd: IntTensor;  // view of offsets[E] = S, the kept rows
  private readonly routed: IntTensor;      // [E]
  private readonly balanceGrad: Tensor;    // [E] α·E·f_i/n
  // ops.moeAuxLoss's outputs (MoeStatBuffers): [4] losses, [4E] counts, and a view of the last 2E.
  private readonly auxOut: Tensor;
  private readonly countsOut: IntTensor;
  private readonly lastCountsView: IntTensor;
  private readonly denseLast = new Int32Array(1); // dense mode: n of the last counted forward
  private hostCounters!: MoeCounters;
  private auxValid = false;                // the last forward computed auxiliary losses
  private pending = false;                 // totals on the backend not yet folded into hostCounters
  private n = 0;
  private kept = 0;                        // S: kept assignments (rows) of the last forward

  constructor(private readonly ops: Ops, name: string, readonly dim: number, readonly hidden: number,
    readonly numExperts: number, rng: Rng, opts: MoeOptions = {}) {
    this.dense = opts.dense ?? false;
    this.topK = this.dense ? 1 : opts.topK ?? 2;
    if (this.topK !== 1 && this.topK !== 2) throw new RangeError(`moe: topK must be 1 or 2, got ${this.topK}`);
    for (const [k, v] of Object.entries({ dim, hidden, numExperts })) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`moe: ${k} must be an integer ≥ 1, got ${v}`);
    }
    if (this.dense && numExperts !== 1) throw new RangeError(`moe: dense mode has one FFN, got ${numExperts} experts`);
    if (numExperts < this.topK) throw new RangeError(`moe: ${numExperts} experts is fewer than topK = ${this.topK}`);
    this.renormalize = this.dense ? false : opts.renormalize ?? this.topK > 1;
    this.capacityFactor = this.dense ? null : opts.capacityFactor ?? null;
    if (this.capacityFactor !== null && !(this.capacityFactor > 0)) throw new RangeError('moe: capacityFactor must be > 0');
    this.balanceCoef = this.dense ? 0 : opts.balanceCoef ?? 0;
    this.zLossCoef = this.dense ? 0 : opts.zLossCoef ?? 0;
    this.recompute = opts.recompute ?? false;
    const E = numExperts, C = dim, F = hidden;
    this.router = this.dense ? null
      : new Linear(ops, `${name}.router`, C, E, rng, { bias: false, init: opts.init ?? { kind: 'xavier' } });
    // Xavier per C×F matrix (a [E, C, 2F] shape would give initValues the wrong fans).
    const a = Math.sqrt(6 / (C + F)), outScale = opts.outScale ?? 1;
    const shape13 = this.dense ? [C, 2 * F] : [E, C, 2 * F], shape2 = this.dense ? [F, C] : [E, F, C];
    this.W13 = makeParam(ops, `${name}.W13`, shape13, { kind: 'constant', value: 0 }, rng);
    this.W2 = makeParam(ops, `${name}.W2`, shape2, { kind: 'constant', value: 0 }, rng);
    const w13 = this.W13.value.data, w2 = this.W2.value.data;
    for (let i = 0; i < w13.length; i++) w13[i] = rng.uniform(-a, a);
    for (let i = 0; i < w2.length; i++) w2[i] = rng.uniform(-a, a) * outScale;

    const s = opts.scratch;
    if (s && (s.dim !== C || s.hidden !== F || s.experts !== E || s.topK !== this.topK)) {
      throw new RangeError(`moe: shared scratch is for C ${s.dim}, F ${s.hidden}, E ${s.experts}, k ${s.topK}; this layer has C ${C}, F ${F}, E ${E}, k ${this.topK}`);
    }
    this.scratch = s ?? new MoeScratch(ops, C, F, E, this.topK);
    const own = !this.recompute;
    this.xdB = own ? new RowBuffer(ops, C) : this.scratch.xd;
    this.guB = own ? new RowBuffer(ops, 2 * F) : this.scratch.gu;
    this.hdB = own ? new RowBuffer(ops, F) : this.scratch.hd;
    this.ydB = own ? new RowBuffer(ops, C) : this.scratch.yd;
    this.logits = new RowBuffer(ops, E);
    this.probs = new RowBuffer(ops, E);
    this.lse = new RowBuffer(ops, 1);
    this.topGate = new RowBuffer(ops, this.topK);
    this.topIdx = new IntRowBuffer(ops, this.topK);
    this.slot = new IntRowBuffer(ops, this.topK);
    this.rowToken = new IntRowBuffer(ops, this.topK);
    this.offsets = ops.ints(E + 1);
    this.offsetsEnd = this.offsets.view(E, 1);
    this.routed = ops.ints(E);
    this.balanceGrad = ops.tensor(E);
    const st = opts.stats;
    if (st && (st.loss.size < 4 || st.counts.size < 4 * E)) {
      throw new RangeError(`moe: stats buffers hold ${st.loss.size} losses and ${st.counts.size} counts, need 4 and 4E = ${4 * E}`);
    }
    this.auxOut = st ? st.loss : ops.tensor(4);
    this.countsOut = st ? st.counts : ops.ints(4 * E);
    this.lastCountsView = this.countsOut.view(0, 2 * E);
    this.resetHostCounters();
  }

  get params(): Param[] {
    return this.router ? [...this.router.params, this.W13, this.W2] : [this.W13, this.W2];
  }

  /** Zeroes the counters, on the host and the backend's running totals (a read and write there). */
  resetCounters(): void {
    this.resetHostCounters();
    if (this.dense) return;
    const E = this.numExperts, c = this.countsOut.data, l = this.auxOut.data;
    c.fill(0, 2 * E, 4 * E);
    l[2] = 0; l[3] = 0;
    this.pending = false;
  }
  private resetHostCounters(): void {
    const E = this.numExperts;
    this.hostCounters = {
      auxLoss: 0, expertForwardMacs: 0, expertBackwardMacs: 0, tokensPerExpert: new Float64Array(E),
      routedPerExpert: new Float64Array(E), dropped: 0, forwards: 0,
    };
  }

  /**
   * Folds the backend's running totals (counts and auxiliary losses of the counted forwards since
   * the last fold) into the host counters and zeroes them there: one read of the layer's stat
   * buffers, only when counted forwards ran since. A model reads the tensors these are views of
   * first, so that all layers cost one read.
   */
  syncCounters(): void {
    if (!this.pending) return;
    const E = this.numExperts, c = this.countsOut.data, l = this.auxOut.data, h = this.hostCounters;
    for (let e = 0; e < E; e++) {
      h.tokensPerExpert[e] += c[2 * E + e];
      h.routedPerExpert[e] += c[3 * E + e];
    }
    h.auxLoss += l[2] + l[3];
    c.fill(0, 2 * E, 4 * E);
    l[2] = 0; l[3] = 0;
    this.pending = false;
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
   * perturbations move no logit by more than half this gap. Reads the logits (tests and checks only).
   */
  routingMargin(): number {
    const E = this.numExperts, k = this.topK;
    if (this.dense || E <= k) return Infinity;
    const lg = this.logits.rows(this.n).data;
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

  /**
   * x: [n, C] → y: [n, C] (overwrites; y may not alias x). Sets balanceLoss and zLoss and, with
   * `count` (default true), the counters. `dropless` ignores the capacity (inference: a token's
   * output must not depend on which other tokens share its batch, e.g. KV-cached decoding).
   * dropless and not count together mean sampling: no auxiliary losses (0) and no counts.
   * No host read unless the layer has a capacity and this forward applies it (S, see the header).
   */
  forward(x: Tensor, y: Tensor, n: number, opts: { count?: boolean; dropless?: boolean } = {}): void {
    const { ops, numExperts: E, topK: k, dim: C, hidden: F } = this;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`moe: n must be an integer ≥ 1, got ${n}`);
    this.n = n;
    const count = opts.count ?? true;
    this.auxValid = false;
    const h = this.hostCounters;
    if (this.dense) {
      this.kept = n;
      this.expertForward(x, n, y);
      if (count) {
        this.denseLast[0] = n;
        h.tokensPerExpert[0] += n;
        h.routedPerExpert[0] += n;
        h.expertForwardMacs += 3 * C * F * n;
        h.forwards++;
      }
      return;
    }
    const logits = this.logits.rows(n), probs = this.probs.rows(n), lse = this.lse.rows(n);
    const topGate = this.topGate.rows(n), topIdx = this.topIdx.rows(n), slot = this.slot.rows(n);
    const rowToken = this.rowToken.rows(n);
    ops.gemm(false, false, n, E, C, 1, x, this.router!.W.value, 0, logits);
    ops.moeRoute(logits, probs, lse, topIdx, topGate, n, E, k, this.renormalize);
    const dropless = opts.dropless || this.capacityFactor === null;
    ops.moePlan(topIdx, n, E, k, dropless ? -1 : this.capacity(n), slot, rowToken, this.offsets, this.routed);
    // S: dropless keeps every assignment, so S = n·k without a read; with a capacity, the one host
    // read of this layer (the expert work and the dx scatter-add must stop at the kept rows).
    // With a capacity, S = offsets[E] is the one value read back (a one-int view: on CUDA only that
    // element crosses, not the E + 1 offsets).
    this.kept = dropless ? n * k : this.offsetsEnd.data[0];
    const S = this.kept;
    // Sampling (dropless, uncounted) needs no auxiliary losses or counts: a decoded token costs
    // launches only. Every other forward computes them on the backend, and reads nothing back.
    if (!(opts.dropless && !count)) {
      ops.moeAuxLoss(probs, lse, this.offsets, this.routed, n, E, k, this.balanceCoef, this.zLossCoef,
        this.balanceGrad, this.auxOut, this.countsOut, count);
      this.auxValid = true;
    }
    const yd = this.expertForward(x, n, null);
    ops.moeCombine(yd, slot, topGate, y, n, k, C);
    if (count) {
      this.pending = true;
      h.expertForwardMacs += 3 * C * F * S;
      h.dropped += n * k - S;
      h.forwards++;
    }
  }

  /**
   * The experts' forward from the layer input: gather, W13, swiglu, W2 (or the dense FFN).
   * Dense mode writes `out` when given (the layer output); MoE mode returns yd.
   */
  private expertForward(x: Tensor, n: number, out: Tensor | null): Tensor {
    const { ops, numExperts: E, dim: C, hidden: F } = this;
    if (this.dense) {
      const gu = this.guB.rows(n), hd = this.hdB.rows(n), y = out ?? this.ydB.rows(n);
      ops.gemm(false, false, n, 2 * F, C, 1, x, this.W13.value, 0, gu);
      ops.swiglu(gu, hd, n, F);
      ops.gemm(false, false, n, C, F, 1, hd, this.W2.value, 0, y);
      return y;
    }
    const R = n * this.topK, S = this.kept;
    const xd = this.xdB.rows(R), gu = this.guB.rows(R), hd = this.hdB.rows(R), yd = this.ydB.rows(R);
    if (S > 0) {
      ops.embedding(x, this.rowToken.rows(n), xd, S, C);
      ops.groupedGemm('nn', E, this.offsets, 2 * F, C, xd, this.W13.value, 0, gu);
      ops.swiglu(gu, hd, S, F);
      ops.groupedGemm('nn', E, this.offsets, C, F, hd, this.W2.value, 0, yd);
    }
    return yd;
  }

  /**
   * Given the forward input x [n, C] and dy = dL/dy [n, C]: accumulates every parameter gradient,
   * including those of the auxiliary losses (the total loss is L(y) + auxLoss), and writes dx
   * (or adds it, with accumulateDx). Must follow a forward on the same x.
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, n: number, accumulateDx = false): void {
    const { ops, numExperts: E, topK: k, dim: C, hidden: F } = this;
    if (n !== this.n) throw new RangeError(`moe backward: n = ${n} but the last forward had ${this.n}`);
    const sc = this.scratch;
    if (this.dense) {
      if (this.recompute) this.expertForward(x, n, this.ydB.rows(n));
      const gu = this.guB.rows(n), hd = this.hdB.rows(n), dgu = sc.dgu.rows(n);
      ops.gemm(true, false, F, C, n, 1, hd, dy, 1, this.W2.grad);
      ops.gemm(false, true, n, F, C, 1, dy, this.W2.value, 0, hd); // hd ← dhd (hd is consumed)
      ops.swigluBackward(gu, hd, dgu, n, F);
      ops.gemm(true, false, C, 2 * F, n, 1, x, dgu, 1, this.W13.grad);
      ops.gemm(false, true, n, C, 2 * F, 1, dgu, this.W13.value, accumulateDx ? 1 : 0, dx);
      this.hostCounters.expertBackwardMacs += 6 * C * F * n;
      return;
    }
    const R = n * k, S = this.kept;
    if (this.recompute) this.expertForward(x, n, null);
    const xd = this.xdB.rows(R), gu = this.guB.rows(R), hd = this.hdB.rows(R), yd = this.ydB.rows(R);
    const dyd = sc.dyd.rows(R), dgu = sc.dgu.rows(R), dgate = sc.dgate.rows(n), dlogits = sc.dlogits.rows(n);
    const slot = this.slot.rows(n), topGate = this.topGate.rows(n), rowToken = this.rowToken.rows(n);
    ops.moeCombineBackward(yd, slot, topGate, dy, dyd, dgate, n, k, C);
    if (!accumulateDx) ops.fill(dx, 0);
    if (S > 0) {
      ops.groupedGemm('tn', E, this.offsets, C, F, hd, dyd, 1, this.W2.grad);
      ops.groupedGemm('nt', E, this.offsets, F, C, dyd, this.W2.value, 0, hd); // hd ← dhd
      ops.swigluBackward(gu, hd, dgu, S, F);
      ops.groupedGemm('tn', E, this.offsets, 2 * F, C, xd, dgu, 1, this.W13.grad);
      ops.groupedGemm('nt', E, this.offsets, C, 2 * F, dgu, this.W13.value, 0, yd); // yd ← dxd
      ops.embeddingBackward(yd, rowToken, dx, S, C);
    }
    ops.moeRouteBackward(this.probs.rows(n), this.lse.rows(n), this.topIdx.rows(n), topGate, dgate,
      this.balanceCoef !== 0 ? this.balanceGrad : null, this.zLossCoef !== 0 ? 2 * this.zLossCoef / n : 0,
      dlogits, n, E, k, this.renormalize);
    this.router!.backward(x, dlogits, dx, n, true);
    this.hostCounters.expertBackwardMacs += 6 * C * F * S;
  }
}
