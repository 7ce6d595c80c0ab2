// The MLP language model of Bengio et al. (2003), on characters: the previous N characters are
// looked up in an embedding table, their vectors concatenated, passed through one tanh hidden
// layer, and a softmax over the vocabulary predicts the next character.
//
//   ctx[i, j]  = the token N−1−j places before position i (j = 0 the oldest), or PAD = V
//                where that lies before the start of the window (V + 1 table rows)
//   X[i, :]    = C[ctx[i,0]] ‖ C[ctx[i,1]] ‖ … ‖ C[ctx[i,N−1]]     C: [V+1, E], X: [n, N·E]
//   h          = tanh(X · W1 + b1)                                  W1: [N·E, H]
//   logits     = h · W2 + b2                                        W2: [H, V]
//   loss       = mean_i CE(softmax(logits_i), y_i)                  over non-padding targets
// (The paper's optional direct connections X → logits are left out, as in most retellings.)
//
// One embedding lookup of the n·N context ids writes X directly: row-major [n·N, E] is [n, N·E].
// Backward (n = batch·time rows):
//   dlogits = (softmax − onehot(y)) / count                         fused in softmaxCrossEntropy
//   dW2, db2, dh; dpre = dh ⊙ (1 − h²); dW1, db1, dX                 layers/mlp.ts
//   dC[ctx[i,j], :] += dX[i, j·E:(j+1)·E]                            embeddingBackward (scatter-add)
//
// Not stateful: each prediction sees only the N characters before it, so training uses random
// windows. The first N−1 positions of a window see PAD in place of the characters before the
// window; the same PAD starts a sampling state, so a prime shorter than N works.
import type { IntTensor, Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from '../layers/param.js';
import { Mlp } from '../layers/mlp.js';
import { RowBuffer } from '../layers/buffer.js';
import type { ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { countTargets } from './bigram.js';
import { checkSizes, checkTokens } from './checks.js';

export interface MlpLMConfig {
  vocabSize: number;
  /** N: how many previous tokens each prediction sees. */
  context: number;
  /** E: the embedding size of one token. */
  embed: number;
  /** H: hidden tanh units. */
  hidden: number;
}

export const MLP_LM_DEFAULTS = { context: 3, embed: 16, hidden: 128 };

export class MlpLM implements SequenceModel {
  readonly kind = 'mlp-lm';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  /** The embedding table C [V+1, E]; row V is PAD. */
  readonly C: Param;
  readonly mlp: Mlp;
  readonly vocab: number;
  readonly context: number;
  readonly embed: number;
  private readonly X: RowBuffer;
  private readonly dX: RowBuffer;
  private readonly dlogits: RowBuffer;
  /** Context ids [n·N], grown on demand. */
  private ctx: IntTensor | null = null;
  /** The sampling state: the last N tokens fed (PAD before any). */
  private history: number[];
  private readonly sampleCtx: IntTensor;

  constructor(readonly ops: Ops, config: MlpLMConfig, rng: Rng) {
    const { vocabSize: V, context: N, embed: E, hidden: H } = config;
    checkSizes('mlp-lm', { vocabSize: V, context: N, embed: E, hidden: H });
    this.vocab = V;
    this.context = N;
    this.embed = E;
    this.config = { vocabSize: V, context: N, embed: E, hidden: H };
    // Embeddings start as N(0, 1) (Bengio's random init; makemore's randn) so that the tanh
    // layer sees inputs of unit scale; W1 is Xavier, which suits tanh.
    this.C = makeParam(ops, 'C', [V + 1, E], { kind: 'normal', std: 1 }, rng);
    this.mlp = new Mlp(ops, 'mlp', [N * E, H, V], rng, { activation: 'tanh', init: 'xavier' });
    this.params = [this.C, ...this.mlp.params];
    this.X = new RowBuffer(ops, N * E);
    this.dX = new RowBuffer(ops, N * E);
    this.dlogits = new RowBuffer(ops, V);
    this.history = new Array<number>(N).fill(V);
    this.sampleCtx = ops.ints(N);
  }

  /** The context ids for every position of the batch: [batch·time·N]. */
  private contextIds(batch: TokenBatch): IntTensor {
    const { batch: B, time: T } = batch, N = this.context, V = this.vocab;
    const n = B * T;
    if (this.ctx === null || this.ctx.size < n * N) this.ctx = this.ops.ints(n * N);
    const ids = this.ctx.data, inputs = batch.inputs.data;
    checkTokens('mlp-lm', inputs, V, n);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * N;
        for (let j = 0; j < N; j++) {
          const s = t - (N - 1) + j;
          if (s < 0) {
            ids[row + j] = V;
            continue;
          }
          ids[row + j] = inputs[b * T + s];
        }
      }
    }
    return this.ctx;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V, context: N, embed: E } = this;
    const n = batch.batch * batch.time;
    const count = countTargets(batch.targets, n);
    if (count === 0) return 0;
    const ctx = this.contextIds(batch);
    const X = this.X.rows(n);
    ops.embedding(this.C.value, ctx, X, n * N, E);
    const logits = this.mlp.forward(X, n);
    const dlogits = train ? this.dlogits.rows(n) : null;
    const sum = ops.softmaxCrossEntropy(logits, batch.targets, n, V, dlogits, 1 / count);
    if (dlogits) {
      const dX = this.dX.rows(n);
      this.mlp.backward(dlogits, dX);
      ops.embeddingBackward(dX, ctx, this.C.grad, n * N, E);
    }
    return sum / count;
  }

  resetState(): void {
    // Nothing is carried between batches: each prediction sees only its own window.
  }

  nextLogProbs(tokens: number[]): Float64Array {
    const { ops, vocab: V, context: N, embed: E } = this;
    checkTokens('mlp-lm', tokens, V); // all of them before any enters the history
    for (const t of tokens) {
      this.history.push(t);
      this.history.shift();
    }
    this.sampleCtx.data.set(this.history);
    const X = this.X.rows(1);
    ops.embedding(this.C.value, this.sampleCtx, X, N, E);
    const logits = this.mlp.forward(X, 1);
    ops.logSoftmax(logits, logits, 1, V);
    return Float64Array.from(logits.data.subarray(0, V));
  }

  resetSampling(): void {
    this.history.fill(this.vocab);
  }
}

export const MLP_LM_MODEL: ModelSpec = {
  name: 'mlp-lm',
  aliases: ['bengio'],
  description: 'Bengio-style MLP LM: embeddings of the previous N tokens → tanh layer → softmax',
  stateful: false,
  defaults: { ...MLP_LM_DEFAULTS },
  options: [
    { key: 'context', type: 'int', min: 1, max: 64, description: 'previous tokens each prediction sees (N)' },
    { key: 'embed', type: 'int', min: 1, max: 8192, description: 'embedding size per token' },
    { key: 'hidden', type: 'int', min: 1, max: 8192, description: 'hidden units per layer' },
  ],
  trainDefaults: { lr: 3e-3, sgdLr: 1, optimizer: 'adam' },
  create: (ops, config, rng) => new MlpLM(ops, config as unknown as MlpLMConfig, rng),
};
