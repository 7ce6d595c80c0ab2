// Multi-head causal self-attention (Vaswani et al. 2017; GPT-2), on a batch-major activation
// x [B, T, C] with H heads of width d = C/H (single-head attention is H = 1):
//
//   qkv   = x · Wqkv + bqkv                        [B·T, 3C]   row: q (C) | k (C) | v (C), head h at h·d…
//   Q,K,V = split heads                            [B, H, T, d] each (a small host copy: contiguous heads)
//   S     = Q·Kᵀ / √d, S[i, j>i] = −∞              [B, H, T, T]  one gemm per (b, h); the causal mask
//   P     = softmax(S) over each row               [B, H, T, T]  one ops.softmax over B·H·T rows
//   Z     = P · V                                  [B, H, T, d]  one gemm per (b, h)
//   z     = merge heads                            [B·T, C]
//   y     = z · Wo + bo                            [B·T, C]
//
// Backward, per (b, h):
//   dZ = split(dz);  dP = dZ·Vᵀ;  dV = Pᵀ·dZ
//   dS = P ⊙ (dP − rowsum(dP ⊙ P))                 ops.softmaxBackward, the vectorised Jacobian
//   dQ = dS·K / √d;  dK = dSᵀ·Q / √d;  dqkv = merge(dQ, dK, dV)
// A masked entry has P = exp(−∞) = 0 exactly, so its dS = 0 · (…) = 0 exactly: no gradient flows
// from a position to the future (tests/layers/attention.test.ts checks the zeros bit for bit).
//
// Decoding with a key/value cache (forwardCached): one sequence, n new rows at positions
// pos … pos+n−1. Their k and v are written into the cache [H, context, d] (per head, the cached
// keys are one contiguous block), and their queries attend to cache rows 0 … pos+n−1 with the
// same mask (j > pos + i is −∞). Fed all at once or one by one, the result is the same as the
// training-path forward over the whole prefix.
import type { Ops, Tensor } from '../ops/types.js';
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

/** Keys and values of one sequence's past positions, for one attention layer: [H, context, d] each. */
export interface KVCache {
  readonly K: Tensor;
  readonly V: Tensor;
  readonly context: number;
}

