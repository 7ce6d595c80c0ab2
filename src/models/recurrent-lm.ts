// The recurrent language models `rnn`, `lstm` and `gru`: one class, three registered specs.
//
//   ids [B,T] (batch-major, as TokenBatch)  → transposed to time-major [T,B]
//   x      = Embedding(ids)                   [T·B, E]        table [V, E]
//   y      = stacked RNN / LSTM / GRU (x)     [T·B, H]        starts from the carried state
//   logits = y·Wo + bo                        [T·B, V]        Linear head
//   loss   = mean CE(softmax(logits), targets) over non-padding targets  (fused op)
//
// Backward is the same chain in reverse: dlogits (fused with the loss, written over the logits)
// → head (dWo, dbo, dy straight into the stack's output-gradient buffer) → stack (every layer's
// weight gradients, dx) → embedding (sparse: only the rows of this batch's tokens).
//
// State: the models are stateful. forwardBackward starts from the hidden state the previous call
// left (truncated BPTT over consecutive windows, see SequentialBatcher) and leaves its final state
// for the next call; the gradient stops at the window boundary. resetState() zeroes it. Sampling
// has its own state (batch 1), so sampling never disturbs training and vice versa.
//
// Dropout (config.dropout = p, training only): on the embeddings the stack reads, and on the top
// layer's outputs the head reads (Zaremba et al. 2014 drop only non-recurrent connections: the
// carried state is never dropped). The head's backward writes d(dropped output), which the mask
// turns into the stack's output gradient; the stack's dx through the embedding mask likewise.
//
// Defaults: hidden 128, 1 layer, a learned 32-dimensional embedding (not one-hot: a one-hot input
// is the same as an embedding of size V folded into Wx, and a smaller table is cheaper for a word
// vocabulary). Trained with Adam at 2e-3 and gradient clipping at 5 (the trainer's defaults).
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { Param } from '../layers/param.js';
import { IntRowBuffer, RowBuffer } from '../layers/buffer.js';
import { Embedding } from '../layers/embedding.js';
import { Linear } from '../layers/linear.js';
import { Dropout } from '../layers/dropout.js';
import { RNN } from '../layers/rnn.js';
import { LSTM } from '../layers/lstm.js';
import { GRU, GRU_VARIANTS, type GruVariant } from '../layers/gru.js';
import type { RecurrentStack, RecurrentState } from '../layers/recurrent.js';
import type { ModelOption, ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { toTimeMajor } from './types.js';
import { logSoftmaxRow } from './sample.js';
import { checkSizes, checkTokens } from './checks.js';

export type CellKind = 'rnn' | 'lstm' | 'gru';

export interface RecurrentLMConfig {
  vocabSize: number;
  /** Hidden units per layer. */
  hidden: number;
  /** Stacked recurrent layers. */
  layers: number;
  /** Embedding size. */
  embed: number;
  /** gru only: where the reset gate acts (see src/layers/gru.ts). */
  gruVariant?: GruVariant;
  /** Dropout probability on the embeddings and the top layer's outputs, in training (0: none). */
  dropout?: number;
}

/** Sampling feeds a long prompt in pieces of at most this many tokens (bounded buffers). */
const SAMPLE_CHUNK = 256;

export class RecurrentLM implements SequenceModel {
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly vocab: number;
  readonly embedding: Embedding;
  readonly stack: RecurrentStack;
  readonly head: Linear;
  /** The carried training state (for the batch size last seen) and the sampling state (batch 1). */
  private trainState: RecurrentState | null = null;
  private sampleState: RecurrentState | null = null;
  /** Time-major ids and targets, embeddings and their gradient, logits: grown on demand, never per step. */
  private readonly ids: IntRowBuffer;
  private readonly targets: IntRowBuffer;
  private readonly x: RowBuffer;
  private readonly dx: RowBuffer;
  private readonly logits: RowBuffer;
  /** The top layer's outputs after dropout (what the head reads in training with dropout). */
  private readonly yDropped: RowBuffer;
  readonly embedDrop: Dropout;
  readonly outputDrop: Dropout;

  constructor(readonly ops: Ops, readonly kind: CellKind, config: RecurrentLMConfig, rng: Rng) {
    const { vocabSize: V, hidden: H, layers: L, embed: E } = config;
    checkSizes(kind, { vocabSize: V, hidden: H, layers: L, embed: E });
    const dropout = config.dropout ?? 0;
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`${kind}: dropout must be in [0, 1), got ${config.dropout}`);
    this.vocab = V;
    this.config = { vocabSize: V, hidden: H, layers: L, embed: E };
    // Saved only when used, so checkpoints of models without dropout read exactly as before.
    if (dropout > 0) this.config.dropout = dropout;
    this.embedding = new Embedding(ops, 'embed', V, E, rng);
    switch (kind) {
      case 'rnn': this.stack = new RNN(ops, 'rnn', E, H, rng, { layers: L }); break;
      case 'lstm': this.stack = new LSTM(ops, 'lstm', E, H, rng, { layers: L }); break;
      case 'gru': {
        const variant = config.gruVariant ?? 'pytorch';
        this.stack = new GRU(ops, 'gru', E, H, rng, { layers: L, variant });
        this.config.gruVariant = variant;
        break;
      }
      default: throw new RangeError(`unknown recurrent cell '${kind as string}' (expected rnn, lstm or gru)`);
    }
    this.head = new Linear(ops, 'head', H, V, rng);
    this.params = [...this.embedding.params, ...this.stack.params, ...this.head.params];
    this.ids = new IntRowBuffer(ops, 1);
    this.targets = new IntRowBuffer(ops, 1);
    this.x = new RowBuffer(ops, E);
    this.dx = new RowBuffer(ops, E);
    this.logits = new RowBuffer(ops, V);
    this.yDropped = new RowBuffer(ops, H);
    // The masks come from the same generator as the weights, after them: drawn only in training.
    this.embedDrop = new Dropout(ops, dropout, rng, E);
    this.outputDrop = new Dropout(ops, dropout, rng, H);
  }

  /** Every dropout site (a gradient check freezes their masks). */
  get dropouts(): Dropout[] {
    return [this.embedDrop, this.outputDrop];
  }

  /** The carried training state for batch B (a fresh zero state when B changes). */
  stateFor(B: number): RecurrentState {
    if (this.trainState === null || this.trainState.batch !== B) this.trainState = this.stack.newState(B);
    return this.trainState;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V } = this;
    const B = batch.batch, T = batch.time, n = B * T;
    const ids = this.ids.rows(n), targets = this.targets.rows(n), x = this.x.rows(n), logits = this.logits.rows(n);
    const count = toTimeMajor(batch, ids.data, targets.data);
    this.embedding.forward(ids, x, n);
    this.embedDrop.forward(x, x, n, train);
    const y = this.stack.forward(x, T, B, this.stateFor(B));
    // The stack keeps y for its backward: the dropped copy is a buffer of its own.
    const dropOut = this.outputDrop.active(train);
    const yh = dropOut ? this.yDropped.rows(n) : y;
    if (dropOut) this.outputDrop.forward(y, yh, n, true);
    this.head.forward(yh, logits, n);
    // dlogits overwrites the logits (allowed by the op): they are not needed after the loss.
    const grad = train && count > 0;
    const sum = ops.softmaxCrossEntropy(logits, targets, n, V, grad ? logits : null, grad ? 1 / count : 0);
    if (grad) {
      const dx = this.dx.rows(n), dy = this.stack.outputGrad(T, B);
      this.head.backward(yh, logits, dy, n);
      if (dropOut) this.outputDrop.backward(dy, dy);
      this.stack.backward(dx, T, B);
      this.embedDrop.backward(dx, dx);
      this.embedding.backward(dx, ids, n);
    }
    return count > 0 ? sum / count : 0;
  }

  resetState(): void {
    if (this.trainState) this.stack.resetState(this.trainState);
  }

  nextLogProbs(tokens: number[]): Float64Array {
    const V = this.vocab;
    checkTokens(this.kind, tokens, V);
    if (this.sampleState === null) this.sampleState = this.stack.newState(1);
    const state = this.sampleState;
    for (let start = 0; start < tokens.length; start += SAMPLE_CHUNK) {
      const T = Math.min(SAMPLE_CHUNK, tokens.length - start);
      const ids = this.ids.rows(T), x = this.x.rows(T);
      for (let t = 0; t < T; t++) ids.data[t] = tokens[start + t];
      this.embedding.forward(ids, x, T);
      this.stack.forward(x, T, 1, state);
    }
    // The top layer's state is the last output: the head on it gives the next token's logits
    // (before any token: the head on the zero state).
    const top = state.hs[state.hs.length - 1];
    const logits = this.logits.rows(1);
    this.head.forward(top, logits, 1);
    return logSoftmaxRow(logits.data, 0, V);
  }

  resetSampling(): void {
    if (this.sampleState) this.stack.resetState(this.sampleState);
  }
}

