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
import { RecurrentStack, SeqBuffer, checkLayerSizes, stackDepth, type RecurrentLayer } from './recurrent.js';

export class RnnLayer implements RecurrentLayer {
  readonly Wx: Param;
  readonly Wh: Param;
  readonly b: Param;
  readonly params: Param[];
  /** a [T,B,H] pre-activations, hs [T+1,B,H] (slot 0 = h0), da [T,B,H], dy [T,B,H]. */
  private readonly a: SeqBuffer;
  private readonly hs: SeqBuffer;
  private readonly da: SeqBuffer;
  private readonly dy: SeqBuffer;
  private x: Tensor | null = null;

  constructor(private readonly ops: Ops, name: string, readonly inDim: number, readonly hidden: number, rng: Rng) {
    checkLayerSizes('rnn', inDim, hidden);
    const H = hidden, u = { kind: 'uniform' as const, a: 1 / Math.sqrt(H) };
    this.Wx = makeParam(ops, `${name}.Wx`, [inDim, H], u, rng);
    this.Wh = makeParam(ops, `${name}.Wh`, [H, H], u, rng);
    this.b = makeParam(ops, `${name}.b`, [H], zeros, rng);
    this.params = [this.Wx, this.Wh, this.b];
    this.a = new SeqBuffer(ops, H);
    this.hs = new SeqBuffer(ops, H);
    this.da = new SeqBuffer(ops, H);
    this.dy = new SeqBuffer(ops, H);
  }

  /** x [T,B,I] → y [T,B,H]. */
  forward(x: Tensor, T: number, B: number, h0: Tensor, _c0: Tensor | null, hT: Tensor): Tensor {
    const { ops, a, hs } = this, H = this.hidden;
    a.prepare(T, B);
    hs.prepare(T + 1, B);
    this.x = x;
    // A = X·Wx + b for all T·B rows at once.
    ops.gemm(false, false, T * B, H, this.inDim, 1, x, this.Wx.value, 0, a.all);
    ops.addBias(a.all, this.b.value, T * B, H);
    ops.copy(h0, hs.at(0));
    for (let t = 0; t < T; t++) {
      ops.gemm(false, false, B, H, H, 1, hs.at(t), this.Wh.value, 1, a.at(t)); // a_t += h_{t−1}·Wh
      ops.activation('tanh', a.at(t), hs.at(t + 1));
    }
    ops.copy(hs.at(T), hT);
    return hs.tail;
  }

  outputGrad(T: number, B: number): Tensor {
    this.dy.prepare(T, B);
    return this.dy.all;
  }

  /** dy (in outputGrad) → dx [T,B,I], dh0 [B,H]; accumulates dWx, dWh, db. */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null): void {
    const { ops, a, hs, da, dy } = this, H = this.hidden;
    da.prepare(T, B);
    dy.prepare(T, B);
    for (let t = T - 1; t >= 0; t--) {
      ops.activationBackward('tanh', a.at(t), hs.at(t + 1), dy.at(t), da.at(t)); // da_t = dh_t ⊙ (1 − h_t²)
      if (t > 0) ops.gemm(false, true, B, H, H, 1, da.at(t), this.Wh.value, 1, dy.at(t - 1)); // dh_{t−1} += da_t·Whᵀ
      else if (dh0) ops.gemm(false, true, B, H, H, 1, da.at(0), this.Wh.value, 0, dh0);
    }
    const n = T * B;
    ops.gemm(true, false, this.inDim, H, n, 1, this.x!, da.all, 1, this.Wx.grad); // dWx += Xᵀ·dA
    ops.gemm(true, false, H, H, n, 1, hs.all, da.all, 1, this.Wh.grad); // dWh += H_prevᵀ·dA
    ops.sumRows(da.all, this.b.grad, n, H);
    if (dx) ops.gemm(false, true, n, this.inDim, H, 1, da.all, this.Wx.value, 0, dx); // dX = dA·Wxᵀ
  }
}

export interface RnnOptions {
  /** Stacked layers (default 1). */
  layers?: number;
}

/** A stack of tanh RNN layers: x [T,B,I] → y [T,B,H]. */
export class RNN extends RecurrentStack {
  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng, opts: RnnOptions = {}) {
    const layers = stackDepth('rnn', opts.layers);
    super(ops, Array.from({ length: layers }, (_, l) => new RnnLayer(ops, `${name}.${l}`, l === 0 ? inDim : hidden, hidden, rng)), false);
  }
}
