// What the recurrent layers (rnn.ts, lstm.ts, gru.ts) share: the carried state, the stacking of
// layers, the per-layer plumbing (RecurrentLayerBase), the big products over all steps
// (projectRows and its backward), and time-major sequence buffers with per-step views made once.
//
// Shapes. A sequence is time-major, [T, B, width]: step t of every batch row is one contiguous
// [B, width] block, so a step is a plain view and all T·B rows together are one matrix for the
// big products. Each layer:
//   forward   x [T,B,I] → y [T,B,H], starting from h0 (and c0) [B,H], leaving hT (cT) [B,H]
//   backward  dy [T,B,H] (written by the caller into outputGrad()) → dx [T,B,I], and the
//             parameter gradients ACCUMULATED, llm.c style.
// The pattern every layer follows (llm.c's "one big gemm" idea applied to time):
//   forward:  P = X·Wx + b for all T·B rows in ONE gemm; then per step one recurrent gemm
//             (h_{t−1}·Wh, accumulated into P_t) and the fused cell;
//   backward: the cell backward step by step in reverse, collecting the pre-activation gradients
//             dP of every step; then dWx += Xᵀ·dP, dWh += H_prevᵀ·dP and dX = dP·Wxᵀ as ONE gemm
//             each over all T·B rows. Only dh_{t−1} += dP_t·Whᵀ has to stay inside the loop.
// The per-step products go through RecurrentProduct: Wh is packed once per pass (forward: Wh,
// backward: Whᵀ) and every step multiplies with the packed form.
// Hidden states are kept as [T+1, B, H] with slot 0 = h0, so H_prev (slots 0…T−1) and the output
// (slots 1…T) are both contiguous.
//
// Truncated BPTT: forward() starts from the state it is given and writes the final state back
// into it, so the next chunk continues where this one stopped; the gradient stops at the chunk
// boundary (backward() can report dL/dh0 for checks, but nothing feeds it to the previous chunk).
//
// Buffers are allocated on first use and grown only when a larger T·B comes (never per step);
// per-step views are made once per (T, B).
import type { Ops, PackedGemmB, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';

/** The state carried between chunks: per layer, h (and for the LSTM c), each [B, H]. */
export class RecurrentState {
  /** [layers, B, H] */
  readonly h: Tensor;
  /** [layers, B, H], LSTM only. */
  readonly c: Tensor | null;
  /** Per-layer [B, H] views of h and c. */
  readonly hs: Tensor[];
  readonly cs: (Tensor | null)[];

  constructor(ops: Ops, readonly layers: number, readonly batch: number, readonly hidden: number, cell: boolean) {
    const n = batch * hidden;
    this.h = ops.tensor(layers * n);
    this.c = cell ? ops.tensor(layers * n) : null;
    this.hs = Array.from({ length: layers }, (_, l) => this.h.view(l * n, n));
    this.cs = Array.from({ length: layers }, (_, l) => this.c?.view(l * n, n) ?? null);
  }
}

/** One layer of a recurrent stack. */
export interface RecurrentLayer {
  readonly inDim: number;
  readonly hidden: number;
  readonly params: Param[];
  /**
   * x [T,B,I] → y [T,B,H] (a view of the layer's own buffer, valid until its next forward).
   * Reads the initial state h0 (c0) and writes the final one into hT (cT); they may alias.
   * Keeps x (by reference) and its own activations for backward().
   */
  forward(x: Tensor, T: number, B: number, h0: Tensor, c0: Tensor | null, hT: Tensor, cT: Tensor | null): Tensor;
  /** Where the caller writes dL/dy [T,B,H] before backward() (used as scratch by it). */
  outputGrad(T: number, B: number): Tensor;
  /**
   * Backward for the last forward(): ACCUMULATES the parameter gradients; OVERWRITES dx [T,B,I]
   * and dh0 (dc0) [B,H] when given (null: not needed, not computed).
   */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null, dc0: Tensor | null): void;
}

