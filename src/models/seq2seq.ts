// Encoder–decoder (sequence to sequence) with LSTM (or GRU) cells, optional attention, a non-linear bridge,
// teacher forcing with a ratio, greedy decoding and beam search.
//
// Shapes are time-major. A batch is B source sequences src [S,B] (row b has srcLen[b] real tokens,
// the rest is padding) and B target sequences tgt [T,B] (each ends with EOS; −1 pads after it).
//
//   encoder:  x = Emb_src(src) [S,B,E] → LSTM → h̄ [S,B,H]; the final state of row b is h̄[srcLen[b]−1, b]
//             (padding comes after the real tokens, so it never reaches it: the LSTM is causal)
//   bridge:   s_0 = tanh(h_fin·Wbh + bbh),  c_0 = tanh(h_fin·Wbc + bbc)         [B,H]
//   decoder step t (input y_{t−1}: BOS at t = 0, then the target (teacher forcing) or, with
//   probability 1 − ratio per row, the model's own greedy prediction — a constant: no gradient
//   flows through the argmax):
//     none:      s_t = LSTM(Emb_tgt(y_{t−1}), s_{t−1});                    logits = s_t·Wo + bo
//     bahdanau:  c_t = attend(s_{t−1}, h̄); s_t = LSTM([Emb(y_{t−1}); c_t], s_{t−1}); logits = s_t·Wo + bo + c_t·Woc
//     luong-*:   s_t = LSTM(Emb(y_{t−1}), s_{t−1}); c_t = attend(s_t, h̄); h̃_t = tanh(W_c[c_t; s_t]); logits = h̃_t·Wo + bo
//   The LSTM gates are g = e·Wxe (+ c·Wxc) + s·Wh + b; ops.lstmCell does the rest (src/layers/lstm.ts).
//   With cell 'gru' (PyTorch convention, src/layers/gru.ts): xp = e·Wxe (+ c·Wxc) + b, hp = s·Wh + bh,
//   ops.gruCell; the bridge then makes s_0 only (a GRU has no cell state).
//   loss: mean softmax cross-entropy over the real target positions.
//
// Backward: the heads' gradients for all steps at once (one gemm each), then t = T−1 … 0:
//   luong:    ds_t += attention backward (dh̃_t)
//   the cell: ops.lstmCellBackward(dh = ds_t, dc) → dg_t;  ds_{t−1} += dg_t·Whᵀ
//   bahdanau: dc_t += dg_t·Wxcᵀ;  ds_{t−1} += attention backward (dc_t)
// then dWxe, dWxc, dWh, db and dEmb in one gemm each; the bridge; the encoder's BPTT with
// dh̄ = the attention's gradient + the bridge's gradient at each row's last real position.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { makeParam, type Param } from '../layers/param.js';
import { Linear } from '../layers/linear.js';
import { Embedding } from '../layers/embedding.js';
import { LstmLayer } from '../layers/lstm.js';
import { GruLayer } from '../layers/gru.js';
import { SeqBuffer, type RecurrentLayer } from '../layers/recurrent.js';
import { RowBuffer } from '../layers/buffer.js';
import { BahdanauAttention } from '../layers/bahdanau.js';
import { LuongAttention } from '../layers/luong.js';
import { checkSizes } from './checks.js';
import { logSoftmaxInPlace } from './sample.js';

export type Seq2SeqAttention = 'none' | 'bahdanau' | 'luong-dot' | 'luong-general' | 'luong-concat';
export const SEQ2SEQ_ATTENTIONS: readonly Seq2SeqAttention[] = ['none', 'bahdanau', 'luong-dot', 'luong-general', 'luong-concat'];

export interface Seq2SeqConfig {
  srcVocab: number;
  /** Target vocabulary, including bos and eos. */
  tgtVocab: number;
  bos: number;
  eos: number;
  embed: number;
  hidden: number;
  /** Recurrent cell of both encoder and decoder (default 'lstm'). */
  cell?: 'lstm' | 'gru';
  attention?: Seq2SeqAttention;
  /** Width of the additive score's hidden layer (default hidden). */
  attnDim?: number;
  /** Probability of feeding the true previous token during training (default 1). */
  teacherForcing?: number;
  /** Seeds the teacher-forcing coin flips (default 0). */
  seed?: number;
}

