// The trunk the block-stack LMs share (transformer, moe-transformer, memory-lm):
//
//   x₀ = embed(ids)  →  x_{l+1} = block_l(x_l), l = 0 … N−1  →  h = Norm_f(x_N)  →  logits = head(h)
//
// StackBuffers holds its activations, [n, C] rows each (xs[l] = block l's input, xs[N] the last
// block's output, hF = h) and logits [n, V], plus the two gradient buffers dA, dB the backward
// pass alternates between; backward() runs from dL/dh down to dL/dx₀. The head — an untied Linear
// [C, V] or the embedding table itself (tied: logits = h·Eᵀ) — is headForward / headBackward. The
// embedding's own passes stay with the model (positions and the sampling paths differ by model).
import type { Ops, Tensor } from '../ops/types.js';
import { RowBuffer } from '../layers/buffer.js';
import type { Norm } from '../layers/layernorm.js';
import type { Linear } from '../layers/linear.js';
import type { Embedding } from '../layers/embedding.js';

/** A block's backward: given its forward input x and dy, accumulates its parameter gradients and writes dx (overwrites). */
export interface StackBlock {
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void;
}

export class StackBuffers {
  /** The residual stream after each block: xs[0] = embeddings, xs[N] = the last block's output. */
  readonly xs: RowBuffer[];
  /** Norm_f(x_N). */
  readonly hF: RowBuffer;
  /** The gradient buffers; the head's backward writes dL/dh into dB's rows (see backward). */
  readonly dA: RowBuffer;
  readonly dB: RowBuffer;
  readonly logits: RowBuffer;

  constructor(ops: Ops, layers: number, dim: number, vocab: number) {
    this.xs = Array.from({ length: layers + 1 }, () => new RowBuffer(ops, dim));
    this.hF = new RowBuffer(ops, dim);
    this.dA = new RowBuffer(ops, dim);
    this.dB = new RowBuffer(ops, dim);
    this.logits = new RowBuffer(ops, vocab);
  }

  /** logits [n, V] = h·W (untied head) or h·Eᵀ (tied to the embedding table), h = hF.rows(n). */
  headForward(ops: Ops, head: Linear | null, embedding: Embedding, n: number): Tensor {
    const h = this.hF.rows(n), logits = this.logits.rows(n);
    if (head) head.forward(h, logits, n);
    else ops.gemm(false, true, n, embedding.vocab, embedding.dim, 1, h, embedding.table.value, 0, logits);
    return logits;
  }

  /**
   * Given dlogits [n, V] (in place of the logits): accumulates the head's gradient (dW += hᵀ·dlogits,
   * or dE += dlogitsᵀ·h for a tied table, whose gradient is then dense) and writes dL/dh into
   * dB.rows(n), where backward() takes it from.
   */
  headBackward(ops: Ops, head: Linear | null, embedding: Embedding, dlogits: Tensor, n: number): void {
    const h = this.hF.rows(n), dh = this.dB.rows(n);
    if (head) { head.backward(h, dlogits, dh, n); return; }
    const E = embedding.table, V = embedding.vocab, C = embedding.dim;
    ops.gemm(true, false, V, C, n, 1, dlogits, h, 1, E.grad);
    ops.gemm(false, false, n, C, V, 1, dlogits, E.value, 0, dh);
    E.rows.addAll(); // a tied table's gradient is dense
  }

  /**
   * From dL/dh in dB.rows(n) (written by the head's backward) through Norm_f and the blocks, last
   * to first: accumulates their parameter gradients and returns dL/dx₀ (a view of dA or dB).
   */
  backward(ops: Ops, normF: Norm, blocks: readonly StackBlock[], B: number, T: number): Tensor {
    const n = B * T, L = blocks.length;
    let dcur = this.dA.rows(n), dnext = this.dB.rows(n);
    ops.fill(dcur, 0); // Norm backward accumulates into dx
    normF.backward(this.xs[L].rows(n), dnext, dcur, n);
    for (let l = L - 1; l >= 0; l--) {
      blocks[l].backward(this.xs[l].rows(n), dcur, dnext, B, T);
      [dcur, dnext] = [dnext, dcur];
    }
    return dcur;
  }
}
