import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { RandomWindowBatcher, SequentialBatcher, createBatcher } from '../../src/data/batcher.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');
/** Token i has id i: a window's ids are its positions, so contiguity is easy to read off. */
const positions = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

function rows(b: { batch: { inputs: { data: Int32Array }; targets: { data: Int32Array }; batch: number; time: number } }) {
  const { batch: B, time: T } = b.batch;
  return Array.from({ length: B }, (_, r) => ({
    inputs: Array.from(b.batch.inputs.data.subarray(r * T, (r + 1) * T)),
    targets: Array.from(b.batch.targets.data.subarray(r * T, (r + 1) * T)),
  }));
}

describe('SequentialBatcher (truncated BPTT)', () => {
  // N = 103 tokens, B = 4 streams of L = ⌊102/4⌋ = 25 tokens, T = 6: 4 windows per epoch.
  const N = 103, B = 4, T = 6;

  it('hands out B contiguous streams, each call continuing where the last stopped', () => {
    const s = new SequentialBatcher(ops, positions(N), B, T);
    expect(s.streamLength).toBe(25);
    expect(s.windowsPerEpoch).toBe(4);
    const seen: number[][] = Array.from({ length: B }, () => []);
    for (let k = 0; k < s.windowsPerEpoch; k++) {
      s.next();
      rows(s).forEach((r, b) => {
        expect(r.targets).toEqual(r.inputs.map((x) => x + 1)); // the target is the next token
        seen[b].push(...r.inputs);
      });
    }
    // Row b walked stream b (starting at token b·L) without a gap or a repeat.
    seen.forEach((ids, b) => expect(ids).toEqual(Array.from({ length: 4 * T }, (_, i) => b * 25 + i)));
  });

  it('says when a window does not continue the last: the first call and after each wrap', () => {
    const s = new SequentialBatcher(ops, positions(N), B, T);
    const fresh: boolean[] = [];
    const first: number[][] = [];
    for (let k = 0; k < 9; k++) {
      fresh.push(s.next());
      if (k === 0) first.push(...rows(s).map((r) => r.inputs));
      if (k === 4) expect(rows(s).map((r) => r.inputs)).toEqual(first); // the second pass repeats the first
    }
    expect(fresh).toEqual([true, false, false, false, true, false, false, false, true]);
    // Two whole passes and one window of the third (4 windows a pass): the epoch counts fractions.
    expect(s.epoch).toBe(2.25);
  });

  it('fills the same preallocated tensors every call', () => {
    const s = new SequentialBatcher(ops, positions(N), B, T);
    const { inputs, targets } = s.batch;
    s.next(); s.next();
    expect(s.batch.inputs).toBe(inputs);
    expect(s.batch.targets).toBe(targets);
    expect(s.batch).toMatchObject({ batch: B, time: T });
    expect(inputs.size).toBe(B * T);
  });

  it('exports and imports its position', () => {
    const a = new SequentialBatcher(ops, positions(N), B, T);
    a.next(); a.next(); a.next();
    const state = JSON.parse(JSON.stringify(a.exportState()));
    expect(state).toEqual({ kind: 'sequential', tokens: N, batch: B, time: T, window: 3, epoch: 0 });
    const b = new SequentialBatcher(ops, positions(N), B, T);
    b.importState(state);
    for (let k = 0; k < 5; k++) {
      expect(b.next()).toBe(a.next());
      expect(rows(b)).toEqual(rows(a));
    }
    expect(() => new SequentialBatcher(ops, positions(N + 1), B, T).importState(state)).toThrow(/for 103 tokens in 4×6 batches/);
    expect(() => new RandomWindowBatcher(ops, positions(N), B, T, new Rng(1)).importState(state)).toThrow(/sequential batcher state into a random/);
  });

  it('refuses data shorter than one batch + 1', () => {
    expect(() => new SequentialBatcher(ops, positions(24), 4, 6)).toThrow(/24 tokens are fewer than one batch \+ 1 = 4×6 \+ 1 = 25/);
    expect(() => new SequentialBatcher(ops, positions(25), 4, 6)).not.toThrow();
  });
});

describe('RandomWindowBatcher', () => {
  const N = 500, B = 3, T = 7;

  it('draws contiguous windows inside the data, deterministically from the seed', () => {
    const a = new RandomWindowBatcher(ops, positions(N), B, T, new Rng(42));
    const b = new RandomWindowBatcher(ops, positions(N), B, T, new Rng(42));
    const c = new RandomWindowBatcher(ops, positions(N), B, T, new Rng(43));
    let differs = false;
    for (let k = 0; k < 50; k++) {
      expect(a.next()).toBe(true); // no window continues another
      b.next(); c.next();
      expect(rows(a)).toEqual(rows(b));
      if (JSON.stringify(rows(a)) !== JSON.stringify(rows(c))) differs = true;
      for (const r of rows(a)) {
        expect(r.inputs).toEqual(Array.from({ length: T }, (_, t) => r.inputs[0] + t));
        expect(r.targets).toEqual(r.inputs.map((x) => x + 1));
        expect(r.targets[T - 1]).toBeLessThan(N);
        expect(r.inputs[0]).toBeGreaterThanOrEqual(0);
      }
    }
    expect(differs).toBe(true);
  });

  it('exports and imports its position (the generator state)', () => {
    const a = createBatcher('random', ops, positions(N), B, T, new Rng(9));
    a.next(); a.next();
    const state = JSON.parse(JSON.stringify(a.exportState()));
    const b = createBatcher('random', ops, positions(N), B, T, new Rng(12345));
    b.importState(state);
    for (let k = 0; k < 5; k++) {
      a.next(); b.next();
      expect(rows(b)).toEqual(rows(a));
    }
    expect(b.epoch).toBeCloseTo((7 * B * T) / (N - 1));
  });
});
