// Bahdanau (additive) attention for an encoder–decoder, and the masked score/softmax/context core
// that Luong attention (src/layers/luong.ts) shares.
//
// Shapes (time-major, as the recurrent layers): the encoder outputs ("annotations") h̄ are
// enc [S,B,He] (position j of row b at (j·B + b)·He); row b has lengths[b] real positions, the rest
// is padding. A decoder step t asks with a query q_t [B,Dq] and gets a context [B,He].
//
//   additive  e_tj = vᵀ tanh(q_t·Wq + h̄_j·Uk + b)      Wq [Dq,A], Uk [He,A], b, v [A]   (Bahdanau;
//             Luong's "concat" score is the same function of the current state)
//   general   e_tj = q_t · (h̄_j·Wa)                       Wa [He,Dq]                     (Luong)
//   dot       e_tj = q_t · h̄_j                            (Dq = He)                       (Luong)
//   α_t = softmax over j < lengths[b] of e_t;  α_tj = 0 EXACTLY for padded j (never exp'd)
//   c_t = Σ_j α_tj h̄_j                                     [B,He]
// The keys (h̄·Uk + b, or h̄·Wa) are one gemm over all S·B rows per sequence, in begin().
//
// Backward of step t, given dc_t (and q_t):
//   dα_tj = dc_t·h̄_j;   dh̄_j += α_tj dc_t                  (0 for padded j, since α = 0)
//   de_tj = α_tj (dα_tj − Σ_k α_tk dα_tk)                   (softmax backward; 0 for padded j)
//   additive: dpre = de·v⊙(1 − tanh²);  dv += Σ de·tanh;  dK_j += dpre;  d(qWq) = Σ_j dpre
//             → dWq += qᵀ·d(qWq), dq += d(qWq)·Wqᵀ
//   dot/general: dq += Σ_j de_tj K_j;  dK_j += de_tj q
// finish(): dUk += h̄ᵀ·dK, db += Σ dK, dh̄ += dK·Ukᵀ (additive); dWa += h̄ᵀ·dK, dh̄ += dK·Waᵀ
// (general); dh̄ += dK (dot) — once over all S·B rows. Parameter gradients accumulate.
import type { Ops, Tensor } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { makeParam, type Param } from './param.js';
import { RowBuffer } from './buffer.js';
import { SeqBuffer } from './recurrent.js';

export type ScoreKind = 'additive' | 'general' | 'dot';

/** The score, masked softmax and context of one attention, step by step over T decoder steps. */
export class AttentionCore {
  readonly params: Param[];
  /** additive: Wq [Dq,A], Uk [He,A], b [A], v [A]; general: Wa [He,Dq]. */
  readonly Wq: Param | null = null;
  readonly Uk: Param | null = null;
  readonly bk: Param | null = null;
  readonly v: Param | null = null;
  readonly Wa: Param | null = null;
  /** Key width: A (additive), Dq (general), He (dot). */
  readonly keyDim: number;
  private enc: Tensor | null = null;
  private lengths: Int32Array = new Int32Array(0);
  private S = 0;
  private B = 0;
  private T = 0;
  private readonly keys: RowBuffer;      // [S·B, keyDim] (unused for dot: the keys are enc itself)
  private readonly dKeys: RowBuffer;     // [S·B, keyDim]
  private readonly dEnc: RowBuffer;      // [S·B, He] the direct context path dh̄ += α dc
  private readonly tanhs: RowBuffer;     // additive: [T, S·B, A]
  private readonly alphas: RowBuffer;    // [T, B, S]
  private readonly qW: RowBuffer;        // additive: [B, A], the projected query (forward), then its gradient
  private readonly scratch: Float64Array[] = [];

  constructor(private readonly ops: Ops, name: string, readonly kind: ScoreKind, readonly queryDim: number,
    readonly encDim: number, readonly attnDim: number, rng: Rng) {
    if (kind === 'dot' && queryDim !== encDim) throw new RangeError(`${name}: dot score needs query and encoder sizes equal, got ${queryDim} and ${encDim}`);
    if (kind === 'additive') {
      const u = { kind: 'xavier' as const };
      this.Wq = makeParam(ops, `${name}.Wq`, [queryDim, attnDim], u, rng);
      this.Uk = makeParam(ops, `${name}.Uk`, [encDim, attnDim], u, rng);
      this.bk = makeParam(ops, `${name}.b`, [attnDim], { kind: 'constant', value: 0 }, rng);
      this.v = makeParam(ops, `${name}.v`, [attnDim], { kind: 'uniform', a: 1 / Math.sqrt(attnDim) }, rng);
      this.params = [this.Wq, this.Uk, this.bk, this.v];
    } else if (kind === 'general') {
      this.Wa = makeParam(ops, `${name}.Wa`, [encDim, queryDim], { kind: 'xavier' }, rng);
      this.params = [this.Wa];
    } else {
      this.params = [];
    }
    this.keyDim = kind === 'additive' ? attnDim : kind === 'general' ? queryDim : encDim;
    this.keys = new RowBuffer(ops, this.keyDim);
    this.dKeys = new RowBuffer(ops, this.keyDim);
    this.dEnc = new RowBuffer(ops, encDim);
    this.tanhs = new RowBuffer(ops, kind === 'additive' ? attnDim : 1);
    this.alphas = new RowBuffer(ops, 1);
    this.qW = new RowBuffer(ops, kind === 'additive' ? attnDim : 1);
  }