export class CausalSelfAttention {
  readonly headDim: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  // Saved activations (training path).
  private readonly qkvOut: RowBuffer; // [B·T, 3C]
  private readonly Q: RowBuffer; // [B·H·T, d]
  private readonly K: RowBuffer;
  private readonly V: RowBuffer;
  private readonly P: RowBuffer; // [B·H·T, T] (scores, then probabilities in place)
  private readonly Z: RowBuffer; // [B·H·T, d]
  private readonly z: RowBuffer; // [B·T, C]
  // Backward scratch.
  private readonly dz: RowBuffer; // [B·T, C]
  private readonly dZ: RowBuffer; // [B·H·T, d]
  private readonly dS: RowBuffer; // [B·H·T, T]
  private readonly dQ: RowBuffer;
  private readonly dK: RowBuffer;
  private readonly dV: RowBuffer;
  private readonly dqkv: RowBuffer; // [B·T, 3C]
  private lastT = 0;
  private lastB = 0;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, readonly heads: number, rng: Rng,
    opts: AttentionOptions = {}) {
    if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
      throw new RangeError(`attention: the width ${dim} must be a multiple of the number of heads ${heads}`);
    }
    this.headDim = dim / heads;
    this.qkv = new Linear(ops, `${name}.qkv`, dim, 3 * dim, rng, { init: opts.init });
    this.proj = new Linear(ops, `${name}.proj`, dim, dim, rng, { init: opts.init });
    if (opts.outScale !== undefined) ops.scale(this.proj.W.value, opts.outScale);
    const d = this.headDim;
    this.qkvOut = new RowBuffer(ops, 3 * dim);
    this.dqkv = new RowBuffer(ops, 3 * dim);
    this.z = new RowBuffer(ops, dim);
    this.dz = new RowBuffer(ops, dim);
    this.Q = new RowBuffer(ops, d); this.K = new RowBuffer(ops, d); this.V = new RowBuffer(ops, d); this.Z = new RowBuffer(ops, d);
    this.dQ = new RowBuffer(ops, d); this.dK = new RowBuffer(ops, d); this.dV = new RowBuffer(ops, d); this.dZ = new RowBuffer(ops, d);
    this.P = new RowBuffer(ops, 1);
    this.dS = new RowBuffer(ops, 1);
  }

  get params(): Param[] {
    return [...this.qkv.params, ...this.proj.params];
  }

  /** A zeroed cache for one sequence of up to `context` positions. */
  newCache(context: number): KVCache {
    const size = this.heads * context * this.headDim;
    return { K: this.ops.tensor(size), V: this.ops.tensor(size), context };
  }

  /** The attention probabilities of the last training-path forward, [B, H, T, T] (for tests and plots). */
  probabilities(): Tensor { return this.P.rows(this.lastB * this.heads * this.lastT * this.lastT); }
  /** dL/dS (pre-softmax scores) of the last backward, [B, H, T, T] (for tests: masked entries are exactly 0). */
  scoreGrad(): Tensor { return this.dS.rows(this.lastB * this.heads * this.lastT * this.lastT); }

  /** x: [B·T, C] → y: [B·T, C] (overwrites). */
  forward(x: Tensor, y: Tensor, B: number, T: number): void {
    const { ops, heads: H, headDim: d, dim: C } = this;
    const n = B * T, rowsBHT = B * H * T;
    this.lastB = B; this.lastT = T;
    const qkv = this.qkvOut.rows(n);
    this.qkv.forward(x, qkv, n);
    const Q = this.Q.rows(rowsBHT), K = this.K.rows(rowsBHT), V = this.V.rows(rowsBHT);
    splitHeads(qkv, [Q, K, V], B, T, H, d);
    const P = this.P.rows(rowsBHT * T), Z = this.Z.rows(rowsBHT);
    const scale = 1 / Math.sqrt(d);
    for (let bh = 0; bh < B * H; bh++) {
      const o = bh * T * d, s = bh * T * T;
      ops.gemm(false, true, T, T, d, scale, Q.view(o, T * d), K.view(o, T * d), 0, P.view(s, T * T));
    }
    causalMask(P, B * H, T, T, 0);
    ops.softmax(P, P, rowsBHT, T);
    for (let bh = 0; bh < B * H; bh++) {
      const o = bh * T * d, s = bh * T * T;
      ops.gemm(false, false, T, d, T, 1, P.view(s, T * T), V.view(o, T * d), 0, Z.view(o, T * d));
    }
    const z = this.z.rows(n);
    mergeHeads([Z], z, B, T, H, d, C);
    this.proj.forward(z, y, n);
  }

  /**
   * Given the forward input x [B·T, C] and dy [B·T, C]: accumulates the parameter gradients and
   * writes dx (or adds to it, with accumulateDx). Uses the activations of the last forward().
   */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number, accumulateDx = false): void {
    const { ops, heads: H, headDim: d } = this;
    const n = B * T, rowsBHT = B * H * T;
    const z = this.z.rows(n), dz = this.dz.rows(n);
    this.proj.backward(z, dy, dz, n);
    const dZ = this.dZ.rows(rowsBHT);
    splitHeads(dz, [dZ], B, T, H, d);
    const Q = this.Q.rows(rowsBHT), K = this.K.rows(rowsBHT), V = this.V.rows(rowsBHT), P = this.P.rows(rowsBHT * T);
    const dQ = this.dQ.rows(rowsBHT), dK = this.dK.rows(rowsBHT), dV = this.dV.rows(rowsBHT), dS = this.dS.rows(rowsBHT * T);
    for (let bh = 0; bh < B * H; bh++) {
      const o = bh * T * d, s = bh * T * T;
      ops.gemm(false, true, T, T, d, 1, dZ.view(o, T * d), V.view(o, T * d), 0, dS.view(s, T * T)); // dP
      ops.gemm(true, false, T, d, T, 1, P.view(s, T * T), dZ.view(o, T * d), 0, dV.view(o, T * d));
    }
    ops.softmaxBackward(P, dS, dS, rowsBHT, T); // dS = P ⊙ (dP − rowsum(dP ⊙ P)), in place
    const scale = 1 / Math.sqrt(d);
    for (let bh = 0; bh < B * H; bh++) {
      const o = bh * T * d, s = bh * T * T;
      ops.gemm(false, false, T, d, T, scale, dS.view(s, T * T), K.view(o, T * d), 0, dQ.view(o, T * d));
      ops.gemm(true, false, T, d, T, scale, dS.view(s, T * T), Q.view(o, T * d), 0, dK.view(o, T * d));
    }
    const dqkv = this.dqkv.rows(n);
    mergeHeads([dQ, dK, dV], dqkv, B, T, H, d, 3 * this.dim);
    this.qkv.backward(x, dqkv, dx, n, accumulateDx);
  }

  /**
   * Incremental forward for decoding: x [n, C] holds the rows of positions pos … pos+n−1 of one
   * sequence; their keys and values are appended to `cache` and y [n, C] is written (overwrites).
   * Overwrites the training path's saved activations (do not call between forward and backward).
   */
  forwardCached(x: Tensor, y: Tensor, n: number, pos: number, cache: KVCache): void {
    const { ops, heads: H, headDim: d, dim: C } = this;
    const ctx = cache.context, len = pos + n;
    if (pos < 0 || len > ctx) throw new RangeError(`attention: positions ${pos}..${len - 1} exceed the cache's context ${ctx}`);
    const qkv = this.qkvOut.rows(n);
    this.qkv.forward(x, qkv, n);
    // Q [H, n, d]; k, v rows go to cache rows pos … pos+n−1 of each head.
    const Q = this.Q.rows(H * n);
    const src = qkv.data, q = Q.data, kc = cache.K.data, vc = cache.V.data;
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < H; h++) {
        const s = t * 3 * C + h * d, qo = (h * n + t) * d, co = (h * ctx + pos + t) * d;
        for (let i = 0; i < d; i++) {
          q[qo + i] = src[s + i];
          kc[co + i] = src[s + C + i];
          vc[co + i] = src[s + 2 * C + i];
        }
      }
    }
    const P = this.P.rows(H * n * len), Z = this.Z.rows(H * n);
    const scale = 1 / Math.sqrt(d);
    for (let h = 0; h < H; h++) {
      ops.gemm(false, true, n, len, d, scale, Q.view(h * n * d, n * d), cache.K.view(h * ctx * d, len * d), 0,
        P.view(h * n * len, n * len));
    }
    causalMask(P, H, n, len, pos);
    ops.softmax(P, P, H * n, len);
    for (let h = 0; h < H; h++) {
      ops.gemm(false, false, n, d, len, 1, P.view(h * n * len, n * len), cache.V.view(h * ctx * d, len * d), 0,
        Z.view(h * n * d, n * d));
    }
    const z = this.z.rows(n);
    mergeHeads([Z], z, 1, n, H, d, C);
    this.proj.forward(z, y, n);
  }
}

