// `lstm-attention`: an LSTM character language model that, before predicting each next token,
// attends over its own hidden states earlier in the window (Luong-style, "general" score).
//
//   ids [B,T] (batch-major, as TokenBatch) → time-major [T,B]
//   x   = Embedding(ids)                         [T·B, E]
//   h   = stacked LSTM (x), from a ZERO state    [T·B, H]    (h_t of row b at (t·B + b)·H)
//   K   = h·Wa                                    [T·B, H]    the keys, one gemm
//   e_tj = h_t · K_j   for j ≤ t   (CAUSAL, INCLUSIVE: position t sees h_0 … h_t of its own window,
//                                  so position 0 attends to itself and every position has ≥ 1 key)
//   α_t = softmax_j e_t,  c_t = Σ_j α_tj h_j     [T·B, H]
//   h̃_t = tanh(c_t·Wcc + h_t·Wcs)               [T·B, H]    (= tanh(W_c [c_t; h_t]))
//   logits = h̃·Wo + bo,  loss = mean CE over the non-padding targets
//
// The attention (e, α, c) is the backends' fused causal attention, Ops.attention, with no T×T
// matrix and no host loop: the time-major rows (t·B + b)·H are one batch item whose B "heads" are
// the rows b, each of width D = H, at a row stride of B·H (see ensure()); queries h, keys K,
// values h, scale 1. Its backward, Ops.attentionBackward, gives d(query), dK and d(value).
// Where a backend's kernel does not take the width (CUDA: D ≤ 128), the same attention runs as
// host loops (./lstm-attention-host.ts).
//
// Backward (all by hand): dlogits → head → dh̃ → dpre = dh̃ ⊙ (1 − h̃²) → dWcc += cᵀ·dpre,
// dWcs += hᵀ·dpre, dc = dpre·Wccᵀ; the attention's backward from dc: dh = d(query) + d(value),
// dK; then dh += dpre·Wcsᵀ, dWa += hᵀ·dK, dh += dK·Waᵀ; the LSTM's BPTT; the embedding.
//
// Dropout (config.dropout = p, training only), placed as the PyTorch peer (bench/peers/
// torch_char_lm.py, AttentionLM): on the embeddings the LSTM reads, and on the top LSTM output h
// BEFORE the attention, so the dropped h is what the keys (h·Wa), the queries, the attention values
// and h·Wcs all read. The gradient w.r.t. the dropped h is gathered in the stack's output-gradient
// buffer and turned into the LSTM's output gradient by the mask (in place); the stack's dx through
// the embedding mask likewise. Between stacked LSTM layers nothing is dropped, as in our rnn/lstm
// (src/models/recurrent-lm.ts); torch's nn.LSTM(dropout=p) drops there too when layers > 1.
//
// STATELESS: every forwardBackward starts from a zero state and attends only inside its window, so
// it trains on independent random windows (stateful: false in the spec); resetState() does nothing.
// Sampling keeps the last `context` tokens and re-runs the window for each next-token distribution
// (O(context) per token: fine for a demonstration model).
import type { AttentionShape, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from '../layers/param.js';
import { IntRowBuffer, RowBuffer } from '../layers/buffer.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { LSTM } from '../layers/lstm.js';
import { Dropout } from '../layers/dropout.js';
import type { RecurrentState } from '../layers/recurrent.js';
import type { AttentionMap, ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { toTimeMajor } from './types.js';
import { logSoftmaxRow } from './sample.js';
import { checkSizes, checkTokens } from './checks.js';
import { attentionRow, timeMajorAttention, timeMajorAttentionBackward } from './lstm-attention-host.js';
import { RECURRENT_LM_DEFAULTS, RECURRENT_LM_OPTIONS } from './recurrent-lm.js';
import { DROPOUT_OPTION } from './dropout-option.js';

export interface AttentionLMConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  embed: number;
  /** Sampling window: how many previous tokens nextLogProbs runs over (default 128). */
  context?: number;
  /** Dropout probability on the embeddings and the top LSTM output (before the attention), in training (0: none). */
  dropout?: number;
}

/** The widest head the CUDA backend's fused attention takes (native/attention.cu, kMaxD). */
const CUDA_ATTENTION_MAX_WIDTH = 128;

/**
 * Where the attention runs: 'fused' (Ops.attention) or 'host' (./lstm-attention-host.ts).
 * 'auto' (the default): fused, except on the CUDA backend for hidden > 128, which its kernels do not take.
 */
export type AttentionPath = 'auto' | 'fused' | 'host';

export class AttentionLM implements SequenceModel {
  readonly kind = 'lstm-attention';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly vocab: number;
  readonly embedding: Embedding;
  readonly stack: LSTM;
  readonly Wa: Param;
  readonly Wcc: Param;
  readonly Wcs: Param;
  readonly head: Linear;
  private readonly H: number;
  private readonly context: number;
  /** Time-major ids and targets, and the [n, ·] activations and gradients: grown on demand, never per step. */
  private readonly ids: IntRowBuffer;
  private readonly targets: IntRowBuffer;
  private readonly x: RowBuffer;
  private readonly dx: RowBuffer;
  private readonly K: RowBuffer;
  private readonly dK: RowBuffer;
  private readonly C: RowBuffer;
  private readonly dC: RowBuffer;
  private readonly Ht: RowBuffer;
  private readonly dHt: RowBuffer;
  private readonly logits: RowBuffer;
  /** The top LSTM output after dropout (what the attention reads in training with dropout). */
  private readonly hDropped: RowBuffer;
  readonly embedDrop: Dropout;
  readonly outputDrop: Dropout;
  /** Whether the attention is the backend's fused op (else the host loops). */
  readonly fusedAttention: boolean;
  /** The fused attention's log-sum-exp per (row, step), [B·T], which its backward reads. */
  private readonly lse: RowBuffer;
  /** The fused backward's d(value), added into dh (its d(query) is written into dh directly). */
  private readonly dV: RowBuffer;
  private readonly attnShape: AttentionShape = {
    B: 1, H: 0, D: 0, Tq: 0, Tk: 0, causal: true, qOffset: 0, qStride: 0, kvStride: 0, oStride: 0, scale: 1,
  };
  /** The host path's α [B,T,T] (row b, step t, key j at (b·T + t)·T + j) and its scratch. */
  private alpha = new Float64Array(0);
  private scratch = new Float64Array(0);
  /** The h the last forward's attention read (the dropped copy in training with dropout). */
  private lastH: Tensor | null = null;
  private state: RecurrentState | null = null;
  private history: number[] = [];
  private T = 0;
  private B = 0;

  /** `path`: where the attention runs (tests compare the two; the default picks). */
  constructor(readonly ops: Ops, config: AttentionLMConfig, rng: Rng, path: AttentionPath = 'auto') {
    const { vocabSize: V, hidden: H, layers: L, embed: E } = config;
    const context = config.context ?? 128;
    checkSizes('lstm-attention', { vocabSize: V, hidden: H, layers: L, embed: E, context });
    const dropout = config.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`lstm-attention: dropout must be in [0, 1), got ${config.dropout}`);
    this.vocab = V; this.H = H; this.context = context;
    this.config = { vocabSize: V, hidden: H, layers: L, embed: E, context };
    // Saved only when used, so checkpoints of models without dropout read exactly as before.
    if (dropout > 0) this.config.dropout = dropout;
    this.embedding = new Embedding(ops, 'embed', V, E, rng);
    this.stack = new LSTM(ops, 'lstm', E, H, rng, { layers: L });
    this.Wa = makeParam(ops, 'attn.Wa', [H, H], { kind: 'xavier' }, rng);
    this.Wcc = makeParam(ops, 'attn.Wcc', [H, H], { kind: 'xavier' }, rng);
    this.Wcs = makeParam(ops, 'attn.Wcs', [H, H], { kind: 'xavier' }, rng);
    this.head = new Linear(ops, 'head', H, V, rng);
    this.params = [...this.embedding.params, ...this.stack.params, this.Wa, this.Wcc, this.Wcs, ...this.head.params];
    this.ids = new IntRowBuffer(ops, 1); this.targets = new IntRowBuffer(ops, 1);
    this.x = new RowBuffer(ops, E); this.dx = new RowBuffer(ops, E);
    this.K = new RowBuffer(ops, H); this.dK = new RowBuffer(ops, H);
    this.C = new RowBuffer(ops, H); this.dC = new RowBuffer(ops, H);
    this.Ht = new RowBuffer(ops, H); this.dHt = new RowBuffer(ops, H);
    this.logits = new RowBuffer(ops, V);
    this.hDropped = new RowBuffer(ops, H);
    this.lse = new RowBuffer(ops, 1);
    this.dV = new RowBuffer(ops, H);
    this.fusedAttention = path === 'auto' ? !(ops.name.startsWith('cuda') && H > CUDA_ATTENTION_MAX_WIDTH) : path === 'fused';
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.embedDrop = new Dropout(ops, dropout, rng, E);
    this.outputDrop = new Dropout(ops, dropout, rng, H);
  }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, this.outputDrop];
  }

  /** The scratch, the attention's shape and the recurrent state for a [B, T] window (the row buffers size themselves). */
  private ensure(B: number, T: number): void {
    if (!this.fusedAttention) {
      if (this.alpha.length < B * T * T) this.alpha = new Float64Array(B * T * T);
      if (this.scratch.length < T) this.scratch = new Float64Array(T);
    }
    if (this.state === null || this.state.batch !== B) this.state = this.stack.newState(B);
    this.B = B; this.T = T;
    // One batch item of T time-major rows; its "heads" are the B rows b, each of width H.
    const s = this.attnShape, H = this.H;
    s.H = B; s.D = H; s.Tq = T; s.Tk = T; s.qStride = B * H; s.kvStride = B * H; s.oStride = B * H;
  }

  /**
   * The forward pass over ids (time-major, already in this.ids) → logits [n,V]; returns the h the
   * attention read (the dropped copy in training with dropout; the stack keeps its own h).
   */
  private forward(B: number, T: number, train: boolean): Tensor {
    const { ops, H } = this, n = B * T;
    const x = this.x.rows(n), K = this.K.rows(n), C = this.C.rows(n), Ht = this.Ht.rows(n);
    this.embedding.forward(this.ids.rows(n), x, n);
    this.embedDrop.forward(x, x, n, train);
    this.stack.resetState(this.state!);
    const y = this.stack.forward(x, T, B, this.state!);
    const h = this.outputDrop.active(train) ? this.hDropped.rows(n) : y;
    if (h !== y) this.outputDrop.forward(y, h, n, true);
    ops.gemm(false, false, n, H, H, 1, h, this.Wa.value, 0, K);
    if (this.fusedAttention) ops.attention(h, K, h, C, this.lse.rows(n), this.attnShape);
    else timeMajorAttention(h.data, K.data, C.data, this.alpha, this.scratch, B, T, H);
    this.lastH = h;
    ops.gemm(false, false, n, H, H, 1, C, this.Wcc.value, 0, Ht);
    ops.gemm(false, false, n, H, H, 1, h, this.Wcs.value, 1, Ht);
    ops.activation('tanh', Ht, Ht);
    this.head.forward(Ht, this.logits.rows(n), n);
    return h;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, H, vocab: V } = this;
    const B = batch.batch, T = batch.time, n = B * T;
    this.ensure(B, T);
    const targets = this.targets.rows(n);
    const count = toTimeMajor(batch, this.ids.rows(n).data, targets.data);
    const h = this.forward(B, T, train);
    const logits = this.logits.rows(n);
    const grad = train && count > 0;
    const sum = ops.softmaxCrossEntropy(logits, targets, n, V, grad ? logits : null, grad ? 1 / count : 0);
    if (grad) {
      const Ht = this.Ht.rows(n), dHt = this.dHt.rows(n), C = this.C.rows(n), dC = this.dC.rows(n);
      const K = this.K.rows(n), dK = this.dK.rows(n);
      this.head.backward(Ht, logits, dHt, n);
      const dp = dHt; // dpre, in place
      ops.activationBackward('tanh', Ht, Ht, dHt, dp);
      ops.gemm(true, false, H, H, n, 1, C, dp, 1, this.Wcc.grad);
      ops.gemm(true, false, H, H, n, 1, h, dp, 1, this.Wcs.grad);
      ops.gemm(false, true, n, H, H, 1, dp, this.Wcc.value, 0, dC);
      const dh = this.stack.outputGrad(T, B);
      if (this.fusedAttention) {
        // h is both the queries and the values: dh = d(query) (written by the op) + d(value).
        const dV = this.dV.rows(n);
        ops.attentionBackward(h, K, h, C, this.lse.rows(n), dC, dh, dK, dV, this.attnShape);
        ops.axpy(1, dV, dh);
        ops.gemm(false, true, n, H, H, 1, dp, this.Wcs.value, 1, dh);
      } else {
        ops.gemm(false, true, n, H, H, 1, dp, this.Wcs.value, 0, dh);
        timeMajorAttentionBackward(h.data, K.data, dC.data, this.alpha, this.scratch, dh.data, dK.data, B, T, H);
      }
      ops.gemm(true, false, H, H, n, 1, h, dK, 1, this.Wa.grad);
      ops.gemm(false, true, n, H, H, 1, dK, this.Wa.value, 1, dh);
      // dh so far is d(dropped h): through the mask it becomes the LSTM's output gradient.
      this.outputDrop.backward(dh, dh);
      const dx = this.dx.rows(n);
      this.stack.backward(dx, T, B);
      this.embedDrop.backward(dx, dx);
      this.embedding.backward(dx, this.ids.rows(n), n);
    }
    return count > 0 ? sum / count : 0;
  }

  /** Stateless: nothing is carried between calls. */
  resetState(): void {}

  /**
   * The attention weights of row b, step t of the last forward pass: t + 1 values over h_0 … h_t.
   * Computed here, on the host, from that pass's h and keys (training keeps no α).
   */
  attentionWeights(b: number, t: number): Float64Array {
    const { B, T } = this;
    if (this.lastH === null) throw new RangeError('lstm-attention: attentionWeights needs a forward pass first');
    if (!(Number.isInteger(b) && b >= 0 && b < B && Number.isInteger(t) && t >= 0 && t < T)) {
      throw new RangeError(`lstm-attention: attentionWeights(${b}, ${t}) is outside the last pass's ${B} rows × ${T} steps`);
    }
    return attentionRow(this.lastH.data, this.K.rows(B * T).data, B, this.H, b, t);
  }

  /**
   * The attention of one forward pass over `tokens` (one sequence, 1 … context tokens) over its
   * own hidden states: a single T × T matrix labelled "attention (top LSTM layer)" (there is one
   * attention, on the top layer's states), row t = α_t over h_0 … h_t, 0 above the diagonal,
   * each row summing to 1. Reuses (overwrites) the training buffers and the recurrent state
   * object; every forwardBackward and nextLogProbs starts from a zero state and re-runs its
   * window anyway, so neither training nor sampling (the history is left as it is) is affected.
   * Parameters and gradients are not touched.
   */
  attentionMaps(tokens: number[]): AttentionMap[] {
    const T = tokens.length, V = this.vocab;
    if (T < 1 || T > this.context) throw new RangeError(`lstm-attention: a sequence must have 1..${this.context} tokens, got ${T}`);
    checkTokens('lstm-attention', tokens, V);
    this.ensure(1, T);
    this.ids.rows(T).data.set(tokens);
    this.forward(1, T, false);
    const matrix = Array.from({ length: T }, (_, t) => {
      const row = this.attentionWeights(0, t);
      return Array.from({ length: T }, (_, j) => (j > t ? 0 : row[j]));
    });
    return [{ label: 'attention (top LSTM layer)', matrix }];
  }

  nextLogProbs(tokens: number[]): Float64Array {
    const V = this.vocab;
    checkTokens('lstm-attention', tokens, V);
    for (const id of tokens) this.history.push(id);
    if (this.history.length > this.context) this.history.splice(0, this.history.length - this.context);
    // h̃ = 0 before any token: the logits are the head's bias bo.
    if (this.history.length === 0) return logSoftmaxRow(this.head.b!.value.data, 0, V);
    const T = this.history.length;
    this.ensure(1, T);
    this.ids.rows(T).data.set(this.history);
    this.forward(1, T, false);
    return logSoftmaxRow(this.logits.rows(T).data, T - 1, V);
  }

  resetSampling(): void { this.history = []; }
}

export const LSTM_ATTENTION_MODEL: ModelSpec = {
  name: 'lstm-attention',
  description: 'LSTM language model attending over its own earlier hidden states in the window (Luong general score, causal; random windows)',
  stateful: false,
  defaults: { ...RECURRENT_LM_DEFAULTS, dropout: 0, context: 128 },
  options: [
    ...RECURRENT_LM_OPTIONS,
    DROPOUT_OPTION,
    { key: 'context', type: 'int', min: 1, max: 4096, description: 'lstm-attention: tokens of history when sampling' },
  ],
  trainDefaults: { lr: 2e-3, sgdLr: 1, optimizer: 'adam' },
  create: (ops, config, rng) => new AttentionLM(ops, config as unknown as AttentionLMConfig, rng),
};
