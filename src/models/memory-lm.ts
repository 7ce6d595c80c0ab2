// A character language model whose token mixer is a continuum memory system (Nested Learning,
// Behrouz et al. 2025) instead of attention: every block reads and writes associative memories
// (linear-memory.ts) that are trained by an inner optimiser one token at a time, at several update
// frequencies (continuum-memory.ts). Pre-LayerNorm, every gradient by hand.
//
//   ids [B, T] (batch-major rows r = b·T + t, as TokenBatch)
//   x₀     = E[ids]                                         [B·T, C]   no position embeddings: the
//                                                           memory recurrence is causal and ordered
//   for each of the N blocks:
//     h    = Norm₁(x)
//     y_j  = CMS_j(h)        for heads j = 1 … H            [B·T, d]   d = C / H, each head its own
//                                                           ContinuumMemory (levels with periods
//                                                           base^0, base^1, …: default 1, 4, 16)
//     x    = x + concat_j(y_j) · Wo                         Wo [C, C]
//     x    = x + FFN(Norm₂(x))                              SwiGLU (or GELU) MLP
//   logits = Norm_f(x_N) · Whead                            [B·T, V]
//   loss   = mean CE over non-padding targets               (fused op)
//
// Why heads: a memory is a d_v × d_k matrix per sequence, and BPTT through it stores one per token
// (linear-memory.ts), so one C × C memory would cost C² per token per level in time and in saved
// state; H heads of (C/H)² cost C²/H (4 heads at C = 64: 1 024 instead of 4 096 numbers per token
// per level), the same trade multi-head linear attention makes. A block runs its heads together
// (layers/memory-heads.ts): one projection GEMM for every level of every head, and one recurrence
// call per level for all heads, reading that GEMM's output in place — the same maths and
// parameters as each head's ContinuumMemory run alone.
//
// Inner step sizes: level l commits the SUM of the inner gradients of its chunk of C_l tokens, each
// taken at the same (stale) state, so with normalised keys one commit moves M by up to η·C_l times
// a single step's worth; the delta rule is stable for η·λmax(Σ k kᵀ) < 2. So level l uses
// η_l = innerLr / C_l by default (the MEAN gradient of its chunk), which keeps every level stable at
// innerLr ≤ 1 whatever its period.
//
// Dropout (config.dropout = p, training only; the transformer's sites, src/models/transformer.ts):
// on the embeddings x₀, and on each block's two residual branches before they are added — the
// memory branch's output (concat_j(y_j)·Wo, the memories' read-outs after their projection) and
// the FFN output:
//     x = x + Drop(concat_j(y_j) · Wo),  x = x + Drop(FFN(Norm₂(x)))
// Each branch's backward multiplies its incoming gradient by the same mask (layers/dropout.ts).
// Inside the recurrence nothing is dropped: the memories' writes and reads see Norm₁(x) whole, so
// what a memory stores does not depend on the mask (a dropped key would be a different write).
//
// Windows: not stateful. Every training window starts every memory at zero (random windows, like
// the transformer), so the model learns to write its context into memory from scratch each time;
// carrying memories across windows would need the layers to start from a given state (they do not)
// and would make the windows' gradients depend on each other.
//
// Sampling carries the memories across tokens: nextLogProbs runs one token at a time through a
// step-by-step run of the memory recurrence (MemoryStepper below: the reference write and read of
// Ops.memoryForward, forward only), so a token costs O(1) whatever the history; the memories are
// never reset until resetSampling(). Beyond the training window length this is extrapolation (the
// memories were trained on windows of --seq tokens); with normalised keys the delta rule keeps them
// bounded. The tests check the stepper against the batched forward token for token.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { RowBuffer } from '../layers/buffer.js';
import { Norm, NORM_KINDS, type NormKind } from '../layers/layernorm.js';
import { FeedForward, FFN_KINDS, type FfnKind } from '../layers/feedforward.js';
import { Dropout } from '../layers/dropout.js';
import { ContinuumMemory } from '../layers/continuum-memory.js';
import { MemoryHeads } from '../layers/memory-heads.js';
import type { LinearMemory, MemoryOptimizer, MemoryRule } from '../layers/linear-memory.js';
import { autoFfHidden } from './transformer.js';
import type { ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { logSoftmaxRow } from './sample.js';
import { checkHeadsDivide, checkSizes, checkTokens } from './checks.js';
import { countTargets } from './bigram.js';
import { StackBuffers } from './block-stack.js';
import { DROPOUT_OPTION } from './dropout-option.js';
// The sampler steps the recurrence's definition directly (see MemoryStepper).
import { MemoryState, memoryRead, memoryWrite } from '../ops/memory-recurrence.js';

export const MEMORY_RULES: readonly MemoryRule[] = ['delta', 'hebbian'];
export const INNER_OPTIMIZERS: readonly MemoryOptimizer[] = ['gd', 'momentum', 'adam'];
export const MEMORY_MIXES = ['sum', 'learned'] as const;

export interface MemoryLMConfig {
  vocabSize: number;
  /** N: blocks. */
  layers: number;
  /** H: memory heads per block (dModel must be a multiple). */
  heads: number;
  /** C: residual stream width. */
  dModel: number;
  /** F: feed-forward hidden width; 0 = auto (as the transformer's). */
  ffHidden: number;
  /** Memory levels per head; level l commits every periodBase^l tokens. */
  levels: number;
  periodBase: number;
  rule: MemoryRule;
  innerOptimizer: MemoryOptimizer;
  /** η of the fastest level; level l uses innerLr / period_l (see the header). */
  innerLr: number;
  /** L2-normalise keys and queries (keeps the delta rule stable at innerLr ≤ 1). */
  normalize: boolean;
  mix: 'sum' | 'learned';
  norm: NormKind;
  ffn: FfnKind;
  /** Dropout probability on the embeddings and both residual branches, in training (0: none). */
  dropout?: number;
}

export const MEMORY_LM_DEFAULTS = {
  layers: 2, heads: 4, dModel: 64, ffHidden: 0, levels: 3, periodBase: 4,
  rule: 'delta' as MemoryRule, innerOptimizer: 'gd' as MemoryOptimizer, innerLr: 1, normalize: true,
  mix: 'sum' as 'sum' | 'learned', norm: 'layernorm' as NormKind, ffn: 'swiglu' as FfnKind, dropout: 0,
};

/**
 * One level's memory, stepped one token at a time for sampling: the recurrence of Ops.memoryForward
 * for a single sequence, its state kept between calls. The write and read are the op's definition
 * (src/ops/memory-recurrence.ts), which the reference backend runs too: one copy of the maths.
 */
class MemoryStepper {
  private readonly state: MemoryState;
  private readonly k: Float64Array;
  private readonly v: Float64Array;
  private readonly q: Float64Array;
  private readonly y: Float64Array;

  constructor(private readonly mem: LinearMemory) {
    this.state = new MemoryState(mem.dk, mem.dv);
    this.k = new Float64Array(mem.dk); this.q = new Float64Array(mem.dk);
    this.v = new Float64Array(mem.dv); this.y = new Float64Array(mem.dv);
  }

  reset(): void { this.state.reset(); }

  /** x [inDim] (one normalised row) → adds scale · y [dv] into out at offset `o`. */
  step(x: ArrayLike<number>, out: Float64Array, o: number, scale: number): void {
    const mem = this.mem, dk = mem.dk, dv = mem.dv, inDim = mem.inDim;
    const { k, v, q, y } = this;
    project(x, mem.Wk.W.value.data, k, inDim, dk);
    project(x, mem.Wv.W.value.data, v, inDim, dv);
    project(x, mem.Wq.W.value.data, q, inDim, dk);
    if (mem.normalize) { normalizeRow(k); normalizeRow(q); }
    memoryWrite(mem.core.shape, this.state, k, 0, v, 0);
    memoryRead(this.state, q, 0, y, 0);
    for (let i = 0; i < dv; i++) out[o + i] += scale * y[i];
  }
}

/** y = x · W for one row, W [inDim, outDim] row-major (Linear's layout). */
function project(x: ArrayLike<number>, W: ArrayLike<number>, y: Float64Array, inDim: number, outDim: number): void {
  y.fill(0);
  for (let i = 0; i < inDim; i++) {
    const xi = x[i];
    for (let o = 0; o < outDim; o++) y[o] += xi * W[i * outDim + o];
  }
}

/** In place, with linear-memory.ts's floor of 1e-12 on the norm. */
function normalizeRow(y: Float64Array): void {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * y[i];
  const n = Math.max(Math.sqrt(s), 1e-12);
  for (let i = 0; i < y.length; i++) y[i] /= n;
}

/** One pre-norm block: x + Drop(Wo·concat(CMS_j(Norm₁(x)))), then + Drop(FFN(Norm₂(·))). */
export class MemoryBlock {
  readonly norm1: Norm;
  readonly memories: ContinuumMemory[];
  readonly out: Linear;
  readonly norm2: Norm;
  readonly ffn: FeedForward;
  readonly headDim: number;
  /** The heads run together: one projection GEMM for every level of every head (layers/memory-heads.ts). */
  private readonly heads: MemoryHeads;
  // Saved [n, C]: h1 = Norm₁(x), cat = the heads' outputs side by side, a = cat·Wo, xm, h2, f.
  private readonly h1: RowBuffer;
  private readonly cat: RowBuffer;
  private readonly a: RowBuffer;
  private readonly xm: RowBuffer;
  private readonly h2: RowBuffer;
  private readonly f: RowBuffer;
  private readonly dh: RowBuffer;
  private readonly dxm: RowBuffer;
  private readonly dcat: RowBuffer;
  /** A branch's incoming gradient through its dropout mask (backward scratch). */
  private readonly dbranch: RowBuffer;
  /** Dropout on the memory and FFN branch outputs (p 0: pass-through). */
  readonly memDrop: Dropout;
  readonly ffnDrop: Dropout;
  // Sampling: one stepper per head and level, and a one-row scratch for the heads' outputs.
  private steppers: MemoryStepper[][] | null = null;
  private readonly stepOut: Float64Array;

  constructor(private readonly ops: Ops, name: string, readonly dim: number, heads: number, ffHidden: number, rng: Rng,
    opts: { levels: number; periodBase: number; rule: MemoryRule; innerOptimizer: MemoryOptimizer; innerLr: number;
      normalize: boolean; mix: 'sum' | 'learned'; norm: NormKind; ffn: FfnKind; outScale: number; dropout?: number }) {
    const d = dim / heads;
    this.headDim = d;
    const periods = Array.from({ length: opts.levels }, (_, l) => opts.periodBase ** l);
    this.norm1 = new Norm(ops, `${name}.norm1`, dim, rng, { kind: opts.norm });
    this.memories = Array.from({ length: heads }, (_, j) => new ContinuumMemory(ops, `${name}.mem${j}`, dim, d, d, rng, {
      periods, etas: periods.map((p) => opts.innerLr / p), rule: opts.rule, optimizer: opts.innerOptimizer,
      normalize: opts.normalize, mix: opts.mix,
    }));
    this.heads = new MemoryHeads(ops, this.memories, dim);
    this.out = new Linear(ops, `${name}.out`, dim, dim, rng, { bias: false });
    ops.scale(this.out.W.value, opts.outScale);
    this.norm2 = new Norm(ops, `${name}.norm2`, dim, rng, { kind: opts.norm });
    this.ffn = new FeedForward(ops, `${name}.ffn`, dim, ffHidden, rng, { kind: opts.ffn, outScale: opts.outScale });
    const buf = () => new RowBuffer(ops, dim);
    this.h1 = buf(); this.cat = buf(); this.a = buf(); this.xm = buf(); this.h2 = buf(); this.f = buf();
    this.dh = buf(); this.dxm = buf(); this.dcat = buf(); this.dbranch = buf();
    this.stepOut = new Float64Array(dim);
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.memDrop = new Dropout(ops, opts.dropout ?? 0, rng, dim);
    this.ffnDrop = new Dropout(ops, opts.dropout ?? 0, rng, dim);
  }

  get params(): Param[] {
    return [...this.norm1.params, ...this.memories.flatMap((m) => m.params), ...this.out.params,
      ...this.norm2.params, ...this.ffn.params];
  }

  /** x [B·T, C] → y [B·T, C] (overwrites; y may not alias x). `train`: apply dropout (when configured). */
  forward(x: Tensor, y: Tensor, B: number, T: number, train = false): void {
    const n = B * T;
    const h1 = this.h1.rows(n), cat = this.cat.rows(n), a = this.a.rows(n), xm = this.xm.rows(n);
    this.norm1.forward(x, h1, n);
    this.heads.forward(h1, cat, B, T); // CMS_j(h1) for every head j, side by side
    this.out.forward(cat, a, n);
    this.memDrop.forward(a, a, n, train);
    this.ops.add(x, a, xm);
    this.finish(xm, y, n, train);
  }

  /** xm → y = xm + Drop(FFN(Norm₂(xm))) (dropout only when `train`). */
  private finish(xm: Tensor, y: Tensor, n: number, train: boolean): void {
    const h2 = this.h2.rows(n), f = this.f.rows(n);
    this.norm2.forward(xm, h2, n);
    this.ffn.forward(h2, f, n);
    this.ffnDrop.forward(f, f, n, train);
    this.ops.add(xm, f, y);
  }

  /** Given the forward input x and dy: accumulates parameter gradients, writes dx (overwrites). */
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void {
    const { ops } = this, n = B * T;
    const h1 = this.h1.rows(n), cat = this.cat.rows(n), xm = this.xm.rows(n), h2 = this.h2.rows(n);
    const dh = this.dh.rows(n), dxm = this.dxm.rows(n), dcat = this.dcat.rows(n), dbr = this.dbranch.rows(n);
    // y = xm + Drop(FFN(Norm₂(xm))): dxm = dy + Norm₂ᵀ(FFNᵀ(dy ⊙ m))
    ops.copy(dy, dxm);
    this.ffnDrop.backward(dy, dbr);
    this.ffn.backward(h2, dbr, dh, n);
    this.norm2.backward(xm, dh, dxm, n);
    // xm = x + Drop(Wo·cat): dcat = (dxm ⊙ m)·Woᵀ, then each head's slice through its memory into dh (summed).
    this.memDrop.backward(dxm, dbr);
    this.out.backward(cat, dbr, dcat, n);
    this.heads.backward(h1, dcat, dh, B, T);
    ops.copy(dxm, dx);
    this.norm1.backward(x, dh, dx, n);
  }

  resetSampling(): void {
    if (this.steppers) for (const head of this.steppers) for (const s of head) s.reset();
  }

  /** Sampling: one token's row x [1, C] → y [1, C], advancing every memory by one step. */
  step(x: Tensor, y: Tensor): void {
    const C = this.dim, d = this.headDim;
    if (this.steppers === null) this.steppers = this.memories.map((m) => m.levels.map((l) => new MemoryStepper(l)));
    const h1 = this.h1.rows(1), cat = this.cat.rows(1), a = this.a.rows(1), xm = this.xm.rows(1);
    this.norm1.forward(x, h1, 1);
    const out = this.stepOut;
    out.fill(0);
    this.memories.forEach((mem, j) => {
      this.steppers![j].forEach((s, l) => s.step(h1.data, out, j * d, mem.alpha ? mem.alpha.value.data[l] : 1));
    });
    cat.data.set(out.subarray(0, C));
    this.out.forward(cat, a, 1);
    this.ops.add(x, a, xm);
    this.finish(xm, y, 1, false);
  }
}

export class MemoryLM implements SequenceModel {
  readonly kind = 'memory-lm';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly vocab: number;
  readonly dim: number;
  readonly embedding: Embedding;
  readonly blocks: MemoryBlock[];
  readonly normF: Norm;
  readonly head: Linear;
  /** Dropout on the embeddings (the blocks hold their own). */
  readonly embedDrop: Dropout;
  private readonly stack: StackBuffers;
  private readonly sampleId: IntTensor;
  /** The last nextLogProbs answer (a call with no new tokens repeats it; null: nothing fed yet, uniform). */
  private lastLogProbs: Float64Array | null = null;

  constructor(readonly ops: Ops, config: MemoryLMConfig, rng: Rng) {
    const c = { ...MEMORY_LM_DEFAULTS, ...config };
    const { vocabSize: V, layers: L, heads: H, dModel: C, levels, periodBase } = c;
    checkSizes('memory-lm', { vocabSize: V, layers: L, heads: H, dModel: C, levels, periodBase });
    if (C % H !== 0) throw new RangeError(`memory-lm: dModel ${C} must be a multiple of heads ${H}`);
    if (!MEMORY_RULES.includes(c.rule)) throw new RangeError(`memory-lm: rule must be ${MEMORY_RULES.join(' or ')}, got '${c.rule}'`);
    if (!INNER_OPTIMIZERS.includes(c.innerOptimizer)) throw new RangeError(`memory-lm: innerOptimizer must be ${INNER_OPTIMIZERS.join(', ')}, got '${c.innerOptimizer}'`);
    if (!MEMORY_MIXES.includes(c.mix)) throw new RangeError(`memory-lm: mix must be ${MEMORY_MIXES.join(' or ')}, got '${c.mix}'`);
    if (!NORM_KINDS.includes(c.norm)) throw new RangeError(`memory-lm: norm must be ${NORM_KINDS.join(' or ')}, got '${c.norm}'`);
    if (!FFN_KINDS.includes(c.ffn)) throw new RangeError(`memory-lm: ffn must be ${FFN_KINDS.join(' or ')}, got '${c.ffn}'`);
    if (!(Number.isFinite(c.innerLr) && c.innerLr > 0)) throw new RangeError(`memory-lm: innerLr must be a positive number, got ${c.innerLr}`);
    const F = c.ffHidden === 0 || c.ffHidden === undefined ? autoFfHidden(C, c.ffn) : c.ffHidden;
    if (!Number.isInteger(F) || F < 1) throw new RangeError(`memory-lm: ffHidden must be an integer ≥ 0, got ${c.ffHidden}`);
    const normalize = Boolean(c.normalize);
    const dropout = c.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`memory-lm: dropout must be in [0, 1), got ${c.dropout}`);
    this.vocab = V;
    this.dim = C;
    this.config = { vocabSize: V, layers: L, heads: H, dModel: C, ffHidden: F, levels, periodBase, rule: c.rule,
      innerOptimizer: c.innerOptimizer, innerLr: c.innerLr, normalize, mix: c.mix, norm: c.norm, ffn: c.ffn };
    // Saved only when used, so checkpoints of models without dropout read exactly as before.
    if (dropout > 0) this.config.dropout = dropout;
    this.embedding = new Embedding(ops, 'embed', V, C, rng, { std: 0.02 });
    const outScale = 1 / Math.sqrt(2 * L);
    this.blocks = Array.from({ length: L }, (_, l) => new MemoryBlock(ops, `block${l}`, C, H, F, rng, {
      levels, periodBase, rule: c.rule, innerOptimizer: c.innerOptimizer, innerLr: c.innerLr, normalize, mix: c.mix,
      norm: c.norm, ffn: c.ffn, outScale, dropout,
    }));
    this.normF = new Norm(ops, 'normF', C, rng, { kind: c.norm });
    this.head = new Linear(ops, 'head', C, V, rng, { bias: false });
    this.embedDrop = new Dropout(ops, dropout, rng, C);
    this.params = [...this.embedding.params, ...this.blocks.flatMap((b) => b.params), ...this.normF.params, ...this.head.params];
    this.stack = new StackBuffers(ops, L, C, V);
    this.sampleId = ops.ints(1);
  }

  /** ids [B·T] → logits [B·T, V] (the rows of `this.logits`). `train`: with dropout (when configured). */
  private forward(ids: IntTensor, B: number, T: number, train = false): Tensor {
    const n = B * T, L = this.blocks.length, x0 = this.stack.xs[0].rows(n);
    this.embedding.forward(ids, x0, n);
    this.embedDrop.forward(x0, x0, n, train);
    for (let l = 0; l < L; l++) this.blocks[l].forward(this.stack.xs[l].rows(n), this.stack.xs[l + 1].rows(n), B, T, train);
    const h = this.stack.hF.rows(n), logits = this.stack.logits.rows(n);
    this.normF.forward(this.stack.xs[L].rows(n), h, n);
    this.head.forward(h, logits, n);
    return logits;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V } = this;
    const B = batch.batch, T = batch.time, n = B * T;
    const ids = batch.inputs, targets = batch.targets;
    checkTokens('memory-lm', ids.data, V, n);
    const count = countTargets(targets, n);
    const logits = this.forward(ids, B, T, train);
    const grad = train && count > 0;
    const sum = ops.softmaxCrossEntropy(logits, targets, n, V, grad ? logits : null, grad ? 1 / count : 0);
    if (grad) {
      const { stack } = this;
      this.head.backward(stack.hF.rows(n), logits, stack.dB.rows(n), n);
      const dx0 = stack.backward(ops, this.normF, this.blocks, B, T);
      this.embedDrop.backward(dx0, dx0);
      this.embedding.backward(dx0, ids, n);
    }
    return count > 0 ? sum / count : 0;
  }

  resetState(): void { /* not stateful: every window starts the memories at zero */ }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, ...this.blocks.flatMap((b) => [b.memDrop, b.ffnDrop])];
  }

  /** The log-softmax rows of one batched forward over `tokens` (for tests: what nextLogProbs must reproduce). */
  windowLogProbs(tokens: number[]): Float64Array[] {
    const T = tokens.length;
    if (T < 1) throw new RangeError('memory-lm: a window must have at least 1 token');
    checkTokens('memory-lm', tokens, this.vocab);
    const logits = this.forward(this.ops.intsFrom(tokens), 1, T);
    return Array.from({ length: T }, (_, t) => logSoftmaxRow(logits.data, t, this.vocab));
  }

  nextLogProbs(tokens: number[]): Float64Array {
    const V = this.vocab, L = this.blocks.length;
    checkTokens('memory-lm', tokens, V);
    if (tokens.length === 0) return this.lastLogProbs ? this.lastLogProbs.slice() : new Float64Array(V).fill(-Math.log(V));
    for (const id of tokens) {
      this.sampleId.data[0] = id;
      this.embedding.forward(this.sampleId, this.stack.xs[0].rows(1), 1);
      for (let l = 0; l < L; l++) this.blocks[l].step(this.stack.xs[l].rows(1), this.stack.xs[l + 1].rows(1));
    }
    const h = this.stack.hF.rows(1), logits = this.stack.logits.rows(1);
    this.normF.forward(this.stack.xs[L].rows(1), h, 1);
    this.head.forward(h, logits, 1);
    this.lastLogProbs = logSoftmaxRow(logits.data, 0, V);
    return this.lastLogProbs.slice();
  }

  resetSampling(): void {
    for (const b of this.blocks) b.resetSampling();
    this.lastLogProbs = null;
  }
}