  /**
   * Starts a sequence: enc [S,B,He] (kept by reference until backward is done), lengths[b] ≥ 1 real
   * positions per row, up to T decoder steps. Computes the keys and zeroes the gradient buffers.
   */
  begin(enc: Tensor, lengths: Int32Array, S: number, B: number, T: number): void {
    for (let b = 0; b < B; b++) {
      if (!(lengths[b] >= 1 && lengths[b] <= S)) throw new RangeError(`attention: length of row ${b} must be in 1…${S}, got ${lengths[b]}`);
    }
    const { ops } = this, n = S * B;
    this.enc = enc; this.lengths = lengths; this.S = S; this.B = B; this.T = T;
    if (this.kind !== 'dot') {
      const K = this.keys.rows(n);
      const W = this.kind === 'additive' ? this.Uk! : this.Wa!;
      ops.gemm(false, false, n, this.keyDim, this.encDim, 1, enc, W.value, 0, K);
      if (this.bk) ops.addBias(K, this.bk.value, n, this.keyDim);
    }
    ops.fill(this.dKeys.rows(n), 0);
    ops.fill(this.dEnc.rows(n), 0);
    this.alphas.rows(T * B * S);
    if (this.kind === 'additive') { this.tanhs.rows(T * n); this.qW.rows(B); }
    while (this.scratch.length < 2) this.scratch.push(new Float64Array(0));
    if (this.scratch[0].length < S) { this.scratch[0] = new Float64Array(S); this.scratch[1] = new Float64Array(S); }
  }

  /** The attention weights of step t, [B,S] (row b, position j at b·S + j), copied out. */
  weights(t: number): Float64Array {
    const n = this.B * this.S;
    return Float64Array.from(this.alphas.rows(this.T * n).data.subarray(t * n, (t + 1) * n));
  }

  /** Step t: query q [B,Dq] → ctx [B,He] (overwritten); saves α_t (and the tanh values). */
  step(t: number, q: Tensor, ctx: Tensor): void {
    const { ops, S, B, lengths } = this, He = this.encDim, n = S * B;
    const enc = this.enc!;
    if (this.kind === 'additive') ops.gemm(false, false, B, this.attnDim, this.queryDim, 1, q, this.Wq!.value, 0, this.qW.rows(B));
    const K = this.kind === 'dot' ? enc.data : this.keys.rows(n).data;
    const al = this.alphas.rows(this.T * n).data, E = enc.data, cd = ctx.data, qd = q.data, kd = this.keyDim;
    const e = this.scratch[0];
    for (let b = 0; b < B; b++) {
      const len = lengths[b], aOff = (t * B + b) * S;
      let max = -Infinity;
      if (this.kind === 'additive') {
        const A = this.attnDim, qw = this.qW.rows(B).data, v = this.v!.value.data, th = this.tanhs.rows(this.T * n).data;
        for (let j = 0; j < S; j++) {
          const kOff = (j * B + b) * A, tOff = (t * n + j * B + b) * A;
          if (j >= len) { th.fill(0, tOff, tOff + A); continue; }
          let s = 0;
          for (let a = 0; a < A; a++) {
            const y = Math.tanh(qw[b * A + a] + K[kOff + a]);
            th[tOff + a] = y;
            s += v[a] * y;
          }
          e[j] = s;
          if (s > max) max = s;
        }
      } else {
        for (let j = 0; j < len; j++) {
          const kOff = (j * B + b) * kd;
          let s = 0;
          for (let d = 0; d < kd; d++) s += qd[b * kd + d] * K[kOff + d];
          e[j] = s;
          if (s > max) max = s;
        }
      }
      let z = 0;
      for (let j = 0; j < len; j++) { e[j] = Math.exp(e[j] - max); z += e[j]; }
      for (let j = 0; j < S; j++) al[aOff + j] = j < len ? e[j] / z : 0;
      cd.fill(0, b * He, (b + 1) * He);
      for (let j = 0; j < len; j++) {
        const a = al[aOff + j], eOff = (j * B + b) * He;
        for (let d = 0; d < He; d++) cd[b * He + d] += a * E[eOff + d];
      }
    }
  }

