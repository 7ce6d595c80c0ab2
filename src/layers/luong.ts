// Luong attention (Luong, Pham & Manning 2015), in the paper's order for each decoder step t:
//   update:  s_t = LSTM(y_{t−1}, s_{t−1})          (the decoder, src/models/seq2seq.ts)
//   look:    α_t = masked softmax_j score(s_t, h̄_j),  c_t = Σ_j α_tj h̄_j      (this file)
//   predict: h̃_t = tanh(W_c [c_t; s_t]) = tanh(c_t·Wcc + s_t·Wcs)              (this file)
//            logits_t = h̃_t·Wo + bo                                            (the model)
// Scores (src/layers/bahdanau.ts AttentionCore does the masked softmax and the context):
//   dot      s_tᵀ h̄_j
//   general  s_tᵀ (W_a h̄_j)        (our layout: h̄_j·Wa, Wa [He,Ds])
//   concat   v_aᵀ tanh(W_a [s_t; h̄_j])  = the additive score with the current state as the query
//
// Shapes: s_t [B,Ds], enc [S,B,He], c_t [B,He], h̃_t [B,Dout], Wcc [He,Dout], Wcs [Ds,Dout].
// Backward of step t, given dh̃_t:
//   dpre = dh̃ ⊙ (1 − h̃²);  dWcc += c_tᵀ·dpre;  dWcs += s_tᵀ·dpre;
//   dc_t = dpre·Wccᵀ;  ds_t += dpre·Wcsᵀ;  then the core's backward adds the score path to ds_t.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { SeqBuffer } from './recurrent.js';
import { AttentionCore } from './bahdanau.js';

export type LuongScore = 'dot' | 'general' | 'concat';

export class LuongAttention {
  readonly core: AttentionCore;
  readonly Wcc: Param;
  readonly Wcs: Param;
  readonly params: Param[];
  private readonly ctx: SeqBuffer;   // [T,B,He]
  private readonly ht: SeqBuffer;    // [T,B,Dout] h̃
  private readonly dpre: SeqBuffer;  // [1,B,Dout]
  private readonly dctx: SeqBuffer;  // [1,B,He]

  constructor(private readonly ops: Ops, name: string, readonly score: LuongScore, readonly stateDim: number,
    readonly encDim: number, readonly outDim: number, rng: Rng, attnDim = stateDim) {
    const kind = score === 'concat' ? 'additive' : score;
    this.core = new AttentionCore(ops, `${name}.score`, kind, stateDim, encDim, attnDim, rng);
    this.Wcc = makeParam(ops, `${name}.Wcc`, [encDim, outDim], { kind: 'xavier' }, rng);
    this.Wcs = makeParam(ops, `${name}.Wcs`, [stateDim, outDim], { kind: 'xavier' }, rng);
    this.params = [...this.core.params, this.Wcc, this.Wcs];
    this.ctx = new SeqBuffer(ops, encDim);
    this.ht = new SeqBuffer(ops, outDim);
    this.dpre = new SeqBuffer(ops, outDim);
    this.dctx = new SeqBuffer(ops, encDim);
  }

  begin(enc: Tensor, lengths: Int32Array, S: number, B: number, T: number): void {
    this.core.begin(enc, lengths, S, B, T);
    this.ctx.prepare(T, B);
    this.ht.prepare(T, B);
    this.dpre.prepare(1, B);
    this.dctx.prepare(1, B);
  }

  /** Every step's attentional vector h̃, [T·B, Dout]. */
  get attentional(): Tensor { return this.ht.all; }
  context(t: number): Tensor { return this.ctx.at(t); }

  /** Step t: the updated state s_t [B,Ds] → h̃_t [B,Dout] (a view valid until the next begin()). */
  step(t: number, s: Tensor, B: number): Tensor {
    const { ops } = this, c = this.ctx.at(t), h = this.ht.at(t);
    this.core.step(t, s, c);
    ops.gemm(false, false, B, this.outDim, this.encDim, 1, c, this.Wcc.value, 0, h);
    ops.gemm(false, false, B, this.outDim, this.stateDim, 1, s, this.Wcs.value, 1, h);
    ops.activation('tanh', h, h);
    return h;
  }

  /** dh̃_t [B,Dout] (read only) → ds_t [B,Ds] ACCUMULATES; parameter gradients accumulate. */
  stepBackward(t: number, s: Tensor, dht: Tensor, ds: Tensor, B: number): void {
    const { ops } = this, c = this.ctx.at(t), h = this.ht.at(t), dp = this.dpre.at(0), dc = this.dctx.at(0);
    ops.activationBackward('tanh', h, h, dht, dp);
    ops.gemm(true, false, this.encDim, this.outDim, B, 1, c, dp, 1, this.Wcc.grad);
    ops.gemm(true, false, this.stateDim, this.outDim, B, 1, s, dp, 1, this.Wcs.grad);
    ops.gemm(false, true, B, this.encDim, this.outDim, 1, dp, this.Wcc.value, 0, dc);
    ops.gemm(false, true, B, this.stateDim, this.outDim, 1, dp, this.Wcs.value, 1, ds);
    this.core.stepBackward(t, s, dc, ds);
  }

  finish(dEnc: Tensor): void { this.core.finish(dEnc); }
  weights(t: number): Float64Array { return this.core.weights(t); }
}