export interface Seq2SeqBatch {
  /** [S,B] source ids (any valid id in the padding). */
  src: IntTensor;
  srcLen: Int32Array;
  S: number;
  /** [T,B] target ids ending with eos, −1 after it. */
  tgt: IntTensor;
  T: number;
  B: number;
}

export interface BeamOptions {
  width: number;
  maxLen: number;
  /**
   * Length normalisation α (default 0: none): finished hypotheses are compared by
   * logP / lp(len) with lp(len) = ((5 + len) / 6)^α (Wu et al. 2016, GNMT), len counting eos, so a
   * longer output is not beaten merely for having more log-probabilities to add up. 0.6–1 is usual.
   */
  lengthNorm?: number;
}

/** GNMT's length penalty ((5 + len)/6)^α. */
export function lengthPenalty(len: number, alpha: number): number {
  return alpha === 0 ? 1 : Math.pow((5 + len) / 6, alpha);
}

export class Seq2Seq {
  readonly attention: Seq2SeqAttention;
  readonly srcEmb: Embedding;
  readonly tgtEmb: Embedding;
  readonly cell: 'lstm' | 'gru';
  readonly encoder: RecurrentLayer;
  readonly bridgeH: Linear;
  readonly bridgeC: Linear | null;
  readonly Wxe: Param;
  readonly Wxc: Param | null;
  readonly Wh: Param;
  readonly b: Param;
  /** GRU only: the recurrent bias bh [3H]. */
  readonly bh: Param | null;
  readonly head: Linear;
  readonly headC: Linear | null;
  readonly bahdanau: BahdanauAttention | null;
  readonly luong: LuongAttention | null;
  readonly params: Param[];
  teacherForcing: number;
  private readonly coin: Rng;
  private readonly H: number;
  private readonly E: number;
  private readonly V: number;
  // encoder side
  private readonly encX: SeqBuffer;
  private readonly zeroState: RowBuffer;
  private readonly hFin: RowBuffer;
  private readonly dhFin: RowBuffer;
  private readonly h0: RowBuffer;
  private readonly c0: RowBuffer;
  private readonly dpre: RowBuffer;
  private encOut: Tensor | null = null;
  // decoder side: inputs [T,B], emb [T,B,E], gates [T,B,4H], cs/hs [T+1,B,H], tanhC [T,B,H], logits [T,B,V]
  private inputs: IntTensor | null = null;
  private beamSrc: IntTensor | null = null;
  private inputViews: IntTensor[] = [];
  private readonly emb: SeqBuffer;
  private readonly gates: SeqBuffer;
  private readonly hp: SeqBuffer;     // GRU: [T,B,3H] s_{t−1}·Wh + bh
  private readonly dHP: SeqBuffer;    // GRU: [T,B,3H]
  private readonly cs: SeqBuffer;
  private readonly hs: SeqBuffer;
  private readonly tanhC: SeqBuffer;
  private readonly logits: SeqBuffer;
  private readonly dlogits: SeqBuffer;
  private readonly dS: SeqBuffer;     // [T+1,B,H]: slot t+1 = dL/ds_t, slot 0 = dL/ds_0 (bridge)
  private readonly dC: SeqBuffer;     // [T,B,H] context (bahdanau) or h̃ (luong) gradients
  private readonly dG: SeqBuffer;     // [T,B,4H]
  private readonly dc: SeqBuffer;     // [1,B,H]
  private readonly dEmb: SeqBuffer;   // [T,B,E]
  private readonly dEncX: SeqBuffer;  // [S,B,E]
  private srcLen: Int32Array = new Int32Array(0);
  private S = 0;
  private T = 0;
  private B = 0;

