// Gradient checks for the encoder–decoder family: the attention layers on their own (every
// decoder step, ragged source lengths with padding, the encoder outputs and queries checked as
// inputs) and the whole Seq2Seq model through every encoder and decoder step (ragged sources and
// targets, teacher forcing).
//
// Sizes are small and odd (S = 4, B = 3 with lengths 4, 2, 3; T = 3 or 4; H = 5) in float64.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
import { BahdanauAttention } from '../layers/bahdanau.js';
import { LuongAttention, type LuongScore } from '../layers/luong.js';
import { Seq2Seq, type Seq2SeqAttention, type Seq2SeqBatch } from '../models/seq2seq.js';
import { AttentionLM } from '../models/lstm-attention-lm.js';
import { modelCheck, randomBatch } from './model-checks.js';

export const CHECK_LENGTHS = [4, 2, 3];

/** Bahdanau: T = 3 steps, each with its own query; L = Σ_t w_t · c_t. */
function bahdanauCheck(ops: Ops, rng: Rng): Checkable {
  const S = 4, B = 3, T = 3, He = 5, Dq = 4, A = 3;
  const attn = new BahdanauAttention(ops, 'attn', Dq, He, A, rng);
  for (const p of attn.params) rng.fillNormal(p.value.data, 0, 0.7);
  const enc = randomCheckTensor(ops, 'enc', S * B * He, rng);
  const q = randomCheckTensor(ops, 'queries', T * B * Dq, rng);
  const lengths = Int32Array.from(CHECK_LENGTHS);
  const proj = new RandomProjection(ops, T * B * He, rng);
  const dctx = ops.tensor(T * B * He);
  const qs = (t: number) => q.value.view(t * B * Dq, B * Dq);
  return {
    name: 'bahdanau',
    params: attn.params,
    inputs: [enc, q],
    loss() {
      attn.begin(enc.value, lengths, S, B, T);
      for (let t = 0; t < T; t++) attn.step(t, qs(t));
      return proj.loss(attn.contexts);
    },
    backward() {
      proj.backward(dctx);
      for (let t = T - 1; t >= 0; t--) attn.stepBackward(t, qs(t), dctx.view(t * B * He, B * He), q.grad.view(t * B * Dq, B * Dq));
      attn.finish(enc.grad);
    },
  };
}

/** Luong with one score: T = 3 steps; L = Σ_t w_t · h̃_t. */
function luongCheck(score: LuongScore): GradCheckDef {
  const name = `luong-${score}`;
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const S = 4, B = 3, T = 3, H = 5, Dout = 4;
      const attn = new LuongAttention(ops, 'attn', score, H, H, Dout, rng, 3);
      for (const p of attn.params) rng.fillNormal(p.value.data, 0, 0.7);
      const enc = randomCheckTensor(ops, 'enc', S * B * H, rng);
      const s = randomCheckTensor(ops, 'states', T * B * H, rng);
      const lengths = Int32Array.from(CHECK_LENGTHS);
      const proj = new RandomProjection(ops, T * B * Dout, rng);
      const dh = ops.tensor(T * B * Dout);
      const ss = (t: number) => s.value.view(t * B * H, B * H);
      return {
        name,
        params: attn.params,
        inputs: [enc, s],
        loss() {
          attn.begin(enc.value, lengths, S, B, T);
          for (let t = 0; t < T; t++) attn.step(t, ss(t), B);
          return proj.loss(attn.attentional);
        },
        backward() {
          proj.backward(dh);
          for (let t = T - 1; t >= 0; t--) attn.stepBackward(t, ss(t), dh.view(t * B * Dout, B * Dout), s.grad.view(t * B * H, B * H), B);
          attn.finish(enc.grad);
        },
      };
    },
  };
}

/** A ragged batch: sources of lengths 4, 2, 3 (padding 0), targets of 3, 1 and 2 tokens + eos (−1 after). */
export function seq2seqCheckBatch(ops: Ops, rng: Rng, srcVocab: number, tgtVocab: number, eos: number): Seq2SeqBatch {
  const S = 4, B = 3, T = 4, tgtLens = [3, 1, 2];
  const src = new Int32Array(S * B), tgt = new Int32Array(T * B).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < CHECK_LENGTHS[b]; j++) src[j * B + b] = rng.int(0, srcVocab);
    for (let t = 0; t < tgtLens[b]; t++) tgt[t * B + b] = rng.int(0, eos);
    tgt[tgtLens[b] * B + b] = eos;
  }
  return { src: ops.intsFrom(src), srcLen: Int32Array.from(CHECK_LENGTHS), S, tgt: ops.intsFrom(tgt), T, B };
}

function seq2seqCheck(name: string, attention: Seq2SeqAttention, teacherForcing = 1, cell: 'lstm' | 'gru' = 'lstm'): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const cfg = { srcVocab: 6, tgtVocab: 7, bos: 6, eos: 5, embed: 3, hidden: 5, attnDim: 4, attention, teacherForcing, cell };
      const model = new Seq2Seq(ops, cfg, rng);
      // The attention's own weights get a larger spread: with small ones the scores are nearly
      // flat, their gradients tiny, and the central differences all round-off.
      for (const p of model.params) rng.fillNormal(p.value.data, 0, p.name.startsWith('attn.') ? 1.5 : 0.5);
      const batch = seq2seqCheckBatch(ops, rng, cfg.srcVocab, cfg.tgtVocab, cfg.eos);
      // Teacher forcing < 1 draws coins: the ratio-0 check feeds the model's own argmax (no coins).
      return {
        name,
        params: model.params,
        loss() { return model.forwardBackward(batch, false, teacherForcing); },
        backward() { model.forwardBackward(batch, true, teacherForcing); },
      };
    },
  };
}

export const SEQ2SEQ_CHECKS: GradCheckDef[] = [
  { name: 'bahdanau', make: bahdanauCheck },
  luongCheck('dot'),
  luongCheck('general'),
  luongCheck('concat'),
  seq2seqCheck('seq2seq', 'none'),
  seq2seqCheck('seq2seq-free-running', 'none', 0),
  seq2seqCheck('seq2seq-bahdanau', 'bahdanau'),
  seq2seqCheck('seq2seq-luong-dot', 'luong-dot'),
  seq2seqCheck('seq2seq-luong-general', 'luong-general'),
  seq2seqCheck('seq2seq-luong-concat', 'luong-concat'),
  seq2seqCheck('seq2seq-gru', 'none', 1, 'gru'),
  seq2seqCheck('seq2seq-gru-bahdanau', 'bahdanau', 1, 'gru'),
  seq2seqCheck('seq2seq-gru-luong-general', 'luong-general', 1, 'gru'),
  // the LSTM LM attending over its own earlier states (src/models/lstm-attention-lm.ts): 2 layers, B = 2, T = 5
  modelCheck('lstm-attention-lm', (ops, rng) => ({
    model: new AttentionLM(ops, { vocabSize: 5, hidden: 4, layers: 2, embed: 3 }, rng), batch: randomBatch(ops, rng, 5, 2, 5),
  })),
  // the same model on its host-loop attention (src/models/lstm-attention-host.ts: CUDA's path for hidden > 128)
  modelCheck('lstm-attention-host', (ops, rng) => ({
    model: new AttentionLM(ops, { vocabSize: 5, hidden: 4, layers: 2, embed: 3 }, rng, 'host'), batch: randomBatch(ops, rng, 5, 2, 5),
  })),
];
