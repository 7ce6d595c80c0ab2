import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Mlp, defaultInit } from '../../src/layers/mlp.js';
import { MlpClassifier, MlpRegressor } from '../../src/models/mlp.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { fit } from '../../src/train/fit.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('MLP gradient checks (float64 reference, 3 linear layers)', () => {
  for (const act of ['relu', 'sigmoid', 'tanh', 'gelu']) {
    it(`mlp-${act}: softmax cross-entropy, every weight, bias and the input`, () => {
      expect(listGradChecks()).toContain(`mlp-${act}`);
      const [r] = runGradChecks([`mlp-${act}`]);
      expect(r.tensors.map((t) => t.name)).toEqual(['mlp.0.W', 'mlp.0.b', 'mlp.1.W', 'mlp.1.b', 'mlp.2.W', 'mlp.2.b', 'x']);
      for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
      expect(r.passed).toBe(true);
    });
  }

  it('mlp-mse: the regressor, mean squared error', () => {
    const [r] = runGradChecks(['mlp-mse']);
    expect(r.tensors).toHaveLength(7);
    expect(r.maxRelError).toBeLessThanOrEqual(1e-6);
  });
});

describe('Mlp', () => {
  it('computes relu(x·W1 + b1)·W2 + b2 for a 2-layer net', () => {
    const m = new Mlp(ops, 'm', [2, 3, 1], new Rng(1), { activation: 'relu' });
    m.layers[0].W.value.data.set([1, -1, 0.5, 2, 1, -3]); // [2, 3]
    m.layers[0].b!.value.data.set([0, 0.5, -1]);
    m.layers[1].W.value.data.set([1, 2, 3]);
    m.layers[1].b!.value.data.set([0.1]);
    const out = m.forward(ops.tensorFrom([1, 1, 2, -1]), 2).data;
    // row 0: pre = [3, 0.5, −3.5] → relu [3, 0.5, 0] → 3 + 1 + 0 + 0.1
    // row 1: pre = [0, −2.5, 3]   → relu [0, 0, 3]   → 0 + 0 + 9 + 0.1
    expect(out[0]).toBeCloseTo(4.1, 14);
    expect(out[1]).toBeCloseTo(9.1, 14);
  });

  it('initialises He for the ReLU family and Xavier for sigmoid/tanh, with the right scale', () => {
    expect(defaultInit('relu')).toBe('he');
    expect(defaultInit('gelu')).toBe('he');
    expect(defaultInit('tanh')).toBe('xavier');
    expect(defaultInit('sigmoid')).toBe('xavier');
    const std = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0) / a.length);
    const he = new Mlp(ops, 'he', [400, 300, 10], new Rng(2), { activation: 'relu' });
    expect(he.init).toBe('he');
    expect(std(he.layers[0].W.value.data)).toBeCloseTo(Math.sqrt(2 / 400), 3);
    const xa = new Mlp(ops, 'xa', [400, 300, 10], new Rng(2), { activation: 'tanh' });
    expect(xa.init).toBe('xavier');
    // U(±a) has std a/√3 with a = √(6/(in+out)), i.e. std √(2/(in+out)).
    expect(std(xa.layers[0].W.value.data)).toBeCloseTo(Math.sqrt(2 / 700), 3);
    // The output layer is Xavier either way.
    expect(std(he.layers[1].W.value.data)).toBeCloseTo(Math.sqrt(2 / 310), 2);
    // Biases start at zero.
    expect(Array.from(he.layers[0].b!.value.data).every((v) => v === 0)).toBe(true);
  });

  it('refuses sizes with fewer than two entries or non-positive widths', () => {
    expect(() => new Mlp(ops, 'm', [3], new Rng(1))).toThrow(/at least \[in, out\]/);
    expect(() => new Mlp(ops, 'm', [3, 0, 2], new Rng(1))).toThrow(/integer ≥ 1/);
  });

  it('handles a batch size that changes between calls', () => {
    const m = new Mlp(ops, 'm', [2, 4, 4, 3], new Rng(3), { activation: 'tanh' });
    const x = ops.tensor(10 * 2);
    new Rng(4).fillNormal(x.data);
    const all = Float64Array.from(m.forward(x, 10).data);
    const first = m.forward(x.view(0, 6), 3).data;
    expect(first.length).toBe(9);
    for (let i = 0; i < 9; i++) expect(first[i]).toBeCloseTo(all[i], 14);
  });
});

describe('learning', () => {
  it('a deep tanh regressor fits sin(x) on [−π, π] to MSE < 0.005', () => {
    const n = 64;
    const xs = Array.from({ length: n }, (_, i) => -Math.PI + (2 * Math.PI * i) / (n - 1));
    const batch = { x: ops.tensorFrom(xs), y: ops.tensorFrom(xs.map(Math.sin)), n };
    const m = new MlpRegressor(ops, [1, 16, 16, 1], new Rng(5), { activation: 'tanh' });
    const before = m.forwardBackward(batch, false);
    fit(ops, m, () => batch, { steps: 600, lr: 0.01 });
    const after = m.forwardBackward(batch, false);
    expect(after).toBeLessThan(0.005);
    expect(after).toBeLessThan(before / 20);
  });

  for (const act of ['relu', 'sigmoid', 'tanh', 'gelu'] as const) {
    it(`a ${act} classifier separates two concentric rings (not linearly separable) to ≥ 97%`, () => {
      const rng = new Rng(6), n = 120;
      const xs: number[] = [], ts: number[] = [];
      for (let i = 0; i < n; i++) {
        const cls = i % 2, r = cls === 0 ? rng.uniform(0, 1) : rng.uniform(1.6, 2.4), a = rng.uniform(0, 2 * Math.PI);
        xs.push(r * Math.cos(a), r * Math.sin(a));
        ts.push(cls);
      }
      const x = ops.tensorFrom(xs), targets = ops.intsFrom(ts);
      const m = new MlpClassifier(ops, [2, 16, 16, 2], new Rng(7), { activation: act });
      fit(ops, m, () => ({ x, targets, n }), { steps: 400, lr: 0.02 });
      expect(m.accuracy(x, ts, n)).toBeGreaterThanOrEqual(0.97);
    });
  }
});
