// The trunk the block-stack LMs share (moe-transformer, memory-lm; transformer.ts has the same):
//
//   x₀ = embed(ids)  →  x_{l+1} = block_l(x_l), l = 0 … N−1  →  h = Norm_f(x_N)  →  logits = head(h)
//
// StackBuffers holds its activations, [n, C] rows each (xs[l] = block l's input, xs[N] the last
// block's output, hF = h) and logits [n, V], plus the two gradient buffers dA, dB the backward
// pass alternates between; backward() runs from dL/dh down to dL/dx₀. The embedding and the head
// stay with the model (positions, tied tables and the sampling paths differ from model to model).
import type { Ops, Tensor } from '../ops/types.js';
import { RowBuffer } from '../layers/buffer.js';
import type { Norm } from '../layers/layernorm.js';

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