// ---- registry spec ------------------------------------------------------------------------------

export const MEMORY_LM_MODEL: ModelSpec = {
  name: 'memory-lm',
  description: 'nested-learning LM: embeddings → pre-norm blocks of multi-head continuum memory (delta rule, levels every 1, 4, 16 tokens) + FFN → LM head',
  stateful: false,
  defaults: { ...MEMORY_LM_DEFAULTS },
  options: [
    { key: 'layers', type: 'int', min: 1, max: 64, description: 'memory blocks' },
    { key: 'heads', type: 'int', min: 1, max: 256, description: 'memory heads per block (--d-model must be a multiple); each head is a (d-model/heads)² memory per level' },
    { key: 'dModel', type: 'int', min: 1, max: 8192, description: 'residual stream width' },
    { key: 'ffHidden', type: 'int', min: 0, max: 65536, description: 'feed-forward hidden width (0: 4·d-model for gelu, 8/3·d-model for swiglu)' },
    { key: 'levels', type: 'int', min: 1, max: 8, description: 'memory levels per head (continuum memory); level l commits every period-base^l tokens' },
    { key: 'periodBase', type: 'int', min: 1, max: 64, description: 'update-period ratio between consecutive levels (4: periods 1, 4, 16, …)' },
    { key: 'rule', type: 'choice', choices: MEMORY_RULES, description: 'memory write rule: delta (½‖Mk−v‖²) or hebbian (−⟨Mk, v⟩)' },
    { key: 'innerOptimizer', type: 'choice', choices: INNER_OPTIMIZERS, description: 'the memories\' inner optimiser: gd, momentum or adam' },
    { key: 'innerLr', type: 'float', min: 0, max: 100, description: 'inner step η of the fastest level; level l uses η / period_l' },
    { key: 'normalize', type: 'boolean', description: 'L2-normalise memory keys and queries' },
    { key: 'mix', type: 'choice', choices: MEMORY_MIXES, description: 'how a head combines its levels: sum, or learned weights' },
    { key: 'norm', type: 'choice', choices: NORM_KINDS, description: 'normalisation: layernorm or rmsnorm' },
    { key: 'ffn', type: 'choice', choices: FFN_KINDS, description: 'feed-forward block: swiglu or gelu' },
    DROPOUT_OPTION,
  ],
  trainDefaults: { lr: 1e-3, sgdLr: 0.3, optimizer: 'adam' },
  check: (c) => checkHeadsDivide(c.dModel, c.heads),
  create: (ops, config, rng) => new MemoryLM(ops, config as unknown as MemoryLMConfig, rng),
};
