import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { runTask } from '../../src/tasks/registry.js';
import { ReverseBatch } from '../../src/tasks/reverse.js';
import { Rng } from '../../src/util/rng.js';

describe('task reverse', () => {
  it('the batch: digits, a delimiter, blanks; targets are the digits reversed, only after the digits', () => {
    const B = 2, L = 4;
    const b = new ReverseBatch(new ReferenceOps('f64'), B, L).fill(new Rng(3));
    expect(b.T).toBe(8);
    const symbolAt = (t: number, r: number) => Array.from(b.x.data.subarray((t * B + r) * 12, (t * B + r + 1) * 12)).indexOf(1);
    for (let r = 0; r < B; r++) {
      const digits = Array.from(b.digits.subarray(r * L, (r + 1) * L));
      expect(Array.from({ length: b.T }, (_, t) => symbolAt(t, r))).toEqual([...digits, 10, 11, 11, 11]);
      expect(Array.from({ length: b.T }, (_, t) => b.targets.data[t * B + r])).toEqual([-1, -1, -1, -1, ...digits.reverse()]);
    }
  });

  it('never trains on a held-out sequence', () => {
    const ops = new ReferenceOps('f64');
    const held = new ReverseBatch(ops, 50, 2).fill(new Rng(1)); // 50 of the 100 two-digit sequences
    const keys = new Set(Array.from({ length: 50 }, (_, b) => held.key(b)));
    const train = new ReverseBatch(ops, 200, 2).fill(new Rng(2), keys);
    for (let b = 0; b < 200; b++) expect(keys.has(train.key(b))).toBe(false);
  });

  it('the LSTM reverses 100% of 1000 held-out sequences of 5 digits (default steps)', async () => {
    const r = await runTask('reverse', { seed: 1 });
    expect(r.value).toBe(1);
    expect(r.digitAccuracy).toBe(1);
    expect(r.passed).toBe(true);
  });
});
