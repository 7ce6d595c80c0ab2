// The sparse Mixture-of-Experts layer (src/layers/moe.ts): registered gradient checks 'moe-top1',
// 'moe-top2', 'moe-top2-aux', 'moe-top2-capacity', 'moe-top1-renorm-capacity'; sparse activation;
// dropless vs capacity; the balancing loss evening out a skewed router.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createOps } from '../../src/ops/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { MixtureOfExperts, type MoeOptions } from '../../src/layers/moe.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { MOE_CHECKS } from '../../src/gradcheck/moe-checks.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

function tensorNames(E: number): string[] {
  const names = ['moe.router.W'];
  for (let e = 0; e < E; e++) names.push(`moe.expert${e}.W1.W`, `moe.expert${e}.W3.W`, `moe.expert${e}.W2.W`);
  return [...names, 'x'];
}

/** A layer and an input x [n, C] (values N(0,1), or `fill(t, c)`). */
function setup(opts: MoeOptions, n: number, C = 4, F = 6, E = 4, seed = 1, fill?: (t: number, c: number) => number) {
  const rng = new Rng(seed);
  const moe = new MixtureOfExperts(ops, 'moe', C, F, E, rng, opts);
  const x = ops.tensor(n * C);
  if (fill) for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) x.data[t * C + c] = fill(t, c);
  else rng.fillNormal(x.data);
  return { moe, x, y: ops.tensor(n * C), dy: ops.tensor(n * C), dx: ops.tensor(n * C), rng };
}

