// The single-neuron character LM: softmax regression on the previous token.
//
//   logits[i, :] = W[x_i, :] + b          W: [V, V], b: [V]   (an embedding lookup of a V×V table)
//   loss         = mean_i CE(softmax(logits[i, :]), y_i)       over the non-padding targets
//
// It is the simplest thing that learns anything about text: a bigram model, i.e. a table of
// P(next | previous). With W = 0 and b = 0 it starts at loss ln V (the uniform distribution); the
// bias alone can reach the unigram entropy, and W takes it below. The problem is convex, so zero
// initialisation is the natural start (no symmetry to break) and the weights are not drawn at all.
//
// Backward (the shapes are those of the forward, n = batch·time rows):
//   dlogits = (softmax(logits) − onehot(y)) / count     fused into softmaxCrossEntropy
//   dW[x_i, :] += dlogits[i, :]                          embeddingBackward (a scatter-add)
//   db        += Σ_i dlogits[i, :]                       sumRows
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from '../layers/param.js';
import { zeros } from '../layers/init.js';
import type { ModelSpec, SequenceModel, TokenBatch } from './types.js';
import { checkSizes, checkTokens } from './checks.js';
import { logSoftmaxInPlace } from './sample.js';

export interface BigramConfig {
  vocabSize: number;
}

export class BigramLM implements SequenceModel {
  readonly kind = 'bigram';
  readonly config: Record<string, unknown>;
  readonly params: Param[];
  readonly W: Param;
  readonly b: Param;
  readonly vocab: number;
  /** logits [rows, V], overwritten in place by dlogits in the backward pass. Grown on demand. */
  private logits: Tensor | null = null;
  private rows = 0;
  /** The last token fed to nextLogProbs (−1: none yet). */
  private last = -1;

  constructor(readonly ops: Ops, config: BigramConfig, rng: Rng) {
    const V = config.vocabSize;
    checkSizes('bigram', { vocabSize: V });
    this.vocab = V;
    this.config = { vocabSize: V };
    this.W = makeParam(ops, 'W', [V, V], zeros, rng);
    this.b = makeParam(ops, 'b', [V], zeros, rng);
    this.params = [this.W, this.b];
  }

  /**
   * A logits buffer of at least `rows` rows: allocated on the first call and when a larger batch
   * comes, never per step. (Ops take sizes explicitly, so a larger buffer needs no view.)
   */
  private buffer(rows: number): Tensor {
    if (this.logits === null || rows > this.rows) {
      this.logits = this.ops.tensor(rows * this.vocab);
      this.rows = rows;
    }
    return this.logits;
  }

  forwardBackward(batch: TokenBatch, train: boolean): number {
    const { ops, vocab: V } = this;
    const n = batch.batch * batch.time;
    const count = countTargets(batch.targets, n);
    if (count === 0) return 0;
    const logits = this.buffer(n);
    ops.embedding(this.W.value, batch.inputs, logits, n, V);
    ops.addBias(logits, this.b.value, n, V);
    // dlogits overwrites logits (allowed by the op): the logits are not needed after the loss.
    const sum = ops.softmaxCrossEntropy(logits, batch.targets, n, V, train ? logits : null, 1 / count);
    if (train) {
      ops.embeddingBackward(logits, batch.inputs, this.W.grad, n, V);
      ops.sumRows(logits, this.b.grad, n, V);
    }
    return sum / count;
  }

  resetState(): void {
    // Nothing is carried between batches: each prediction sees only its own input token.
  }

  nextLogProbs(tokens: number[]): Float64Array {
    const V = this.vocab;
    // Only the last token matters, but every one is checked (before the state changes), as in the other models.
    checkTokens('bigram', tokens, V);
    if (tokens.length > 0) this.last = tokens[tokens.length - 1];
    // On the host in float64: one row of V logits, not worth a kernel call. Without any token
    // yet, only the bias speaks.
    const w = this.W.value.data, b = this.b.value.data;
    const out = new Float64Array(V);
    for (let j = 0; j < V; j++) out[j] = b[j] + (this.last >= 0 ? w[this.last * V + j] : 0);
    return logSoftmaxInPlace(out);
  }

  resetSampling(): void {
    this.last = -1;
  }
}

/** Non-padding targets among the first n (a negative target is padding). */
export function countTargets(targets: IntTensor, n: number): number {
  const t = targets.data;
  let c = 0;
  for (let i = 0; i < n; i++) if (t[i] >= 0) c++;
  return c;
}

export const BIGRAM_MODEL: ModelSpec = {
  name: 'bigram',
  aliases: ['neuron'],
  description: 'single-neuron LM: softmax regression on the previous token (a V×V table)',
  stateful: false,
  defaults: {},
  options: [],
  // Convex and zero-initialised: a large step is safe and reaches the bigram optimum quickly.
  trainDefaults: { lr: 0.05, sgdLr: 10, optimizer: 'adam' },
  create: (ops, config, rng) => new BigramLM(ops, config as unknown as BigramConfig, rng),
};
