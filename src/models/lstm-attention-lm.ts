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
// Backward (all by hand): dlogits → head → dh̃ → dpre = dh̃ ⊙ (1 − h̃²) → dWcc += cᵀ·dpre,
// dWcs += hᵀ·dpre, dc = dpre·Wccᵀ, dh = dpre·Wcsᵀ; per row and step: dα_tj = dc_t·h_j,
// dh_j += α_tj dc_t, de_tj = α_tj (dα_tj − Σ_k α_tk dα_tk), dh_t += Σ_j de_tj K_j, dK_j += de_tj h_t;
// then dWa += hᵀ·dK, dh += dK·Waᵀ; the LSTM's BPTT; the embedding.
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
import type { Ops, Tensor } from '../ops/types.js';
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
import { DROPOUT_OPTION, RECURRENT_LM_DEFAULTS, RECURRENT_LM_OPTIONS } from './recurrent-lm.js';

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
  private alpha = new Float64Array(0);   // [B,T,T]: α of row b, step t, key j at (b·T + t)·T + j
  private scratch = new Float64Array(0);
  private state: RecurrentState | null = null;
  private history: number[] = [];
  private T = 0;
  private B = 0;

  constructor(readonly ops: Ops, config: AttentionLMConfig, rng: Rng) {
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
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.embedDrop = new Dropout(ops, dropout, rng, E);
    this.outputDrop = new Dropout(ops, dropout, rng, H);
  }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, this.outputDrop];
  }

  /** The scratch and the recurrent state for a [B, T] window (the row buffers size themselves). */
  private ensure(B: number, T: number): void {
    if (this.alpha.length < B * T * T) this.alpha = new Float64Array(B * T * T);
    if (this.scratch.length < T) this.scratch = new Float64Array(T);
    if (this.state === null || this.state.batch !== B) this.state = this.stack.newState(B);
    this.B = B; this.T = T;
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
    const hd = h.data, kd = K.data, cd = C.data, al = this.alpha, e = this.scratch;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const q = (t * B + b) * H, aOff = (b * T + t) * T;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const k = (j * B + b) * H;
          let s = 0;
          for (let d = 0; d < H; d++) s += hd[q + d] * kd[k + d];
          e[j] = s;
          if (s > max) max = s;
        }
        let z = 0;
        for (let j = 0; j <= t; j++) { e[j] = Math.exp(e[j] - max); z += e[j]; }
        cd.fill(0, q, q + H);
        for (let j = 0; j <= t; j++) {
          const a = e[j] / z, k = (j * B + b) * H;
          al[aOff + j] = a;
          for (let d = 0; d < H; d++) cd[q + d] += a * hd[k + d];
        }
      }
    }
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
      const dp = dK; // scratch for dpre until the keys' gradient starts
      ops.activationBackward('tanh', Ht, Ht, dHt, dp);
      ops.gemm(true, false, H, H, n, 1, C, dp, 1, this.Wcc.grad);
      ops.gemm(true, false, H, H, n, 1, h, dp, 1, this.Wcs.grad);
      ops.gemm(false, true, n, H, H, 1, dp, this.Wcc.value, 0, dC);
      const dh = this.stack.outputGrad(T, B);
      ops.gemm(false, true, n, H, H, 1, dp, this.Wcs.value, 0, dh);
      ops.fill(dK, 0);
      const hd = h.data, kd = K.data, dcd = dC.data, dhd = dh.data, dkd = dK.data, al = this.alpha, da = this.scratch;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const q = (t * B + b) * H, aOff = (b * T + t) * T;
          let sum2 = 0;
          for (let j = 0; j <= t; j++) {
            const k = (j * B + b) * H, a = al[aOff + j];
            let s = 0;
            for (let d = 0; d < H; d++) { s += dcd[q + d] * hd[k + d]; dhd[k + d] += a * dcd[q + d]; }
            da[j] = s;
            sum2 += a * s;
          }
          for (let j = 0; j <= t; j++) {
            const de = al[aOff + j] * (da[j] - sum2), k = (j * B + b) * H;
            for (let d = 0; d < H; d++) { dhd[q + d] += de * kd[k + d]; dkd[k + d] += de * hd[q + d]; }
          }
        }
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

  /** The attention weights of row b, step t of the last forward pass: t + 1 values over h_0 … h_t. */
  attentionWeights(b: number, t: number): Float64Array {
    const off = (b * this.T + t) * this.T;
    return Float64Array.from(this.alpha.subarray(off, off + t + 1));
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
    const matrix = Array.from({ length: T }, (_, t) =>
      Array.from({ length: T }, (_, j) => (j > t ? 0 : this.alpha[t * T + j])));
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
