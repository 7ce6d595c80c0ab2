import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { runTask } from '../../src/tasks/registry.js';
import { AddingBatch, ADDING_BASELINE } from '../../src/tasks/adding.js';
import { Rng } from '../../src/util/rng.js';

describe('task adding', () => {
  it('the batch: two markers, one in each half; the target is the sum of the marked values', () => {
    const B = 4, T = 10;
    const b = new AddingBatch(new ReferenceOps('f64'), B, T).fill(new Rng(1));
    for (let r = 0; r < B; r++) {
      const marked = Array.from({ length: T }, (_, t) => t).filter((t) => b.x.data[(t * B + r) * 2 + 1] === 1);
      expect(marked).toHaveLength(2);
      expect(marked[0]).toBeLessThan(5);
      expect(marked[1]).toBeGreaterThanOrEqual(5);
      const sum = marked.reduce((s, t) => s + b.x.data[(t * B + r) * 2], 0);
      expect(b.y.data[(T - 1) * B + r]).toBeCloseTo(sum, 12);
    }
  });

  it('the baseline: always answering 1 scores MSE ≈ 1/6', () => {
    const B = 20000, T = 4;
    const b = new AddingBatch(new ReferenceOps('f64'), B, T).fill(new Rng(2));
    let s = 0;
    for (let r = 0; r < B; r++) s += (b.y.data[(T - 1) * B + r] - 1) ** 2;
    expect(s / B).toBeCloseTo(ADDING_BASELINE, 2);
  });

  it('the LSTM gets the MSE far below the 0.167 baseline (≤ 0.01, default steps)', async () => {
    const r = await runTask('adding', { seed: 1 });
    expect(r.baseline).toBeCloseTo(1 / 6, 12);
    expect(r.value).toBeLessThanOrEqual(0.01);
    expect(r.passed).toBe(true);
  });
});
