// The encoder–decoder (src/models/seq2seq.ts): its registered gradient checks through every
// encoder and decoder step (ragged sources and targets with padding), the source mask, beam
// width 1 = greedy, and teacher forcing.
import { describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Seq2Seq, SEQ2SEQ_ATTENTIONS, type Seq2SeqAttention } from '../../src/models/seq2seq.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { seq2seqCheckBatch } from '../../src/gradcheck/seq2seq-checks.js';
import { Rng } from '../../src/util/rng.js';

const CHECKS: Record<Seq2SeqAttention, string> = {
  none: 'seq2seq', bahdanau: 'seq2seq-bahdanau', 'luong-dot': 'seq2seq-luong-dot',
  'luong-general': 'seq2seq-luong-general', 'luong-concat': 'seq2seq-luong-concat',
};
const cfg = (attention: Seq2SeqAttention) => ({ srcVocab: 6, tgtVocab: 7, bos: 6, eos: 5, embed: 3, hidden: 5, attention });

describe('Seq2Seq', () => {
  for (const a of SEQ2SEQ_ATTENTIONS) {
    it(`passes the registered gradient check '${CHECKS[a]}' (attention ${a}, teacher forcing)`, () => {
      const [r] = runGradChecks([CHECKS[a]]);
      expect(r.tensors.length).toBeGreaterThan(10);
      for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    });
  }

  for (const name of ['seq2seq-gru', 'seq2seq-gru-bahdanau', 'seq2seq-gru-luong-general']) {
    it(`passes the registered gradient check '${name}' (GRU cells)`, () => {
      const [r] = runGradChecks([name]);
      expect(r.tensors.map((t) => t.name)).toContain('dec.bh');
      for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    });
  }

  it("passes 'seq2seq-free-running' (ratio 0: fed its own argmax, no gradient through it)", () => {
    const [r] = runGradChecks(['seq2seq-free-running']);
    expect(r.passed).toBe(true);
  });

  for (const a of SEQ2SEQ_ATTENTIONS) {
    it(`${a}: the padding of a source changes nothing; padded positions get 0 attention`, () => {
      const ops = new ReferenceOps('f64');
      const model = new Seq2Seq(ops, cfg(a), new Rng(2));
      const batch = seq2seqCheckBatch(ops, new Rng(4), 6, 7, 5);
      const l1 = model.forwardBackward(batch, false);
      if (a !== 'none') {
        const w = model.alignment(1)!;
        for (let b = 0; b < batch.B; b++) for (let j = batch.srcLen[b]; j < batch.S; j++) expect(w[b * batch.S + j]).toBe(0);
      }
      const src = batch.src.data;
      for (let b = 0; b < batch.B; b++) for (let j = batch.srcLen[b]; j < batch.S; j++) src[j * batch.B + b] = (src[j * batch.B + b] + 3) % 6;
      expect(model.forwardBackward(batch, false)).toBe(l1);
    });
  }

  for (const [a, cell] of [['none', 'lstm'], ['bahdanau', 'lstm'], ['luong-general', 'lstm'], ['bahdanau', 'gru']] as [Seq2SeqAttention, 'lstm' | 'gru'][]) {
    it(`${a} (${cell}): beam search with width 1 equals greedy decoding`, () => {
      const ops = new ReferenceOps('f64');
      const model = new Seq2Seq(ops, { ...cfg(a), hidden: 8, cell }, new Rng(9));
      for (const p of model.params) new Rng(p.name.length).fillNormal(p.value.data, 0, 0.8);
      const rng = new Rng(1);
      for (let i = 0; i < 8; i++) {
        const S = rng.int(1, 6), src = Array.from({ length: S }, () => rng.int(0, 6));
        const g = model.greedy(ops.intsFrom(src), Int32Array.of(S), S, 1, 7)[0];
        const bm = model.beam(src, { width: 1, maxLen: 7 });
        expect(bm.tokens).toEqual(g);
        const wide = model.beam(src, { width: 4, maxLen: 7 });
        expect(wide.logProb).toBeLessThanOrEqual(0);
      }
      expect(() => model.beam([1, 2], { width: 0, maxLen: 7 })).toThrow('beam: width must be an integer ≥ 1, got 0');
    });
  }

  it('greedy decoding of a batch equals decoding each source alone', () => {
    const ops = new ReferenceOps('f64');
    const model = new Seq2Seq(ops, cfg('bahdanau'), new Rng(3));
    const batch = seq2seqCheckBatch(ops, new Rng(4), 6, 7, 5);
    const all = model.greedy(batch.src, batch.srcLen, batch.S, batch.B, 6);
    for (let b = 0; b < batch.B; b++) {
      const src = Array.from({ length: batch.srcLen[b] }, (_, j) => batch.src.data[j * batch.B + b]);
      expect(model.greedy(ops.intsFrom(src), Int32Array.of(src.length), src.length, 1, 6)[0]).toEqual(all[b]);
    }
  });

  it('teacher forcing < 1 feeds some of its own predictions during training only', () => {
    const ops = new ReferenceOps('f64');
    const model = new Seq2Seq(ops, { ...cfg('none'), teacherForcing: 0, seed: 1 }, new Rng(3));
    const batch = seq2seqCheckBatch(ops, new Rng(4), 6, 7, 5);
    const evalLoss = model.forwardBackward(batch, false);
    expect(model.forwardBackward(batch, false, 1)).toBe(evalLoss);
    expect(model.forwardBackward(batch, false, 0)).not.toBe(evalLoss);
  });

  it('matches the float64 reference on the WASM backend: loss and every gradient (each attention)', async () => {
    const wasm = await createOps({ backend: 'wasm', threads: 1 });
    try {
      for (const [a, cell] of [...SEQ2SEQ_ATTENTIONS.map((x) => [x, 'lstm'] as const), ['bahdanau', 'gru'] as const]) {
        const run = (ops: Ops) => {
          const model = new Seq2Seq(ops, { ...cfg(a), cell }, new Rng(8));
          for (const p of model.params) { const d = p.value.data; for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i]); }
          const batch = seq2seqCheckBatch(ops, new Rng(4), 6, 7, 5);
          const loss = model.forwardBackward(batch, true);
          return { loss, grads: model.params.map((p) => Array.from(p.grad.data)) };
        };
        const w = run(wasm), r = run(new ReferenceOps('f64'));
        expect(Math.abs(w.loss - r.loss), a).toBeLessThan(1e-5);
        r.grads.forEach((g, i) => {
          let num = 0, den = 0;
          for (let k = 0; k < g.length; k++) { num = Math.max(num, Math.abs(w.grads[i][k] - g[k])); den = Math.max(den, Math.abs(g[k])); }
          expect(num / Math.max(den, 1e-12), `${a} grad ${i}`).toBeLessThan(1e-4);
        });
      }
    } finally {
      wasm.dispose();
    }
  });
});
