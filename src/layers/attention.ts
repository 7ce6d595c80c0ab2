// Multi-head causal self-attention (Vaswani et al. 2017; GPT-2), on a batch-major activation
// x [B, T, C] with H heads of width d = C/H (single-head attention is H = 1):
//
//   qkv   = x · Wqkv + bqkv                        [B·T, 3C]   row: q (C) | k (C) | v (C), head h at h·d…
//   z     = attention(q, k, v)                     [B·T, C]    ops.attention, fused: per head
//           softmax(Q·Kᵀ/√d with S[i, j>i] = −∞) · V, read straight out of the qkv rows
//           (strides 3C) and written into z's head blocks; no T×T matrix in memory; it also
//           saves lse [B, H, T] (log-sum-exp of each score row) for the backward pass
//   y     = z · Wo + bo                            [B·T, C]
//
// Backward: dz = dy·Woᵀ, then ops.attentionBackward recomputes the probabilities from q, k, lse
// and writes dQ, dK, dV straight into the head blocks of one fused dqkv [B·T, 3C]:
//   dV = Pᵀ·dZ;  dP = dZ·Vᵀ;  dS = P ⊙ (dP − rowsum(dZ ⊙ Z));  dQ = dS·K/√d;  dK = dSᵀ·Q/√d
// A masked entry has P = 0 exactly, so no gradient flows from a position to the future
// (tests/layers/attention.test.ts checks the zeros bit for bit).
//
// Decoding with a key/value cache (forwardCached): one sequence, n new rows at positions
// pos … pos+n−1. Their k and v rows are copied into the cache [context, C] (row = position, heads
// side by side: the layout the fused op reads with kvStride C), and their queries attend to cache
// rows 0 … pos+n−1 with the causal offset qOffset = pos (query i sees keys j ≤ pos + i). Fed all at
// once or one by one, the result is the same as the training-path forward over the whole prefix.
//
// probabilities() and scoreGrad() (tests, attention plots) rebuild the T×T matrices on the host
// from the saved qkv, lse and dz: a reporting path, not run during training.
import type { AttentionShape, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from './param.js';
import type { Init } from './init.js';
import { Linear } from './linear.js';
import { RowBuffer } from './buffer.js';

export interface AttentionOptions {
  /** Init of the QKV projection (default Xavier). */
  init?: Init;
  /** Multiplies the output projection's initial weights (GPT-2: 1/√(2·layers) on residual branches). */
  outScale?: number;
}

/** Keys and values of one sequence's past positions, for one attention layer: [context, C] each. */
export interface KVCache {
  readonly K: Tensor;
  readonly V: Tensor;
  readonly context: number;
}

/** The q, k, v views of one fused [rows, 3C] buffer (k and v start at columns C and 2C). */
interface QKVViews { of: Tensor | null; q: Tensor; k: Tensor; v: Tensor }

export class CausalSelfAttention {
  readonly headDim: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  // Saved activations (training path).
  private readonly qkvOut: RowBuffer; // [B·T, 3C]
  private readonly z: RowBuffer; // [B·T, C] the attention output, heads side by side
  private readonly lse: RowBuffer; // [B, H, T] log-sum-exp of each score row
  // Backward scratch.
  private readonly dz: RowBuffer; // [B·T, C]
  private readonly dqkv: RowBuffer; // [B·T, 3C]
  // Reporting only (probabilities(), scoreGrad()): allocated on first use.
  private readonly P: RowBuffer;
  private readonly dS: RowBuffer;
  // Views and the op's shape, re-made only when a buffer or the batch shape changes (no
  // allocation per step).
  private readonly fwdViews: QKVViews;
  private readonly bwdViews: QKVViews;
  private readonly shape: AttentionShape;
  private lastT = 0;
  private lastB = 0;
  /** Dropout on P of the last training-path forward (p, seed), which its backward regenerates. */
  private dropP = 0;
  private dropSeed = 0;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, readonly heads: number, rng: Rng,
    opts: AttentionOptions = {}) {
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
      throw new RangeError(`attention: the width ${dim} must be a multiple of the number of heads ${heads}`);
    }
    this.headDim = dim / heads;
    this.qkv = new Linear(ops, `${name}.qkv`, dim, 3 * dim, rng, { init: opts.init });
    this.proj = new Linear(ops, `${name}.proj`, dim, dim, rng, { init: opts.init });
    if (opts.outScale !== undefined) ops.scale(this.proj.W.value, opts.outScale);
    this.qkvOut = new RowBuffer(ops, 3 * dim);
    this.dqkv = new RowBuffer(ops, 3 * dim);
    this.z = new RowBuffer(ops, dim);
    this.dz = new RowBuffer(ops, dim);
    this.lse = new RowBuffer(ops, heads);
    this.P = new RowBuffer(ops, 1);
    this.dS = new RowBuffer(ops, 1);
    const none = { of: null } as unknown as QKVViews;
    this.fwdViews = { ...none };
    this.bwdViews = { ...none };
    const d = this.headDim;
    this.shape = { B: 1, H: heads, D: d, Tq: 1, Tk: 1, causal: true, qOffset: 0,
      qStride: 3 * dim, kvStride: 3 * dim, oStride: dim, scale: 1 / Math.sqrt(d) };
  }

  get params(): Param[] {
    return [...this.qkv.params, ...this.proj.params];
  }

  /** A zeroed cache for one sequence of up to `context` positions. */
  newCache(context: number): KVCache {
    const size = context * this.dim;
    return { K: this.ops.tensor(size), V: this.ops.tensor(size), context };
  }

  /**
   * The attention probabilities of the last training-path forward, [B, H, T, T] (for tests and
   * plots), rebuilt from the saved q, k and lse: P[i, j] = exp(q_i·k_j/√d − lse_i) for j ≤ i, else 0.
   */
  probabilities(): Tensor {
    const { heads: H, headDim: d, dim: C, lastB: B, lastT: T } = this;
    const P = this.P.rows(B * H * T * T), p = P.data;
    const qkv = this.qkvOut.rows(B * T).data, lse = this.lse.rows(B * T).data, scale = 1 / Math.sqrt(d);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
      const qo = (b * T + i) * 3 * C + h * d, po = ((b * H + h) * T + i) * T, l = lse[(b * H + h) * T + i];
      for (let j = 0; j < T; j++) {
        if (j > i) { p[po + j] = 0; continue; }
        const ko = (b * T + j) * 3 * C + C + h * d;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += qkv[qo + c] * qkv[ko + c];
        p[po + j] = Math.exp(scale * dot - l);
      }
    }
    return P;
  }

  /**
   * dL/dS (pre-softmax scores) of the last backward, [B, H, T, T] (for tests: masked entries are
   * exactly 0), rebuilt as P ⊙ (dZ·Vᵀ − rowsum(dZ ⊙ Z)) from the saved activations and dz.
   */
  scoreGrad(): Tensor {
    const { heads: H, headDim: d, dim: C, lastB: B, lastT: T } = this;
    const p = this.probabilities().data;
    const dS = this.dS.rows(B * H * T * T), ds = dS.data;
    const qkv = this.qkvOut.rows(B * T).data, z = this.z.rows(B * T).data, dz = this.dz.rows(B * T).data;
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
      const zo = (b * T + i) * C + h * d, so = ((b * H + h) * T + i) * T;
      let rowD = 0;
      for (let c = 0; c < d; c++) rowD += dz[zo + c] * z[zo + c];
      for (let j = 0; j < T; j++) {
        if (j > i) { ds[so + j] = 0; continue; }
        const vo = (b * T + j) * 3 * C + 2 * C + h * d;
        let dp = 0;
        for (let c = 0; c < d; c++) dp += dz[zo + c] * qkv[vo + c];
        ds[so + j] = p[so + j] * (dp - rowD);
      }
    }
    return dS;
  }

  /**
   * x: [B·T, C] → y: [B·T, C] (overwrites). `dropout` > 0: dropout on the attention probabilities
   * inside the fused op (AttentionShape.dropout), its mask a function of `seed`; the backward
   * regenerates the same mask. probabilities() and scoreGrad() report the undropped P.
   */
  forward(x: Tensor, y: Tensor, B: number, T: number, dropout = 0, seed = 0): void {
    const n = B * T;
    this.lastB = B; this.lastT = T;
    this.dropP = dropout; this.dropSeed = seed;
    const qkv = this.qkvOut.rows(n);
    this.qkv.forward(x, qkv, n);
    const v = splitViews(this.fwdViews, qkv, this.dim);
    const z = this.z.rows(n);
    this.ops.attention(v.q, v.k, v.v, z, this.lse.rows(n), this.shapeFor(B, T, T, 0, 3 * this.dim));
    this.proj.forward(z, y, n);
  }

  /**
   * Given the forward input x [B·T, C] and dy [B·T, C]: accumulates the parameter gradients and
   * writes dx (or adds to it, with accumulateDx). Uses the activations of the last forward().
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const n = B * T;
    const z = this.z.rows(n), dz = this.dz.rows(n);
    this.proj.backward(z, dy, dz, n);
    const f = splitViews(this.fwdViews, this.qkvOut.rows(n), this.dim);
    const dqkv = this.dqkv.rows(n);
    const g = splitViews(this.bwdViews, dqkv, this.dim);
    this.ops.attentionBackward(f.q, f.k, f.v, z, this.lse.rows(n), dz, g.q, g.k, g.v,
      this.shapeFor(B, T, T, 0, 3 * this.dim));
    this.qkv.backward(x, dqkv, dx, n, accumulateDx);
  }

  /**
   * Incremental forward for decoding: x [n, C] holds the rows of positions pos … pos+n−1 of one
   * sequence; their keys and values are appended to `cache` and y [n, C] is written (overwrites).
   * Overwrites the training path's saved activations (do not call between forward and backward).
   */
  forwardCached(x: Tensor, y: Tensor, n: number, pos: number, cache: KVCache): void {
    const { ops, dim: C } = this;
    const ctx = cache.context, len = pos + n;
    if (pos < 0 || len > ctx) throw new RangeError(`attention: positions ${pos}..${len - 1} exceed the cache's context ${ctx}`);
    const qkv = this.qkvOut.rows(n);
    this.qkv.forward(x, qkv, n);
    // The new k, v rows go to cache rows pos … pos+n−1 (on the backend; n is 1 when sampling).
    for (let t = 0; t < n; t++) {
      ops.copy(qkv.view(t * 3 * C + C, C), cache.K.view((pos + t) * C, C));
      ops.copy(qkv.view(t * 3 * C + 2 * C, C), cache.V.view((pos + t) * C, C));
    }
    const z = this.z.rows(n);
    const s = this.shapeFor(1, n, len, pos, C, 0);
    s.qStride = 3 * C;
    ops.attention(qkv, cache.K, cache.V, z, this.lse.rows(n), s);
    this.proj.forward(z, y, n);
  }

  /** The reused shape object, set for one call (qStride 3C; kvStride 3C in training, C for the cache). */
  private shapeFor(B: number, Tq: number, Tk: number, qOffset: number, kvStride: number, dropout = this.dropP): AttentionShape {
    const s = this.shape;
    s.B = B; s.Tq = Tq; s.Tk = Tk; s.qOffset = qOffset;
    s.qStride = 3 * this.dim; s.kvStride = kvStride; s.oStride = this.dim;
    if (dropout > 0) { s.dropout = dropout; s.dropoutSeed = this.dropSeed; } else if (s.dropout !== undefined) { s.dropout = 0; }
    return s;
  }
}

/** q, k, v views of a fused [rows, 3C] buffer, cached per buffer (RowBuffer hands out the same view per size). */
function splitViews(cache: QKVViews, buf: Tensor, C: number): QKVViews {
  if (cache.of !== buf) {
    const n = buf.size;
    cache.q = buf;
    cache.k = buf.view(C, n - C);
    cache.v = buf.view(2 * C, n - 2 * C);
    cache.of = buf;
  }
  return cache;
}