  constructor(readonly ops: Ops, readonly config: Seq2SeqConfig, rng: Rng) {
    const { srcVocab, tgtVocab, embed: E, hidden: H } = config;
    this.attention = config.attention ?? 'none';
    this.teacherForcing = config.teacherForcing ?? 1;
    this.coin = new Rng(config.seed ?? 0);
    this.H = H; this.E = E; this.V = tgtVocab;
    this.cell = config.cell ?? 'lstm';
    const gru = this.cell === 'gru', G = gru ? 3 : 4;
    this.srcEmb = new Embedding(ops, 'enc.emb', srcVocab, E, rng);
    this.encoder = gru ? new GruLayer(ops, 'enc.gru', E, H, rng) : new LstmLayer(ops, 'enc.lstm', E, H, rng);
    this.bridgeH = new Linear(ops, 'bridge.h', H, H, rng);
    this.bridgeC = gru ? null : new Linear(ops, 'bridge.c', H, H, rng);
    this.tgtEmb = new Embedding(ops, 'dec.emb', tgtVocab, E, rng);
    const u = { kind: 'uniform' as const, a: 1 / Math.sqrt(H) };
    this.Wxe = makeParam(ops, 'dec.Wxe', [E, G * H], u, rng);
    this.Wxc = this.attention === 'bahdanau' ? makeParam(ops, 'dec.Wxc', [H, G * H], u, rng) : null;
    this.Wh = makeParam(ops, 'dec.Wh', [H, G * H], u, rng);
    this.b = makeParam(ops, 'dec.b', [G * H], { kind: 'constant', value: 0 }, rng);
    if (!gru) this.b.value.data.fill(1, H, 2 * H); // LSTM forget gate
    this.bh = gru ? makeParam(ops, 'dec.bh', [3 * H], { kind: 'constant', value: 0 }, rng) : null;
    this.bahdanau = this.attention === 'bahdanau' ? new BahdanauAttention(ops, 'attn', H, H, config.attnDim ?? H, rng) : null;
    this.luong = this.attention.startsWith('luong-')
      ? new LuongAttention(ops, 'attn', this.attention.slice(6) as 'dot' | 'general' | 'concat', H, H, H, rng, config.attnDim ?? H) : null;
    this.head = new Linear(ops, 'head', H, tgtVocab, rng);
    this.headC = this.bahdanau ? new Linear(ops, 'head.c', H, tgtVocab, rng, { bias: false }) : null;
    this.params = [
      ...this.srcEmb.params, ...this.encoder.params, ...this.bridgeH.params, ...(this.bridgeC?.params ?? []),
      ...this.tgtEmb.params, this.Wxe, ...(this.Wxc ? [this.Wxc] : []), this.Wh, this.b, ...(this.bh ? [this.bh] : []),
      ...(this.bahdanau?.params ?? []), ...(this.luong?.params ?? []), ...this.head.params, ...(this.headC?.params ?? []),
    ];
    this.encX = new SeqBuffer(ops, E);
    this.zeroState = new RowBuffer(ops, H);
    this.hFin = new RowBuffer(ops, H);
    this.dhFin = new RowBuffer(ops, H);
    this.h0 = new RowBuffer(ops, H);
    this.c0 = new RowBuffer(ops, H);
    this.dpre = new RowBuffer(ops, H);
    this.emb = new SeqBuffer(ops, E);
    this.gates = new SeqBuffer(ops, G * H);
    this.hp = new SeqBuffer(ops, 3 * H);
    this.dHP = new SeqBuffer(ops, 3 * H);
    this.cs = new SeqBuffer(ops, H);
    this.hs = new SeqBuffer(ops, H);
    this.tanhC = new SeqBuffer(ops, H);
    this.logits = new SeqBuffer(ops, tgtVocab);
    this.dlogits = new SeqBuffer(ops, tgtVocab);
    this.dS = new SeqBuffer(ops, H);
    this.dC = new SeqBuffer(ops, H);
    this.dG = new SeqBuffer(ops, G * H);
    this.dc = new SeqBuffer(ops, H);
    this.dEmb = new SeqBuffer(ops, E);
    this.dEncX = new SeqBuffer(ops, E);
  }

  // ---- encoder and bridge ----------------------------------------------------------------------

