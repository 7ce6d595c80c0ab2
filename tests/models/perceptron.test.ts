import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Perceptron, type BinaryBatch } from '../../src/models/perceptron.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { gradCheck } from '../../src/gradcheck/harness.js';
import { fit } from '../../src/train/fit.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('perceptron gradient check (float64 reference)', () => {
  it('is registered and passes', () => {
    expect(listGradChecks()).toContain('perceptron');
    const [r] = runGradChecks(['perceptron']);
    expect(r.tensors.map((t) => t.name)).toEqual(['perceptron.W', 'perceptron.b']);
    expect(r.maxRelError).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('catches a backward pass that keeps the sigmoid derivative p(1 − p) in dL/dz', () => {
    class Broken extends Perceptron {
      override forwardBackward(batch: BinaryBatch, train: boolean): number {
        if (!train) return super.forwardBackward(batch, false);
        // The classic mistake: dL/dz = (p − y)·p(1 − p), the MSE-through-a-sigmoid gradient.
        const loss = super.forwardBackward(batch, false);
        const p = this.probabilities(batch.x, batch.n);
        const dz = ops.tensorFrom(Array.from(p, (q, i) => ((q - batch.y.data[i]) * q * (1 - q)) / batch.n));
        this.linear.backward(batch.x, dz, null, batch.n);
        return loss;
      }
    }
    const rng = new Rng(3);
    const m = new Broken(ops, 3, rng);
    for (const p of m.params) rng.fillNormal(p.value.data);
    const x = ops.tensor(12);
    rng.fillNormal(x.data);
    const batch = { x, y: ops.tensorFrom([1, 0, 1, 1]), n: 4 };
    const r = gradCheck({
      name: 'broken', params: m.params,
      loss: () => m.forwardBackward(batch, false), backward: () => { m.forwardBackward(batch, true); },
    });
    expect(r.passed).toBe(false);
    expect(r.maxRelError).toBeGreaterThan(0.05);
  });
});

describe('Perceptron', () => {
  it('computes the mean binary cross-entropy of sigmoid(x·w + b)', () => {
    const m = new Perceptron(ops, 2, new Rng(1));
    m.linear.W.value.data.set([0.5, -1]);
    m.linear.b!.value.data.set([0.25]);
    const xs = [[1, 2], [-1, 0.5], [3, 1]], ys = [1, 0, 1];
    const batch = { x: ops.tensorFrom(xs.flat()), y: ops.tensorFrom(ys), n: 3 };
    let expected = 0;
    xs.forEach(([a, b], i) => {
      const p = 1 / (1 + Math.exp(-(0.5 * a - b + 0.25)));
      expected -= ys[i] * Math.log(p) + (1 - ys[i]) * Math.log(1 - p);
    });
    expect(m.forwardBackward(batch, false)).toBeCloseTo(expected / 3, 12);
  });

  it('stays finite for huge logits (the stable softplus form)', () => {
    const m = new Perceptron(ops, 1, new Rng(1));
    m.linear.W.value.data.set([1000]);
    const batch = { x: ops.tensorFrom([1, -1]), y: ops.tensorFrom([0, 1]), n: 2 };
    expect(m.forwardBackward(batch, false)).toBeCloseTo(1000, 9);
  });

  it('learns a linearly separable problem (OR) to 100% and a low loss', () => {
    const m = new Perceptron(ops, 2, new Rng(1));
    const x = ops.tensorFrom([0, 0, 0, 1, 1, 0, 1, 1]);
    const batch = { x, y: ops.tensorFrom([0, 1, 1, 1]), n: 4 };
    const start = m.forwardBackward(batch, false);
    expect(start).toBeCloseTo(Math.log(2), 12); // zero weights: p = 0.5 everywhere
    fit(ops, m, () => batch, { steps: 300, lr: 0.1 });
    expect(m.predict(x, 4)).toEqual([0, 1, 1, 1]);
    expect(m.forwardBackward(batch, false)).toBeLessThan(0.1);
  });
});
