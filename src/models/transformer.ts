// A decoder-only (GPT-style) transformer language model, pre-LayerNorm, every gradient by hand.
//
//   ids [B, T] (batch-major, as TokenBatch; rows are r = b·T + t throughout, no transposes)
//   x₀     = E[ids] + P[t]                       [B·T, C]     E: [V, C] token table, P: positions
//   for each of the N blocks:
//     x    = x + Attn(Norm₁(x))                  causal multi-head self-attention (layers/attention.ts)
//     x    = x + FFN(Norm₂(x))                   SwiGLU or GELU MLP (layers/feedforward.ts)
//   h      = Norm_f(x_N)                         [B·T, C]
//   logits = h · Wout   (or h · Eᵀ when tied)    [B·T, V]
//   loss   = mean CE(softmax(logits), targets) over non-padding targets      (fused op)
//
// Backward is the same chain reversed: dlogits (written over the logits) → head (dWout, or dE for
// a tied table, which makes E's gradient dense: every row is marked touched) → Norm_f → each
// block (the residual adds copy the gradient to both branches; Norm backward accumulates into
// the skip path's gradient) → positions (dP) → token embedding (scatter-add).
//
// Dropout (config.dropout = p, training only; GPT-2's four sites): on the embeddings x₀, on each
// block's two residual branches before they are added — the attention output and the FFN output:
//     x = x + Drop(Attn(Norm₁(x))),  x = x + Drop(FFN(Norm₂(x)))
// — and on the attention probabilities (GPT-2's attn_pdrop, the same p): out_i = Σ_j Drop(P)_ij v_j.
// Each branch's backward multiplies its incoming gradient by the same mask (layers/dropout.ts).
// The probabilities never leave the fused attention kernel, so their mask is not stored: the kernel
// hashes (seed, head, i, j) (AttentionShape.dropout in ops/types.ts), and the seed is drawn per
// training forward from the block's attention-branch Dropout (Dropout.seedFor: the model's Rng, so
// runs are deterministic and resume bit-exact; frozen with that Dropout for gradient checks).
//
// Init (GPT-2 flavour): E ~ N(0, 0.02²), learned P ~ N(0, 0.02²), QKV and
// FFN input projections Xavier, the two residual-branch output projections Xavier scaled by
// 1/√(2N) so the residual stream's variance does not grow with depth, norms at gamma 1, beta 0.
//
// Not stateful: every window is independent (random-window batcher); T may not exceed `context`.
//
// Sampling with a key/value cache: nextLogProbs feeds tokens incrementally; each layer keeps the
// keys and values of the positions seen so far ([H, context, d]), so a new token costs one row
// through each layer. When the window is full (a token would land at position `context`), the
// window slides: the cache is rebuilt from the last `context` tokens (positions restart at 0).
// Shifting the cache instead would be wrong with absolute positions (every cached key carries its
// old position), so once full every new token costs one full recompute of the window: exact
// (the same logits as an uncached forward over the last `context` tokens), O(context²) per token.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { RowBuffer } from '../layers/buffer.js';
import { Norm, NORM_KINDS, type NormKind } from '../layers/layernorm.js';
import { FeedForward, FFN_KINDS, type FfnKind } from '../layers/feedforward.js';
import { Positional, POSITION_KINDS, type PositionKind } from '../layers/positional.js';
import { CausalSelfAttention, type KVCache } from '../layers/attention.js';
import { Dropout } from '../layers/dropout.js';
import type { AttentionMap, ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { StackBuffers } from './block-stack.js';
import { logSoftmaxRow } from './sample.js';
import { CachedWindow } from './cached-window.js';
import { checkHeadsDivide, checkSizes, checkTokens } from './checks.js';
import { countTargets } from './bigram.js';
import { DROPOUT_OPTION } from './dropout-option.js';

export interface TransformerConfig {
  vocabSize: number;
  /** N: blocks. */
  layers: number;
  /** H: attention heads (dModel must be a multiple). */
  heads: number;
  /** C: the residual stream's width. */
  dModel: number;
  /** F: the feed-forward hidden width; 0 = auto (4C for gelu, 8C/3 rounded up to a multiple of 8 for swiglu). */
  ffHidden: number;
  /** The longest window (learned positions have this many rows). */
  context: number;
  norm: NormKind;
  ffn: FfnKind;
  positions: PositionKind;
  /** Tie the output projection to the token embedding table (logits = h·Eᵀ). Default false. */
  tiedEmbeddings?: boolean;
  /** @deprecated The old name of tiedEmbeddings: checkpoints saved before the rename have it. */
  tie?: boolean;
  /** Dropout probability on the embeddings, both residual branches and the attention probabilities, in training (0: none). */
  dropout?: number;
}

export const TRANSFORMER_DEFAULTS = {
  layers: 2, heads: 4, dModel: 64, ffHidden: 0, context: 128,
  norm: 'layernorm' as NormKind, ffn: 'swiglu' as FfnKind, positions: 'learned' as PositionKind, tiedEmbeddings: false, dropout: 0,
};

/** The auto feed-forward width for `ffHidden: 0`. */
export function autoFfHidden(dModel: number, ffn: FfnKind): number {
  return ffn === 'gelu' ? 4 * dModel : Math.ceil((8 * dModel) / 3 / 8) * 8;
}

/** One pre-norm block: x + Attn(Norm₁(x)), then + FFN(Norm₂(·)). Owns its saved activations. */
export class TransformerBlock {
  readonly norm1: Norm;
  readonly attn: CausalSelfAttention;
  readonly norm2: Norm;
  readonly ffn: FeedForward;
  // Saved [n, C]: h1 = Norm₁(x), a = Attn(h1), xm = x + a, h2 = Norm₂(xm), f = FFN(h2).
  private readonly h1: RowBuffer;
  private readonly a: RowBuffer;
  private readonly xm: RowBuffer;
  private readonly h2: RowBuffer;
  private readonly f: RowBuffer;
  // Backward scratch [n, C].
  private readonly dh: RowBuffer;
  private readonly dxm: RowBuffer;
  private readonly dbranch: RowBuffer;
  /** Dropout on the attention and FFN branch outputs (p 0: pass-through); attnDrop also seeds the attention probabilities' mask. */
  readonly attnDrop: Dropout;
  readonly ffnDrop: Dropout;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, heads: number, ffHidden: number, rng: Rng,
    opts: { norm?: NormKind; ffn?: FfnKind; outScale?: number; dropout?: number } = {}) {
    this.norm1 = new Norm(ops, `${name}.norm1`, dim, rng, { kind: opts.norm });
    this.attn = new CausalSelfAttention(ops, `${name}.attn`, dim, heads, rng, { outScale: opts.outScale });
    this.norm2 = new Norm(ops, `${name}.norm2`, dim, rng, { kind: opts.norm });
    this.ffn = new FeedForward(ops, `${name}.ffn`, dim, ffHidden, rng, { kind: opts.ffn, outScale: opts.outScale });
    const buf = () => new RowBuffer(ops, dim);
    this.h1 = buf(); this.a = buf(); this.xm = buf(); this.h2 = buf(); this.f = buf();
    this.dh = buf(); this.dxm = buf(); this.dbranch = buf();
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.attnDrop = new Dropout(ops, opts.dropout ?? 0, rng, dim);
    this.ffnDrop = new Dropout(ops, opts.dropout ?? 0, rng, dim);
  }

  get params(): Param[] {
    return [...this.norm1.params, ...this.attn.params, ...this.norm2.params, ...this.ffn.params];
  }

  /** x [B·T, C] → y [B·T, C] (overwrites; y may not alias x). `train`: apply dropout (when configured). */
  forward(x: Tensor, y: Tensor, B: number, T: number, train = false): void {
    const n = B * T;
    const h1 = this.h1.rows(n), a = this.a.rows(n), xm = this.xm.rows(n), h2 = this.h2.rows(n), f = this.f.rows(n);
    this.norm1.forward(x, h1, n);
    // Dropout on P: a fresh mask seed per training forward (the backward regenerates its mask).
    const pDrop = this.attnDrop.active(train) ? this.attnDrop.p : 0;
    this.attn.forward(h1, a, B, T, pDrop, pDrop > 0 ? this.attnDrop.seedFor() : 0);
    this.attnDrop.forward(a, a, n, train);
    this.ops.add(x, a, xm);
    this.norm2.forward(xm, h2, n);
    this.ffn.forward(h2, f, n);
    this.ffnDrop.forward(f, f, n, train);
    this.ops.add(xm, f, y);
  }

  /** Given the forward input x and dy: accumulates parameter gradients, writes dx (overwrites). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void {
    const { ops } = this, n = B * T;
    const h1 = this.h1.rows(n), xm = this.xm.rows(n), h2 = this.h2.rows(n), dh = this.dh.rows(n), dxm = this.dxm.rows(n);
    const dbr = this.dbranch.rows(n);
    // y = xm + Drop(FFN(Norm₂(xm))): dxm = dy + Norm₂ᵀ(FFNᵀ(dy ⊙ m))
    ops.copy(dy, dxm);
    this.ffnDrop.backward(dy, dbr);
    this.ffn.backward(h2, dbr, dh, n);
    this.norm2.backward(xm, dh, dxm, n);
    // xm = x + Drop(Attn(Norm₁(x))): dx = dxm + Norm₁ᵀ(Attnᵀ(dxm ⊙ m))
    ops.copy(dxm, dx);
    this.attnDrop.backward(dxm, dbr);
    this.attn.backward(h1, dbr, dh, B, T);
    this.norm1.backward(x, dh, dx, n);
  }

  /** Decoding: rows of positions pos … pos+n−1 of one sequence, through the attention's KV cache. */
  forwardCached(x: Tensor, y: Tensor, n: number, pos: number, cache: KVCache): void {
    const h1 = this.h1.rows(n), a = this.a.rows(n), xm = this.xm.rows(n), h2 = this.h2.rows(n), f = this.f.rows(n);
    this.norm1.forward(x, h1, n);
    this.attn.forwardCached(h1, a, n, pos, cache);
    this.ops.add(x, a, xm);
    this.norm2.forward(xm, h2, n);
    this.ffn.forward(h2, f, n);
    this.ops.add(xm, f, y);
  }
}