  /** src [S,B] → h̄ [S,B,H], the bridge's s_0, c_0; prepares the decoder for T steps. */
  private encode(src: IntTensor, srcLen: Int32Array, S: number, B: number, T: number): void {
    const { ops, H } = this;
    for (let b = 0; b < B; b++) {
      if (!(srcLen[b] >= 1 && srcLen[b] <= S)) throw new RangeError(`seq2seq: source length of row ${b} must be in 1…${S}, got ${srcLen[b]}`);
    }
    this.srcLen = srcLen; this.S = S; this.B = B; this.T = T;
    this.encX.prepare(S, B);
    this.srcEmb.forward(src, this.encX.all, S * B);
    const z = this.zeroState.rows(B);
    ops.fill(z, 0);
    const hT = this.dhFin.rows(B), cT = this.dpre.rows(B); // scratch: the padded final state is unused
    this.encOut = this.encoder.forward(this.encX.all, S, B, z, z, hT, cT);
    const y = this.encOut.data, hf = this.hFin.rows(B).data;
    for (let b = 0; b < B; b++) hf.set(y.subarray(((srcLen[b] - 1) * B + b) * H, ((srcLen[b] - 1) * B + b + 1) * H), b * H);
    this.prepareDecoder(T, B);
    const h0 = this.h0.rows(B), c0 = this.c0.rows(B);
    this.bridgeH.forward(this.hFin.rows(B), h0, B);
    ops.activation('tanh', h0, h0);
    if (this.bridgeC) {
      this.bridgeC.forward(this.hFin.rows(B), c0, B);
      ops.activation('tanh', c0, c0);
    } else ops.fill(c0, 0);
    ops.copy(h0, this.hs.at(0));
    ops.copy(c0, this.cs.at(0));
    this.bahdanau?.begin(this.encOut, srcLen, S, B, T);
    this.luong?.begin(this.encOut, srcLen, S, B, T);
  }

  private prepareDecoder(T: number, B: number): void {
    if (this.inputs === null || this.inputs.size < T * B) { this.inputs = this.ops.ints(T * B); this.inputViews = []; }
    if (this.inputViews.length !== T || this.inputViews[0]?.size !== B) this.inputViews = Array.from({ length: T }, (_, t) => this.inputs!.view(t * B, B));
    this.emb.prepare(T, B); this.gates.prepare(T, B); this.cs.prepare(T + 1, B); this.hs.prepare(T + 1, B);
    this.tanhC.prepare(T, B); this.logits.prepare(T, B);
    if (this.cell === 'gru') this.hp.prepare(T, B);
  }

  // ---- one decoder step ------------------------------------------------------------------------

  /** Step t from inputs[t], s_{t−1}, c_{t−1}: writes s_t, c_t and logits_t [B,V]. */
  private decodeStep(t: number, B: number): void {
    const { ops, H, E } = this, gru = this.cell === 'gru', GH = (gru ? 3 : 4) * H;
    const e = this.emb.at(t), g = this.gates.at(t), sPrev = this.hs.at(t);
    this.tgtEmb.forward(this.inputViews[t], e, B);
    ops.gemm(false, false, B, GH, E, 1, e, this.Wxe.value, 0, g);
    ops.addBias(g, this.b.value, B, GH);
    let ctx: Tensor | null = null;
    if (this.bahdanau) {
      ctx = this.bahdanau.step(t, sPrev);
      ops.gemm(false, false, B, GH, H, 1, ctx, this.Wxc!.value, 1, g);
    }
    if (gru) {
      const hp = this.hp.at(t);
      ops.gemm(false, false, B, GH, H, 1, sPrev, this.Wh.value, 0, hp);
      ops.addBias(hp, this.bh!.value, B, GH);
      ops.gruCell(g, hp, sPrev, this.hs.at(t + 1), B, H);
    } else {
      ops.gemm(false, false, B, GH, H, 1, sPrev, this.Wh.value, 1, g);
      ops.lstmCell(g, this.cs.at(t), this.cs.at(t + 1), this.tanhC.at(t), this.hs.at(t + 1), B, H);
    }
    const out = this.logits.at(t), s = this.hs.at(t + 1);
    if (this.luong) {
      this.head.forward(this.luong.step(t, s, B), out, B);
    } else {
      this.head.forward(s, out, B);
      if (ctx) ops.gemm(false, false, B, this.V, H, 1, ctx, this.headC!.W.value, 1, out);
    }
  }

