import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { clipGradNorm, gradNorm } from '../../src/train/clip.js';

const ops = new ReferenceOps('f64');

describe('clipGradNorm', () => {
  // Two tensors [3, 4] and [12]: global norm √(9 + 16 + 144) = √169 = 13.
  const grads = () => [ops.tensorFrom([3, 4]), ops.tensorFrom([12])];

  it('scales every tensor by maxNorm/norm so the global norm becomes exactly maxNorm', () => {
    const g = grads();
    expect(clipGradNorm(ops, g, 6.5)).toBe(13); // returns the norm before clipping
    // factor 6.5/13 = 0.5 on every tensor alike: the direction is kept
    expect(Array.from(g[0].data)).toEqual([1.5, 2]);
    expect(Array.from(g[1].data)).toEqual([6]);
    expect(gradNorm(ops, g)).toBeCloseTo(6.5, 12);
  });

  it('leaves gradients within the limit alone (the limit itself included)', () => {
    for (const maxNorm of [13, 100]) {
      const g = grads();
      expect(clipGradNorm(ops, g, maxNorm)).toBe(13);
      expect(Array.from(g[0].data)).toEqual([3, 4]);
      expect(Array.from(g[1].data)).toEqual([12]);
    }
  });

  it('handles a zero norm and an empty list', () => {
    const z = [ops.tensor(3)];
    expect(clipGradNorm(ops, z, 1)).toBe(0);
    expect(Array.from(z[0].data)).toEqual([0, 0, 0]);
    expect(clipGradNorm(ops, [], 1)).toBe(0);
  });

  it('returns a non-finite norm without touching the gradients', () => {
    const g = [ops.tensorFrom([NaN, 1]), ops.tensorFrom([5])];
    expect(clipGradNorm(ops, g, 1)).toBeNaN();
    expect(g[1].data[0]).toBe(5);
    const inf = [ops.tensorFrom([Infinity])];
    expect(clipGradNorm(ops, inf, 1)).toBe(Infinity);
  });

  it('rejects a non-positive maxNorm', () => {
    expect(() => clipGradNorm(ops, grads(), 0)).toThrow(/maxNorm must be > 0/);
    expect(() => clipGradNorm(ops, grads(), NaN)).toThrow(/maxNorm must be > 0/);
  });
});
