// The reference backend is the specification every other backend is tested against, so it is
// itself checked here on small cases worked out by hand (values in the comments).
import { describe, expect, it } from 'vitest';
import { ReferenceOps, activate, activateDerivative } from '../../src/backends/reference/index.js';
import { ACTIVATIONS } from '../../src/ops/types.js';
import type { AdamParams } from '../../src/ops/types.js';

const R = new ReferenceOps('f64');
const t = (v: number[]) => R.tensorFrom(v);
const list = (x: { data: ArrayLike<number> }) => Array.from(x.data);
/** Each element within tol relative (plus 1e-15 absolute, for expected zeros). */
function expectAll(actual: ArrayLike<number>, expected: number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    expect(err, `element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol * Math.abs(expected[i]) + 1e-15);
  }
}

describe('reference gemm, by hand', () => {
  // A = [1 2 3; 4 5 6] (2×3), B = [7 8; 9 10; 11 12] (3×2):
  // A·B = [1·7+2·9+3·11, 1·8+2·10+3·12; 4·7+5·9+6·11, 4·8+5·10+6·12] = [58 64; 139 154].
  const A = [1, 2, 3, 4, 5, 6];
  const At = [1, 4, 2, 5, 3, 6]; // Aᵀ stored 3×2 (k×m)
  const B = [7, 8, 9, 10, 11, 12];
  const Bt = [7, 9, 11, 8, 10, 12]; // Bᵀ stored 2×3 (n×k)
  const AB = [58, 64, 139, 154];

  it('in each transpose, beta = 0', () => {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const C = t([NaN, NaN, NaN, NaN]); // beta = 0 must overwrite even NaN
      R.gemm(ta, tb, 2, 2, 3, 1, t(ta ? At : A), t(tb ? Bt : B), 0, C);
      expect(list(C), `trans ${ta} ${tb}`).toEqual(AB);
    }
  });

  it('alpha and beta: C = 2·A·B + 1·C', () => {
    const C = t([1, 2, 3, 4]);
    R.gemm(false, false, 2, 2, 3, 2, t(A), t(B), 1, C);
    expect(list(C)).toEqual([117, 130, 281, 312]);
  });

  it('Aᵀ·A: the Gram matrix of the columns of A', () => {
    // columns (1,4), (2,5), (3,6): dot products 17 22 27 / 22 29 36 / 27 36 45.
    const C = R.tensor(9);
    R.gemm(true, false, 3, 3, 2, 1, t(A), t(A), 0, C);
    expect(list(C)).toEqual([17, 22, 27, 22, 29, 36, 27, 36, 45]);
  });

  it('rejects too-small operands', () => {
    expect(() => R.gemm(false, false, 2, 2, 3, 1, t([1, 2, 3]), t(B), 0, R.tensor(4))).toThrow(/A holds 3 elements/);
  });
});

describe('reference softmax family, by hand', () => {
  it('softmax of [0, ln 2] is [1/3, 2/3]; log-softmax is [−ln 3, ln 2 − ln 3]', () => {
    const y = R.tensor(2);
    R.softmax(t([0, Math.LN2]), y, 1, 2);
    expectAll(y.data, [1 / 3, 2 / 3]);
    R.logSoftmax(t([0, Math.LN2]), y, 1, 2);
    expectAll(y.data, [-Math.log(3), Math.LN2 - Math.log(3)]);
  });

  it('softmax is shift-invariant and finite for [1000, 0, −1000]', () => {
    const y = R.tensor(3);
    R.softmax(t([1000, 0, -1000]), y, 1, 3);
    expect(list(y)).toEqual([1, 0, 0]); // e^−1000 underflows to 0 even in f64
  });

  it('softmaxBackward: y = [1/3, 2/3], dy = [1, 0] gives dx = y(dy − y·dy) = [2/9, −2/9]', () => {
    const dx = R.tensor(2);
    R.softmaxBackward(t([1 / 3, 2 / 3]), t([1, 0]), dx, 1, 2);
    expectAll(dx.data, [2 / 9, -2 / 9]);
  });

  it('logSoftmaxBackward: dx = dy − softmax·Σdy', () => {
    // y = log [1/3, 2/3], dy = [1, 2]: Σdy = 3, dx = [1 − 1, 2 − 2] = [0, 0]; dy = [1, 0]: [2/3, −2/3].
    const dx = R.tensor(2);
    const y = t([Math.log(1 / 3), Math.log(2 / 3)]);
    R.logSoftmaxBackward(y, t([1, 2]), dx, 1, 2);
    expectAll(dx.data, [0, 0]);
    R.logSoftmaxBackward(y, t([1, 0]), dx, 1, 2);
    expectAll(dx.data, [2 / 3, -2 / 3]);
  });

  it('cross-entropy: loss −ln(2/3) = ln 1.5, gradient softmax − onehot, ignored row is zero', () => {
    // Row 0: logits [0, ln 2], target 1: p = [1/3, 2/3], loss = −ln(2/3), grad = [1/3, −1/3].
    // Row 1: target −1 (padding): no loss, zero gradient even though dlogits held garbage.
    // Row 2: logits [5, 5], target 0: loss ln 2, grad [½ − 1, ½].
    const d = t([9, 9, 9, 9, 9, 9]);
    const loss = R.softmaxCrossEntropy(t([0, Math.LN2, 7, -7, 5, 5]), R.intsFrom([1, -1, 0]), 3, 2, d, 1);
    expect(loss).toBeCloseTo(Math.log(1.5) + Math.LN2, 12);
    expectAll(d.data, [1 / 3, -1 / 3, 0, 0, -0.5, 0.5]);
    // gradScale = 1/2 (mean over the 2 counted rows) halves the gradient, not the loss.
    const loss2 = R.softmaxCrossEntropy(t([0, Math.LN2, 7, -7, 5, 5]), R.intsFrom([1, -1, 0]), 3, 2, d, 0.5);
    expect(loss2).toBeCloseTo(loss, 12);
    expectAll(d.data, [1 / 6, -1 / 6, 0, 0, -0.25, 0.25]);
    expect(() => R.softmaxCrossEntropy(t([0, 0]), R.intsFrom([2]), 1, 2, null, 1)).toThrow(/target 2 in row 0 is not below 2/);
  });
});

describe('reference LayerNorm, by hand', () => {
  // x = [1, 2, 3]: μ = 2, var = (1 + 0 + 1)/3 = 2/3, rstd = √1.5, x̂ = [−√1.5, 0, √1.5].
  const s = Math.sqrt(1.5);

  it('forward, with gamma and beta', () => {
    const y = R.tensor(3), mean = R.tensor(1), rstd = R.tensor(1);
    R.layerNorm(t([1, 2, 3]), t([1, 1, 1]), t([0, 0, 0]), y, mean, rstd, 1, 3, 0);
    expectAll(y.data, [-s, 0, s]);
    expectAll(mean.data, [2]);
    expectAll(rstd.data, [s]);
    R.layerNorm(t([1, 2, 3]), t([2, 2, 2]), t([1, 1, 1]), y, mean, rstd, 1, 3, 0);
    expectAll(y.data, [1 - 2 * s, 1, 1 + 2 * s]);
  });

  it('backward accumulates: dy = [1, 0, 0], gamma = 1', () => {
    // g = [1, 0, 0], mean(g) = 1/3, mean(g⊙x̂) = −√1.5/3,
    // dx = rstd·(g − 1/3 − x̂·(−√1.5/3)) = √1.5·([1, 0, 0] − 1/3 − [½, 0, −½]) = √1.5·[1/6, −1/3, 1/6];
    // dgamma = dy⊙x̂ = [−√1.5, 0, 0]; dbeta = dy. Every output starts at 1 (accumulation).
    const dx = t([1, 1, 1]), dg = t([1, 1, 1]), db = t([1, 1, 1]);
    R.layerNormBackward(t([1, 2, 3]), t([1, 1, 1]), t([2]), t([s]), t([1, 0, 0]), dx, dg, db, 1, 3);
    expectAll(dx.data, [1 + s / 6, 1 - s / 3, 1 + s / 6]);
    expectAll(dg.data, [1 - s, 1, 1]);
    expectAll(db.data, [2, 1, 1]);
  });
});

describe('reference Adam, by hand', () => {
  const base: AdamParams = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-12, weightDecay: 0, decoupled: false, step: 1 };

  it('the first step moves each weight by lr·sign(g), whatever |g| (bias correction)', () => {
    // m = (1−β1)g, v = (1−β2)g², m̂ = g, v̂ = g²: update lr·g/(|g| + eps) ≈ lr·sign(g).
    const w = t([1, 1, 1, 1]), m = R.tensor(4), v = R.tensor(4);
    R.adam(w, t([0.5, -2, 1e-3, -1e3]), m, v, base);
    expectAll(w.data, [0.9, 1.1, 0.9, 1.1], 1e-9); // eps = 1e-12 shifts g = 1e-3 by 1e-10
    expectAll(m.data, [0.05, -0.2, 1e-4, -100]);
    expectAll(v.data, [0.00025, 0.004, 1e-9, 1000]);
  });

  it('the second step with the same gradient moves by lr·sign(g) again', () => {
    // m = (1−β1²)g after two equal steps and c1 = 1−β1², so m̂ = g again (likewise v̂ = g²).
    const w = t([0]), m = R.tensor(1), v = R.tensor(1);
    R.adam(w, t([3]), m, v, base);
    R.adam(w, t([3]), m, v, { ...base, step: 2 });
    expectAll(w.data, [-0.2], 1e-9);
  });

  it('AdamW decays the weight directly: θ ← θ − lr·wd·θ, independent of the gradient', () => {
    // g = 0: m = v = 0, so the Adam part is 0/(0 + eps) = 0 and only the decay acts: 1 − 0.1·0.1.
    const w = t([1, -2]), m = R.tensor(2), v = R.tensor(2);
    R.adam(w, t([0, 0]), m, v, { ...base, weightDecay: 0.1, decoupled: true });
    expectAll(w.data, [0.99, -1.98]);
    expectAll(m.data, [0, 0]);
  });

  it('classic Adam adds wd·θ to the gradient instead', () => {
    // g = 0 + 0.1·θ: the first step is then lr·sign(θ), and m holds (1−β1)·wd·θ.
    const w = t([1, -2]), m = R.tensor(2), v = R.tensor(2);
    R.adam(w, t([0, 0]), m, v, { ...base, weightDecay: 0.1, decoupled: false });
    expectAll(w.data, [0.9, -1.9], 1e-9);
    expectAll(m.data, [0.01, -0.02]);
  });
});

describe('reference activations and small ops, by hand', () => {
  it('values at 0 and known points', () => {
    expect(activate('sigmoid', 0)).toBe(0.5);
    expect(activate('tanh', 0)).toBe(0);
    expect(activate('relu', -1)).toBe(0);
    expect(activate('relu', 2)).toBe(2);
    expect(activate('gelu', 0)).toBe(0);
    expect(activate('silu', 0)).toBe(0);
    expect(activate('sigmoid', Math.log(3))).toBeCloseTo(0.75, 14); // 1/(1 + 1/3)
    expect(activate('silu', Math.log(3))).toBeCloseTo(0.75 * Math.log(3), 14);
    // gelu(1) = ½(1 + tanh(√(2/π)·1.044715))
    expect(activate('gelu', 1)).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 14);
    expect(activate('sigmoid', -800)).toBe(0); // the stable branch: no exp(800) overflow
    expect(activate('sigmoid', 800)).toBe(1);
  });

  it('derivatives at 0: σ′ = ¼, tanh′ = 1, gelu′ = ½, silu′ = ½', () => {
    expect(activateDerivative('sigmoid', 0, 0.5)).toBe(0.25);
    expect(activateDerivative('tanh', 0, 0)).toBe(1);
    expect(activateDerivative('gelu', 0, 0)).toBe(0.5);
    expect(activateDerivative('silu', 0, 0)).toBe(0.5);
    expect(activateDerivative('relu', -0.5, 0)).toBe(0);
    expect(activateDerivative('relu', 0.5, 0.5)).toBe(1);
  });

  it('every derivative agrees with a central difference of the function', () => {
    for (const kind of ACTIVATIONS) {
      for (const x of [-3, -0.7, 0.2, 1.3, 4]) {
        const h = 1e-6;
        const fd = (activate(kind, x + h) - activate(kind, x - h)) / (2 * h);
        expect(activateDerivative(kind, x, activate(kind, x)), `${kind}'(${x})`).toBeCloseTo(fd, 7);
      }
    }
  });

  it('bias, row and column sums, embedding, sumSquares', () => {
    const y = t([1, 2, 3, 4, 5, 6]);
    R.addBias(y, t([10, 20, 30]), 2, 3);
    expect(list(y)).toEqual([11, 22, 33, 14, 25, 36]);
    const colSums = t([1, 1, 1]);
    R.sumRows(t([1, 2, 3, 4, 5, 6]), colSums, 2, 3); // accumulates
    expect(list(colSums)).toEqual([6, 8, 10]);
    const rowSums = t([9, 9]);
    R.sumCols(t([1, 2, 3, 4, 5, 6]), rowSums, 2, 3); // overwrites
    expect(list(rowSums)).toEqual([6, 15]);

    const table = t([0, 1, 10, 11, 20, 21]); // 3 rows of dim 2
    const out = R.tensor(6);
    R.embedding(table, R.intsFrom([2, 0, 2]), out, 3, 2);
    expect(list(out)).toEqual([20, 21, 0, 1, 20, 21]);
    const dtable = R.tensor(6);
    R.embeddingBackward(t([1, 2, 3, 4, 5, 6]), R.intsFrom([2, 0, 2]), dtable, 3, 2);
    expect(list(dtable)).toEqual([3, 4, 0, 0, 6, 8]); // id 2 twice: [1+5, 2+6]
    expect(() => R.embedding(table, R.intsFrom([3]), R.tensor(2), 1, 2)).toThrow(/id 3 at position 0 is outside 0\.\.2/);

    expect(R.sumSquares(t([3, 4, -12]))).toBe(169);
  });
});
