import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import {
  RandomProjection, gradCheck, randomCheckTensor, type Checkable,
} from '../../src/gradcheck/harness.js';
import { listGradChecks, registerGradCheck, runGradChecks } from '../../src/gradcheck/registry.js';
import type { Ops } from '../../src/ops/types.js';
import { Rng } from '../../src/util/rng.js';

describe('registered op gradient checks (float64 reference)', () => {
  const names = listGradChecks();

  it('covers every op with a backward', () => {
    for (const n of ['gemm-NN', 'gemm-NT', 'gemm-TN', 'gemm-TT', 'activation-identity', 'activation-relu',
      'activation-sigmoid', 'activation-tanh', 'activation-gelu', 'activation-silu', 'softmax', 'logSoftmax',
      'softmaxCrossEntropy', 'layerNorm', 'addBias-sumRows', 'embedding', 'mul', 'mlp-tanh-crossentropy']) {
      expect(names).toContain(n);
    }
  });

  it.each(names)('%s passes with norm-based relative error ≤ 1e-6', (name) => {
    const [r] = runGradChecks([name]);
    expect(r.name).toBe(name);
    expect(r.tolerance).toBe(1e-6);
    expect(r.tensors.length).toBeGreaterThan(0);
    for (const t of r.tensors) {
      expect(t.checked).toBeGreaterThan(0);
      expect(t.relError, `${name}/${t.name}`).toBeLessThanOrEqual(1e-6);
    }
    expect(r.maxRelError).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('runs all checks when no names are given, and results survive JSON', () => {
    const all = runGradChecks();
    expect(all.map((r) => r.name)).toEqual(names);
    expect(JSON.parse(JSON.stringify(all))).toEqual(all);
  });

  it('is deterministic for a given seed', () => {
    const a = runGradChecks(['layerNorm', 'mlp-tanh-crossentropy'], { seed: 7 });
    const b = runGradChecks(['mlp-tanh-crossentropy', 'layerNorm'], { seed: 7 });
    expect(a[0]).toEqual(b[1]);
    expect(a[1]).toEqual(b[0]);
  });

  it('names the unknown check and lists the known ones', () => {
    expect(() => runGradChecks(['softmax', 'lstmm'])).toThrow(/unknown gradient check 'lstmm'.*known checks: gemm-NN,/);
  });

  it('refuses a duplicate registration', () => {
    expect(() => registerGradCheck('softmax', () => { throw new Error('unused'); })).toThrow(/already registered/);
  });
});

describe('the harness fails wrong gradients', () => {
  const ops = new ReferenceOps('f64');

  /** L = Σ w ⊙ x², whose gradient is 2·w ⊙ x; `factor` scales the backward (1 is correct). */
  function square(factor: number): Checkable {
    const rng = new Rng(1);
    const x = randomCheckTensor(ops, 'x', 10, rng);
    const proj = new RandomProjection(ops, 10, rng);
    const y = ops.tensor(10), dy = ops.tensor(10);
    return {
      name: `square×${factor}`,
      params: [],
      inputs: [x],
      loss() { ops.mul(x.value, x.value, y); return proj.loss(y); },
      backward() {
        proj.backward(dy);
        ops.mul(dy, x.value, x.grad, true);
        ops.scale(x.grad, 2 * factor);
      },
    };
  }

  it('passes the correct backward', () => {
    expect(gradCheck(square(1)).passed).toBe(true);
  });

  it('fails a backward that drops a factor of 2, with relative error 1/3', () => {
    // ‖2g − g‖ / (‖g‖ + ‖2g‖) = 1/3, whatever the scale of g: the error is relative.
    const r = gradCheck(square(0.5));
    expect(r.passed).toBe(false);
    expect(r.maxRelError).toBeCloseTo(1 / 3, 6);
    expect(r.tensors[0].maxElemRelError).toBeCloseTo(1 / 2, 6);
    expect(r.criterion).toBe('relError');
  });

  it('fails a tiny-scale wrong gradient that an absolute tolerance would pass', () => {
    const c = square(0.5);
    // Shrink the loss by 1e-9: every gradient entry is ~1e-9, far below an absolute 1e-6.
    const raw = c.loss.bind(c), rawBackward = c.backward.bind(c);
    c.loss = () => 1e-9 * raw();
    c.backward = () => { rawBackward(); ops.scale(c.inputs![0].grad, 1e-9); };
    expect(gradCheck(c).passed).toBe(false);
  });

  it('fails a linear layer whose weight gradient is transposed', () => {
    // Y (n×n) = X·W with square W so the wrong dW = (Xᵀ·dY)ᵀ has the right size.
    const n = 4, rng = new Rng(2);
    const X = randomCheckTensor(ops, 'X', n * n, rng), W = randomCheckTensor(ops, 'W', n * n, rng);
    const Y = ops.tensor(n * n), dY = ops.tensor(n * n);
    const proj = new RandomProjection(ops, n * n, rng);
    const make = (transposed: boolean): Checkable => ({
      name: 'linear',
      params: [W],
      loss() { ops.gemm(false, false, n, n, n, 1, X.value, W.value, 0, Y); return proj.loss(Y); },
      backward() {
        proj.backward(dY);
        if (transposed) ops.gemm(true, false, n, n, n, 1, dY, X.value, 1, W.grad); // dYᵀ·X: wrong
        else ops.gemm(true, false, n, n, n, 1, X.value, dY, 1, W.grad);         // Xᵀ·dY: right
      },
    });
    expect(gradCheck(make(false)).passed).toBe(true);
    const wrong = gradCheck(make(true));
    expect(wrong.passed).toBe(false);
    expect(wrong.maxRelError).toBeGreaterThan(0.1);
  });

  it('fails a NaN gradient rather than passing it', () => {
    const c = square(1);
    const rawBackward = c.backward.bind(c);
    c.backward = () => { rawBackward(); c.inputs![0].grad.data[3] = NaN; };
    const r = gradCheck(c);
    expect(r.passed).toBe(false);
    expect(r.maxRelError).toBeNaN();
  });

  it('rejects an impure loss', () => {
    let calls = 0;
    const x = randomCheckTensor(ops, 'x', 3, new Rng(3));
    expect(() => gradCheck({ name: 'noisy', params: [x], loss: () => ++calls, backward() {} }))
      .toThrow(/must be pure/);
  });

  it('samples at most `samples` entries per tensor, deterministically', () => {
    const big = (o: Ops): Checkable => {
      const rng = new Rng(4);
      const x = randomCheckTensor(o, 'x', 1000, rng);
      const proj = new RandomProjection(o, 1000, rng);
      return { name: 'big', params: [x], loss: () => proj.loss(x.value), backward: () => proj.backward(x.grad) };
    };
    const a = gradCheck(big(ops), { samples: 17, seed: 5 });
    const b = gradCheck(big(ops), { samples: 17, seed: 5 });
    expect(a.tensors[0].checked).toBe(17);
    expect(a.tensors[0].size).toBe(1000);
    expect(a).toEqual(b);
    expect(a.passed).toBe(true);
  });
});
