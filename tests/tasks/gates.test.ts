import { describe, expect, it } from 'vitest';
import { runTask } from '../../src/tasks/registry.js';

type Fit = { accuracy: number; predictions: number[] };

describe('task gates', () => {
  it('the MLP learns all five gates; the perceptron all but XOR', async () => {
    const r = await runTask('gates', { seed: 1 });
    const gates = r.gates as Record<string, { perceptron: Fit; mlp: Fit }>;
    expect(Object.keys(gates)).toEqual(['AND', 'OR', 'NAND', 'NOR', 'XOR']);
    for (const [name, g] of Object.entries(gates)) {
      expect(g.mlp.accuracy, `${name} mlp`).toBe(1);
      if (name === 'XOR') expect(g.perceptron.accuracy).toBeLessThanOrEqual(0.75);
      else expect(g.perceptron.accuracy, `${name} perceptron`).toBe(1);
    }
    expect(gates.AND.mlp.predictions).toEqual([0, 0, 0, 1]);
    expect(gates.NOR.perceptron.predictions).toEqual([1, 0, 0, 0]);
    expect(r.value).toBe(1);
    expect(r.passed).toBe(true);
  });

  it('still behaves with few steps (100), for other seeds', async () => {
    for (const seed of [2, 3]) expect((await runTask('gates', { seed, steps: 100 })).passed, `seed ${seed}`).toBe(true);
  });
});
