// The models the recurrent toy tasks train: a recurrent stack (vanilla RNN or LSTM, from
// src/layers) with a linear read-out at every step, and a loss only where the task asks.
// Every batch is B independent sequences, so each forward pass starts from a zero state.
//
// Shapes are time-major, as the recurrent layers take them: x [T,B,I] (step t of row b at
// (t·B + b)·I), y [T,B,H], out [T·B, O].
//
//   out = y · W + b                          Linear head, H → O, applied to all T·B rows at once
//   regressor: loss = Σ_{mask} (out − target)² / count          (count = Σ mask · O)
//              dout = 2·(out − target)⊙mask / count
//   tagger:    loss = mean over rows with a target ≥ 0 of CE(softmax(out_row), target)
//              dout = (softmax − onehot) / count                   (ops.softmaxCrossEntropy)
// Backward: dy = dout · Wᵀ (written into the stack's outputGrad buffer), then the stack's BPTT.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { Linear } from '../layers/linear.js';
import { RowBuffer } from '../layers/buffer.js';
import type { Param } from '../layers/param.js';
import { LSTM, LstmLayer } from '../layers/lstm.js';
import { RNN } from '../layers/rnn.js';
import type { RecurrentStack, RecurrentState } from '../layers/recurrent.js';
import { countTargets } from '../models/bigram.js';

export type CellKind = 'rnn' | 'lstm';

export interface RecurrentNetOptions {
  cell: CellKind;
  inDim: number;
  hidden: number;
  outDim: number;
  /** Stacked recurrent layers (default 1). */
  layers?: number;
  /**
   * LSTM only: initial biases of the input and forget gates (the layer's own defaults are 0 and
   * 1). A memory task starts better with the input gate mostly shut and the forget gate open, so
   * that noise stays out of the cell until the network learns when to let a value in.
   */
  inputGateBias?: number;
  forgetGateBias?: number;
}

/** A recurrent stack plus a linear head at every step. */
export class RecurrentNet {
  readonly stack: RecurrentStack;
  readonly head: Linear;
  readonly params: Param[];
  private state: RecurrentState | null = null;
  private y: Tensor | null = null;
  private T = 0;
  private B = 0;

  constructor(readonly ops: Ops, readonly opts: RecurrentNetOptions, rng: Rng) {
    const { cell, inDim, hidden, outDim } = opts;
    const layers = opts.layers ?? 1;
    this.stack = cell === 'lstm' ? new LSTM(ops, 'lstm', inDim, hidden, rng, { layers }) : new RNN(ops, 'rnn', inDim, hidden, rng, { layers });
    for (const layer of this.stack.layers) {
      if (!(layer instanceof LstmLayer)) continue;
      // b is [4H] in the gate order i, f, g, o (src/layers/lstm.ts).
      const b = layer.b.value.data, H = layer.hidden;
      if (opts.inputGateBias !== undefined) b.fill(opts.inputGateBias, 0, H);
      if (opts.forgetGateBias !== undefined) b.fill(opts.forgetGateBias, H, 2 * H);
    }
    this.head = new Linear(ops, 'head', hidden, outDim, rng);
    this.params = [...this.stack.params, ...this.head.params];
  }

  /** x [T,B,I] → out [T·B, O] (written into `out`), from a zero state. */
  forward(x: Tensor, T: number, B: number, out: Tensor): void {
    if (this.state === null || this.state.batch !== B) this.state = this.stack.newState(B);
    else this.stack.resetState(this.state);
    this.y = this.stack.forward(x, T, B, this.state);
    this.head.forward(this.y, out, T * B);
    this.T = T;
    this.B = B;
  }

  /** dout [T·B, O] for the last forward(): accumulates every parameter gradient. */
  backward(dout: Tensor): void {
    const { T, B } = this;
    const dy = this.stack.outputGrad(T, B);
    this.head.backward(this.y!, dout, dy, T * B);
    this.stack.backward(null, T, B);
  }
}

