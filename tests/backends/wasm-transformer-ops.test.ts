// The WASM backend's transformer and MoE ops (fused attention, SwiGLU, grouped GEMM, routing,
// dispatch plan, combine) against the reference backend in float64, on random data and ragged
// shapes: T = 1 and 17, head widths 1/5/32/33, H = 3, Tq < Tk with a qOffset (KV cache), non-causal,
// q/k/v as views into one fused [rows, 3C] buffer, expert groups with no rows.
//
// Inputs are rounded to f32 and the reference gets the same values, so what is left is the
// kernels' own f32 arithmetic. Every WASM tensor is a misaligned view into a buffer whose other
// cells hold a sentinel; after each test the sentinels are checked, so a kernel that writes past
// its view (or, for the fused QKV layout, outside its head blocks) fails.
// wasm-transformer-ops-norevec.test.ts runs this file again with V8 revectorization off.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import type { AttentionShape, IntTensor, Ops, Tensor } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CausalSelfAttention } from '../../src/layers/attention.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, guardedViews, SENTINEL } from './guarded-views.js';

let W: Ops;
const R = new ReferenceOps('f64');

const { uniform, wt } = guardedViews(() => W, 4321);
function wi(values: ArrayLike<number>): IntTensor { return W.intsFrom(values); }

const TOL = 5e-6; // measured worst: about 5e-7 (f32 sums of exps and products over up to 131 keys)

// ---- attention cases ------------------------------------------------------------------------------

interface Case { name: string; B: number; H: number; D: number; Tq: number; Tk: number; causal: boolean; qOffset: number; fused: boolean }
const CASES: Case[] = [
  { name: 'T=1', B: 2, H: 2, D: 8, Tq: 1, Tk: 1, causal: true, qOffset: 0, fused: false },
  { name: 'T=17 D=5 H=3 causal', B: 2, H: 3, D: 5, Tq: 17, Tk: 17, causal: true, qOffset: 0, fused: false },
  { name: 'T=17 D=5 H=3 fused 3C', B: 2, H: 3, D: 5, Tq: 17, Tk: 17, causal: true, qOffset: 0, fused: true },
  { name: 'D=1 non-causal', B: 1, H: 2, D: 1, Tq: 6, Tk: 9, causal: false, qOffset: 0, fused: false },
  { name: 'D=32 T=70 (two key blocks, three row blocks) fused', B: 1, H: 2, D: 32, Tq: 70, Tk: 70, causal: true, qOffset: 0, fused: true },
  { name: 'D=33 non-causal Tq≠Tk', B: 2, H: 1, D: 33, Tq: 40, Tk: 131, causal: false, qOffset: 0, fused: false },
  { name: 'KV cache: Tq=1, Tk=23, qOffset=22', B: 1, H: 3, D: 7, Tq: 1, Tk: 23, causal: true, qOffset: 22, fused: false },
  { name: 'KV cache chunk: Tq=5, Tk=100, qOffset=95', B: 1, H: 2, D: 16, Tq: 5, Tk: 100, causal: true, qOffset: 95, fused: false },
  { name: 'D=260 (wider than the tiled path: the general kernel)', B: 1, H: 1, D: 260, Tq: 5, Tk: 7, causal: true, qOffset: 2, fused: false },
  { name: 'D=12 H=2 T=40 qOffset=3 (row and key tails)', B: 2, H: 2, D: 12, Tq: 40, Tk: 43, causal: true, qOffset: 3, fused: false },
  { name: 'negative qOffset: rows with no visible key', B: 1, H: 1, D: 4, Tq: 6, Tk: 6, causal: true, qOffset: -2, fused: false },
];

