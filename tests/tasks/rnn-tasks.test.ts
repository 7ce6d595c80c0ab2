// The vanilla-RNN tasks: next-value (sine prediction) and binary-memory (a bit across distractors).
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { runTask } from '../../src/tasks/registry.js';
import { SineBatch, NEXT_VALUE_WARMUP } from '../../src/tasks/next-value.js';
import { BitBatch } from '../../src/tasks/binary-memory.js';
import { Rng } from '../../src/util/rng.js';

describe('task next-value', () => {
  it('the batch: y is x one step ahead; the warm-up steps are not scored', () => {
    const B = 3, T = 8;
    const b = new SineBatch(new ReferenceOps('f64'), B, T).fill(new Rng(1));
    for (let t = 0; t + 1 < T; t++) for (let r = 0; r < B; r++) expect(b.y.data[t * B + r]).toBeCloseTo(b.x.data[(t + 1) * B + r], 12);
    for (let t = 0; t < T; t++) expect(b.mask.data[t * B]).toBe(t >= NEXT_VALUE_WARMUP ? 1 : 0);
  });

  it('the RNN predicts the next value with MSE ≤ 1e-3, far below repeating the last value', async () => {
    const r = await runTask('next-value', { seed: 1 });
    expect(r.value).toBeLessThanOrEqual(1e-3);
    expect(r.value).toBeLessThan((r.persistenceMse as number) / 20);
    expect(r.passed).toBe(true);
  });
});

describe('task binary-memory', () => {
  it('the batch: the first bit is flagged and is the only target', () => {
    const B = 5;
    const b = new BitBatch(new ReferenceOps('f64'), B, 3).fill(new Rng(2));
    for (let r = 0; r < B; r++) {
      expect(b.x.data[r * 2 + 1]).toBe(1);
      expect(b.targets.data[3 * B + r]).toBe(b.x.data[r * 2] > 0 ? 1 : 0);
      for (let t = 0; t < 3; t++) expect(b.targets.data[t * B + r]).toBe(-1);
    }
  });

  it('the RNN recalls the bit on 100% of held-out sequences, the same way for the same seed', async () => {
    const r = await runTask('binary-memory', { seed: 1 });
    expect(r.value).toBe(1);
    expect(r.passed).toBe(true);
    expect(await runTask('binary-memory', { seed: 1 })).toEqual(r);
  });
});
