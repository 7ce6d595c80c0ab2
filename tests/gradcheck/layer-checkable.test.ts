// layerCheckable (src/gradcheck/harness.ts): the layer check most layers use, on a toy layer
// y = x ⊙ w, passing with the right backward and failing with a wrong one.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { gradCheck, layerCheckable, randomCheckTensor } from '../../src/gradcheck/harness.js';
import type { Tensor } from '../../src/ops/types.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

function toyCheck(wrongDx: boolean) {
  const n = 6, rng = new Rng(3);
  const w = randomCheckTensor(ops, 'w', n, rng);
  const forward = (x: Tensor, y: Tensor) => { for (let i = 0; i < n; i++) y.data[i] = x.data[i] * w.value.data[i]; };
  const backward = (x: Tensor, dy: Tensor, dx: Tensor) => {
    for (let i = 0; i < n; i++) {
      w.grad.data[i] += dy.data[i] * x.data[i];
      dx.data[i] = wrongDx ? dy.data[i] : dy.data[i] * w.value.data[i];
    }
  };
  return layerCheckable(ops, rng, 'toy', [w], n, n, forward, backward, 3);
}

describe('layerCheckable', () => {
  it('checks the parameters and dx of a correct layer', () => {
    const c = toyCheck(false);
    expect(c.inputs?.map((t) => t.name)).toEqual(['x']);
    const r = gradCheck(c);
    expect(r.passed).toBe(true);
    expect(r.tensors.map((t) => t.name)).toEqual(['w', 'x']);
  });

  it('fails on a wrong dx', () => {
    const r = gradCheck(toyCheck(true));
    expect(r.passed).toBe(false);
    expect(r.tensors.find((t) => t.name === 'x')!.relError).toBeGreaterThan(1e-3);
  });
});
