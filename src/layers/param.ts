// A trainable parameter: its value, its gradient (same size, accumulated by backward passes and
// zeroed once per step by the training loop) and its logical shape, for checkpoints and printing.
// Structurally a gradcheck `CheckTensor`, so a layer's params can be handed to the harness as is.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { initValues, type Init } from './init.js';

export interface Param {
  name: string;
  shape: number[];
  value: Tensor;
  grad: Tensor;
  /**
   * Row-sparse gradient (embedding tables): the rows the backward pass touched since the last
   * optimizer step. When present, the optimizer updates only these rows and then clears the set.
   */
  rows?: RowSubset;
}

/** Which rows of a [rows, cols] parameter carry gradient (implemented by layers/embedding.ts TouchedRows). */
export interface RowSubset {
  readonly cols: number;
  /** ids[0 … count) are the rows, each listed once. */
  readonly ids: Int32Array;
  readonly count: number;
  clear(): void;
}

export function makeParam(ops: Ops, name: string, shape: number[], init: Init, rng: Rng): Param {
  const size = shape.reduce((a, b) => a * b, 1);
  const value = ops.tensorFrom(initValues(init, shape, rng));
  return { name, shape, value, grad: ops.tensor(size) };
}

/** Total number of scalars in a parameter list. */
export function countParams(params: Param[]): number {
  return params.reduce((s, p) => s + p.value.size, 0);
}

/** Zeroes every gradient: once per training step, before the backward pass accumulates. */
export function zeroGrads(ops: Ops, params: Param[]): void {
  for (const p of params) ops.fill(p.grad, 0);
}