/**
 * Sets S[g, i, j] = −∞ where j > offset + i, for `groups` score blocks of rows×cols: query i sits
 * at position offset + i and may see keys 0 … offset + i.
 */
function causalMask(S: Tensor, groups: number, rows: number, cols: number, offset: number): void {
  const s = S.data;
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < rows; i++) {
      const o = (g * rows + i) * cols;
      for (let j = offset + i + 1; j < cols; j++) s[o + j] = -Infinity;
    }
  }
}

/**
 * Copies row blocks of a [B·T, parts·C] matrix (part p, head h at columns p·C + h·d) into one
 * [B, H, T, d] tensor per part.
 */
function splitHeads(src: Tensor, dst: Tensor[], B: number, T: number, H: number, d: number): void {
  const C = H * d, width = dst.length * C, s = src.data;
  for (let p = 0; p < dst.length; p++) {
    const out = dst[p].data;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < T; t++) {
          const so = (b * T + t) * width + p * C + h * d, oo = ((b * H + h) * T + t) * d;
          for (let i = 0; i < d; i++) out[oo + i] = s[so + i];
        }
      }
    }
  }
}

/** The inverse of splitHeads: [B, H, T, d] parts → the row blocks of a [B·T, width] matrix (overwrites). */
function mergeHeads(src: Tensor[], dst: Tensor, B: number, T: number, H: number, d: number, width: number): void {
  const C = H * d, out = dst.data;
  for (let p = 0; p < src.length; p++) {
    const s = src[p].data;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < T; t++) {
          const oo = (b * T + t) * width + p * C + h * d, so = ((b * H + h) * T + t) * d;
          for (let i = 0; i < d; i++) out[oo + i] = s[so + i];
        }
      }
    }
  }
}