  /**
   * Backward of step t: dctx [B,He] (read only), the step's query q [B,Dq]; dq [B,Dq] ACCUMULATES.
   * Accumulates dv, dWq; collects the key and encoder gradients for finish().
   */
  stepBackward(t: number, q: Tensor, dctx: Tensor, dq: Tensor): void {
    const { ops, S, B, lengths } = this, He = this.encDim, n = S * B, kd = this.keyDim;
    const enc = this.enc!.data;
    const al = this.alphas.rows(this.T * n).data, dc = dctx.data, dE = this.dEnc.rows(n).data, dK = this.dKeys.rows(n).data;
    const K = this.kind === 'dot' ? enc : this.keys.rows(n).data;
    const da = this.scratch[0];
    const additive = this.kind === 'additive';
    const qwg = additive ? this.qW.rows(B).data : null;
    if (qwg) qwg.fill(0, 0, B * this.attnDim);
    const qd = q.data, dqd = dq.data;
    for (let b = 0; b < B; b++) {
      const len = lengths[b], aOff = (t * B + b) * S;
      let sum = 0;
      for (let j = 0; j < len; j++) {
        const a = al[aOff + j], eOff = (j * B + b) * He;
        let s = 0;
        for (let d = 0; d < He; d++) { s += dc[b * He + d] * enc[eOff + d]; dE[eOff + d] += a * dc[b * He + d]; }
        da[j] = s;
        sum += a * s;
      }
      for (let j = 0; j < len; j++) {
        const de = al[aOff + j] * (da[j] - sum);
        const kOff = (j * B + b) * kd;
        if (additive) {
          const A = this.attnDim, v = this.v!.value.data, dv = this.v!.grad.data, th = this.tanhs.rows(this.T * n).data;
          const tOff = (t * n + j * B + b) * A;
          for (let a = 0; a < A; a++) {
            const y = th[tOff + a];
            dv[a] += de * y;
            const dp = de * v[a] * (1 - y * y);
            qwg![b * A + a] += dp;
            dK[kOff + a] += dp;
          }
        } else {
          for (let d = 0; d < kd; d++) { dqd[b * kd + d] += de * K[kOff + d]; dK[kOff + d] += de * qd[b * kd + d]; }
        }
      }
    }
    if (additive) {
      const g = this.qW.rows(B), A = this.attnDim;
      ops.gemm(true, false, this.queryDim, A, B, 1, q, g, 1, this.Wq!.grad); // dWq += qᵀ·d(qWq)
      ops.gemm(false, true, B, this.queryDim, A, 1, g, this.Wq!.value, 1, dq); // dq += d(qWq)·Wqᵀ
    }
  }

  /** After every stepBackward: dEnc [S,B,He] ACCUMULATES dL/dh̄; key parameter gradients accumulate. */
  finish(dEnc: Tensor): void {
    const { ops, S, B } = this, n = S * B, He = this.encDim, dK = this.dKeys.rows(n);
    if (this.kind === 'dot') ops.axpy(1, dK, dEnc);
    else {
      const W = this.kind === 'additive' ? this.Uk! : this.Wa!;
      ops.gemm(true, false, He, this.keyDim, n, 1, this.enc!, dK, 1, W.grad); // dW += h̄ᵀ·dK
      if (this.bk) ops.sumRows(dK, this.bk.grad, n, this.keyDim);
      ops.gemm(false, true, n, He, this.keyDim, 1, dK, W.value, 1, dEnc); // dh̄ += dK·Wᵀ
    }
    ops.axpy(1, this.dEnc.rows(n), dEnc);
  }
}

/**
 * Bahdanau attention: the context of decoder step t is computed from the PREVIOUS decoder state
 * s_{t−1} and then feeds the step's LSTM input (and the prediction), as in Bahdanau et al. 2015.
 * Contexts of all steps are kept in one [T,B,He] buffer (`contexts`).
 */
export class BahdanauAttention {
  readonly core: AttentionCore;
  readonly params: Param[];
  private readonly ctx: SeqBuffer;

  constructor(private readonly ops: Ops, name: string, queryDim: number, readonly encDim: number, attnDim: number, rng: Rng) {
    this.core = new AttentionCore(ops, name, 'additive', queryDim, encDim, attnDim, rng);
    this.params = this.core.params;
    this.ctx = new SeqBuffer(ops, encDim);
  }

  begin(enc: Tensor, lengths: Int32Array, S: number, B: number, T: number): void {
    this.core.begin(enc, lengths, S, B, T);
    this.ctx.prepare(T, B);
  }

  /** Every step's context, [T·B, He]. */
  get contexts(): Tensor { return this.ctx.all; }
  context(t: number): Tensor { return this.ctx.at(t); }

  /** Step t: sPrev [B,Dq] → the context [B,He] (a view valid until the next begin()). */
  step(t: number, sPrev: Tensor): Tensor {
    this.core.step(t, sPrev, this.ctx.at(t));
    return this.ctx.at(t);
  }

  /** dctx [B,He] → dsPrev [B,Dq] (accumulates). */
  stepBackward(t: number, sPrev: Tensor, dctx: Tensor, dsPrev: Tensor): void {
    this.core.stepBackward(t, sPrev, dctx, dsPrev);
  }

  finish(dEnc: Tensor): void { this.core.finish(dEnc); }
  weights(t: number): Float64Array { return this.core.weights(t); }
}
