// A decoder-only transformer whose feed-forward blocks are sparse Mixtures of Experts (issue #6),
// written only against the ops interface so that the CUDA backend runs it with no host loop over
// activations: the fused attention, swiglu, grouped GEMM and routing ops do all the work, and the
// only host read in a dropless training step is the loss. The MoE auxiliary losses and expert
// counts stay on the backend (ops.moeAuxLoss, into views of two small model-wide tensors) until
// lastAuxLoss, stats() or expertLoad() asks: then one read of each tensor covers every layer.
// With a capacity each layer also reads its kept-row count S (see src/layers/moe.ts).
//
//   ids [B, T] (batch-major, rows r = b·T + t)
//   x₀     = E[ids] + P[pos]                     two row gathers (ops.embedding); pos ids built once
//   for each of the N blocks (pre-LayerNorm):
//     qkv  = LN₁(x) · Wqkv                       [n, 3C]  one fused gemm
//     a    = attention(q, k, v)                  causal, strides 3C (views into qkv); lse saved
//     xm   = x + a · Wo
//     x    = xm + MoE(LN₂(xm))                   src/layers/moe.ts (or one dense SwiGLU: 'moe-dense')
//   logits = LN_f(x_N) · Eᵀ  (tied, default) or · Wout
//   loss   = mean CE over non-padding targets    (ops.softmaxCrossEntropy)
// The returned loss is the LM cross-entropy; the MoE auxiliary losses (balance, z) go into the
// gradient and are exposed separately (lastAuxLoss, stats()).
//
// Dropout (config.dropout = p, training forwards only; GPT-2's sites, as src/models/transformer.ts):
// on the embeddings x₀ and on each block's two residual branches before they are added — the
// attention branch's output a·Wo and the MoE (or dense FFN) output:
//     xm = x + Drop(a · Wo),  x = xm + Drop(MoE(LN₂(xm)))
// Each branch's backward multiplies its incoming gradient by the same mask (layers/dropout.ts).
// The router sees LN₂(xm) of the dropped stream, so a training forward's routing (and its aux
// losses) follow the mask; the aux losses are not dropped. The masks are drawn on the host and
// uploaded (no device read: a training step still reads only the loss). The attention
// probabilities are dropped inside the fused attention kernel (GPT-2's attn_pdrop): its mask hashes
// (seed, head, i, j) (AttentionShape.dropout in ops/types.ts), with the seed drawn per training
// forward from the block's attention-branch Dropout, so nothing is stored and the backward
// regenerates the mask.
//
// Memory. Saved per layer and token: the layer input (C), qkv (3C), the attention output (C), xm
// (C), H attention lse values, LayerNorm statistics and the routing state (O(E + k)): ≈ 6C + E.
// LN₁(x) and LN₂(xm) are recomputed in backward (one cheap LayerNorm each), and with `recompute`
// (default) the experts' activations are recomputed too, in one scratch set shared by all layers
// (MoeScratch), as are the block's backward buffers (BlockScratch).
//
// Sampling: nextLogProbs keeps a per-layer KV cache (the qkv rows of the positions seen, [context,
// 3C]); new tokens go through ops.attention with Tq = new rows, qOffset = cache length. When the
// window is full the cache is rebuilt from the last `context` tokens, positions from 0, as in
// src/models/transformer.ts (absolute positions cannot be shifted). Inference is dropless, so a
// token's logits never depend on which other tokens shared its batch (cached == uncached).
// On a backend with decode graphs (src/ops/decode-graph.ts: CUDA with HANDGRAD_CUDA_GRAPHS=1) a
// one-token step is replayed as one graph: its position then lives on the device (decodePos), read
// by the cache append, the attention and the position embedding.
import type { AttentionShape, IntTensor, Ops, Tensor } from '../ops/types.js';
import { decodeGraphOps } from '../ops/decode-graph.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from '../layers/param.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { RowBuffer } from '../layers/buffer.js';
import { Norm } from '../layers/layernorm.js';
import { Dropout } from '../layers/dropout.js';
import { MixtureOfExperts, MoeScratch, type MoeCounters, type MoeStatBuffers } from '../layers/moe.js';
import type { ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { logSoftmaxRow } from './sample.js';
import { CachedWindow } from './cached-window.js';
import { StackBuffers } from './block-stack.js';
import { checkHeadsDivide, checkSizes, checkTokens } from './checks.js';
import { countTargets } from './bigram.js';
import { DROPOUT_OPTION } from './dropout-option.js';

export interface MoeTransformerConfig {
  vocabSize: number;
  context: number;
  dModel: number;
  heads: number;
  layers: number;
  /** E experts per layer (ignored by the dense variant). */
  experts: number;
  /** k experts per token, 1 or 2. */
  topK: number;
  /** F: each expert's hidden width (the dense variant uses topK · F). */
  expertHidden: number;
  /** null or 0: dropless; otherwise capacity = ceil(c · n · k / E) per expert (training forwards). */
  capacityFactor?: number | null;
  balanceCoef?: number;
  zLossCoef?: number;
  tiedEmbeddings?: boolean;
  recompute?: boolean;
  /** One SwiGLU FFN of hidden topK · expertHidden instead of experts (matched active parameters). */
  dense?: boolean;
  /** Dropout probability on the embeddings, both residual branches and the attention probabilities, in training (0: none). */
  dropout?: number;
}

export const MOE_TRANSFORMER_DEFAULTS = {
  layers: 4, heads: 4, dModel: 128, experts: 8, topK: 2, expertHidden: 256, context: 128,
  capacityFactor: 0, balanceCoef: 0.01, zLossCoef: 0.001, tiedEmbeddings: true, recompute: true, dropout: 0,
};

/** Per-layer statistics since resetStats() (see MoeTransformer.stats). */
export interface MoeLayerStats {
  tokensPerExpert: number[];
  routedPerExpert: number[];
  dropped: number;
}

export interface MoeStats {
  layers: MoeLayerStats[];
  /** Multiply-adds the experts (or the dense FFN) actually executed, forward only. */
  expertMacs: number;
  /** What running every expert on every token would have cost, forward only. */
  allExpertsMacs: number;
  /** Mean over the counted forwards of the auxiliary loss (summed over layers). */
  auxLoss: number;
  /** Tokens through the counted forwards. */
  tokens: number;
}

/** Backward scratch shared by every block of a model ([n, C] and [n, 3C]). */
export class BlockScratch {
  readonly h: RowBuffer;     // LN outputs (recomputed in backward)
  readonly f: RowBuffer;     // branch outputs in forward
  readonly dh: RowBuffer;
  readonly datt: RowBuffer;
  readonly dxm: RowBuffer;
  readonly dqkv: RowBuffer;
  // f doubles as the backward's masked branch gradient (dy ⊙ m): the forward's f is dead by then.
  constructor(ops: Ops, readonly dim: number) {
    this.h = new RowBuffer(ops, dim);
    this.f = new RowBuffer(ops, dim);
    this.dh = new RowBuffer(ops, dim);
    this.datt = new RowBuffer(ops, dim);
    this.dxm = new RowBuffer(ops, dim);
    this.dqkv = new RowBuffer(ops, 3 * dim);
  }
}

export interface MoeBlockOptions {
  topK: 1 | 2;
  capacityFactor: number | null;
  balanceCoef: number;
  zLossCoef: number;
  recompute: boolean;
  dense: boolean;
  outScale: number;
  /** Dropout on the two residual branches' outputs in training forwards (default 0: none). */
  dropout?: number;
  scratch?: BlockScratch;
  moeScratch?: MoeScratch;
  stats?: MoeStatBuffers;
}

/** How a block's forward runs: counted statistics, dropless routing, dropout (train; default off). */
export interface MoeForwardMode {
  count: boolean;
  dropless: boolean;
  train?: boolean;
}

/** One pre-LN block: x + Drop(Wo·Attn(LN₁(x))), then + Drop(MoE(LN₂(·))). Owns its saved activations. */
export class MoeBlock {
  readonly norm1: Norm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly norm2: Norm;
  readonly ffn: MixtureOfExperts;
  readonly heads: number;
  private readonly sc: BlockScratch;
  // Saved per token: qkv [3C], attention output [C], its lse [H], xm [C].
  private readonly qkvS: RowBuffer;
  private readonly attS: RowBuffer;
  private readonly lseS: RowBuffer;
  private readonly xmS: RowBuffer;
  // q, k, v views into qkv and dq, dk, dv into dqkv for the last row count (made once per size, not per step).
  private viewRows = -1;
  private views: Tensor[] = [];
  /** Dropout on the attention and MoE branch outputs (p 0: pass-through). */
  readonly attnDrop: Dropout;
  readonly ffnDrop: Dropout;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, heads: number, experts: number,
    hidden: number, rng: Rng, o: MoeBlockOptions) {
    if (dim % heads !== 0) throw new RangeError(`moe-transformer: dModel ${dim} must be a multiple of heads ${heads}`);
    this.heads = heads;
    this.norm1 = new Norm(ops, `${name}.norm1`, dim, rng);
    this.qkv = new Linear(ops, `${name}.qkv`, dim, 3 * dim, rng, { bias: false });
    this.proj = new Linear(ops, `${name}.proj`, dim, dim, rng, { bias: false });
    ops.scale(this.proj.W.value, o.outScale);
    this.norm2 = new Norm(ops, `${name}.norm2`, dim, rng);
    this.ffn = new MixtureOfExperts(ops, `${name}.${o.dense ? 'ffn' : 'moe'}`, dim, hidden, experts, rng, {
      topK: o.topK, capacityFactor: o.capacityFactor, balanceCoef: o.balanceCoef, zLossCoef: o.zLossCoef,
      recompute: o.recompute, dense: o.dense, outScale: o.outScale, scratch: o.moeScratch, stats: o.stats,
    });
    this.sc = o.scratch ?? new BlockScratch(ops, dim);
    this.qkvS = new RowBuffer(ops, 3 * dim);
    this.attS = new RowBuffer(ops, dim);
    this.lseS = new RowBuffer(ops, heads);
    this.xmS = new RowBuffer(ops, dim);
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.attnDrop = new Dropout(ops, o.dropout ?? 0, rng, dim);
    this.ffnDrop = new Dropout(ops, o.dropout ?? 0, rng, dim);
  }

  get params(): Param[] {
    return [...this.norm1.params, ...this.qkv.params, ...this.proj.params, ...this.norm2.params, ...this.ffn.params];
  }

  /** [q, k, v, dq, dk, dv]: strided views into the fused qkv and dqkv buffers of n rows. */
  private qkvViews(n: number): Tensor[] {
    if (n !== this.viewRows) {
      const C = this.dim, span = n * 3 * C, qkv = this.qkvS.rows(n), dqkv = this.sc.dqkv.rows(n);
      this.views = [qkv, dqkv].flatMap((t) => [t.view(0, span), t.view(C, span - C), t.view(2 * C, span - 2 * C)]);
      this.viewRows = n;
    }
    return this.views;
  }

  /** Dropout on the attention probabilities of the last training forward (0: none) and its mask seed. */
  private dropP = 0;
  private dropSeed = 0;

  private shape(B: number, Tq: number, Tk: number, qOffset: number, dropout = 0): AttentionShape {
    const C = this.dim, H = this.heads, D = C / H;
    const s: AttentionShape = { B, H, D, Tq, Tk, causal: true, qOffset, qStride: 3 * C, kvStride: 3 * C, oStride: C, scale: 1 / Math.sqrt(D) };
    if (dropout > 0) { s.dropout = dropout; s.dropoutSeed = this.dropSeed; }
    return s;
  }

  /**
   * x [B·T, C] → y [B·T, C] (overwrites; y may not alias x). With `cache` ([context, 3C], rows
   * 0 … pos−1 filled), B must be 1 and the T rows are positions pos … pos+T−1 of one sequence.
   * mode.train: apply dropout (when configured).
   */
  forward(x: Tensor, y: Tensor, B: number, T: number, mode: MoeForwardMode,
    cache: Tensor | null = null, pos = 0, devicePos: IntTensor | null = null): void {
    const { ops, dim: C, sc } = this, n = B * T;
    const h = sc.h.rows(n), f = sc.f.rows(n), qkv = this.qkvS.rows(n), att = this.attS.rows(n);
    const lse = this.lseS.rows(n), xm = this.xmS.rows(n);
    this.norm1.forward(x, h, n);
    this.qkv.forward(h, qkv, n);
    const span = n * 3 * C;
    const g = cache && devicePos ? decodeGraphOps(ops) : null;
    if (cache && devicePos && g) {
      // The same step for every position (a decode graph): the position is read on the device.
      g.copyAt(qkv, cache, span, devicePos, 3 * C);
      const rows = cache.size / (3 * C);
      g.attentionAt(qkv.view(0, span), cache.view(C, cache.size - C), cache.view(2 * C, cache.size - 2 * C), att, lse,
        this.shape(1, n, rows, 0), devicePos);
    } else if (cache) {
      ops.copy(qkv, cache.view(pos * 3 * C, span));
      const kvSpan = (pos + n) * 3 * C;
      ops.attention(qkv.view(0, span), cache.view(C, kvSpan - C), cache.view(2 * C, kvSpan - 2 * C), att, lse,
        this.shape(1, n, pos + n, pos));
    } else {
      const [q, k, v] = this.qkvViews(n);
      // Dropout on P: a fresh mask seed per training forward (the backward regenerates its mask).
      this.dropP = this.attnDrop.active(Boolean(mode.train)) ? this.attnDrop.p : 0;
      this.dropSeed = this.dropP > 0 ? this.attnDrop.seedFor() : 0;
      ops.attention(q, k, v, att, lse, this.shape(B, T, T, 0, this.dropP));
    }
    const train = Boolean(mode.train);
    this.proj.forward(att, f, n);
    this.attnDrop.forward(f, f, n, train);
    ops.add(x, f, xm);
    this.norm2.forward(xm, h, n);
    this.ffn.forward(h, f, n, mode);
    this.ffnDrop.forward(f, f, n, train);
    ops.add(xm, f, y);
  }

  /** Given the forward input x and dy: accumulates parameter gradients, writes dx (overwrites). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void {
    const { ops, sc } = this, n = B * T;
    const h = sc.h.rows(n), dh = sc.dh.rows(n), dxm = sc.dxm.rows(n), datt = sc.datt.rows(n), dqkv = sc.dqkv.rows(n);
    const att = this.attS.rows(n), lse = this.lseS.rows(n), xm = this.xmS.rows(n), dbr = sc.f.rows(n);
    const [q, k, v, dq, dk, dv] = this.qkvViews(n);
    // y = xm + Drop(FFN(LN₂(xm))): dxm = dy + LN₂ᵀ(FFNᵀ(dy ⊙ m)); LN₂(xm) is recomputed.
    ops.copy(dy, dxm);
    this.norm2.forward(xm, h, n);
    this.ffnDrop.backward(dy, dbr);
    this.ffn.backward(h, dbr, dh, n);
    this.norm2.backward(xm, dh, dxm, n);
    // xm = x + Drop(Attn(LN₁(x))·Wo): dx = dxm + LN₁ᵀ(Wqkvᵀ(attentionᵀ(Woᵀ(dxm ⊙ m)))).
    ops.copy(dxm, dx);
    this.attnDrop.backward(dxm, dbr);
    this.proj.backward(att, dbr, datt, n);
    ops.attentionBackward(q, k, v, att, lse, datt, dq, dk, dv, this.shape(B, T, T, 0, this.dropP));
    this.norm1.forward(x, h, n);
    this.qkv.backward(h, dqkv, dh, n);
    this.norm1.backward(x, dh, dx, n);
  }
}

export class MoeTransformer implements SequenceModel {
  readonly kind: 'moe' | 'moe-dense';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly vocab: number;
  readonly dim: number;
  readonly context: number;
  readonly topK: 1 | 2;
  readonly experts: number;
  readonly expertHidden: number;
  readonly embedding: Embedding;
  /** Learned positions [context, C]. */
  readonly pos: Param;
  readonly blocks: MoeBlock[];
  readonly normF: Norm;
  readonly head: Linear | null;
  /** Dropout on the embeddings (the blocks hold their own). */
  readonly embedDrop: Dropout;
  /** The auxiliary loss (balance + z, summed over layers) of the last forward: read from the
   *  backend when asked (one read), never during a step. */
  get lastAuxLoss(): number {
    if (this.auxAll) void this.auxAll.data; // one read for all layers; their views then hit the host copy
    let aux = 0;
    for (const b of this.blocks) aux += b.ffn.auxLoss;
    return aux;
  }

  private readonly stack: StackBuffers;
  private posIds: IntTensor;
  private readonly posKey = [-1, -1, -1]; // B, T, start of posIds
  private posView: IntTensor;
  // Statistics: every layer's losses [4] and counts [4E] (MoeStatBuffers) as views of these two
  // (null for the dense variant, which has neither); the layers' cumulative counters are read
  // against baselines taken at resetStats() (stats) and at the previous expertLoad() call.
  private readonly auxAll: Tensor | null;
  private readonly countsAll: IntTensor | null;
  private statTokens = 0;
  private statForwards = 0;
  private statAllMacs = 0;
  private readonly base: { tokens: Float64Array[]; routed: Float64Array[]; dropped: Float64Array; macs: Float64Array; aux: Float64Array };
  private readonly loadBase: Float64Array[];
  // Sampling.
  private caches: Tensor[] | null = null;
  /** The decode graph's position [1] on the device (decode-graph.ts), made on first use. */
  private decodePos: IntTensor | null = null;
  private readonly sampleIds: IntTensor;
  private readonly sampling: CachedWindow;

  constructor(readonly ops: Ops, config: MoeTransformerConfig, rng: Rng, kind: 'moe' | 'moe-dense' = config.dense ? 'moe-dense' : 'moe') {
    const c = { ...MOE_TRANSFORMER_DEFAULTS, ...config };
    const dense = kind === 'moe-dense' || Boolean(c.dense);
    this.kind = dense ? 'moe-dense' : 'moe';
    const { vocabSize: V, layers: L, heads: H, dModel: C, context, experts, expertHidden: F } = c;
    checkSizes(this.kind, { vocabSize: V, layers: L, heads: H, dModel: C, context, experts, expertHidden: F });
    if (C % H !== 0) throw new RangeError(`${this.kind}: dModel ${C} must be a multiple of heads ${H}`);
    if (c.topK !== 1 && c.topK !== 2) throw new RangeError(`${this.kind}: topK must be 1 or 2, got ${c.topK}`);
    if (!dense && experts < c.topK) throw new RangeError(`${this.kind}: ${experts} experts is fewer than topK = ${c.topK}`);
    const cf = c.capacityFactor === null || c.capacityFactor === undefined || c.capacityFactor === 0 ? null : c.capacityFactor;
    if (cf !== null && !(cf > 0)) throw new RangeError(`${this.kind}: capacityFactor must be > 0 (0 or null: dropless), got ${cf}`);
    for (const [k, v] of Object.entries({ balanceCoef: c.balanceCoef, zLossCoef: c.zLossCoef })) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${this.kind}: ${k} must be a number ≥ 0, got ${v}`);
    }
    const tie = Boolean(c.tiedEmbeddings), recompute = Boolean(c.recompute);
    const dropout = c.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`${this.kind}: dropout must be in [0, 1), got ${c.dropout}`);
    this.vocab = V; this.dim = C; this.context = context;
    this.topK = c.topK as 1 | 2;
    this.experts = dense ? 1 : experts;
    this.expertHidden = dense ? c.topK * F : F;
    this.config = {
      vocabSize: V, context, dModel: C, heads: H, layers: L, experts, topK: c.topK, expertHidden: F,
      capacityFactor: cf ?? 0, balanceCoef: c.balanceCoef, zLossCoef: c.zLossCoef, tiedEmbeddings: tie, recompute, dense,
    };
    // Saved only when used, so checkpoints of models without dropout read exactly as before.
    if (dropout > 0) this.config.dropout = dropout;
    this.embedding = new Embedding(ops, 'embed', V, C, rng, { std: 0.02 });
    this.pos = makeParam(ops, 'pos.table', [context, C], { kind: 'normal', std: 0.02 }, rng);
    const scratch = new BlockScratch(ops, C);
    const moeScratch = new MoeScratch(ops, C, this.expertHidden, this.experts, dense ? 1 : this.topK);
    const outScale = 1 / Math.sqrt(2 * L);
    const E = this.experts;
    this.auxAll = dense ? null : ops.tensor(4 * L);
    this.countsAll = dense ? null : ops.ints(4 * E * L);
    const statsOf = (l: number): MoeStatBuffers | undefined => (this.auxAll && this.countsAll
      ? { loss: this.auxAll.view(4 * l, 4), counts: this.countsAll.view(4 * E * l, 4 * E) } : undefined);
    this.blocks = Array.from({ length: L }, (_, l) => new MoeBlock(ops, `block${l}`, C, H, this.experts, this.expertHidden, rng, {
      topK: this.topK, capacityFactor: cf, balanceCoef: dense ? 0 : c.balanceCoef, zLossCoef: dense ? 0 : c.zLossCoef,
      recompute, dense, outScale, dropout, scratch, moeScratch, stats: statsOf(l),
    }));
    this.normF = new Norm(ops, 'normF', C, rng);
    this.head = tie ? null : new Linear(ops, 'head', C, V, rng, { bias: false });
    this.embedDrop = new Dropout(ops, dropout, rng, C);
    this.params = [...this.embedding.params, this.pos, ...this.blocks.flatMap((b) => b.params),
      ...this.normF.params, ...(this.head ? this.head.params : [])];
    this.stack = new StackBuffers(ops, L, C, V);
    this.posIds = ops.ints(context);
    this.posView = this.posIds;
    this.sampleIds = ops.ints(context);
    this.sampling = new CachedWindow(context, this.vocab, this.sampleIds);
    this.base = {
      tokens: this.blocks.map(() => new Float64Array(E)), routed: this.blocks.map(() => new Float64Array(E)),
      dropped: new Float64Array(L), macs: new Float64Array(L), aux: new Float64Array(L),
    };
    this.loadBase = this.blocks.map(() => new Float64Array(E));
  }

  /** Position ids [B·T] (row b·T + t → start + t), rebuilt only when the shape changes. */
  private positionIds(B: number, T: number, start: number): IntTensor {
    const key = this.posKey;
    if (key[0] !== B || key[1] !== T || key[2] !== start) {
      if (this.posIds.size < B * T) this.posIds = this.ops.ints(B * T);
      const d = this.posIds.data;
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) d[b * T + t] = start + t;
      key[0] = B; key[1] = T; key[2] = start;
      this.posView = B * T === this.posIds.size ? this.posIds : this.posIds.view(0, B * T);
    }
    return this.posView;
  }

  /**
   * ids [B·T] at positions start … → logits [B·T, V] (the rows of this.logits). `train`: with
   * dropout (when configured).
   */
  private forward(ids: IntTensor, B: number, T: number, start: number, caches: Tensor[] | null, count: boolean,
    dropless: boolean, devicePos: IntTensor | null = null, train = false): Tensor {
    const { ops, dim: C } = this, n = B * T, L = this.blocks.length;
    if (start + T > this.context) throw new RangeError(`${this.kind}: positions ${start}..${start + T - 1} exceed the context length ${this.context}`);
    const x0 = this.stack.xs[0].rows(n), tmp = this.stack.dA.rows(n);
    this.embedding.forward(ids, x0, n);
    ops.embedding(this.pos.value, devicePos ?? this.positionIds(B, T, start), tmp, n, C);
    ops.add(x0, tmp, x0);
    this.embedDrop.forward(x0, x0, n, train);
    // Sampling (caches, windowLogProbs) is dropless; forwardBackward (training and validation) applies the capacity.
    const mode: MoeForwardMode = { count, dropless, train };
    for (let l = 0; l < L; l++) {
      this.blocks[l].forward(this.stack.xs[l].rows(n), this.stack.xs[l + 1].rows(n), B, T, mode, caches ? caches[l] : null, start,
        devicePos);
    }
    this.normF.forward(this.stack.xs[L].rows(n), this.stack.hF.rows(n), n);
    const logits = this.stack.headForward(ops, this.head, this.embedding, n);
    if (count) {
      // Host-known totals only; per-layer counts and losses accumulate on the backend (layer counters).
      this.statTokens += n;
      this.statForwards++;
      this.statAllMacs += 3 * C * this.expertHidden * this.experts * n * L;
    }
    return logits;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V, dim: C } = this;
    const B = batch.batch, T = batch.time, n = B * T;
    if (T > this.context) {
      throw new RangeError(`${this.kind}: a window of ${T} tokens is longer than the context length ${this.context} (use --seq ≤ --context)`);
    }
    const ids = n === batch.inputs.size ? batch.inputs : batch.inputs.view(0, n);
    const targets = n === batch.targets.size ? batch.targets : batch.targets.view(0, n);
    // Token ids and targets live on the host (the batcher writes them): check and count there.
    const count = countTargets(targets, n);
    checkTokens(this.kind, ids.data, V, n);
    const logits = this.forward(ids, B, T, 0, null, train, false, null, train);
    const grad = train && count > 0;
    const sum = ops.softmaxCrossEntropy(logits, targets, n, V, grad ? logits : null, grad ? 1 / count : 0);
    if (train) {
      // The aux losses' gradients are part of every block's backward; with no real target the
      // LM gradient is zero but the router still gets them.
      if (!grad) ops.fill(logits, 0);
      const { stack } = this;
      stack.headBackward(ops, this.head, this.embedding, logits, n);
      const dx0 = stack.backward(ops, this.normF, this.blocks, B, T);
      this.embedDrop.backward(dx0, dx0);
      ops.embeddingBackward(dx0, this.positionIds(B, T, 0), this.pos.grad, n, C);
      this.embedding.backward(dx0, ids, n);
    }
    return count > 0 ? sum / count : 0;
  }

  resetState(): void { /* not stateful */ }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, ...this.blocks.flatMap((b) => [b.attnDrop, b.ffnDrop])];
  }

  /** min over layers of the last forward's routing margin (see MixtureOfExperts.routingMargin). */
  routingMargin(): number {
    return Math.min(...this.blocks.map((b) => b.ffn.routingMargin()));
  }

  // ---- statistics --------------------------------------------------------------------------------

  /**
   * Every layer's cumulative counters with the backend's totals folded in: one read of each
   * model-wide stat tensor when a counted forward ran since the last fold, none otherwise.
   */
  private layerCounters(): MoeCounters[] {
    if (this.auxAll && this.countsAll && this.blocks.some((b) => b.ffn.countersPending)) {
      void this.auxAll.data; void this.countsAll.data; // whole tensors: the layers' views then read the host copy
    }
    return this.blocks.map((b) => b.ffn.counters);
  }

  /** Counters of the training forwards (forwardBackward with train) since resetStats(). */
  stats(): MoeStats {
    const cs = this.layerCounters(), b = this.base;
    let expertMacs = 0, aux = 0;
    cs.forEach((c, l) => { expertMacs += c.expertForwardMacs - b.macs[l]; aux += c.auxLoss - b.aux[l]; });
    return {
      layers: cs.map((c, l) => ({
        tokensPerExpert: Array.from(c.tokensPerExpert, (v, e) => v - b.tokens[l][e]),
        routedPerExpert: Array.from(c.routedPerExpert, (v, e) => v - b.routed[l][e]),
        dropped: c.dropped - b.dropped[l],
      })),
      expertMacs,
      allExpertsMacs: this.statAllMacs,
      auxLoss: this.statForwards > 0 ? aux / this.statForwards : 0,
      tokens: this.statTokens,
    };
  }

  resetStats(): void {
    this.statTokens = 0; this.statForwards = 0; this.statAllMacs = 0;
    const b = this.base;
    this.layerCounters().forEach((c, l) => {
      b.tokens[l].set(c.tokensPerExpert); b.routed[l].set(c.routedPerExpert);
      b.dropped[l] = c.dropped; b.macs[l] = c.expertForwardMacs; b.aux[l] = c.auxLoss;
    });
  }

  /** Share of kept assignments per expert, per layer, since the last call (then resets). */
  expertLoad(): number[][] {
    return this.layerCounters().map((c, l) => {
      const since = Array.from(c.tokensPerExpert, (v, e) => v - this.loadBase[l][e]);
      this.loadBase[l].set(c.tokensPerExpert);
      const total = since.reduce((s, v) => s + v, 0);
      return since.map((v) => (total > 0 ? v / total : 0));
    });
  }

  /**
   * Training FLOPs per token (forward + backward, 2 FLOPs per multiply-add, backward = 2× forward):
   * 6 × the active weights a token meets (QKV, Wo, router, k experts or the dense FFN, LM head)
   * plus attention 12·L·C·context (QKᵀ and PV over the full context, PaLM's convention, no causal
   * halving). Dropped assignments are not subtracted.
   */
  flopsPerToken(): number {
    const C = this.dim, L = this.blocks.length, F = this.expertHidden;
    const dense = this.kind === 'moe-dense';
    const perLayer = 4 * C * C + (dense ? 3 * C * F : C * this.experts + this.topK * 3 * C * F);
    return 6 * (L * perLayer + C * this.vocab) + 12 * L * C * this.context;
  }

  // ---- sampling ----------------------------------------------------------------------------------

  /** Log-softmax rows of an uncached (dropless, uncounted) forward over one window, for tests. */
  windowLogProbs(tokens: number[]): Float64Array[] {
    const T = tokens.length;
    if (T < 1 || T > this.context) throw new RangeError(`${this.kind}: a window must have 1..${this.context} tokens, got ${T}`);
    checkTokens(this.kind, tokens, this.vocab);
    const ids = this.sampleIds.view(0, T);
    ids.data.set(tokens);
    const logits = this.forward(ids, 1, T, 0, null, false, true);
    return Array.from({ length: T }, (_, t) => logSoftmaxRow(logits.data, t, this.vocab));
  }

  nextLogProbs(tokens: number[]): Float64Array {
    checkTokens(this.kind, tokens, this.vocab);
    if (this.caches === null) this.caches = this.blocks.map(() => this.ops.tensor(this.context * 3 * this.dim));
    const caches = this.caches;
    const g = decodeGraphOps(this.ops);
    return this.sampling.next(tokens, (ids, n, pos) => {
      if (g === null || n !== 1) return this.forward(ids, 1, n, pos, caches, false, true);
      // One new token: the same launches at every position, so one graph (see decode-graph.ts).
      const dp = (this.decodePos ??= this.ops.ints(1));
      dp.data[0] = pos;
      return g.graphStep(this, () => this.forward(ids, 1, 1, pos, caches, false, true, dp));
    });
  }


  resetSampling(): void {
    this.sampling.reset();
  }

  limitWindow(n: number): void {
    this.sampling.limit(n);
  }
}

// ---- registry specs ------------------------------------------------------------------------------

const MOE_OPTIONS: ModelSpec['options'] = [
  { key: 'layers', type: 'int', min: 1, max: 64, description: 'transformer blocks' },
  { key: 'heads', type: 'int', min: 1, max: 256, description: 'attention heads (--d-model must be a multiple)' },
  { key: 'dModel', type: 'int', min: 1, max: 8192, description: 'residual stream width' },
  { key: 'context', type: 'int', min: 1, max: 65536, description: 'longest window (learned position rows); --seq must not exceed it' },
  { key: 'experts', type: 'int', min: 1, max: 256, description: 'experts per MoE layer (moe-dense: ignored)' },
  { key: 'topK', type: 'int', min: 1, max: 2, description: 'experts per token, 1 or 2 (moe-dense: FFN hidden = top-k · expert-hidden)' },
  { key: 'expertHidden', type: 'int', min: 1, max: 65536, description: 'hidden width of each SwiGLU expert' },
  { key: 'capacityFactor', type: 'float', min: 0, max: 64, description: 'expert capacity = ceil(c·tokens·k/E) in training; 0: dropless' },
  { key: 'balanceCoef', type: 'float', min: 0, max: 100, description: 'load-balancing loss coefficient α' },
  { key: 'zLossCoef', type: 'float', min: 0, max: 100, description: 'router z-loss coefficient β' },
  { key: 'tiedEmbeddings', type: 'boolean', aliases: ['tie'], description: 'tie the LM head to the token embedding table' },
  { key: 'recompute', type: 'boolean', description: 'recompute the experts in backward instead of saving their activations' },
  DROPOUT_OPTION,
];

/** The registry spec of one variant; both share the options, defaults and training defaults. */
function moeSpec(kind: 'moe' | 'moe-dense', description: string): ModelSpec {
  return {
    name: kind,
    description,
    stateful: false,
    defaults: { ...MOE_TRANSFORMER_DEFAULTS },
    options: MOE_OPTIONS,
    // Meant for TinyStories on a CPU: byte-level BPE, AdamW with decoupled weight decay 0.1, warmup
    // then cosine decay (with a step count), clip 1, windows of the whole context.
    trainDefaults: {
      lr: 1e-3, sgdLr: 0.3, optimizer: 'adamw', weightDecay: 0.1, tokenizer: 'bpe', batch: 16, seq: 'context', clip: 1,
      valBatches: 20, schedule: 'cosine', warmupFraction: 0.05, maxWarmup: 200, timeWarmup: 100,
    },
    check: (c) => {
      checkHeadsDivide(c.dModel, c.heads);
      if (kind === 'moe' && Number(c.experts) < Number(c.topK)) {
        throw new RangeError(`--experts ${c.experts} is fewer than --top-k ${c.topK} (each token goes to top-k different experts)`);
      }
    },
      create: (ops, config, rng) => {
      const c = config as unknown as MoeTransformerConfig;
      return new MoeTransformer(ops, kind === 'moe-dense' ? { ...c, dense: true } : c, rng, kind);
    },
  };
}

export const MOE_MODEL = moeSpec('moe',
  'sparse Mixture-of-Experts transformer: pre-LN attention + top-k routed SwiGLU experts (grouped GEMM), KV-cached sampling');

export const MOE_DENSE_MODEL = moeSpec('moe-dense',
  'dense baseline of moe: the same transformer with one SwiGLU FFN of hidden top-k · expert-hidden (matched active parameters)');
