// LSTM layer, stackable: src/layers/recurrent.ts has the shared pattern (one input gemm for all
// steps, one recurrent gemm + a fused cell per step, one gemm per weight gradient).
//
//   g_t = x_t·Wx + b + h_{t−1}·Wh             g_t: [B,4H], blocks i, f, g, o   Wx: [I,4H]  Wh: [H,4H]
//   i = σ(g_i)  f = σ(g_f)  ĝ = tanh(g_g)  o = σ(g_o)
//   c_t = f⊙c_{t−1} + i⊙ĝ                      c_t, h_t: [B,H]
//   h_t = o⊙tanh(c_t)
// The cell (activations and state update) is one fused op, ops.lstmCell; the gate buffer then
// holds the activations, which is all the backward needs (with c_{t−1} and tanh(c_t)).
//
// Backward, t = T−1 … 0, with dh_t = dy_t + dg_{t+1}·Whᵀ and dc_t from step t+1 (0 at the end):
//   ops.lstmCellBackward:  dc = dc_t + dh_t⊙o⊙(1 − tanh²c_t)
//                          dg_i = dc⊙ĝ⊙i(1−i)  dg_f = dc⊙c_{t−1}⊙f(1−f)  dg_g = dc⊙i⊙(1−ĝ²)
//                          dg_o = dh_t⊙tanh(c_t)⊙o(1−o)                  dc_{t−1} = dc⊙f
//   dh_{t−1} += dg_t·Whᵀ
// then once over all steps: dWx += Xᵀ·dG, dWh += H_prevᵀ·dG, db += Σ dG, dX = dG·Wxᵀ.
//
// Init as PyTorch's nn.LSTM (every weight U(±1/√H)), except the biases: 0, and 1 for the forget
// gate, so that the cell remembers by default early in training (Jozefowicz et al. 2015).
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import {
  RecurrentLayerBase, RecurrentProduct, RecurrentStack, SeqBuffer, projectRows, projectRowsBackward, stackLayers,
} from './recurrent.js';

export class LstmLayer extends RecurrentLayerBase {
  readonly Wx: Param;
  readonly Wh: Param;
  readonly b: Param;
  readonly params: Param[];
  /** gates [T,B,4H] (pre-activations, then activations); cs [T+1,B,H] (slot 0 = initial); tanhC [T,B,H]. */
  private readonly gates: SeqBuffer;
  private readonly cs: SeqBuffer;
  private readonly tanhC: SeqBuffer;
  /** dgates [T,B,4H], dc [B,H] (the running dL/dc). hs and dy: RecurrentLayerBase. */
  private readonly dgates: SeqBuffer;
  private readonly dc: SeqBuffer;
  /** The per-step products h_{t−1}·Wh (forward) and dg_t·Whᵀ (backward), Wh packed once per pass. */
  private readonly hWh: RecurrentProduct;
  private readonly dgWhT: RecurrentProduct;

  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng) {
    super(ops, 'lstm', inDim, hidden);
    const H = hidden;
    this.Wx = this.weight(`${name}.Wx`, inDim, 4 * H, rng);
    this.Wh = this.weight(`${name}.Wh`, H, 4 * H, rng);
    this.b = makeParam(ops, `${name}.b`, [4 * H], { kind: 'constant', value: 0 }, rng);
    this.b.value.data.fill(1, H, 2 * H); // forget gate
    this.params = [this.Wx, this.Wh, this.b];
    this.gates = new SeqBuffer(ops, 4 * H);
    this.cs = new SeqBuffer(ops, H);
    this.tanhC = new SeqBuffer(ops, H);
    this.dgates = new SeqBuffer(ops, 4 * H);
    this.dc = new SeqBuffer(ops, H);
    this.hWh = new RecurrentProduct(ops, this.Wh, false, H, 4 * H);
    this.dgWhT = new RecurrentProduct(ops, this.Wh, true, 4 * H, H);
  }

  /** x [T,B,I] → y [T,B,H], from (h0, c0) to (hT, cT). */
  forward(x: Tensor, T: number, B: number, h0: Tensor, c0: Tensor | null, hT: Tensor, cT: Tensor | null): Tensor {
    const { ops, gates, cs, hs, tanhC } = this, H = this.hidden;
    gates.prepare(T, B);
    cs.prepare(T + 1, B);
    hs.prepare(T + 1, B);
    tanhC.prepare(T, B);
    this.x = x;
    projectRows(ops, x, this.Wx, this.b, T * B, this.inDim, 4 * H, gates.all); // G = X·Wx + b for all T·B rows at once
    ops.copy(h0, hs.at(0));
    if (c0) ops.copy(c0, cs.at(0)); else ops.fill(cs.at(0), 0);
    this.hWh.begin(T);
    for (let t = 0; t < T; t++) {
      this.hWh.run(B, hs.at(t), 1, gates.at(t)); // g_t += h_{t−1}·Wh
      ops.lstmCell(gates.at(t), cs.at(t), cs.at(t + 1), tanhC.at(t), hs.at(t + 1), B, H);
    }
    ops.copy(hs.at(T), hT);
    if (cT) ops.copy(cs.at(T), cT);
    return hs.tail;
  }

  /** dy (in outputGrad) → dx [T,B,I], dh0, dc0 [B,H]; accumulates dWx, dWh, db. */
  backward(dx: Tensor | null, T: number, B: number, dh0: Tensor | null, dc0: Tensor | null): void {
    const { ops, gates, cs, hs, tanhC, dgates, dy } = this, H = this.hidden;
    dgates.prepare(T, B);
    dy.prepare(T, B);
    this.dc.prepare(1, B);
    const dc = this.dc.at(0);
    ops.fill(dc, 0);
    this.dgWhT.begin(dh0 ? T : T - 1);
    for (let t = T - 1; t >= 0; t--) {
      ops.lstmCellBackward(gates.at(t), cs.at(t), tanhC.at(t), dy.at(t), dc, dgates.at(t), B, H);
      if (t > 0) this.dgWhT.run(B, dgates.at(t), 1, dy.at(t - 1)); // dh_{t−1} += dg_t·Whᵀ
      else if (dh0) this.dgWhT.run(B, dgates.at(0), 0, dh0);
    }
    if (dc0) ops.copy(dc, dc0);
    const n = T * B;
    projectRowsBackward(ops, this.x!, dgates.all, this.Wx, this.b, n, this.inDim, 4 * H, dx); // dWx += Xᵀ·dG, db += Σ dG, dX = dG·Wxᵀ
    projectRowsBackward(ops, hs.all, dgates.all, this.Wh, null, n, H, 4 * H, null); // dWh += H_prevᵀ·dG
  }
}

export interface LstmOptions {
  /** Stacked layers (default 1). */
  layers?: number;
}

/** A stack of LSTM layers: x [T,B,I] → y [T,B,H]; its state carries h and c. */
export class LSTM extends RecurrentStack {
  constructor(ops: Ops, name: string, inDim: number, hidden: number, rng: Rng, opts: LstmOptions = {}) {
    super(ops, stackLayers('lstm', name, inDim, hidden, opts.layers, (n, i) => new LstmLayer(ops, n, i, hidden, rng)), true);
  }
}