/**
 * What every layer keeps the same way: its sizes (checked), the input x of the last forward (by
 * reference, for the weight gradients), the hidden states hs [T+1,B,H] (slot 0 = h0), the output
 * gradient dy [T,B,H] the caller writes, and PyTorch's weight init U(±1/√H). The cell, its
 * buffers and its forward and backward are the subclass's own.
 */
export abstract class RecurrentLayerBase implements RecurrentLayer {
  abstract readonly params: Param[];
  protected readonly hs: SeqBuffer;
  protected readonly dy: SeqBuffer;
  protected x: Tensor | null = null;

  constructor(protected readonly ops: Ops, kind: string, readonly inDim: number, readonly hidden: number) {
    checkLayerSizes(kind, inDim, hidden);
    this.hs = new SeqBuffer(ops, hidden);
    this.dy = new SeqBuffer(ops, hidden);
  }

  /** A [rows, cols] weight, U(±1/√H) as in torch.nn.RNN / LSTM / GRU. */
  protected weight(name: string, rows: number, cols: number, rng: Rng): Param {
    return makeParam(this.ops, name, [rows, cols], { kind: 'uniform', a: 1 / Math.sqrt(this.hidden) }, rng);
  }

  outputGrad(T: number, B: number): Tensor {
    this.dy.prepare(T, B);
    return this.dy.all;
  }

  abstract forward(x: Tensor, T: number, B: number, h0: Tensor, c0: Tensor | null, hT: Tensor, cT: Tensor | null): Tensor;
  abstract backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null, dc0: Tensor | null): void;
}

/**
 * One recurrent weight's product at every step of a pass, X·op(W) with op(W) k×n: W for the
 * forward's h_{t−1}·Wh, Wᵀ for the backward's dP_t·Whᵀ. The weight does not change within a pass,
 * so begin() packs op(W) once (ops.packGemmB) and every step multiplies with the packed form,
 * where gemm would prepare W again at every step (the WASM backend repacks all of an LSTM's Wh,
 * 1 MiB at hidden 256, for each h_{t−1}·Wh). A pass of a single step (sampling token by token)
 * multiplies W directly: packing reads all of W once, as much as the one product it would serve.
 */
export class RecurrentProduct {
  private readonly packed: PackedGemmB;
  private usePacked = false;

  /** op(W) = W (transW false) or Wᵀ (true), k×n. The packed storage is allocated here, once. */
  constructor(private readonly ops: Ops, private readonly W: Param, private readonly transW: boolean,
    readonly k: number, readonly n: number) {
    this.packed = ops.packedGemmB(k, n);
  }

  /** Starts a pass of `steps` products (W as it is now). */
  begin(steps: number): void {
    this.usePacked = steps > 1;
    if (this.usePacked) this.ops.packGemmB(this.transW, this.k, this.n, this.W.value, this.packed);
  }

  /** C[m×n] = X[m×k]·op(W) + beta·C (beta 0 overwrites, 1 accumulates). */
  run(m: number, X: Tensor, beta: number, C: Tensor): void {
    if (this.usePacked) this.ops.gemmPackedB(false, m, this.n, this.k, 1, X, this.packed, beta, C);
    else this.ops.gemm(false, this.transW, m, this.n, this.k, 1, X, this.W.value, beta, C);
  }
}

// projectRows / projectRowsBackward (the dense layer's two passes on given W, b) live in linear.ts.
export { projectRows, projectRowsBackward } from './linear.js';

/**
 * A [steps, B, width] time-major buffer with per-step [B, width] views. `prepare(steps, B)`
 * (re)makes the views only when the shape changes, growing the storage when it must.
 */
export class SeqBuffer {
  private storage: Tensor | null = null;
  private capacity = 0;
  private steps = -1;
  private batch = -1;
  private views: Tensor[] = [];
  private allView: Tensor | null = null;
  private tailView: Tensor | null = null;

  constructor(private readonly ops: Ops, readonly width: number) {}

