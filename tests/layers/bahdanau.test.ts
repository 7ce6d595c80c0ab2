// Bahdanau attention (src/layers/bahdanau.ts): the registered gradient check 'bahdanau' (3 decoder
// steps, ragged source lengths with padding), and the mask: padded positions get exactly zero
// weight and exactly zero gradient.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { BahdanauAttention } from '../../src/layers/bahdanau.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

describe('Bahdanau attention', () => {
  it("passes the registered gradient check 'bahdanau' (T=3, S=4, lengths 4, 2, 3)", () => {
    const [r] = runGradChecks(['bahdanau']);
    expect(r.tensors.map((t) => t.name)).toEqual(['attn.Wq', 'attn.Uk', 'attn.b', 'attn.v', 'enc', 'queries']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('gives padded positions exactly 0 weight and exactly 0 gradient; weights sum to 1', () => {
    const ops = new ReferenceOps('f64'), rng = new Rng(3);
    const S = 5, B = 3, T = 2, H = 4;
    const attn = new BahdanauAttention(ops, 'attn', H, H, 3, rng);
    const enc = ops.tensor(S * B * H);
    rng.fillNormal(enc.data);
    const q = ops.tensor(B * H), dq = ops.tensor(B * H), dctx = ops.tensor(B * H), dEnc = ops.tensor(S * B * H);
    rng.fillNormal(q.data);
    rng.fillNormal(dctx.data);
    const lengths = Int32Array.from([5, 1, 3]);
    attn.begin(enc, lengths, S, B, T);
    for (let t = 0; t < T; t++) attn.step(t, q);
    for (let t = 0; t < T; t++) {
      const w = attn.weights(t);
      for (let b = 0; b < B; b++) {
        let sum = 0;
        for (let j = 0; j < S; j++) {
          if (j >= lengths[b]) expect(w[b * S + j]).toBe(0);
          else expect(w[b * S + j]).toBeGreaterThan(0);
          sum += w[b * S + j];
        }
        expect(sum).toBeCloseTo(1, 12);
      }
    }
    for (let t = T - 1; t >= 0; t--) attn.stepBackward(t, q, dctx, dq);
    attn.finish(dEnc);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < S; j++) {
        const g = Array.from(dEnc.data.subarray((j * B + b) * H, (j * B + b + 1) * H));
        if (j >= lengths[b]) expect(g.every((x) => x === 0), `row ${b} position ${j}`).toBe(true);
        else expect(g.some((x) => x !== 0)).toBe(true);
      }
    }
  });
});