describe('mixture of experts', () => {
  it.each(MOE_CHECKS.map((d) => d.name))("passes the registered gradient check '%s' (router, every expert, x)", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.map((t) => t.name)).toEqual(tensorNames(4));
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('capacity 0.5 drops assignments at forward time; dropless keeps all n·k', () => {
    const cap = setup({ topK: 2, capacityFactor: 0.5 }, 8);
    cap.moe.forward(cap.x, cap.y, 8);
    expect(cap.moe.capacity(8)).toBe(2);
    expect(cap.moe.counters.dropped).toBeGreaterThan(0);
    expect(Math.max(...cap.moe.lastCounts)).toBeLessThanOrEqual(2);
    const free = setup({ topK: 2 }, 8);
    free.moe.forward(free.x, free.y, 8);
    expect(free.moe.counters.dropped).toBe(0);
    expect(free.moe.lastCounts.reduce((a, b) => a + b, 0)).toBe(16);
  });

  it.each([1, 2] as const)('top-%i forward equals Σ gate · expert(x_t), computed token by token', (k) => {
    const n = 7, C = 4, E = 4;
    const { moe, x, y } = setup({ topK: k }, n);
    moe.forward(x, y, n);
    const l = ops.tensor(n * E);
    ops.gemm(false, false, n, E, C, 1, x, moe.router.W.value, 0, l);
    ops.softmax(l, l, n, E);
    const p = Float64Array.from(l.data);
    const row = ops.tensor(C), out = ops.tensor(C);
    for (let t = 0; t < n; t++) {
      const order = [...Array(E).keys()].sort((a, b) => p[t * E + b] - p[t * E + a] || a - b).slice(0, k);
      const sum = order.reduce((s, e) => s + p[t * E + e], 0);
      const want = new Float64Array(C);
      for (const e of order) {
        row.data.set(x.data.subarray(t * C, t * C + C));
        moe.experts[e].forward(row, out, 1);
        const g = k === 2 ? p[t * E + e] / sum : p[t * E + e];
        for (let c = 0; c < C; c++) want[c] += g * out.data[c];
      }
      for (let c = 0; c < C; c++) expect(y.data[t * C + c]).toBeCloseTo(want[c], 12);
    }
  });

  it('sparse activation: an expert chosen by no token is never run and gets exactly zero gradient', () => {
    const n = 9, C = 4, E = 4;
    // Positive inputs and a strongly negative router column: expert 3's logit is ≤ −10·Σx.
    const { moe, x, y, dy, dx, rng } = setup({ topK: 2, balanceCoef: 0.1, zLossCoef: 0.01 }, n, C, 6, E, 2,
      (t, c) => 0.5 + 0.1 * ((t * 7 + c * 3) % 5));
    for (let c = 0; c < C; c++) moe.router.W.value.data[c * E + 3] = -10;
    const spies = moe.experts.map((ex) => ({ f: vi.spyOn(ex, 'forward'), b: vi.spyOn(ex, 'backward') }));
    rng.fillNormal(dy.data);
    moe.forward(x, y, n);
    moe.backward(x, dy, dx, n);
    expect(moe.lastCounts[3]).toBe(0);
    expect(spies[3].f).not.toHaveBeenCalled();
    expect(spies[3].b).not.toHaveBeenCalled();
    for (const p of moe.experts[3].params) expect(p.grad.data.every((v) => v === 0), p.name).toBe(true);
    // Every used expert ran exactly once, as one batch of all its tokens.
    for (let e = 0; e < 3; e++) {
      if (moe.lastCounts[e] === 0) continue;
      expect(spies[e].f).toHaveBeenCalledTimes(1);
      expect(spies[e].f.mock.calls[0][2]).toBe(moe.lastCounts[e]);
      expect(moe.experts[e].params.some((p) => p.grad.data.some((v) => v !== 0))).toBe(true);
    }
    // Multiply-adds: 3·C·F per kept assignment, n·k of them; shares from the same counts.
    expect(moe.counters.expertForwardMacs).toBe(3 * C * 6 * n * 2);
    expect(moe.counters.expertBackwardMacs).toBe(6 * C * 6 * n * 2);
    const shares = moe.tokenShares();
    expect(shares[3]).toBe(0);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('capacity: over-capacity assignments are dropped in priority order (first choices, then token order); dropless keeps all', () => {
    const n = 8, C = 4, E = 4;
    // Every token prefers expert 0: a large positive router column 0 and positive inputs.
    const fill = (t: number, c: number) => 0.5 + 0.05 * ((t + 2 * c) % 3);
    const capped = setup({ topK: 1, capacityFactor: 1 }, n, C, 6, E, 5, fill);
    const free = setup({ topK: 1 }, n, C, 6, E, 5, fill);
    for (const s of [capped, free]) for (let c = 0; c < C; c++) s.moe.router.W.value.data[c * E] = 5;
    capped.moe.forward(capped.x, capped.y, n);
    free.moe.forward(free.x, free.y, n);
    const cap = capped.moe.capacity(n); // ceil(1 · 8 · 1 / 4) = 2
    expect(cap).toBe(2);
    expect([...free.moe.lastCounts]).toEqual([n, 0, 0, 0]);
    expect([...capped.moe.lastCounts]).toEqual([cap, 0, 0, 0]);
    expect(capped.moe.counters.dropped).toBe(n - cap);
    // The first `cap` tokens are kept, with the same output as dropless; the rest get exactly 0.
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < C; c++) {
        const v = capped.y.data[t * C + c];
        if (t < cap) expect(v).toBe(free.y.data[t * C + c]);
        else expect(v).toBe(0);
      }
    }
    // Dropped tokens get no gradient through the experts (no aux losses here, so none at all).
    new Rng(9).fillNormal(capped.dy.data);
    capped.moe.backward(capped.x, capped.dy, capped.dx, n);
    for (let t = cap; t < n; t++) for (let c = 0; c < C; c++) expect(capped.dx.data[t * C + c]).toBe(0);

    // Top-2: second choices yield to every first choice.
    const two = setup({ topK: 2, capacityFactor: 0.5 }, n, C, 6, E, 5, fill); // capacity 2
    for (let c = 0; c < C; c++) { two.moe.router.W.value.data[c * E] = 5; two.moe.router.W.value.data[c * E + 1] = 4; }
    two.moe.forward(two.x, two.y, n);
    expect([...two.moe.lastCounts]).toEqual([2, 2, 0, 0]);
    expect(two.moe.counters.routedPerExpert[0]).toBe(n);
    expect(two.moe.counters.routedPerExpert[1]).toBe(n);
  });

  it('the balancing loss lowers the largest expert share on a skewed input (router trained with vs without it)', () => {
    const n = 64, C = 6, E = 4, steps = 60, lr = 0.5;
    function train(balanceCoef: number): { before: number; after: number } {
      const rng = new Rng(11);
      const moe = new MixtureOfExperts(ops, 'moe', C, 8, E, rng, { topK: 1, balanceCoef });
      // Skewed: every token is a shared direction plus small noise, and the router favours expert 0.
      const x = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C), dx = ops.tensor(n * C);
      for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) x.data[t * C + c] = 1 + 0.5 * rng.normal();
      for (let c = 0; c < C; c++) moe.router.W.value.data[c * E] += 0.5;
      const maxShare = () => Math.max(...moe.lastCounts) / n;
      moe.forward(x, y, n);
      const before = maxShare();
      // Task: keep the initial outputs (plus a little noise): its gradient alone does not rebalance.
      const target = Float64Array.from(y.data, (v) => v + 0.01 * rng.normal());
      for (let s = 0; s < steps; s++) {
        for (const p of moe.params) ops.fill(p.grad, 0);
        moe.forward(x, y, n);
        // Task: mean squared error to a fixed target; only the router is trained.
        for (let i = 0; i < n * C; i++) dy.data[i] = 2 * (y.data[i] - target[i]) / n;
        moe.backward(x, dy, dx, n);
        ops.axpy(-lr, moe.router.W.grad, moe.router.W.value);
      }
      moe.forward(x, y, n);
      return { before, after: maxShare() };
    }
    const without = train(0), withBal = train(1);
    expect(without.before).toBeGreaterThan(0.7);
    expect(withBal.before).toBe(without.before);
    expect(withBal.after).toBeLessThan(without.after);
    expect(withBal.after).toBeLessThan(0.6);
  });

  it.each([1, 2] as const)('top-%i with capacity and aux losses matches the reference on the WASM backend, forward and backward', (k) => {
    const n = 11, C = 8, F = 10, E = 4;
    const [r, w] = [ops, wasm].map((o) => {
      const moe = new MixtureOfExperts(o, 'm', C, F, E, new Rng(6), { topK: k, capacityFactor: 1, balanceCoef: 0.2, zLossCoef: 0.01 });
      const x = o.tensor(n * C), y = o.tensor(n * C), dy = o.tensor(n * C), dx = o.tensor(n * C);
      new Rng(7).fillNormal(x.data);
      new Rng(8).fillNormal(dy.data);
      moe.forward(x, y, n);
      moe.backward(x, dy, dx, n);
      return [...y.data, ...dx.data, moe.auxLoss, ...moe.router.W.grad.data, ...moe.experts[0].W2.W.grad.data];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });
});
