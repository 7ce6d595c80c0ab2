// Associative recall (src/tasks/associative-recall.ts): N key→value writes, then queries, read by
// softmax attention, Hebbian and delta-rule linear memories and the continuum memory (fixed identity
// projections, no training). Asserts the orderings measured at seed 1 and explained in the task file.
import { describe, expect, it } from 'vitest';
import { runTask } from '../../src/tasks/registry.js';
import { drawSequence, type RecallRow } from '../../src/tasks/associative-recall.js';
import { Rng } from '../../src/util/rng.js';

describe('task associative-recall', () => {
  it('overwrite sequences: one-hot keys, each distinct key queried once, answer = the last value written to it', () => {
    const { keys, queries } = drawSequence('overwrite', 32, 16, new Rng(2));
    expect(keys.every((k) => k.reduce((a, b) => a + b, 0) === 1)).toBe(true);
    expect(queries.length).toBeLessThan(32); // 32 draws from 16 keys repeat
    for (const { q, answer } of queries) {
      expect(keys[answer]).toBe(q);
      for (let j = answer + 1; j < 32; j++) expect(keys[j].join()).not.toBe(q.join());
    }
  });

  it('the table: orthogonal keys exact for every memory, softmax exact for distinct keys, the delta rule exact under overwrites', async () => {
    const t0 = performance.now();
    const r = await runTask('associative-recall', { seed: 1 });
    expect((performance.now() - t0) / 1000).toBeLessThan(30);
    expect(r.task).toBe('associative-recall');
    expect(r.passed).toBe(true);
    const table = r.table as RecallRow[];
    const row = (k: string, n: number) => table.find((x) => x.keys === k && x.pairs === n)!;
    expect(table.map((x) => `${x.keys}${x.pairs}`)).toEqual(['orthogonal4', 'orthogonal8', 'orthogonal16',
      'random4', 'random8', 'random16', 'random32', 'overwrite4', 'overwrite8', 'overwrite16', 'overwrite32']);
    for (const x of table.filter((y) => y.keys === 'orthogonal')) {
      expect([x.softmax, x.hebbian, x.delta, x.continuum]).toEqual([1, 1, 1, 1]);
    }
    // Softmax attention keeps every pair: ≥ 99% with distinct keys even at 2× the matrix capacity.
    for (const x of table.filter((y) => y.keys !== 'overwrite')) expect(x.softmax).toBeGreaterThanOrEqual(0.99);
    // Overwrites: the delta rule erases before it writes (100%); Hebbian and softmax average the old values in.
    for (const n of [4, 8, 16, 32]) {
      const x = row('overwrite', n);
      expect(x.delta).toBe(1);
      expect(x.continuum).toBeGreaterThanOrEqual(0.99);
      expect(x.hebbian).toBeLessThan(0.95);
      expect(x.softmax).toBeLessThan(0.95);
    }
    expect(row('overwrite', 32).hebbian).toBeLessThan(0.65);
    // Interference grows with load for the matrix memories ...
    for (const m of ['hebbian', 'delta', 'continuum'] as const) {
      expect(row('random', 32)[m]).toBeLessThan(row('random', 16)[m]);
      expect(row('random', 16)[m]).toBeLessThan(row('random', 4)[m]);
    }
    // ... and on isotropic random keys one pass of the delta rule at η = 1 is a recency memory,
    // below Hebbian; the continuum memory (a delta level + near-Hebbian slow levels) lies between.
    for (const n of [16, 32]) {
      const x = row('random', n);
      expect(x.hebbian).toBeGreaterThan(x.delta + 0.1);
      expect(x.continuum).toBeGreaterThan(x.delta);
      expect(x.continuum).toBeLessThan(x.hebbian);
    }
    expect(r.value).toBe(1);
  });
});