/** B sequences of T steps with real targets; mask [T,B] is 1 where a step is scored, 0 elsewhere. */
export interface RegressionSeqBatch {
  x: Tensor;
  /** [T,B,O]: ignored where mask is 0. */
  y: Tensor;
  mask: Tensor;
  T: number;
  B: number;
}

/** RecurrentNet + masked mean squared error. */
export class RecurrentRegressor {
  readonly net: RecurrentNet;
  private readonly out: RowBuffer;
  private readonly dout: RowBuffer;
  private readonly outDim: number;

  constructor(readonly ops: Ops, opts: RecurrentNetOptions, rng: Rng) {
    this.net = new RecurrentNet(ops, opts, rng);
    this.outDim = opts.outDim;
    this.out = new RowBuffer(ops, opts.outDim);
    this.dout = new RowBuffer(ops, opts.outDim);
  }

  get params(): Param[] {
    return this.net.params;
  }

  /** The outputs [T·B, O] for x, copied out (time-major). */
  predict(x: Tensor, T: number, B: number): Float64Array {
    const out = this.out.rows(T * B);
    this.net.forward(x, T, B, out);
    return Float64Array.from(out.data);
  }

  forwardBackward(batch: RegressionSeqBatch, train: boolean): number {
    const { ops, outDim: O } = this;
    const { T, B } = batch, rows = T * B;
    const out = this.out.rows(rows), dout = this.dout.rows(rows);
    this.net.forward(batch.x, T, B, out);
    // dout = (out − y) ⊙ mask, row by row (the mask is per row; O is 1 in every task here).
    ops.copy(out, dout);
    ops.axpy(-1, batch.y, dout);
    const m = batch.mask.data, d = dout.data;
    let count = 0;
    for (let r = 0; r < rows; r++) {
      if (m[r] === 0) d.fill(0, r * O, (r + 1) * O);
      else count += O;
    }
    if (count === 0) return 0;
    const loss = ops.sumSquares(dout) / count;
    if (train) {
      ops.scale(dout, 2 / count);
      this.net.backward(dout);
    }
    return loss;
  }
}

/** B sequences of T steps with a class per step (−1: not scored). */
export interface TaggingSeqBatch {
  x: Tensor;
  /** [T,B] */
  targets: IntTensor;
  T: number;
  B: number;
}

/** RecurrentNet + softmax cross-entropy at the scored steps. */
export class RecurrentTagger {
  readonly net: RecurrentNet;
  readonly classes: number;
  private readonly out: RowBuffer;
  private readonly dout: RowBuffer;

  constructor(readonly ops: Ops, opts: RecurrentNetOptions, rng: Rng) {
    this.net = new RecurrentNet(ops, opts, rng);
    this.classes = opts.outDim;
    this.out = new RowBuffer(ops, opts.outDim);
    this.dout = new RowBuffer(ops, opts.outDim);
  }

  get params(): Param[] {
    return this.net.params;
  }

  /** The most likely class at every step, [T·B] time-major. */
  predict(x: Tensor, T: number, B: number): Int32Array {
    const C = this.classes, rows = T * B;
    const out = this.out.rows(rows);
    this.net.forward(x, T, B, out);
    const o = out.data, pred = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (o[r * C + c] > o[r * C + best]) best = c;
      pred[r] = best;
    }
    return pred;
  }

  forwardBackward(batch: TaggingSeqBatch, train: boolean): number {
    const { T, B } = batch, rows = T * B;
    const count = countTargets(batch.targets, rows);
    if (count === 0) return 0;
    const out = this.out.rows(rows);
    this.net.forward(batch.x, T, B, out);
    const dout = train ? this.dout.rows(rows) : null;
    const sum = this.ops.softmaxCrossEntropy(out, batch.targets, rows, this.classes, dout, 1 / count);
    if (dout) this.net.backward(dout);
    return sum / count;
  }
}

