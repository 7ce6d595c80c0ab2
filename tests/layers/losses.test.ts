// Gradient checks of the composed losses (src/layers/losses.ts) on their own, float64 reference:
// the analytic dL/dz = (σ(z) − y)/n and dL/dpred = 2(pred − target)/n against central differences.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { gradCheck, randomCheckTensor, type Checkable } from '../../src/gradcheck/harness.js';
import { binaryCrossEntropyWithLogits, meanSquaredError } from '../../src/layers/losses.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('losses gradient check', () => {
  it('binaryCrossEntropyWithLogits: dL/dz, soft and hard targets, large logits', () => {
    const rng = new Rng(7);
    const n = 23;
    const z = randomCheckTensor(ops, 'z', n, rng, 4); // std 4: some |z| > 8, where naive log(1−p) fails
    const y = ops.tensorFrom(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? rng.next() : i % 2)));
    const p = ops.tensor(n), dz = ops.tensor(n);
    const c: Checkable = {
      name: 'bce',
      params: [],
      inputs: [z],
      loss: () => binaryCrossEntropyWithLogits(ops, z.value, y, p, null),
      backward: () => {
        binaryCrossEntropyWithLogits(ops, z.value, y, p, dz);
        ops.axpy(1, dz, z.grad);
      },
    };
    const r = gradCheck(c);
    expect(r.maxRelError).toBeLessThan(1e-7);
    expect(r.passed).toBe(true);
  });

  it('meanSquaredError: dL/dpred', () => {
    const rng = new Rng(8);
    const n = 19;
    const pred = randomCheckTensor(ops, 'pred', n, rng);
    const target = ops.tensorFrom(Array.from({ length: n }, () => rng.normal()));
    const d = ops.tensor(n);
    const c: Checkable = {
      name: 'mse',
      params: [],
      inputs: [pred],
      loss: () => meanSquaredError(ops, pred.value, target, d, false),
      backward: () => {
        meanSquaredError(ops, pred.value, target, d, true);
        ops.axpy(1, d, pred.grad);
      },
    };
    const r = gradCheck(c);
    expect(r.maxRelError).toBeLessThan(1e-7);
  });

  it('the check fails for a wrong BCE gradient (missing the 1/n)', () => {
    const rng = new Rng(9);
    const z = randomCheckTensor(ops, 'z', 5, rng);
    const y = ops.tensorFrom([0, 1, 1, 0, 1]);
    const p = ops.tensor(5), dz = ops.tensor(5);
    const r = gradCheck({
      name: 'bce-wrong',
      params: [],
      inputs: [z],
      loss: () => binaryCrossEntropyWithLogits(ops, z.value, y, p, null),
      backward: () => {
        binaryCrossEntropyWithLogits(ops, z.value, y, p, dz);
        ops.axpy(5, dz, z.grad); // 5× too large
      },
    });
    expect(r.passed).toBe(false);
  });
});