  private argmax(t: number, b: number): number {
    const V = this.V, o = this.logits.at(t).data;
    let best = 0;
    for (let v = 1; v < V; v++) if (o[b * V + v] > o[b * V + best]) best = v;
    return best;
  }

  // ---- training ----------------------------------------------------------------------------------

  /**
   * Mean cross-entropy over the real target tokens; with `train`, accumulates every gradient.
   * `ratio`: the teacher-forcing probability (default: the configured one when training, else 1).
   */
  forwardBackward(batch: Seq2SeqBatch, train: boolean, ratio = train ? this.teacherForcing : 1): number {
    const { ops } = this, { T, B, S } = batch, V = this.V;
    this.encode(batch.src, batch.srcLen, S, B, T);
    const tg = batch.tgt.data;
    let count = 0;
    for (let i = 0; i < T * B; i++) if (tg[i] >= 0) count++;
    for (let t = 0; t < T; t++) {
      const inp = this.inputs!.data;
      for (let b = 0; b < B; b++) {
        let id = this.config.bos;
        if (t > 0) {
          const prev = tg[(t - 1) * B + b];
          id = prev < 0 ? this.config.eos : ratio >= 1 || this.coin.next() < ratio ? prev : this.argmax(t - 1, b);
        }
        inp[t * B + b] = id;
      }
      this.decodeStep(t, B);
    }
    if (count === 0) return 0;
    this.dlogits.prepare(T, B);
    const dl = train ? this.dlogits.all : null;
    const loss = ops.softmaxCrossEntropy(this.logits.all, batch.tgt, T * B, V, dl, 1 / count) / count;
    if (train) this.backward(batch);
    return loss;
  }

  private backward(batch: Seq2SeqBatch): void {
    const { ops, H, E, T, B, S } = this, gru = this.cell === 'gru', GH = (gru ? 3 : 4) * H;
    const dS = this.dS, dC = this.dC, dG = this.dG, dHP = this.dHP, n = T * B;
    dS.prepare(T + 1, B); dC.prepare(T, B); dG.prepare(T, B); if (gru) dHP.prepare(T, B); this.dc.prepare(1, B); this.dEmb.prepare(T, B);
    const dL = this.dlogits.all;
    // heads, all steps at once
    if (this.luong) {
      this.head.backward(this.luong.attentional, dL, dC.all, n);
      ops.fill(dS.all, 0);
    } else {
      this.head.backward(this.hs.tail, dL, dS.tail, n);
      ops.fill(dS.at(0), 0);
      if (this.headC) this.headC.backward(this.bahdanau!.contexts, dL, dC.all, n);
    }
    const dc = this.dc.at(0);
    ops.fill(dc, 0);
    for (let t = T - 1; t >= 0; t--) {
      if (this.luong) this.luong.stepBackward(t, this.hs.at(t + 1), dC.at(t), dS.at(t + 1), B);
      if (gru) {
        // ds_{t−1} += z⊙ds_t (inside the op) + dhp_t·Whᵀ
        ops.gruCellBackward(this.gates.at(t), this.hp.at(t), this.hs.at(t), dS.at(t + 1), dG.at(t), dHP.at(t), dS.at(t), B, H);
        ops.gemm(false, true, B, H, GH, 1, dHP.at(t), this.Wh.value, 1, dS.at(t));
      } else {
        ops.lstmCellBackward(this.gates.at(t), this.cs.at(t), this.tanhC.at(t), dS.at(t + 1), dc, dG.at(t), B, H);
        ops.gemm(false, true, B, H, GH, 1, dG.at(t), this.Wh.value, 1, dS.at(t)); // ds_{t−1} += dg_t·Whᵀ
      }
      if (this.bahdanau) {
        ops.gemm(false, true, B, H, GH, 1, dG.at(t), this.Wxc!.value, 1, dC.at(t)); // dc_t += dg_t·Wxcᵀ
        this.bahdanau.stepBackward(t, this.hs.at(t), dC.at(t), dS.at(t));
      }
    }
    const hPrev = this.hs.all.view(0, n * H);
    const dRec = gru ? dHP.all : dG.all; // what multiplies Wh: the recurrent pre-activation gradient
    ops.gemm(true, false, E, GH, n, 1, this.emb.all, dG.all, 1, this.Wxe.grad);
    ops.gemm(true, false, H, GH, n, 1, hPrev, dRec, 1, this.Wh.grad);
    if (this.Wxc) ops.gemm(true, false, H, GH, n, 1, this.bahdanau!.contexts, dG.all, 1, this.Wxc.grad);
    ops.sumRows(dG.all, this.b.grad, n, GH);
    if (this.bh) ops.sumRows(dHP.all, this.bh.grad, n, GH);
    ops.gemm(false, true, n, E, GH, 1, dG.all, this.Wxe.value, 0, this.dEmb.all);
    this.tgtEmb.backward(this.dEmb.all, this.inputs!.view(0, n), n);
    // bridge: dpre = ds_0 ⊙ (1 − s_0²), dc_0 likewise
    const hf = this.hFin.rows(B), dhf = this.dhFin.rows(B), dp = this.dpre.rows(B);
    ops.activationBackward('tanh', this.h0.rows(B), this.h0.rows(B), dS.at(0), dp);
    this.bridgeH.backward(hf, dp, dhf, B);
    if (this.bridgeC) {
      ops.activationBackward('tanh', this.c0.rows(B), this.c0.rows(B), dc, dp);
      this.bridgeC.backward(hf, dp, dhf, B, true);
    }
    // encoder
    const dy = this.encoder.outputGrad(S, B);
    ops.fill(dy, 0);
    this.bahdanau?.finish(dy);
    this.luong?.finish(dy);
    const dyd = dy.data, dfd = dhf.data, len = this.srcLen;
    for (let b = 0; b < B; b++) {
      const off = ((len[b] - 1) * B + b) * H;
      for (let j = 0; j < H; j++) dyd[off + j] += dfd[b * H + j];
    }
    this.dEncX.prepare(S, B);
    this.encoder.backward(this.dEncX.all, S, B, null, null);
    this.srcEmb.backward(this.dEncX.all, batch.src, S * B);
  }

