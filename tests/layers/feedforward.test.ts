// The feed-forward blocks (src/layers/feedforward.ts): registered gradient checks 'ffn-swiglu'
// and 'ffn-gelu', SwiGLU against its formula, and WASM against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { FeedForward, type FfnKind } from '../../src/layers/feedforward.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('feed-forward', () => {
  it("passes the registered gradient check 'ffn-swiglu' (W1, W3, W2 without biases, x)", () => {
    const [r] = runGradChecks(['ffn-swiglu']);
    expect(r.tensors.map((t) => t.name)).toEqual(['ffn.W1.W', 'ffn.W3.W', 'ffn.W2.W', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it("passes the registered gradient check 'ffn-gelu' (W1, b1, W2, b2, x)", () => {
    const [r] = runGradChecks(['ffn-gelu']);
    expect(r.tensors.map((t) => t.name)).toEqual(['ffn.W1.W', 'ffn.W1.b', 'ffn.W2.W', 'ffn.W2.b', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('swiglu computes (silu(x·W1) ⊙ x·W3)·W2', () => {
    const C = 3, F = 4, n = 2;
    const f = new FeedForward(ref, 'f', C, F, new Rng(1));
    const x = ref.tensorFrom([0.5, -1, 2, 1, 0.25, -0.75]), y = ref.tensor(n * C);
    f.forward(x, y, n);
    const W1 = f.W1.W.value.data, W3 = f.W3!.W.value.data, W2 = f.W2.W.value.data;
    for (let r = 0; r < n; r++) {
      const g = Array.from({ length: F }, (_, j) => {
        let h1 = 0, h3 = 0;
        for (let c = 0; c < C; c++) { h1 += x.data[r * C + c] * W1[c * F + j]; h3 += x.data[r * C + c] * W3[c * F + j]; }
        return (h1 / (1 + Math.exp(-h1))) * h3;
      });
      for (let c = 0; c < C; c++) {
        let want = 0;
        for (let j = 0; j < F; j++) want += g[j] * W2[j * C + c];
        expect(y.data[r * C + c]).toBeCloseTo(want, 12);
      }
    }
  });

  it.each(['swiglu', 'gelu'] as FfnKind[])('%s matches the reference on the WASM backend, forward and backward', (kind) => {
    const n = 7, C = 10, F = 18;
    const [r, w] = [ref, wasm].map((ops) => {
      const f = new FeedForward(ops, 'f', C, F, new Rng(2), { kind });
      const x = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C), dx = ops.tensor(n * C);
      new Rng(4).fillNormal(x.data);
      new Rng(5).fillNormal(dy.data);
      f.forward(x, y, n);
      f.backward(x, dy, dx, n);
      return [...y.data, ...dx.data, ...f.W1.W.grad.data];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });
});