// ---- registry specs ----------------------------------------------------------------------------

/** The sizes and options every recurrent LM takes (lstm-attention too, beside its own). */
export const RECURRENT_LM_DEFAULTS = { hidden: 128, layers: 1, embed: 32 };
export const RECURRENT_LM_OPTIONS: readonly ModelOption[] = [
  { key: 'hidden', type: 'int', min: 1, max: 8192, description: 'hidden units per layer' },
  { key: 'layers', type: 'int', min: 1, max: 16, description: 'stacked recurrent layers' },
  { key: 'embed', type: 'int', min: 1, max: 8192, description: 'token embedding size' },
];

/** `--dropout`: the rnn, lstm and gru specs' option, and lstm-attention's (src/models/lstm-attention-lm.ts). */
export const DROPOUT_OPTION: ModelOption = {
  key: 'dropout', type: 'float', min: 0, max: 0.9,
  description: 'dropout on embeddings and residual branches (transformer), embeddings and outputs (rnn, lstm, gru), ' +
    'or embeddings and the LSTM output before the attention (lstm-attention), in training',
};

function spec(kind: CellKind, description: string, extra: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: kind,
    description,
    stateful: true,
    defaults: { ...RECURRENT_LM_DEFAULTS, dropout: 0 },
    options: [...RECURRENT_LM_OPTIONS, DROPOUT_OPTION],
    trainDefaults: { lr: 2e-3, sgdLr: kind === 'rnn' ? 0.5 : 2, optimizer: 'adam' },
    create: (ops, config, rng) => new RecurrentLM(ops, kind, config as unknown as RecurrentLMConfig, rng),
    ...extra,
  };
}

export const RNN_MODEL = spec('rnn', 'tanh RNN language model: embedding → stacked Elman RNN → linear head (truncated BPTT)');
export const LSTM_MODEL = spec('lstm', 'LSTM language model: embedding → stacked LSTM → linear head (truncated BPTT)');
export const GRU_MODEL = spec('gru', 'GRU language model: embedding → stacked GRU → linear head (--gru-variant pytorch|paper)', {
  defaults: { ...RECURRENT_LM_DEFAULTS, dropout: 0, gruVariant: 'pytorch' },
  options: [...RECURRENT_LM_OPTIONS, DROPOUT_OPTION, {
    key: 'gruVariant', type: 'choice', choices: GRU_VARIANTS,
    description: 'reset gate after the recurrent product (pytorch, cuDNN) or before it (paper: Cho et al. 2014)',
  }],
});
