// The encoder–decoder tasks (src/tasks/seq2seq-tasks.ts): the ragged batches, the held-out set,
// and two full runs at default steps: reverse-seq2seq (attention ≥ 99%, and the measured
// comparison without attention, which falls off with length) and sort.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { runTask } from '../../src/tasks/registry.js';
import { LETTERS, PairBatch, TRANSLATE_TASK, type Problem } from '../../src/tasks/seq2seq-tasks.js';
import { Rng } from '../../src/util/rng.js';

const reverse: Problem = { minLen: 2, maxLen: 4, maxTarget: 4, symbols: '0123456789', target: (s) => s.slice().reverse() };

describe('seq2seq tasks', () => {
  it('a batch is time-major and ragged: sources padded with 0, targets end with eos and −1 after', () => {
    const B = 5, b = new PairBatch(new ReferenceOps('f64'), B, reverse).fill(new Rng(2));
    expect(b.S).toBe(Math.max(...b.sources.map((s) => s.length)));
    expect(b.T).toBe(b.S + 1);
    for (let r = 0; r < B; r++) {
      const s = b.sources[r];
      expect(b.srcLen[r]).toBe(s.length);
      expect(Array.from({ length: b.S }, (_, j) => b.src.data[j * B + r])).toEqual([...s, ...Array(b.S - s.length).fill(0)]);
      expect(Array.from({ length: b.T }, (_, t) => b.tgt.data[t * B + r])).toEqual([...s.slice().reverse(), 10, ...Array(b.T - s.length - 1).fill(-1)]);
    }
  });

  it('never trains on a held-out source', () => {
    const ops = new ReferenceOps('f64');
    const held = new PairBatch(ops, 300, reverse).fill(new Rng(1));
    const keys = new Set(held.sources.map((s) => s.join('')));
    const train = new PairBatch(ops, 300, reverse).fill(new Rng(2), keys);
    for (const s of train.sources) expect(keys.has(s.join(''))).toBe(false);
  });

  it('translate spells digits letter by letter', () => {
    expect(TRANSLATE_TASK.name).toBe('translate');
    const b = new PairBatch(new ReferenceOps('f64'), 1, { minLen: 2, maxLen: 2, maxTarget: 11, symbols: LETTERS, target: (s) => [...s.map((d) => ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][d]).join(' ')].map((c) => LETTERS.indexOf(c)) }).fill(new Rng(1));
    const s = b.sources[0], want = s.map((d) => ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][d]).join(' ');
    const got = Array.from({ length: want.length }, (_, t) => LETTERS[b.tgt.data[t]]).join('');
    expect(got).toBe(want);
  });

  it('reverse-seq2seq: attention reverses ≥ 99% of held-out 4–10 digit sources; without attention far fewer at length 10', async () => {
    const r = await runTask('reverse-seq2seq', { seed: 1 });
    expect(r.passed).toBe(true);
    expect(r.value).toBeGreaterThanOrEqual(0.99);
    const cmp = r.comparison as { accuracy: number; byLength: Record<number, number> };
    expect(cmp.accuracy).toBeLessThan(r.value);
    expect(cmp.byLength[10]).toBeLessThan(0.5);
    // the first example's alignment: one row per output token (and eos), each a distribution
    const a = r.alignment as number[][];
    expect(a.length).toBeGreaterThanOrEqual(5);
    for (const row of a) expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
    expect(r.notes.some((n) => n.includes('█'))).toBe(true);
  }, 120_000);

  it('sort: ≥ 95% of held-out sources sorted exactly (default steps)', async () => {
    const r = await runTask('sort', { seed: 2 });
    expect(r.passed).toBe(true);
  }, 120_000);
});
