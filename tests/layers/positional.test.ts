// Position embeddings (src/layers/positional.ts): the registered gradient check
// 'positions-learned', the sinusoidal table, and the context limit.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Positional, sinusoidalTable } from '../../src/layers/positional.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');

describe('positional embeddings', () => {
  it("passes the registered gradient check 'positions-learned' (table rows from position 2, x)", () => {
    const [r] = runGradChecks(['positions-learned']);
    expect(r.tensors.map((t) => t.name)).toEqual(['pos.table', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('learned: adds row start+t to every sequence, and the backward sums over the batch into those rows only', () => {
    const C = 2, T = 2, B = 2;
    const p = new Positional(ref, 'pos', 4, C, new Rng(1));
    p.table!.value.data.set([0, 0, 1, 2, 3, 4, 5, 6]);
    const x = ref.tensorFrom([10, 10, 20, 20, 30, 30, 40, 40]);
    p.forward(x, B, T, 1);
    expect(Array.from(x.data)).toEqual([11, 12, 23, 24, 31, 32, 43, 44]);
    p.backward(ref.tensorFrom([1, 1, 1, 1, 2, 2, 2, 2]), B, T, 1);
    expect(Array.from(p.table!.grad.data)).toEqual([0, 0, 3, 3, 3, 3, 0, 0]);
    expect(() => p.forward(x, B, T, 3)).toThrow(/context length 4/);
  });

  it('sinusoidal: sin/cos pairs at geometric frequencies, no parameters', () => {
    const t = sinusoidalTable(5, 4);
    expect(t[0]).toBe(0);
    expect(t[1]).toBe(1);
    expect(t[3 * 4 + 0]).toBeCloseTo(Math.sin(3), 15);
    expect(t[3 * 4 + 1]).toBeCloseTo(Math.cos(3), 15);
    expect(t[3 * 4 + 2]).toBeCloseTo(Math.sin(3 / 100), 15);
    expect(t[3 * 4 + 3]).toBeCloseTo(Math.cos(3 / 100), 15);
    const p = new Positional(ref, 'pos', 5, 4, new Rng(1), { kind: 'sinusoidal' });
    expect(p.params).toEqual([]);
    const x = ref.tensor(8);
    p.forward(x, 1, 2, 3);
    expect(Array.from(x.data)).toEqual(Array.from(t.slice(12, 20)));
  });
});
