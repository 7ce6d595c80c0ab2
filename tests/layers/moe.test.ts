// The sparse Mixture-of-Experts layer on the ops interface (src/layers/moe.ts): its registered
// gradient checks; dropless vs capacity; the forward against a token-by-token host computation;
// sparse activation (an unchosen expert gets exactly zero gradient and zero MACs); capacity
// priority; the balancing loss evening out a skewed router; recompute on/off bit-identical; and
// the WASM backend against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { MixtureOfExperts, MoeScratch, type MoeOptions } from '../../src/layers/moe.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { MOE_CHECKS } from '../../src/gradcheck/moe-checks.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

/** A layer and an input x [n, C] (values N(0,1), or `fill(t, c)`). */
function setup(opts: MoeOptions, n: number, C = 4, F = 6, E = 4, seed = 1, fill?: (t: number, c: number) => number, o: Ops = ops) {
  const rng = new Rng(seed);
  const moe = new MixtureOfExperts(o, 'moe', C, F, E, rng, opts);
  const x = o.tensor(n * C);
  if (fill) for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) x.data[t * C + c] = fill(t, c);
  else rng.fillNormal(x.data);
  return { moe, x, y: o.tensor(n * C), dy: o.tensor(n * C), dx: o.tensor(n * C), rng };
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** expert e's SwiGLU on one row, computed on the host from the stacked weights. */
function expertRow(moe: MixtureOfExperts, e: number, x: ArrayLike<number>): Float64Array {
  const C = moe.dim, F = moe.hidden, w13 = moe.W13.value.data, w2 = moe.W2.value.data;
  const h = new Float64Array(F);
  for (let f = 0; f < F; f++) {
    let a = 0, b = 0;
    for (let c = 0; c < C; c++) {
      a += x[c] * w13[(e * C + c) * 2 * F + f];
      b += x[c] * w13[(e * C + c) * 2 * F + F + f];
    }
    h[f] = silu(a) * b;
  }
  const out = new Float64Array(C);
  for (let c = 0; c < C; c++) for (let f = 0; f < F; f++) out[c] += h[f] * w2[(e * F + f) * C + c];
  return out;
}