/** Buffers of one attention case on one backend: q, k, v views (fused or separate), out, lse. */
function attentionCase(ops: Ops, c: Case, vals: { qkv: number[]; out: number[]; dout: number[]; dqkv: number[] },
  make: (v: ArrayLike<number>, label: string) => Tensor) {
  const C = c.H * c.D;
  if (c.fused) {
    // One [B·T, 3C] buffer (Tq = Tk); q, k, v start at columns 0, C, 2C; the output is [B·T, C].
    const qkv = make(vals.qkv, 'qkv'), dqkv = make(vals.dqkv, 'dqkv');
    const n = c.B * c.Tq * 3 * C;
    const s: AttentionShape = { B: c.B, H: c.H, D: c.D, Tq: c.Tq, Tk: c.Tk, causal: c.causal, qOffset: c.qOffset,
      qStride: 3 * C, kvStride: 3 * C, oStride: C, scale: 1 / Math.sqrt(c.D) };
    return {
      s, q: qkv.view(0, n), k: qkv.view(C, n - C), v: qkv.view(2 * C, n - 2 * C),
      dq: dqkv.view(0, n), dk: dqkv.view(C, n - C), dv: dqkv.view(2 * C, n - 2 * C), dqkv,
      out: make(vals.out, 'out'), dout: make(vals.dout, 'dout'), lse: make(new Array(c.B * c.H * c.Tq).fill(0), 'lse'),
    };
  }
  // Separate tensors with padded rows (stride > H·D) so strides are exercised too.
  const qs = C + 3, kvs = C + 1, os = C + 2;
  const q = make(vals.qkv.slice(0, c.B * c.Tq * qs), 'q');
  const k = make(vals.qkv.slice(0, c.B * c.Tk * kvs), 'k');
  const v = make(vals.qkv.slice(7, 7 + c.B * c.Tk * kvs), 'v');
  const s: AttentionShape = { B: c.B, H: c.H, D: c.D, Tq: c.Tq, Tk: c.Tk, causal: c.causal, qOffset: c.qOffset,
    qStride: qs, kvStride: kvs, oStride: os, scale: 0.9 / Math.sqrt(c.D) };
  return {
    s, q, k, v,
    dq: make(vals.dqkv.slice(0, c.B * c.Tq * qs), 'dq'), dk: make(vals.dqkv.slice(0, c.B * c.Tk * kvs), 'dk'),
    dv: make(vals.dqkv.slice(3, 3 + c.B * c.Tk * kvs), 'dv'), dqkv: null,
    out: make(vals.out.slice(0, c.B * c.Tq * os), 'out'), dout: make(vals.dout.slice(0, c.B * c.Tq * os), 'dout'),
    lse: make(new Array(c.B * c.H * c.Tq).fill(0), 'lse'),
  };
}

