// LayerNorm and RMSNorm (src/layers/layernorm.ts): registered gradient checks 'layernorm' and
// 'rmsnorm', what the outputs are, and WASM against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Norm, type NormKind } from '../../src/layers/layernorm.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('LayerNorm / RMSNorm', () => {
  it("passes the registered gradient check 'layernorm' (gamma, beta, x)", () => {
    const [r] = runGradChecks(['layernorm']);
    expect(r.tensors.map((t) => t.name)).toEqual(['layernorm.gamma', 'layernorm.beta', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it("passes the registered gradient check 'rmsnorm' (gamma, x; no beta)", () => {
    const [r] = runGradChecks(['rmsnorm']);
    expect(r.tensors.map((t) => t.name)).toEqual(['rmsnorm.gamma', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('at gamma 1, beta 0: layernorm rows have mean 0 and variance 1; rmsnorm rows have mean square 1', () => {
    const n = 3, C = 8;
    for (const kind of ['layernorm', 'rmsnorm'] as NormKind[]) {
      const norm = new Norm(ref, kind, C, new Rng(1), { kind, eps: 0 });
      const x = ref.tensor(n * C), y = ref.tensor(n * C);
      new Rng(2).fillNormal(x.data, 1.5, 3);
      norm.forward(x, y, n);
      for (let r = 0; r < n; r++) {
        const row = Array.from(y.data.slice(r * C, (r + 1) * C));
        const mean = row.reduce((s, v) => s + v, 0) / C, ms = row.reduce((s, v) => s + v * v, 0) / C;
        if (kind === 'layernorm') expect(mean).toBeCloseTo(0, 12);
        expect(ms).toBeCloseTo(1, 12);
      }
    }
  });

  it.each(['layernorm', 'rmsnorm'] as NormKind[])('%s matches the reference on the WASM backend, forward and backward', (kind) => {
    const n = 5, C = 13;
    const [r, w] = [ref, wasm].map((ops) => {
      const norm = new Norm(ops, kind, C, new Rng(1), { kind });
      const prng = new Rng(3);
      for (const p of norm.params) prng.fillNormal(p.value.data, 0.5, 0.5);
      const x = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C), dx = ops.tensor(n * C);
      new Rng(4).fillNormal(x.data);
      new Rng(5).fillNormal(dy.data);
      norm.forward(x, y, n);
      norm.backward(x, dy, dx, n);
      return [...y.data, ...dx.data, ...norm.gamma.grad.data];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });
});
