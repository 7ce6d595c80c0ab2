// CachedWindow (src/models/cached-window.ts): the KV-cached sliding-window sampling of the
// transformers. It has no parameters and no backward pass, so there is no gradient check of its own
// (the models that use it are gradient-checked in transformer.test.ts and moe-transformer tests);
// what is checked here is the window bookkeeping against a fake model whose logits say exactly which
// tokens, at which positions, it was fed.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CachedWindow, type CachedForward } from '../../src/models/cached-window.js';
import type { IntTensor } from '../../src/ops/types.js';

const ops = new ReferenceOps('f64');
const V = 16;

/**
 * A model whose cache is a list of (position, token) pairs and whose last-row logits are one-hot at
 * (sum of cached tokens + last position) mod V, so the log-probabilities reveal what it has seen.
 */
function fakeModel() {
  let cache: [number, number][] = [];
  const calls: { ids: number[]; pos: number }[] = [];
  const forward: CachedForward = (ids: IntTensor, n: number, pos: number) => {
    const got = Array.from(ids.data.subarray(0, n));
    calls.push({ ids: got, pos });
    if (pos === 0) cache = [];
    expect(pos).toBe(cache.length); // appends continue exactly where the cache ends
    got.forEach((t, i) => cache.push([pos + i, t]));
    const logits = ops.tensor(n * V);
    ops.fill(logits, -30);
    const hot = (cache.reduce((s, [, t]) => s + t, 0) + cache[cache.length - 1][0]) % V;
    logits.data[(n - 1) * V + hot] = 30;
    return logits;
  };
  return { forward, calls, seen: () => cache.map(([, t]) => t) };
}
const argmax = (lp: Float64Array) => lp.indexOf(Math.max(...lp));

describe('CachedWindow', () => {
  it('appends new tokens to the cache while they fit, then slides the window and rebuilds at position 0', () => {
    const m = fakeModel(), w = new CachedWindow(4, V, ops.ints(4));
    w.next([1, 2], m.forward);
    w.next([3], m.forward);
    expect(m.calls.map((c) => c.pos)).toEqual([0, 2]); // the second call fed one token at position 2
    w.next([4], m.forward);
    const lp = w.next([5, 6], m.forward); // 6 tokens > context 4: the last 4, rebuilt from position 0
    expect(m.calls[m.calls.length - 1]).toEqual({ ids: [3, 4, 5, 6], pos: 0 });
    expect(m.seen()).toEqual([3, 4, 5, 6]);
    expect(argmax(lp)).toBe((3 + 4 + 5 + 6 + 3) % V);
    expect(lp.reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 12); // a log-softmax row
  });

  it('with no new tokens recomputes the last position; empty and reset give the uniform distribution', () => {
    const m = fakeModel(), w = new CachedWindow(8, V, ops.ints(8));
    expect(Array.from(w.next([], m.forward))).toEqual(Array(V).fill(-Math.log(V)));
    const a = w.next([7, 9], m.forward);
    const b = w.next([], m.forward);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(m.calls[m.calls.length - 1]).toEqual({ ids: [7, 9], pos: 0 });
    w.reset();
    expect(Array.from(w.next([], m.forward))).toEqual(Array(V).fill(-Math.log(V)));
  });
});