// Every kernel path this process can run (revectorized or not is per process: see the -norevec file).
for (const path of availablePaths(true)) describe(`kernel path ${path}`, () => {
  beforeAll(async () => { W?.dispose(); W = await createWasmOps({ path, threads: 1 }); });

  describe('fused attention', () => {
    it.each(CASES)('forward and backward match the reference: $name', (c) => {
      const C = c.H * c.D, T = Math.max(c.Tq, c.Tk), wide = c.B * T * (3 * C + 10) + 20;
      // Scores of a few units: softmax neither uniform nor one-hot. Sentinel-like values (777.25)
      // prefill out/dq/dk/dv so that "overwrites" and "untouched outside the head blocks" are tested.
      const vals = { qkv: uniform(wide, -2, 2), out: new Array(wide).fill(SENTINEL), dout: uniform(wide), dqkv: new Array(wide).fill(SENTINEL) };
      const w = attentionCase(W, c, vals, (v, l) => wt(v, l));
      const r = attentionCase(R, c, vals, (v) => R.tensorFrom(v));
      W.attention(w.q, w.k, w.v, w.out, w.lse, w.s);
      R.attention(r.q, r.k, r.v, r.out, r.lse, r.s);
      // Whole buffers are compared: cells outside the head blocks must keep the 777.25 both got.
      expectClose(w.out.data, r.out.data, TOL, `${c.name}: out`);
      expectClose(w.lse.data, r.lse.data, TOL, `${c.name}: lse`);
      // The backward pass from the same (reference-rounded) forward results.
      w.out.data.set(r.out.data); w.lse.data.set(r.lse.data);
      W.attentionBackward(w.q, w.k, w.v, w.out, w.lse, w.dout, w.dq, w.dk, w.dv, w.s);
      R.attentionBackward(r.q, r.k, r.v, r.out, r.lse, r.dout, r.dq, r.dk, r.dv, r.s);
      if (w.dqkv && r.dqkv) {
        expectClose(w.dqkv.data, r.dqkv.data, TOL, `${c.name}: dqkv`);
      } else {
        for (const key of ['dq', 'dk', 'dv'] as const) expectClose(w[key].data, r[key].data, TOL, `${c.name}: ${key}`);
      }
    });

    it('masked keys get exactly zero gradient, and a row with no visible key gives out 0, lse −∞', () => {
      // One head, Tq = Tk = 5: key 4 is seen only by query 4; zero dout there ⇒ dk, dv of key 4 are 0.
      const c: Case = { name: 'mask', B: 1, H: 1, D: 6, Tq: 5, Tk: 5, causal: true, qOffset: -1, fused: false };
      const vals = { qkv: uniform(200, -2, 2), out: new Array(200).fill(0), dout: uniform(200), dqkv: new Array(200).fill(1) };
      const w = attentionCase(W, c, vals, (v, l) => wt(v, l));
      W.attention(w.q, w.k, w.v, w.out, w.lse, w.s);
      expect(w.lse.data[0]).toBe(-Infinity); // qOffset −1: query 0 sees nothing
      for (let d = 0; d < c.D; d++) expect(w.out.data[d]).toBe(0);
      W.attentionBackward(w.q, w.k, w.v, w.out, w.lse, w.dout, w.dq, w.dk, w.dv, w.s);
      // With qOffset −1 key 4 is visible to no query at all: its dk and dv rows are exactly 0.
      const kvs = w.s.kvStride;
      for (let d = 0; d < c.D; d++) {
        expect(w.dk.data[4 * kvs + d]).toBe(0);
        expect(w.dv.data[4 * kvs + d]).toBe(0);
        expect(w.dq.data[d]).toBe(0); // query 0 saw nothing
      }
    });

    it('rejects bad shapes with a clear RangeError', () => {
      const t = wt(uniform(16));
      const s: AttentionShape = { B: 1, H: 2, D: 4, Tq: 2, Tk: 2, causal: true, qOffset: 0, qStride: 8, kvStride: 8, oStride: 8, scale: 0.5 };
      expect(() => W.attention(t, t, t, t, wt(uniform(4)), { ...s, qStride: 7 })).toThrow(/qStride = 7 is less than H·D = 8/);
      expect(() => W.attention(t, t, t, t, wt(uniform(4)), { ...s, Tq: 3 })).toThrow(/q holds 16 elements/);
      expect(() => W.attention(t, t, t, t, wt(uniform(3)), s)).toThrow(/lse holds 3/);
    });
  });

  describe('attention layer on the fused op', () => {
    it('KV-cached decoding (token by token, then a chunk) equals the training-path forward', () => {
      // The decode path: Tq = n new rows, Tk = pos + n cached rows ([context, C], kvStride C), qOffset = pos.
      const T = 21, C = 15, H = 3;
      const a = new CausalSelfAttention(W, 'attn', C, H, new Rng(3));
      const prng = new Rng(4);
      for (const p of a.params) prng.fillNormal(p.value.data, 0, 0.5);
      const x = W.tensorFrom(uniform(T * C, -2, 2)), y = W.tensor(T * C), out = W.tensor(T * C);
      a.forward(x, y, 1, T);
      const cache = a.newCache(24);
      for (let t = 0; t < 17; t++) a.forwardCached(x.view(t * C, C), out.view(t * C, C), 1, t, cache);
      a.forwardCached(x.view(17 * C, 4 * C), out.view(17 * C, 4 * C), 4, 17, cache);
      expectClose(out.data, y.data, 1e-5, 'cached vs uncached');
    });
  });

  describe('SwiGLU', () => {
    it.each([[1, 1], [3, 5], [7, 17], [4, 64], [2, 130]])('forward and backward match the reference (rows %i, F %i)', (rows, F) => {
      const gu = uniform(rows * 2 * F, -8, 8), dout = uniform(rows * F);
      const wgu = wt(gu, 'gu'), wout = wt(new Array(rows * F).fill(SENTINEL), 'out'), wdgu = wt(new Array(rows * 2 * F).fill(SENTINEL), 'dgu');
      const rgu = R.tensorFrom(gu), rout = R.tensor(rows * F), rdgu = R.tensor(rows * 2 * F);
      W.swiglu(wgu, wout, rows, F); R.swiglu(rgu, rout, rows, F);
      expectClose(wout.data, rout.data, 1e-6, 'swiglu');
      W.swigluBackward(wgu, wt(dout, 'dout'), wdgu, rows, F); R.swigluBackward(rgu, R.tensorFrom(dout), rdgu, rows, F);
      expectClose(wdgu.data, rdgu.data, 1e-6, 'swigluBackward');
    });
    it('rejects short tensors', () => {
      expect(() => W.swiglu(wt(uniform(7)), wt(uniform(4)), 2, 2)).toThrow(/gu holds 7 elements, needs rows·2F = 8/);
    });
  });

  describe('grouped GEMM', () => {
    // Groups with 0 rows (first, middle, last), a ragged k and n.
    const offsets = [0, 0, 5, 5, 22, 23, 23];
    it.each(['nn', 'nt', 'tn'] as const)("'%s' matches the reference, beta 0 and 1", (mode) => {
      const G = offsets.length - 1, rows = offsets[G], n = 13, k = 7;
      const A = uniform(rows * k), B = mode === 'tn' ? uniform(rows * n) : uniform(G * k * n);
      const Csize = mode === 'tn' ? G * k * n : rows * n, C0 = uniform(Csize);
      for (const beta of [0, 1] as const) {
        const wC = wt(C0, 'C'), rC = R.tensorFrom(C0);
        W.groupedGemm(mode, G, wi(offsets), n, k, wt(A, 'A'), wt(B, 'B'), beta, wC);
        R.groupedGemm(mode, G, R.intsFrom(offsets), n, k, R.tensorFrom(A), R.tensorFrom(B), beta, rC);
        expectClose(wC.data, rC.data, 1e-6, `${mode} beta ${beta}`);
        if (mode === 'tn') {
          // Groups 0, 2 and 5 have no rows: their weight blocks are left exactly as they were.
          for (const g of [0, 2, 5]) for (let i = 0; i < k * n; i++) expect(wC.data[g * k * n + i]).toBe(C0[g * k * n + i]);
        }
      }
    });
    it('rejects decreasing offsets', () => {
      expect(() => W.groupedGemm('nn', 2, wi([0, 3, 2]), 2, 2, wt(uniform(6)), wt(uniform(8)), 0, wt(uniform(6))))
        .toThrow(/non-decreasing/);
    });
  });

  describe('MoE routing, plan, combine', () => {
    it.each([[1, 2, 1, false], [9, 4, 2, true], [33, 8, 2, false], [17, 5, 1, true]] as const)(
      'route, plan, combine and their backward match the reference (n %i, E %i, k %i, renormalize %s)', (n, E, k, renorm) => {
        const logits = uniform(n * E, -3, 3), C = 11;
        const w = { logits: wt(logits, 'logits'), probs: wt(new Array(n * E).fill(0), 'probs'), lse: wt(new Array(n).fill(0), 'lse'),
          topIdx: W.ints(n * k), topGate: wt(new Array(n * k).fill(0), 'topGate') };
        const r = { logits: R.tensorFrom(logits), probs: R.tensor(n * E), lse: R.tensor(n), topIdx: R.ints(n * k), topGate: R.tensor(n * k) };
        W.moeRoute(w.logits, w.probs, w.lse, w.topIdx, w.topGate, n, E, k, renorm);
        R.moeRoute(r.logits, r.probs, r.lse, r.topIdx, r.topGate, n, E, k, renorm);
        expect(Array.from(w.topIdx.data)).toEqual(Array.from(r.topIdx.data));
        expectClose(w.probs.data, r.probs.data, 1e-6, 'probs');
        expectClose(w.lse.data, r.lse.data, 1e-6, 'lse');
        expectClose(w.topGate.data, r.topGate.data, 1e-6, 'topGate');

        // Capacity small enough to drop some assignments.
        const cap = Math.max(1, Math.floor((n * k) / E) - 1);
        const plan = (ops: Ops, topIdx: IntTensor) => {
          const p = { slot: ops.ints(n * k), rowToken: ops.ints(n * k), offsets: ops.ints(E + 1), routed: ops.ints(E) };
          ops.moePlan(topIdx, n, E, k, cap, p.slot, p.rowToken, p.offsets, p.routed);
          return p;
        };
        const wp = plan(W, w.topIdx), rp = plan(R, r.topIdx);
        for (const key of ['slot', 'rowToken', 'offsets', 'routed'] as const) {
          expect(Array.from(wp[key].data), key).toEqual(Array.from(rp[key].data));
        }

        const yd = uniform(n * k * C), dy = uniform(n * C);
        const wy = wt(new Array(n * C).fill(SENTINEL), 'y'), ry = R.tensor(n * C);
        W.moeCombine(wt(yd, 'yd'), wp.slot, w.topGate, wy, n, k, C);
        R.moeCombine(R.tensorFrom(yd), rp.slot, r.topGate, ry, n, k, C);
        expectClose(wy.data, ry.data, 1e-6, 'moeCombine');
        const wdyd = wt(new Array(n * k * C).fill(SENTINEL), 'dyd'), wdg = wt(new Array(n * k).fill(SENTINEL), 'dgate');
        const rdyd = R.tensor(n * k * C), rdg = R.tensor(n * k);
        W.moeCombineBackward(wt(yd, 'yd'), wp.slot, w.topGate, wt(dy, 'dy'), wdyd, wdg, n, k, C);
        R.moeCombineBackward(R.tensorFrom(yd), rp.slot, r.topGate, R.tensorFrom(dy), rdyd, rdg, n, k, C);
        expectClose(wdyd.data, rdyd.data, 1e-6, 'dyd');
        expectClose(wdg.data, rdg.data, 1e-5, 'dgate');

        const bal = uniform(E), dgate = Array.from(rdg.data, Math.fround);
        const wdl = wt(new Array(n * E).fill(SENTINEL), 'dlogits'), rdl = R.tensor(n * E);
        W.moeRouteBackward(w.probs, w.lse, w.topIdx, w.topGate, wt(dgate, 'dg'), wt(bal, 'bal'), 0.01, wdl, n, E, k, renorm);
        R.moeRouteBackward(r.probs, r.lse, r.topIdx, r.topGate, R.tensorFrom(dgate), R.tensorFrom(bal), 0.01, rdl, n, E, k, renorm);
        expectClose(wdl.data, rdl.data, 1e-5, 'dlogits');
      });
  });
});

