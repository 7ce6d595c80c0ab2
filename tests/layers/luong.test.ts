// Luong attention (src/layers/luong.ts): the registered gradient checks 'luong-dot',
// 'luong-general' and 'luong-concat' (3 steps, ragged source lengths with padding), and the mask.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { LuongAttention, type LuongScore } from '../../src/layers/luong.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const SCORES: LuongScore[] = ['dot', 'general', 'concat'];

describe('Luong attention', () => {
  for (const score of SCORES) {
    it(`passes the registered gradient check 'luong-${score}'`, () => {
      const [r] = runGradChecks([`luong-${score}`]);
      const names = r.tensors.map((t) => t.name);
      expect(names).toContain('enc');
      expect(names).toContain('states');
      expect(names).toContain('attn.Wcc');
      for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    });

    it(`${score}: padded positions get exactly 0 weight and 0 gradient; h̃ = tanh(W_c[c; s]) is in (−1, 1)`, () => {
      const ops = new ReferenceOps('f64'), rng = new Rng(5);
      const S = 4, B = 2, H = 3;
      const attn = new LuongAttention(ops, 'attn', score, H, H, H, rng);
      const enc = ops.tensor(S * B * H), s = ops.tensor(B * H), ds = ops.tensor(B * H), dh = ops.tensor(B * H), dEnc = ops.tensor(S * B * H);
      rng.fillNormal(enc.data); rng.fillNormal(s.data); rng.fillNormal(dh.data);
      const lengths = Int32Array.from([2, 4]);
      attn.begin(enc, lengths, S, B, 1);
      const ht = attn.step(0, s, B);
      for (const v of ht.data) expect(Math.abs(v)).toBeLessThan(1);
      const w = attn.weights(0);
      expect([w[2], w[3]]).toEqual([0, 0]);
      attn.stepBackward(0, s, dh, ds, B);
      attn.finish(dEnc);
      for (const j of [2, 3]) {
        const g = Array.from(dEnc.data.subarray((j * B) * H, (j * B + 1) * H));
        expect(g.every((x) => x === 0)).toBe(true);
      }
    });
  }

  it('the dot score needs equal state and encoder sizes', () => {
    expect(() => new LuongAttention(new ReferenceOps('f64'), 'a', 'dot', 3, 4, 3, new Rng(1))).toThrow(/dot score/);
  });
});
