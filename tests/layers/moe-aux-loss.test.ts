// ops.moeAuxLoss (the MoE balance and z-losses, balanceGrad and kept/routed counts of one forward,
// computed on the backend so a training forward reads nothing back) against a plain host loop, on
// the reference backend (f64 and f32), the WASM backend and CudaOps over the emulated addon (which
// checks the argument order across the N-API boundary); ragged n and E, k = 1 and 2, capacity and
// dropless plans, zero coefficients, running totals on and off; and its size checks.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { emulatedAddon } from '../backends/cuda-emulated-addon.js';
import { rng } from '../backends/seeded.js';

let backends: [string, Ops][];
beforeAll(async () => {
  backends = [
    ['reference-f64', new ReferenceOps('f64')],
    ['reference-f32', new ReferenceOps('f32')],
    ['wasm', await createOps({ backend: 'wasm', threads: 1 })],
    ['cuda-emulated', new CudaOps(emulatedAddon(1 << 22), 'Emulated')],
  ];
});

interface Case { n: number; E: number; k: 1 | 2; capacity: number; alpha: number; beta: number; accumulate: boolean }

/** Random softmax rows, lse values, a routing and its plan counts (as moePlan would write them). */
function inputs(c: Case, seed: number) {
  const r = rng(seed), { n, E, k } = c;
  const probs = new Float64Array(n * E), lse = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let e = 0; e < E; e++) s += (probs[t * E + e] = Math.exp(4 * r() - 2));
    for (let e = 0; e < E; e++) probs[t * E + e] /= s;
    lse[t] = 6 * r() - 3;
  }
  const routed = new Int32Array(E);
  for (let t = 0; t < n; t++) {
    const e0 = Math.floor(r() * E);
    routed[e0]++;
    if (k === 2) routed[(e0 + 1 + Math.floor(r() * (E - 1))) % E]++;
  }
  const offsets = new Int32Array(E + 1);
  for (let e = 0; e < E; e++) offsets[e + 1] = offsets[e] + (c.capacity < 0 ? routed[e] : Math.min(routed[e], c.capacity));
  // Earlier totals, as after a few forwards.
  const loss0 = [r(), r(), r(), r()], counts0 = Int32Array.from({ length: 4 * E }, () => Math.floor(100 * r()));
  return { probs, lse, routed, offsets, loss0, counts0 };
}

/** What the op must write, by the definition in Ops.moeAuxLoss, in double. */
function expected(c: Case, x: ReturnType<typeof inputs>) {
  const { n, E, k, alpha, beta, accumulate } = c;
  const grad = new Float64Array(E);
  let balance = 0, z = 0;
  for (let e = 0; e < E; e++) {
    const f = x.routed[e] / (n * k);
    let P = 0;
    for (let t = 0; t < n; t++) P += x.probs[t * E + e] / n;
    balance += alpha * E * f * P;
    grad[e] = alpha * E * f / n;
  }
  for (let t = 0; t < n; t++) z += beta * x.lse[t] ** 2 / n;
  const loss = [balance, z, x.loss0[2] + (accumulate ? balance : 0), x.loss0[3] + (accumulate ? z : 0)];
  const counts = Array.from(x.counts0);
  for (let e = 0; e < E; e++) {
    const kept = x.offsets[e + 1] - x.offsets[e];
    counts[e] = kept;
    counts[E + e] = x.routed[e];
    if (accumulate) { counts[2 * E + e] += kept; counts[3 * E + e] += x.routed[e]; }
  }
  return { grad, loss, counts };
}

const CASES: Case[] = [
  { n: 1, E: 2, k: 1, capacity: -1, alpha: 0.5, beta: 0.1, accumulate: true },
  { n: 7, E: 3, k: 2, capacity: -1, alpha: 0.01, beta: 0.001, accumulate: true },
  { n: 37, E: 5, k: 1, capacity: 4, alpha: 1, beta: 0, accumulate: false },
  { n: 64, E: 8, k: 2, capacity: 10, alpha: 0, beta: 0.02, accumulate: true },
  { n: 129, E: 13, k: 2, capacity: -1, alpha: 0, beta: 0, accumulate: false },
];

