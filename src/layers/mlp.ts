// Multi-layer perceptron: a stack of Linear layers with a pointwise non-linearity between them.
//
//   sizes = [d0, d1, …, dL]  (d0 inputs, dL outputs, L linear layers, L − 1 hidden layers)
//   a_0 = x                                  x:   [n, d0]
//   z_l = a_{l−1} · W_l + b_l                z_l: [n, d_l]   W_l: [d_{l−1}, d_l]
//   a_l = f(z_l)            for l < L        a_l: [n, d_l]
//   out = z_L               (no non-linearity on the output: the loss adds softmax or nothing)
//
// Backward, from dout = dL/dz_L:
//   for l = L … 1:
//     dW_l += a_{l−1}ᵀ · dz_l,  db_l += Σ_rows dz_l       Linear.backward
//     da_{l−1} = dz_l · W_lᵀ                              (l = 1: dx, when asked for)
//     dz_{l−1} = da_{l−1} ⊙ f'(z_{l−1})                   ops.activationBackward, in place
//
// Initialisation: He (N(0, 2/fanIn)) for the ReLU family, whose half-zero outputs halve the
// variance; Xavier (U(±√(6/(fanIn+fanOut)))) for sigmoid and tanh, which are linear near 0.
// The output layer is always Xavier (no non-linearity follows it).
//
// The loss on top lives with the model: softmax cross-entropy for classification
// (ops.softmaxCrossEntropy), mean squared error for regression (layers/losses.ts); see
// src/models/mlp.ts.
import type { Activation, Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { Linear } from './linear.js';
import { RowBuffer } from './buffer.js';
import type { Param } from './param.js';

export type MlpInit = 'he' | 'xavier';

export interface MlpOptions {
  /** The hidden layers' non-linearity (default relu). */
  activation?: Activation;
  /** Hidden-layer weight initialisation (default: he for relu, gelu, silu; xavier otherwise). */
  init?: MlpInit;
}

/** He for the ReLU family, Xavier for the rest. */
export function defaultInit(activation: Activation): MlpInit {
  return activation === 'relu' || activation === 'gelu' || activation === 'silu' ? 'he' : 'xavier';
}

export class Mlp {
  readonly layers: Linear[];
  readonly activation: Activation;
  readonly init: MlpInit;
  readonly inDim: number;
  readonly outDim: number;
  /** z_l and a_l for the hidden layers (index l − 1), and z_L: the output. */
  private readonly pre: RowBuffer[];
  private readonly act: RowBuffer[];
  /** dL/da_l, then dL/dz_l in place, for the hidden layers. */
  private readonly dact: RowBuffer[];
  /** The input of the last forward pass: the first layer's backward needs it. */
  private x: Tensor | null = null;
  private n = 0;

  constructor(readonly ops: Ops, name: string, readonly sizes: readonly number[], rng: Rng, opts: MlpOptions = {}) {
    if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
      throw new RangeError(`mlp: sizes must be at least [in, out], each an integer ≥ 1, got [${sizes.join(', ')}]`);
    }
    this.activation = opts.activation ?? 'relu';
    this.init = opts.init ?? defaultInit(this.activation);
    const L = sizes.length - 1;
    this.layers = [];
    for (let l = 1; l <= L; l++) {
      const init = l < L && this.init === 'he' ? { kind: 'he' as const } : { kind: 'xavier' as const };
      this.layers.push(new Linear(ops, `${name}.${l - 1}`, sizes[l - 1], sizes[l], rng, { init }));
    }
    this.pre = this.layers.map((lin) => new RowBuffer(ops, lin.outDim));
    this.act = this.layers.slice(0, -1).map((lin) => new RowBuffer(ops, lin.outDim));
    this.dact = this.layers.slice(0, -1).map((lin) => new RowBuffer(ops, lin.outDim));
    this.inDim = sizes[0];
    this.outDim = sizes[L];
  }

  get params(): Param[] {
    return this.layers.flatMap((l) => l.params);
  }

  /**
   * x: [n, in] → the output z_L: [n, out], a view of the layer's own buffer, valid until the next
   * forward. x must stay unchanged until backward().
   */
  forward(x: Tensor, n: number): Tensor {
    const { ops, layers } = this;
    this.x = x;
    this.n = n;
    const last = layers.length - 1;
    let input = x;
    for (let l = 0; l < last; l++) {
      const z = this.pre[l].rows(n), a = this.act[l].rows(n);
      layers[l].forward(input, z, n);
      ops.activation(this.activation, z, a);
      input = a;
    }
    const out = this.pre[last].rows(n);
    layers[last].forward(input, out, n);
    return out;
  }

  /**
   * dout: dL/d(output) [n, out] for the last forward pass. Accumulates every weight and bias
   * gradient; when dx is given, writes dL/dx [n, in] there (adds it, with accumulateDx). dout is
   * not modified; the hidden-layer gradients live in scratch buffers.
   */
  backward(dout: Tensor, dx: Tensor | null = null, accumulateDx = false): void {
    const { ops, layers, n } = this;
    if (this.x === null) throw new Error('mlp: backward() before forward()');
    let dz = dout;
    for (let l = layers.length - 1; l >= 1; l--) {
      const a = this.act[l - 1].rows(n);
      const da = this.dact[l - 1].rows(n);
      layers[l].backward(a, dz, da, n);
      ops.activationBackward(this.activation, this.pre[l - 1].rows(n), a, da, da);
      dz = da;
    }
    layers[0].backward(this.x, dz, dx, n, accumulateDx);
  }
}
