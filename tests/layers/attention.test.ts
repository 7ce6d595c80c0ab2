// Causal self-attention (src/layers/attention.ts): its registered gradient checks 'attention-h1'
// and 'attention-h2', exact zeros at masked (future) positions, KV-cached decoding against the
// training-path forward, and WASM against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CausalSelfAttention } from '../../src/layers/attention.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

function build(ops: Ops, C: number, H: number, seed = 1): CausalSelfAttention {
  const a = new CausalSelfAttention(ops, 'attn', C, H, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const p of a.params) rng.fillNormal(p.value.data, 0, 0.5);
  return a;
}

function randomInput(ops: Ops, size: number, seed: number) {
  const x = ops.tensor(size);
  new Rng(seed).fillNormal(x.data);
  return x;
}

describe('causal self-attention', () => {
  it.each(['attention-h1', 'attention-h2'])("passes the registered gradient check '%s' (B=2, T=6, C=6)", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.map((t) => t.name)).toEqual(['attn.qkv.W', 'attn.qkv.b', 'attn.proj.W', 'attn.proj.b', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it.each([['reference', () => ref], ['wasm', () => wasm]] as const)('%s: masked positions have probability 0 and score gradient exactly 0', (_n, get) => {
    const ops = get();
    const B = 2, T = 5, C = 6, H = 2;
    const a = build(ops, C, H);
    const x = randomInput(ops, B * T * C, 3), y = ops.tensor(B * T * C), dy = randomInput(ops, B * T * C, 4), dx = ops.tensor(B * T * C);
    a.forward(x, y, B, T);
    a.backward(x, dy, dx, B, T);
    const P = a.probabilities().data, dS = a.scoreGrad().data;
    let masked = 0, visibleNonZero = 0;
    for (let g = 0; g < B * H; g++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
      const k = (g * T + i) * T + j;
      if (j > i) {
        expect(P[k]).toBe(0);
        expect(Math.abs(dS[k])).toBe(0);
        masked++;
      } else if (dS[k] !== 0) visibleNonZero++;
    }
    expect(masked).toBe(B * H * T * (T - 1) / 2);
    expect(visibleNonZero).toBeGreaterThan(B * H * T); // the diagonal-and-below does get gradient
  });

  it('an output at position t gets no gradient from inputs after t (exactly 0)', () => {
    const B = 1, T = 6, C = 4, H = 2, t = 2;
    const a = build(ref, C, H);
    const x = randomInput(ref, T * C, 5), y = ref.tensor(T * C), dx = ref.tensor(T * C);
    const dy = ref.tensor(T * C);
    for (let c = 0; c < C; c++) dy.data[t * C + c] = 1 + c;
    a.forward(x, y, B, T);
    a.backward(x, dy, dx, B, T);
    for (let s = 0; s < T; s++) {
      const row = Array.from(dx.data.slice(s * C, (s + 1) * C));
      if (s > t) expect(row.every((v) => v === 0), `row ${s}`).toBe(true);
      else expect(row.some((v) => v !== 0), `row ${s}`).toBe(true);
    }
  });

  it('KV-cached decoding (one token at a time, then a chunk) equals the training-path forward', () => {
    const T = 7, C = 6, H = 3;
    const a = build(ref, C, H);
    const x = randomInput(ref, T * C, 6), y = ref.tensor(T * C);
    a.forward(x, y, 1, T);
    const whole = Array.from(y.data);
    const cache = a.newCache(8), out = ref.tensor(T * C);
    for (let t = 0; t < 4; t++) a.forwardCached(x.view(t * C, C), out.view(t * C, C), 1, t, cache);
    a.forwardCached(x.view(4 * C, 3 * C), out.view(4 * C, 3 * C), 3, 4, cache);
    Array.from(out.data).forEach((v, i) => expect(v).toBeCloseTo(whole[i], 12));
    expect(() => a.forwardCached(x.view(0, 2 * C), out.view(0, 2 * C), 2, 7, cache)).toThrow(/context/);
  });

  it('matches the reference on the WASM backend, forward and backward', () => {
    const B = 3, T = 9, C = 12, H = 3;
    const results = [ref, wasm].map((ops) => {
      const a = build(ops, C, H, 7);
      const x = randomInput(ops, B * T * C, 8), y = ops.tensor(B * T * C), dy = randomInput(ops, B * T * C, 9), dx = ops.tensor(B * T * C);
      a.forward(x, y, B, T);
      a.backward(x, dy, dx, B, T);
      return { y: Array.from(y.data), dx: Array.from(dx.data), dW: Array.from(a.qkv.W.grad.data) };
    });
    const [r, w] = results;
    for (const k of ['y', 'dx', 'dW'] as const) {
      const scale = Math.max(...r[k].map(Math.abs));
      r[k].forEach((v, i) => expect(Math.abs(w[k][i] - v), `${k}[${i}]`).toBeLessThan(1e-4 * scale + 1e-5));
    }
  });

  it('rejects a width that the heads do not divide', () => {
    expect(() => new CausalSelfAttention(ref, 'a', 6, 4, new Rng(1))).toThrow(/multiple/);
  });
});
