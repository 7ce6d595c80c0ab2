import { describe, expect, it } from 'vitest';
import { runTask } from '../../src/tasks/registry.js';
import { bestLineAccuracy } from '../../src/tasks/xor.js';
import { GATES } from '../../src/tasks/gates.js';

describe('task xor', () => {
  it('the MLP reaches 100%; the perceptron stays at or below 75% (50% in practice)', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await runTask('xor', { seed });
      expect(r.task).toBe('xor');
      expect(r.value).toBe(1);
      expect((r.mlp as { predictions: number[] }).predictions).toEqual([0, 1, 1, 0]);
      const p = r.perceptron as { accuracy: number; loss: number };
      expect(p.accuracy).toBeLessThanOrEqual(0.75);
      expect(p.accuracy).toBe(0.5);
      // The best logistic fit of XOR is p = 0.5 everywhere: loss ln 2.
      expect(p.loss).toBeCloseTo(Math.LN2, 6);
      expect(r.bestLineAccuracy).toBe(0.75);
      expect(r.passed).toBe(true);
    }
  });

  it('no straight line separates XOR, but one separates each of the other gates', () => {
    expect(bestLineAccuracy(GATES.XOR)).toBe(0.75);
    for (const g of ['AND', 'OR', 'NAND', 'NOR']) expect(bestLineAccuracy(GATES[g]), g).toBe(1);
  });

  it('is deterministic given the seed', async () => {
    expect(await runTask('xor', { seed: 7, steps: 100 })).toEqual(await runTask('xor', { seed: 7, steps: 100 }));
    expect((await runTask('xor', { seed: 7, steps: 100 })).mlp).not.toEqual((await runTask('xor', { seed: 8, steps: 100 })).mlp);
  });
});