describe('mixture of experts (ops interface)', () => {
  it.each(MOE_CHECKS.map((d) => d.name))("passes the registered gradient check '%s'", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.length).toBeGreaterThan(0);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('keeps its experts stacked: two expert tensors whatever E', () => {
    const { moe } = setup({ topK: 2 }, 4, 4, 6, 8);
    expect(moe.params.map((p) => [p.name, p.shape])).toEqual([
      ['moe.router.W', [4, 8]], ['moe.W13', [8, 4, 12]], ['moe.W2', [8, 6, 4]]]);
    const dense = new MixtureOfExperts(ops, 'ffn', 4, 6, 1, new Rng(1), { dense: true });
    expect(dense.params.map((p) => [p.name, p.shape])).toEqual([['ffn.W13', [4, 12]], ['ffn.W2', [6, 4]]]);
  });

  it('rejects bad sizes and a scratch of the wrong shape with clear errors', () => {
    expect(() => new MixtureOfExperts(ops, 'm', 4, 6, 1, new Rng(1), { topK: 2 })).toThrow(/fewer than topK/);
    expect(() => new MixtureOfExperts(ops, 'm', 4, 6, 4, new Rng(1), { topK: 3 as 2 })).toThrow(/topK must be 1 or 2/);
    expect(() => new MixtureOfExperts(ops, 'm', 4, 6, 4, new Rng(1), { dense: true })).toThrow(/dense mode has one FFN/);
    expect(() => new MixtureOfExperts(ops, 'm', 4, 6, 4, new Rng(1), { capacityFactor: 0 })).toThrow(/capacityFactor/);
    expect(() => new MixtureOfExperts(ops, 'm', 4, 6, 4, new Rng(1), { scratch: new MoeScratch(ops, 4, 7, 4, 2) })).toThrow(/scratch/);
    const { moe, x, y, dy, dx } = setup({}, 5);
    moe.forward(x, y, 5);
    expect(() => moe.backward(x, dy, dx, 4)).toThrow(/last forward had 5/);
  });

  it('capacity 0.5 drops assignments at forward time; dropless keeps all n·k', () => {
    const cap = setup({ topK: 2, capacityFactor: 0.5 }, 8);
    cap.moe.forward(cap.x, cap.y, 8);
    expect(cap.moe.capacity(8)).toBe(2);
    expect(cap.moe.counters.dropped).toBeGreaterThan(0);
    expect(Math.max(...cap.moe.lastCounts)).toBeLessThanOrEqual(2);
    expect(cap.moe.counters.dropped).toBe(16 - cap.moe.lastCounts.reduce((a, b) => a + b, 0));
    // dropless, same layer: every assignment kept.
    cap.moe.forward(cap.x, cap.y, 8, { dropless: true });
    expect(cap.moe.lastCounts.reduce((a, b) => a + b, 0)).toBe(16);
    // Sampling (dropless, uncounted) skips the host read of the counts (lastCounts is left as it
    // was; on a GPU a decoded token then never synchronises) and the auxiliary losses.
    const y0 = Array.from(cap.y.data);
    cap.moe.lastCounts.fill(-1);
    cap.moe.forward(cap.x, cap.y, 8, { dropless: true, count: false });
    expect(Array.from(cap.moe.lastCounts)).toEqual(new Array(cap.moe.lastCounts.length).fill(-1));
    expect(cap.moe.auxLoss).toBe(0);
    expect(Array.from(cap.y.data)).toEqual(y0); // the same output as the counted dropless forward
    const free = setup({ topK: 2 }, 8);
    free.moe.forward(free.x, free.y, 8);
    expect(free.moe.counters.dropped).toBe(0);
    expect(free.moe.lastCounts.reduce((a, b) => a + b, 0)).toBe(16);
  });

  it.each([1, 2] as const)('top-%i forward equals Σ gate · expert(x_t), computed token by token on the host', (k) => {
    const n = 7, C = 4, E = 4;
    const { moe, x, y } = setup({ topK: k }, n);
    moe.forward(x, y, n);
    const W = moe.router!.W.value.data;
    for (let t = 0; t < n; t++) {
      const xt = x.data.subarray(t * C, t * C + C);
      const logit = Array.from({ length: E }, (_, e) => { let s = 0; for (let c = 0; c < C; c++) s += xt[c] * W[c * E + e]; return s; });
      const mx = Math.max(...logit), z = logit.reduce((s, l) => s + Math.exp(l - mx), 0);
      const p = logit.map((l) => Math.exp(l - mx) / z);
      const order = [...Array(E).keys()].sort((a, b) => p[b] - p[a] || a - b).slice(0, k);
      const sum = order.reduce((s, e) => s + p[e], 0);
      const want = new Float64Array(C);
      for (const e of order) {
        const out = expertRow(moe, e, xt), g = k === 2 ? p[e] / sum : p[e];
        for (let c = 0; c < C; c++) want[c] += g * out[c];
      }
      for (let c = 0; c < C; c++) expect(y.data[t * C + c]).toBeCloseTo(want[c], 12);
    }
  });

  it('sparse activation: an expert chosen by no token gets exactly zero gradient and executes no MACs', () => {
    const n = 9, C = 4, E = 4, F = 6;
    // Positive inputs and a strongly negative router column: expert 3's logit is ≤ −10·Σx.
    const { moe, x, y, dy, dx, rng } = setup({ topK: 2, balanceCoef: 0.1, zLossCoef: 0.01 }, n, C, F, E, 2,
      (t, c) => 0.5 + 0.1 * ((t * 7 + c * 3) % 5));
    for (let c = 0; c < C; c++) moe.router!.W.value.data[c * E + 3] = -10;
    rng.fillNormal(dy.data);
    moe.forward(x, y, n);
    moe.backward(x, dy, dx, n);
    expect(moe.lastCounts[3]).toBe(0);
    expect(moe.counters.tokensPerExpert[3]).toBe(0);
    const g13 = moe.W13.grad.data, g2 = moe.W2.grad.data;
    const block13 = 2 * C * F, block2 = F * C;
    expect(Array.from(g13.subarray(3 * block13, 4 * block13)).every((v) => v === 0)).toBe(true);
    expect(Array.from(g2.subarray(3 * block2, 4 * block2)).every((v) => v === 0)).toBe(true);
    for (let e = 0; e < 3; e++) {
      if (moe.lastCounts[e] === 0) continue;
      expect(Array.from(g13.subarray(e * block13, (e + 1) * block13)).some((v) => v !== 0), `expert ${e}`).toBe(true);
      expect(Array.from(g2.subarray(e * block2, (e + 1) * block2)).some((v) => v !== 0), `expert ${e}`).toBe(true);
    }
    // Multiply-adds: 3·C·F per kept assignment, n·k of them; shares from the same counts.
    expect(moe.counters.expertForwardMacs).toBe(3 * C * F * n * 2);
    expect(moe.counters.expertBackwardMacs).toBe(6 * C * F * n * 2);
    const shares = moe.tokenShares();
    expect(shares[3]).toBe(0);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('capacity: over-capacity assignments are dropped in priority order (first choices, then token order)', () => {
    const n = 8, C = 4, E = 4;
    // Every token prefers expert 0: a large positive router column 0 and positive inputs.
    const fill = (t: number, c: number) => 0.5 + 0.05 * ((t + 2 * c) % 3);
    const capped = setup({ topK: 1, capacityFactor: 1 }, n, C, 6, E, 5, fill);
    const free = setup({ topK: 1 }, n, C, 6, E, 5, fill);
    for (const s of [capped, free]) for (let c = 0; c < C; c++) s.moe.router!.W.value.data[c * E] = 5;
    capped.moe.forward(capped.x, capped.y, n);
    free.moe.forward(free.x, free.y, n);
    const cap = capped.moe.capacity(n); // ceil(1 · 8 · 1 / 4) = 2
    expect(cap).toBe(2);
    expect([...free.moe.lastCounts]).toEqual([n, 0, 0, 0]);
    expect([...capped.moe.lastCounts]).toEqual([cap, 0, 0, 0]);
    expect(capped.moe.counters.dropped).toBe(n - cap);
    expect(capped.moe.counters.routedPerExpert[0]).toBe(n);
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
    for (let c = 0; c < C; c++) { two.moe.router!.W.value.data[c * E] = 5; two.moe.router!.W.value.data[c * E + 1] = 4; }
    two.moe.forward(two.x, two.y, n);
    expect([...two.moe.lastCounts]).toEqual([2, 2, 0, 0]);
    expect(two.moe.counters.routedPerExpert[0]).toBe(n);
    expect(two.moe.counters.routedPerExpert[1]).toBe(n);
  });

  it('the balancing loss lowers the largest expert share on a skewed input (router trained with vs without it)', () => {
    const n = 64, C = 6, E = 4, steps = 120, lr = 0.5, tail = 40;
    // Returns the max expert share before training and its mean over the last `tail` steps (top-1
    // routing with a balance loss oscillates as tokens hop between experts, so one step is noisy).
    function train(balanceCoef: number): { before: number; late: number } {
      const rng = new Rng(11);
      const moe = new MixtureOfExperts(ops, 'moe', C, 8, E, rng, { topK: 1, balanceCoef });
      const router = moe.router!;
      // Skewed: every token is a shared direction plus small noise, and the router favours expert 0.
      const x = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C), dx = ops.tensor(n * C);
      for (let t = 0; t < n; t++) for (let c = 0; c < C; c++) x.data[t * C + c] = 1 + 0.5 * rng.normal();
      for (let c = 0; c < C; c++) router.W.value.data[c * E] += 0.5;
      const maxShare = () => Math.max(...moe.lastCounts) / n;
      moe.forward(x, y, n);
      const before = maxShare();
      // Task: keep the initial outputs (plus a little noise): its gradient alone does not rebalance.
      const target = Float64Array.from(y.data, (v) => v + 0.01 * rng.normal());
      let late = 0;
      for (let s = 0; s < steps; s++) {
        for (const p of moe.params) ops.fill(p.grad, 0);
        moe.forward(x, y, n);
        if (s >= steps - tail) late += maxShare() / tail;
        for (let i = 0; i < n * C; i++) dy.data[i] = 2 * (y.data[i] - target[i]) / n;
        moe.backward(x, dy, dx, n);
        ops.axpy(-lr, router.W.grad, router.W.value); // only the router is trained
      }
      return { before, late };
    }
    const without = train(0), withBal = train(1);
    expect(without.before).toBeGreaterThan(0.7);
    expect(withBal.before).toBe(without.before);
    expect(without.late).toBeGreaterThan(0.95);
    expect(withBal.late).toBeLessThan(0.7);
  });

  it.each([false, true])('recompute on and off give bit-identical outputs and gradients (dense %s)', (dense) => {
    const n = 10, C = 6, F = 5, E = dense ? 1 : 4;
    const opts: MoeOptions = dense ? { dense: true } : { topK: 2, capacityFactor: 0.75, balanceCoef: 0.2, zLossCoef: 0.01 };
    const [a, b] = [false, true].map((recompute) => {
      const s = setup({ ...opts, recompute }, n, C, F, E, 4);
      new Rng(5).fillNormal(s.dy.data);
      s.moe.forward(s.x, s.y, n);
      s.moe.backward(s.x, s.dy, s.dx, n);
      return [...s.y.data, s.moe.auxLoss, ...s.dx.data, ...s.moe.params.flatMap((p) => [...p.grad.data])];
    });
    expect(b).toEqual(a);
  });

  it('with recompute, layers sharing one scratch set still get their own gradients', () => {
    const n = 6, C = 4, F = 5, E = 4;
    const scratch = new MoeScratch(ops, C, F, E, 2);
    const run = (shared: boolean) => {
      const rng = new Rng(21);
      const l1 = new MixtureOfExperts(ops, 'a', C, F, E, rng, { recompute: true, scratch: shared ? scratch : undefined });
      const l2 = new MixtureOfExperts(ops, 'b', C, F, E, rng, { recompute: true, scratch: shared ? scratch : undefined });
      const x = ops.tensor(n * C), h = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C);
      const dh = ops.tensor(n * C), dx = ops.tensor(n * C);
      rng.fillNormal(x.data); rng.fillNormal(dy.data);
      l1.forward(x, h, n); l2.forward(h, y, n);
      l2.backward(h, dy, dh, n); l1.backward(x, dh, dx, n);
      return [...y.data, ...dx.data, ...l1.params.flatMap((p) => [...p.grad.data]), ...l2.params.flatMap((p) => [...p.grad.data])];
    };
    expect(run(true)).toEqual(run(false));
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
      return [...y.data, ...dx.data, moe.auxLoss, ...moe.router!.W.grad.data, ...moe.W13.grad.data, ...moe.W2.grad.data];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });
});