  // ---- decoding ----------------------------------------------------------------------------------

  /** Greedy decoding of B sources, up to maxLen tokens each; returns each output without its eos. */
  greedy(src: IntTensor, srcLen: Int32Array, S: number, B: number, maxLen: number): number[][] {
    this.encode(src, srcLen, S, B, maxLen);
    const out: number[][] = Array.from({ length: B }, () => []);
    const done = new Uint8Array(B);
    for (let t = 0; t < maxLen; t++) {
      const inp = this.inputs!.data;
      for (let b = 0; b < B; b++) inp[t * B + b] = t === 0 ? this.config.bos : out[b].length > 0 && !done[b] ? out[b][out[b].length - 1] : this.config.eos;
      this.decodeStep(t, B);
      let live = 0;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const y = this.argmax(t, b);
        if (y === this.config.eos) done[b] = 1; else { out[b].push(y); live++; }
      }
      if (live === 0) break;
    }
    return out;
  }

  /**
   * Beam search for ONE source (src [S] ids, length S): the `width` best hypotheses by total log
   * probability run as the rows of one batch; a hypothesis that emits eos is finished. Without
   * length normalisation it stops when the best finished score beats every live one (scores only
   * fall), or at maxLen; with it (opts.lengthNorm = α > 0) finished hypotheses are ranked by
   * logP / lp(len), and it stops when no live hypothesis could still beat the best of them (its
   * score only falls, and its penalty can grow at most to lp(maxLen)).
   * Width 1 is greedy decoding. Returns the best output without its eos, and its log probability.
   */
  beam(src: ArrayLike<number>, opts: BeamOptions): { tokens: number[]; logProb: number } {
    const { ops, H, V } = this, K = opts.width, S = src.length;
    const alpha = opts.lengthNorm ?? 0;
    checkSizes('beam', { width: K });
    if (!(alpha >= 0 && Number.isFinite(alpha))) throw new RangeError(`beam: lengthNorm must be a number ≥ 0, got ${alpha}`);
    /** A finished hypothesis's rank: its log probability over the length penalty (len with eos). */
    const rank = (logProb: number, len: number) => logProb / lengthPenalty(len, alpha);
    /** The best rank a live hypothesis of this score could still reach (its penalty at most lp(maxLen)). */
    const ceiling = (score: number) => score / lengthPenalty(opts.maxLen, alpha);
    const ids = new Int32Array(S * K);
    for (let j = 0; j < S; j++) for (let k = 0; k < K; k++) ids[j * K + k] = src[j];
    {
      if (this.beamSrc === null || this.beamSrc.size < S * K) this.beamSrc = ops.ints(S * K);
      const srcT = this.beamSrc.view(0, S * K);
      srcT.data.set(ids);
      this.encode(srcT, new Int32Array(K).fill(S), S, K, opts.maxLen);
      let scores = Array.from({ length: K }, (_, k) => (k === 0 ? 0 : -Infinity));
      let hyps: number[][] = Array.from({ length: K }, () => []);
      let best: { tokens: number[]; logProb: number } | null = null;
      const lp = new Float64Array(V), hTmp = new Float64Array(K * H), cTmp = new Float64Array(K * H);
      for (let t = 0; t < opts.maxLen; t++) {
        const inp = this.inputs!.data;
        for (let k = 0; k < K; k++) inp[t * K + k] = t === 0 ? this.config.bos : hyps[k].length ? hyps[k][hyps[k].length - 1] : this.config.eos;
        this.decodeStep(t, K);
        const cands: { score: number; k: number; v: number }[] = [];
        const o = this.logits.at(t).data;
        for (let k = 0; k < K; k++) {
          if (scores[k] === -Infinity) continue;
          for (let v = 0; v < V; v++) lp[v] = o[k * V + v];
          logSoftmaxInPlace(lp);
          for (let v = 0; v < V; v++) cands.push({ score: scores[k] + lp[v], k, v });
        }
        cands.sort((a, b) => b.score - a.score || a.k - b.k || a.v - b.v);
        const nextScores: number[] = [], nextHyps: number[][] = [], parents: number[] = [];
        for (const c of cands.slice(0, K)) {
          if (c.v === this.config.eos) {
            const len = hyps[c.k].length + 1;
            if (best === null || rank(c.score, len) > rank(best.logProb, best.tokens.length + 1)) best = { tokens: hyps[c.k].slice(), logProb: c.score };
          } else {
            nextScores.push(c.score); nextHyps.push([...hyps[c.k], c.v]); parents.push(c.k);
          }
        }
        if (nextScores.length === 0) return best!;
        if (best !== null && rank(best.logProb, best.tokens.length + 1) >= (alpha === 0 ? nextScores[0] : ceiling(nextScores[0]))) return best;
        if (t === opts.maxLen - 1) return { tokens: nextHyps[0], logProb: nextScores[0] }; // out of steps: the best unfinished one

        // reorder the carried state rows: slot i continues hypothesis parents[i]
        const hd = this.hs.at(t + 1).data, cd = this.cs.at(t + 1).data;
        hTmp.set(hd.subarray(0, K * H)); cTmp.set(cd.subarray(0, K * H));
        scores = Array.from({ length: K }, (_, i) => (i < nextScores.length ? nextScores[i] : -Infinity));
        hyps = Array.from({ length: K }, (_, i) => (i < nextHyps.length ? nextHyps[i] : []));
        for (let i = 0; i < K; i++) {
          const p = i < parents.length ? parents[i] : 0;
          hd.set(hTmp.subarray(p * H, (p + 1) * H), i * H);
          cd.set(cTmp.subarray(p * H, (p + 1) * H), i * H);
        }
      }
      return best ?? { tokens: [], logProb: -Infinity };
    }
  }

  /** The attention weights of decoder step t of the last forward pass, [B,S] (null without attention). */
  alignment(t: number): Float64Array | null {
    return this.bahdanau?.weights(t) ?? this.luong?.weights(t) ?? null;
  }
}
