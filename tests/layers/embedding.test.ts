// The token embedding layer (src/layers/embedding.ts) and its row-sparse optimizer updates
// (src/train/optimizers.ts): gradient checks, touched-row bookkeeping, lazy Adam leaving untouched
// rows and their moments bit-identical, and WASM against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Embedding, TouchedRows } from '../../src/layers/embedding.js';
import { RandomProjection, gradCheck } from '../../src/gradcheck/harness.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Adam, Sgd, type ParamRef } from '../../src/train/optimizers.js';
import { Rng } from '../../src/util/rng.js';

let wasm: Ops;
const ref = new ReferenceOps('f64');
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('Embedding layer', () => {
  it("passes the registered op check 'embedding' and a layer check with repeated ids", () => {
    const [r] = runGradChecks(['embedding']);
    expect(r.passed).toBe(true);
    const V = 7, D = 3, n = 6, rng = new Rng(1);
    const emb = new Embedding(ref, 'e', V, D, rng);
    const ids = ref.intsFrom([2, 5, 2, 0, 6, 2]);
    const out = ref.tensor(n * D), dout = ref.tensor(n * D);
    const proj = new RandomProjection(ref, n * D, rng);
    const res = gradCheck({
      name: 'embedding-layer',
      params: emb.params,
      loss() { emb.forward(ids, out, n); return proj.loss(out); },
      backward() { proj.backward(dout); emb.backward(dout, ids, n); },
    });
    expect(res.passed).toBe(true);
  });

  it('records each touched row once, in first-touch order', () => {
    const emb = new Embedding(ref, 'e', 9, 2, new Rng(1));
    const ids = ref.intsFrom([4, 1, 4, 8, 1]);
    emb.backward(ref.tensor(10), ids, 5);
    const rows = emb.table.rows;
    expect(rows.count).toBe(3);
    expect(Array.from(rows.ids.subarray(0, rows.count))).toEqual([4, 1, 8]);
    rows.clear();
    expect(rows.count).toBe(0);
    emb.backward(ref.tensor(4), ref.intsFrom([1, 1]), 2);
    expect(Array.from(rows.ids.subarray(0, rows.count))).toEqual([1]);
  });

  it('WASM matches the reference, forward and backward', () => {
    const V = 11, D = 5, n = 7;
    const idv = [3, 10, 3, 0, 7, 7, 1];
    const res = [wasm, ref].map((ops) => {
      const emb = new Embedding(ops, 'e', V, D, new Rng(3));
      const d = emb.table.value.data;
      for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i]);
      const ids = ops.intsFrom(idv), out = ops.tensor(n * D);
      emb.forward(ids, out, n);
      const dout = ops.tensorFrom(Array.from({ length: n * D }, (_, i) => Math.fround(Math.sin(i))));
      emb.backward(dout, ids, n);
      return { out: Array.from(out.data), grad: Array.from(emb.table.grad.data) };
    });
    res[0].out.forEach((v, i) => expect(v).toBe(Math.fround(res[1].out[i])));
    res[0].grad.forEach((v, i) => expect(v).toBeCloseTo(res[1].grad[i], 6));
  });
});