describe('ops.moeAuxLoss', () => {
  it.each(CASES)('matches the definition: n $n, E $E, k $k, capacity $capacity, α $alpha, β $beta, accumulate $accumulate', (c) => {
    for (const [name, ops] of backends) {
      const x = inputs(c, c.n * 31 + c.E);
      const want = expected(c, x);
      const tol = ops.dtype === 'f64' ? 1e-12 : 2e-6;
      const mark = ops.mark();
      const probs = ops.tensorFrom(x.probs), lse = ops.tensorFrom(x.lse);
      const offsets = ops.intsFrom(x.offsets), routed = ops.intsFrom(x.routed);
      const grad = ops.tensorFrom(new Array(c.E).fill(NaN)); // overwritten, stale values must not leak
      // Views at an offset, as the model hands each layer a slice of one tensor.
      const lossAll = ops.tensorFrom([9, ...x.loss0]), countsAll = ops.intsFrom([7, ...x.counts0]);
      const loss = lossAll.view(1, 4), counts = countsAll.view(1, 4 * c.E);
      ops.moeAuxLoss(probs, lse, offsets, routed, c.n, c.E, c.k, c.alpha, c.beta, grad, loss, counts, c.accumulate);
      const g = Array.from(grad.data), l = Array.from(loss.data), cn = Array.from(counts.data);
      want.grad.forEach((v, e) => expect(Math.abs(g[e] - v), `${name} balanceGrad[${e}]`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v))));
      want.loss.forEach((v, i) => expect(Math.abs(l[i] - v), `${name} loss[${i}]`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v))));
      expect(cn, name).toEqual(want.counts);
      expect(lossAll.data[0], `${name}: the view's neighbour`).toBe(9);
      expect(countsAll.data[0], `${name}: the view's neighbour`).toBe(7);
      if (c.alpha === 0) expect(g.every((v) => v === 0) && l[0] === 0, `${name}: α = 0 gives exact zeros`).toBe(true);
      if (c.beta === 0) expect(l[1], `${name}: β = 0 gives an exact zero`).toBe(0);
      ops.release(mark);
    }
  });

  it('rejects bad sizes and arguments with clear errors', () => {
    for (const [name, ops] of backends) {
      const n = 4, E = 3, mark = ops.mark();
      const probs = ops.tensor(n * E), lse = ops.tensor(n), offsets = ops.ints(E + 1), routed = ops.ints(E);
      const grad = ops.tensor(E), loss = ops.tensor(4), counts = ops.ints(4 * E);
      const call = (o: Partial<{ n: number; E: number; k: number; alpha: number; probs: typeof probs; loss: typeof loss; counts: typeof counts; acc: boolean }>) =>
        () => ops.moeAuxLoss(o.probs ?? probs, lse, offsets, routed, o.n ?? n, o.E ?? E, o.k ?? 2, o.alpha ?? 0.1, 0.01, grad,
          o.loss ?? loss, o.counts ?? counts, o.acc ?? true);
      expect(call({}), name).not.toThrow();
      expect(call({ k: 3 }), name).toThrow(/moeAuxLoss: k must be 1 or 2/);
      expect(call({ E: 1 }), name).toThrow(/cannot give k = 2/);
      expect(call({ probs: ops.tensor(n * E - 1) }), name).toThrow(/moeAuxLoss: probs holds 11 elements, needs n·E = 12/);
      expect(call({ loss: ops.tensor(2) }), name).toThrow(/loss holds 2 elements, needs 4 \(accumulate\)/);
      expect(call({ loss: ops.tensor(2), counts: ops.ints(2 * E), acc: false }), name).not.toThrow();
      expect(call({ counts: ops.ints(2 * E) }), name).toThrow(/counts holds 6 elements, needs 4E \(accumulate\) = 12/);
      expect(call({ alpha: NaN }), name).toThrow(/must be finite/);
      ops.release(mark);
    }
  });
});
