import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { runTask } from '../../src/tasks/registry.js';
import { MemoryBatch, MEMORY_GOAL, MEMORY_NOISE_STEPS } from '../../src/tasks/memory.js';
import { Rng } from '../../src/util/rng.js';

describe('task memory', () => {
  it('the batch: the value with its flag at step 0, 14 noise steps, the value as the only scored target', () => {
    const b = new MemoryBatch(new ReferenceOps('f64'), 3).fill(new Rng(1));
    expect(b.T).toBe(MEMORY_NOISE_STEPS + 1);
    const x = b.x.data, B = 3, T = b.T;
    for (let r = 0; r < B; r++) {
      expect(x[r * 2 + 1]).toBe(1);
      for (let t = 1; t < T; t++) expect(x[(t * B + r) * 2 + 1]).toBe(0);
      expect(b.y.data[(T - 1) * B + r]).toBe(x[r * 2]);
      expect(b.mask.data[(T - 1) * B + r]).toBe(1);
    }
    expect(Array.from(b.mask.data).reduce((s, m) => s + m, 0)).toBe(B);
  });

  it('the LSTM recalls the first value with a mean absolute error ≤ 5e-4 (default steps)', async () => {
    const r = await runTask('memory', { seed: 1 });
    expect(r.metric).toMatch(/mean absolute error/);
    expect(r.value).toBeLessThanOrEqual(MEMORY_GOAL);
    expect(r.value).toBeGreaterThan(0);
    expect(r.passed).toBe(true);
    expect(r.noiseSteps).toBe(14);
  });
});