describe('fused attention on two threads (batch items split across threads)', () => {
  it('gives bit-for-bit the results of one thread, forward and backward, fused QKV layout', async () => {
    // The same kernel path on both (the default), so the arithmetic is the same.
    const one = await createWasmOps({ threads: 1 }), two = await createWasmOps({ threads: 2 });
    try {
      const B = 5, H = 3, D = 20, T = 33, C = H * D, n = B * T * 3 * C;
      const vals = uniform(n, -2, 2), dout = uniform(B * T * C);
      const s: AttentionShape = { B, H, D, Tq: T, Tk: T, causal: true, qOffset: 0, qStride: 3 * C, kvStride: 3 * C, oStride: C, scale: 0.3 };
      const results = [one, two].map((ops) => {
        const qkv = ops.tensorFrom(vals), dqkv = ops.tensor(n), out = ops.tensor(B * T * C), lse = ops.tensor(B * H * T);
        const q = qkv.view(0, n), k = qkv.view(C, n - C), v = qkv.view(2 * C, n - 2 * C);
        ops.attention(q, k, v, out, lse, s);
        ops.attentionBackward(q, k, v, out, lse, ops.tensorFrom(dout), dqkv.view(0, n), dqkv.view(C, n - C), dqkv.view(2 * C, n - 2 * C), s);
        return [Array.from(out.data), Array.from(lse.data), Array.from(dqkv.data)];
      });
      for (let i = 0; i < 3; i++) expect(results[1][i]).toEqual(results[0][i]);
      // and against the reference
      const r = { qkv: R.tensorFrom(vals), out: R.tensor(B * T * C), lse: R.tensor(B * H * T) };
      R.attention(r.qkv, r.qkv.view(C, n - C), r.qkv.view(2 * C, n - 2 * C), r.out, r.lse, s);
      expectClose(results[1][0], r.out.data, TOL, 'two threads: out');
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});