export class TransformerLM implements SequenceModel {
  readonly kind = 'transformer';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly vocab: number;
  readonly dim: number;
  readonly context: number;
  readonly embedding: Embedding;
  readonly positions: Positional;
  readonly blocks: TransformerBlock[];
  readonly normF: Norm;
  /** The untied output projection [C, V] (null when tied to the embedding table). */
  readonly head: Linear | null;
  /** The residual stream, the final norm's output, the logits and the backward's gradient buffers. */
  private readonly stack: StackBuffers;
  /** Dropout on the embeddings (the blocks hold their own). */
  readonly embedDrop: Dropout;
  // Sampling state: the tokens in the window, one KV cache per block, and a small id buffer.
  private caches: KVCache[] | null = null;
  private sampleIds: IntTensor;
  private readonly sampling: CachedWindow;

  constructor(readonly ops: Ops, config: TransformerConfig, rng: Rng) {
    const c = { ...TRANSFORMER_DEFAULTS, ...config };
    const { vocabSize: V, layers: L, heads: H, dModel: C, context } = c;
    checkSizes('transformer', { vocabSize: V, layers: L, heads: H, dModel: C, context });
    if (C % H !== 0) throw new RangeError(`transformer: dModel ${C} must be a multiple of heads ${H}`);
    if (!NORM_KINDS.includes(c.norm)) throw new RangeError(`transformer: norm must be ${NORM_KINDS.join(' or ')}, got '${c.norm}'`);
    if (!FFN_KINDS.includes(c.ffn)) throw new RangeError(`transformer: ffn must be ${FFN_KINDS.join(' or ')}, got '${c.ffn}'`);
    if (!POSITION_KINDS.includes(c.positions)) throw new RangeError(`transformer: positions must be ${POSITION_KINDS.join(' or ')}, got '${c.positions}'`);
    const F = c.ffHidden === 0 || c.ffHidden === undefined ? autoFfHidden(C, c.ffn) : c.ffHidden;
    if (!Number.isInteger(F) || F < 1) throw new RangeError(`transformer: ffHidden must be an integer ≥ 0, got ${c.ffHidden}`);
    // The config as given decides (an old checkpoint's config says `tie`, not tiedEmbeddings).
    const tie = Boolean(config.tiedEmbeddings ?? config.tie ?? TRANSFORMER_DEFAULTS.tiedEmbeddings);
    const dropout = c.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`transformer: dropout must be in [0, 1), got ${c.dropout}`);
    this.vocab = V;
    this.dim = C;
    this.context = context;
    this.config = { vocabSize: V, layers: L, heads: H, dModel: C, ffHidden: F, context, norm: c.norm, ffn: c.ffn, positions: c.positions, tiedEmbeddings: tie };
    // Saved only when used, so checkpoints of models without dropout read exactly as before.
    if (dropout > 0) this.config.dropout = dropout;
    this.embedding = new Embedding(ops, 'embed', V, C, rng, { std: 0.02 });
    this.positions = new Positional(ops, 'pos', context, C, rng, { kind: c.positions });
    const outScale = 1 / Math.sqrt(2 * L);
    this.blocks = Array.from({ length: L }, (_, l) =>
      new TransformerBlock(ops, `block${l}`, C, H, F, rng, { norm: c.norm, ffn: c.ffn, outScale, dropout }));
    this.normF = new Norm(ops, 'normF', C, rng, { kind: c.norm });
    this.head = tie ? null : new Linear(ops, 'head', C, V, rng, { bias: false });
    this.embedDrop = new Dropout(ops, dropout, rng, C);
    this.params = [...this.embedding.params, ...this.positions.params, ...this.blocks.flatMap((b) => b.params),
      ...this.normF.params, ...(this.head ? this.head.params : [])];
    this.stack = new StackBuffers(ops, L, C, V);
    this.sampleIds = ops.ints(context);
    this.sampling = new CachedWindow(context, this.vocab, this.sampleIds);
  }

  /**
   * ids [n] at positions start … (per sequence of T) → logits [n, V] (the rows of the stack's logits).
   * `train`: with dropout (when configured).
   */
  private forward(ids: IntTensor, B: number, T: number, start: number, caches: KVCache[] | null, train = false): Tensor {
    const n = B * T, L = this.blocks.length, { xs } = this.stack;
    const x0 = xs[0].rows(n);
    this.embedding.forward(ids, x0, n);
    this.positions.forward(x0, B, T, start);
    this.embedDrop.forward(x0, x0, n, train);
    for (let l = 0; l < L; l++) {
      const xin = xs[l].rows(n), xout = xs[l + 1].rows(n);
      if (caches) this.blocks[l].forwardCached(xin, xout, n, start, caches[l]);
      else this.blocks[l].forward(xin, xout, B, T, train);
    }
    this.normF.forward(xs[L].rows(n), this.stack.hF.rows(n), n);
    return this.stack.headForward(this.ops, this.head, this.embedding, n);
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V } = this;
    const B = batch.batch, T = batch.time, n = B * T, L = this.blocks.length;
    if (T > this.context) {
      throw new RangeError(`transformer: a window of ${T} tokens is longer than the context length ${this.context} (use --seq ≤ --context)`);
    }
    const ids = n === batch.inputs.size ? batch.inputs : batch.inputs.view(0, n);
    const targets = n === batch.targets.size ? batch.targets : batch.targets.view(0, n);
    const count = countTargets(targets, n);
    checkTokens('transformer', ids.data, V, n);
    const logits = this.forward(ids, B, T, 0, null, train);
    const grad = train && count > 0;
    // dlogits overwrites the logits (allowed by the op).
    const sum = ops.softmaxCrossEntropy(logits, targets, n, V, grad ? logits : null, grad ? 1 / count : 0);
    if (grad) {
      // head: dh = dlogits · Wᵀ (or · E), dW += hᵀ·dlogits (or dE += dlogitsᵀ·h); then the final norm
      // and the blocks, last to first (block-stack.ts)
      this.stack.headBackward(ops, this.head, this.embedding, logits, n);
      const dx0 = this.stack.backward(ops, this.normF, this.blocks, B, T);
      this.embedDrop.backward(dx0, dx0);
      this.positions.backward(dx0, B, T, 0);
      this.embedding.backward(dx0, ids, n);
    }
    return count > 0 ? sum / count : 0;
  }

  resetState(): void { /* not stateful */ }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, ...this.blocks.flatMap((b) => [b.attnDrop, b.ffnDrop])];
  }

  /**
   * The log-softmax rows of an uncached forward over one window (for tests: what the KV-cached
   * nextLogProbs must reproduce). tokens.length ≤ context.
   */
  windowLogProbs(tokens: number[]): Float64Array[] {
    const T = tokens.length;
    if (T < 1 || T > this.context) throw new RangeError(`transformer: a window must have 1..${this.context} tokens, got ${T}`);
    const ids = this.ops.intsFrom(tokens);
    const logits = this.forward(ids, 1, T, 0, null);
    return Array.from({ length: T }, (_, t) => logSoftmaxRow(logits.data, t, this.vocab));
  }

  /**
   * The causal attention probabilities of an uncached forward over one window (tokens.length ≤
   * context), one T × T matrix per layer and head, labelled "layer l · head h" (1-based), in that
   * order. Each row sums to 1; entries above the diagonal are exactly 0. Reuses the training
   * path's activation buffers (overwritten, as by windowLogProbs); leaves the parameters, their
   * gradients and the sampling state (the window and its KV caches) untouched.
   */
  attentionMaps(tokens: number[]): AttentionMap[] {
    const T = tokens.length, V = this.vocab;
    if (T < 1 || T > this.context) throw new RangeError(`transformer: a window must have 1..${this.context} tokens, got ${T}`);
    checkTokens('transformer', tokens, V);
    this.forward(this.ops.intsFrom(tokens), 1, T, 0, null);
    const maps: AttentionMap[] = [];
    this.blocks.forEach((block, l) => {
      const P = block.attn.probabilities().data; // [1, H, T, T]
      for (let h = 0; h < block.attn.heads; h++) {
        const matrix = Array.from({ length: T }, (_, i) =>
          Array.from({ length: T }, (_, j) => (j > i ? 0 : P[(h * T + i) * T + j])));
        maps.push({ label: `layer ${l + 1} · head ${h + 1}`, matrix });
      }
    });
    return maps;
  }

  nextLogProbs(tokens: number[]): Float64Array {
    checkTokens('transformer', tokens, this.vocab);
    if (this.caches === null) this.caches = this.blocks.map((b) => b.attn.newCache(this.context));
    const caches = this.caches;
    return this.sampling.next(tokens, (ids, n, pos) => this.forward(ids, 1, n, pos, caches));
  }


  resetSampling(): void {
    this.sampling.reset();
  }

  limitWindow(n: number): void {
    this.sampling.limit(n);
  }
}