describe('row-sparse optimizer updates', () => {
  /** A [V, D] embedding with a gradient in the rows of `ids`, and its ParamRef. */
  function setup(ops: Ops, ids: number[]) {
    const V = 10, D = 6;
    const emb = new Embedding(ops, 'e', V, D, new Rng(4));
    const dout = ops.tensorFrom(Array.from({ length: ids.length * D }, (_, i) => Math.cos(i)));
    emb.backward(dout, ops.intsFrom(ids), ids.length);
    const p: ParamRef = { value: emb.table.value, grad: emb.table.grad, rows: emb.table.rows };
    return { emb, p, V, D };
  }

  for (const backend of ['reference', 'wasm'] as const) {
    it(`lazy Adam (${backend}): untouched rows and their moments stay bit-identical; touched rows get the dense update`, () => {
      const ops = backend === 'wasm' ? wasm : ref;
      const mark = ops.mark();
      try {
        const touched = [7, 2, 7, 5];
        const { p, V, D } = setup(ops, touched);
        const opt = new Adam(ops, { weightDecay: 0.01 });
        // Step 1 warms the moments of rows 2, 5, 7 only.
        opt.step([p], 1e-2);
        expect(p.rows!.count).toBe(0); // cleared after the step
        // Step 2 touches rows 0 and 5: a fresh gradient in those rows only.
        ops.fill(p.grad, 0);
        const g = p.grad.data;
        for (let c = 0; c < D; c++) { g[0 * D + c] = 0.3 - c * 0.1; g[5 * D + c] = 0.05 * c; }
        p.rows!.clear();
        (p.rows as TouchedRows).add(0);
        (p.rows as TouchedRows).add(5);
        const state = opt.exportState();
        const before = { w: Array.from(p.value.data), m: state.buffers.m[0], v: state.buffers.v[0] };
        // What a dense Adam at step 2 would do, from the same values and moments.
        const dense = new Adam(ops, { weightDecay: 0.01 });
        const q: ParamRef = { value: ops.tensorFrom(before.w), grad: ops.tensorFrom(Array.from(g)) };
        dense.importState({ ...state, buffers: { m: [before.m], v: [before.v] } });
        dense.step([q], 1e-2);
        opt.step([p], 1e-2);
        const after = opt.exportState(), denseAfter = dense.exportState();
        const w = Array.from(p.value.data), qw = Array.from(q.value.data);
        for (let r = 0; r < V; r++) {
          const sl = (a: number[]) => a.slice(r * D, (r + 1) * D);
          if (r === 0 || r === 5) {
            expect(sl(w), `row ${r} value`).toEqual(sl(qw));
            expect(sl(after.buffers.m[0]), `row ${r} m`).toEqual(sl(denseAfter.buffers.m[0]));
            expect(sl(after.buffers.v[0]), `row ${r} v`).toEqual(sl(denseAfter.buffers.v[0]));
            expect(sl(w)).not.toEqual(sl(before.w));
          } else {
            // Object.is per element: bit-identical (also for -0), not merely close.
            sl(w).forEach((x, i) => expect(Object.is(x, sl(before.w)[i]), `row ${r} value`).toBe(true));
            sl(after.buffers.m[0]).forEach((x, i) => expect(Object.is(x, sl(before.m)[i]), `row ${r} m`).toBe(true));
            sl(after.buffers.v[0]).forEach((x, i) => expect(Object.is(x, sl(before.v)[i]), `row ${r} v`).toBe(true));
          }
        }
        // Rows 2 and 7 have non-zero moments from step 1, yet did not move at step 2 (lazy).
        expect(before.m.slice(2 * D, 3 * D).some((x) => x !== 0)).toBe(true);
      } finally {
        ops.release(mark);
      }
    });
  }

  it('every row touched: one dense kernel call, the same result as the per-row lazy step', () => {
    for (const kind of ['adam', 'momentum'] as const) {
      const all = Array.from({ length: 10 }, (_, i) => 9 - i);
      const a = setup(ref, all), b = setup(ref, all);
      const make = () => (kind === 'adam' ? new Adam(ref, { weightDecay: 0.01 }) : new Sgd(ref, { momentum: 0.9 }));
      const oa = make(), ob = make();
      // b: the same gradient, but with the dense path taken because `rows` is absent.
      const pb: ParamRef = { value: b.p.value, grad: b.p.grad };
      let calls = 0;
      const spy = new Proxy(ref, { get: (t, k) => (k === 'adam' || k === 'axpy' || k === 'scale'
        ? (...args: unknown[]) => { calls++; return (t as unknown as Record<string, (...x: unknown[]) => unknown>)[k as string](...args); }
        : (t as unknown as Record<string | symbol, unknown>)[k]) });
      (oa as unknown as { ops: Ops }).ops = spy as Ops;
      oa.step([a.p], 0.05);
      ob.step([pb], 0.05);
      expect(Array.from(a.p.value.data), kind).toEqual(Array.from(b.p.value.data));
      expect(a.p.rows!.count).toBe(0);
      expect(calls, `${kind}: kernel calls`).toBeGreaterThan(0);
      expect(calls, `${kind}: kernel calls`).toBeLessThanOrEqual(3); // not one per row
    }
  });

  it('SGD with momentum updates only the touched rows (and their velocity)', () => {
    const { p, V, D } = setup(ref, [1, 3]);
    const w0 = Array.from(p.value.data);
    const opt = new Sgd(ref, { momentum: 0.9 });
    opt.step([p], 0.1);
    const w = Array.from(p.value.data), vel = opt.exportState().buffers.velocity[0];
    for (let r = 0; r < V; r++) {
      const moved = w.slice(r * D, (r + 1) * D).some((x, i) => x !== w0[r * D + i]);
      expect(moved, `row ${r}`).toBe(r === 1 || r === 3);
      expect(vel.slice(r * D, (r + 1) * D).some((x) => x !== 0), `row ${r} velocity`).toBe(r === 1 || r === 3);
    }
  });
});
