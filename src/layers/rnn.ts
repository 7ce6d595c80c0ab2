// Vanilla (Elman) RNN layer with tanh, stackable: src/layers/recurrent.ts has the shared pattern.
//
//   a_t = x_t·Wx + b + h_{t−1}·Wh          x_t: [B,I]  Wx: [I,H]  Wh: [H,H]  b: [H]
//   h_t = tanh(a_t)                         a_t, h_t: [B,H]
//
// Backward, t = T−1 … 0, with dh_t = dy_t + (the recurrent term added by step t+1):
//   da_t      = dh_t ⊙ (1 − h_t²)
//   dh_{t−1} += da_t · Whᵀ
// then over all steps at once: dWx += Xᵀ·dA, dWh += H_prevᵀ·dA, db += Σ dA, dX = dA·Wxᵀ.
//
// Init as PyTorch's nn.RNN: every weight U(±1/√H), bias 0.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { zeros } from './init.js';
import {
  RecurrentLayerBase, RecurrentProduct, RecurrentStack, SeqBuffer, projectRows, projectRowsBackward, stackLayers,
} from './recurrent.js';

export class RnnLayer extends RecurrentLayerBase {
  readonly Wx: Param;
  readonly Wh: Param;
  readonly b: Param;
  readonly params: Param[];
  /** a [T,B,H] pre-activations, da [T,B,H] (hs and dy: RecurrentLayerBase). */
  private readonly a: SeqBuffer;
  private readonly da: SeqBuffer;
  /** The per-step products h_{t−1}·Wh (forward) and da_t·Whᵀ (backward), Wh packed once per pass. */
  private readonly hWh: RecurrentProduct;
  private readonly daWhT: RecurrentProduct;

  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng) {
    super(ops, 'rnn', inDim, hidden);
    const H = hidden;
    this.Wx = this.weight(`${name}.Wx`, inDim, H, rng);
    this.Wh = this.weight(`${name}.Wh`, H, H, rng);
    this.b = makeParam(ops, `${name}.b`, [H], zeros, rng);
    this.params = [this.Wx, this.Wh, this.b];
    this.a = new SeqBuffer(ops, H);
    this.da = new SeqBuffer(ops, H);
    this.hWh = new RecurrentProduct(ops, this.Wh, false, H, H);
    this.daWhT = new RecurrentProduct(ops, this.Wh, true, H, H);
  }

  /** x [T,B,I] → y [T,B,H]. */
  forward(x: Tensor, T: number, B: number, h0: Tensor, _c0: Tensor | null, hT: Tensor): Tensor {
    const { ops, a, hs } = this, H = this.hidden;
    a.prepare(T, B);
    hs.prepare(T + 1, B);
    this.x = x;
    projectRows(ops, x, this.Wx, this.b, T * B, this.inDim, H, a.all); // A = X·Wx + b for all T·B rows at once
    ops.copy(h0, hs.at(0));
    this.hWh.begin(T);
    for (let t = 0; t < T; t++) {
      this.hWh.run(B, hs.at(t), 1, a.at(t)); // a_t += h_{t−1}·Wh
      ops.activation('tanh', a.at(t), hs.at(t + 1));
    }
    ops.copy(hs.at(T), hT);
    return hs.tail;
  }

  /** dy (in outputGrad) → dx [T,B,I], dh0 [B,H]; accumulates dWx, dWh, db. */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null): void {
    const { ops, a, hs, da, dy } = this, H = this.hidden;
    da.prepare(T, B);
    dy.prepare(T, B);
    this.daWhT.begin(dh0 ? T : T - 1);
    for (let t = T - 1; t >= 0; t--) {
      ops.activationBackward('tanh', a.at(t), hs.at(t + 1), dy.at(t), da.at(t)); // da_t = dh_t ⊙ (1 − h_t²)
      if (t > 0) this.daWhT.run(B, da.at(t), 1, dy.at(t - 1)); // dh_{t−1} += da_t·Whᵀ
      else if (dh0) this.daWhT.run(B, da.at(0), 0, dh0);
    }
    const n = T * B;
    projectRowsBackward(ops, this.x!, da.all, this.Wx, this.b, n, this.inDim, H, dx); // dWx += Xᵀ·dA, db += Σ dA, dX = dA·Wxᵀ
    projectRowsBackward(ops, hs.all, da.all, this.Wh, null, n, H, H, null); // dWh += H_prevᵀ·dA
  }
}

export interface RnnOptions {
  /** Stacked layers (default 1). */
  layers?: number;
}

/** A stack of tanh RNN layers: x [T,B,I] → y [T,B,H]. */
export class RNN extends RecurrentStack {
  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng, opts: RnnOptions = {}) {
    super(ops, stackLayers('rnn', name, inDim, hidden, opts.layers, (n, i) => new RnnLayer(ops, n, i, hidden, rng)), false);
  }
}