  prepare(steps: number, B: number): void {
    if (steps === this.steps && B === this.batch) return;
    const size = steps * B * this.width;
    if (this.storage === null || size > this.capacity) {
      this.capacity = Math.max(size, 1);
      this.storage = this.ops.tensor(this.capacity);
    }
    const n = B * this.width;
    this.views = Array.from({ length: steps }, (_, t) => this.storage!.view(t * n, n));
    this.allView = this.storage.view(0, size);
    this.tailView = steps > 0 ? this.storage.view(n, size - n) : this.allView;
    this.steps = steps;
    this.batch = B;
  }
  /** Step t, [B, width]. */
  at(t: number): Tensor { return this.views[t]; }
  /** All steps, [steps·B, width]. */
  get all(): Tensor { return this.allView!; }
  /** Steps 1…steps−1 (e.g. the outputs of a [T+1] hidden-state buffer). */
  get tail(): Tensor { return this.tailView!; }
}

/**
 * Layers on top of each other: layer l's output is layer l+1's input. Gradients flow down through
 * each layer's outputGrad() buffer, so nothing is copied between layers.
 */
export class RecurrentStack {
  readonly params: Param[];
  readonly hidden: number;
  readonly inDim: number;

  constructor(private readonly ops: Ops, readonly layers: RecurrentLayer[], readonly hasCell: boolean) {
    if (layers.length < 1) throw new RangeError('a recurrent stack needs at least one layer');
    this.params = layers.flatMap((l) => l.params);
    this.hidden = layers[layers.length - 1].hidden;
    this.inDim = layers[0].inDim;
  }

  get depth(): number { return this.layers.length; }

  /** A zero state for batch B (the start of a stream). */
  newState(B: number): RecurrentState {
    return new RecurrentState(this.ops, this.layers.length, B, this.hidden, this.hasCell);
  }

  /** Zeroes a state in place. */
  resetState(s: RecurrentState): void {
    this.ops.fill(s.h, 0);
    if (s.c) this.ops.fill(s.c, 0);
  }

  /** x [T,B,I] → y [T,B,H] of the top layer; the state is read, then overwritten with the final one. */
  forward(x: Tensor, T: number, B: number, state: RecurrentState): Tensor {
    if (state.batch !== B) throw new RangeError(`recurrent stack: state is for batch ${state.batch}, got batch ${B}`);
    let y = x;
    for (let l = 0; l < this.layers.length; l++) {
      y = this.layers[l].forward(y, T, B, state.hs[l], state.cs[l], state.hs[l], state.cs[l]);
    }
    return y;
  }

  /** Where the caller writes dL/dy [T,B,H] (the top layer's output gradient) before backward(). */
  outputGrad(T: number, B: number): Tensor {
    return this.layers[this.layers.length - 1].outputGrad(T, B);
  }

  /**
   * Backward for the last forward(): accumulates every parameter gradient; overwrites dx [T,B,I]
   * and, when given, dState (dL/d initial state, per layer) — both optional.
   */
  backward(dx: Tensor | null, T: number, B: number, dState: RecurrentState | null = null): void {
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const below = l > 0 ? this.layers[l - 1].outputGrad(T, B) : dx;
      this.layers[l].backward(below, T, B, dState?.hs[l] ?? null, dState?.cs[l] ?? null);
    }
  }
}

/**
 * The layers of a stack: `layers` (default 1, checked) made by make(name, inDim), layer 0 on the
 * input and every other one on the H outputs of the layer below; named `${name}.${l}`.
 */
export function stackLayers(kind: string, name: string, inDim: number, hidden: number, layers: number | undefined,
  make: (name: string, inDim: number) => RecurrentLayer): RecurrentLayer[] {
  const L = layers ?? 1;
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`${kind}: layers must be an integer ≥ 1, got ${L}`);
  return Array.from({ length: L }, (_, l) => make(`${name}.${l}`, l === 0 ? inDim : hidden));
}

/** Checks the sizes every recurrent layer takes. */
function checkLayerSizes(kind: string, inDim: number, hidden: number): void {
  if (!Number.isInteger(inDim) || inDim < 1 || !Number.isInteger(hidden) || hidden < 1) {
    throw new RangeError(`${kind}: input and hidden sizes must be integers ≥ 1, got ${inDim} and ${hidden}`);
  }
}