// ---- registry spec ------------------------------------------------------------------------------

export const TRANSFORMER_MODEL: ModelSpec = {
  name: 'transformer',
  description: 'decoder-only transformer: embeddings + positions → pre-norm attention/FFN blocks → LM head (KV-cached sampling)',
  stateful: false,
  defaults: { ...TRANSFORMER_DEFAULTS },
  options: [
    { key: 'layers', type: 'int', min: 1, max: 64, description: 'transformer blocks' },
    { key: 'heads', type: 'int', min: 1, max: 256, description: 'attention heads (--d-model must be a multiple)' },
    { key: 'dModel', type: 'int', min: 1, max: 8192, description: 'residual stream width' },
    { key: 'ffHidden', type: 'int', min: 0, max: 65536, description: 'feed-forward hidden width (0: 4·d-model for gelu, 8/3·d-model for swiglu)' },
    { key: 'context', type: 'int', min: 1, max: 65536, description: 'longest window (learned position rows); --seq must not exceed it' },
    { key: 'norm', type: 'choice', choices: NORM_KINDS, description: 'normalisation: layernorm or rmsnorm' },
    { key: 'ffn', type: 'choice', choices: FFN_KINDS, description: 'feed-forward block: swiglu or gelu' },
    { key: 'positions', type: 'choice', choices: POSITION_KINDS, description: 'position embeddings: learned or sinusoidal' },
    { key: 'tiedEmbeddings', type: 'boolean', aliases: ['tie'], description: 'tie the output projection to the token embedding table' },
    DROPOUT_OPTION,
  ],
  // seq 'context': every learned position row is trained (a shorter window leaves the rest random).
  trainDefaults: { lr: 1e-3, sgdLr: 0.3, optimizer: 'adam', seq: 'context' },
  check: (c) => checkHeadsDivide(c.dModel, c.heads),
  create: (ops, config, rng) => new TransformerLM(ops, config as unknown as TransformerConfig, rng),
};
