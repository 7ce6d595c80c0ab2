// The WASM backend's fused attention beyond the conformance table (which compares every transformer
// and MoE op with the float64 reference on ragged shapes: src/backends/conformance.ts,
// conformance.test.ts): masked keys get exactly zero gradient, the attention layer's KV-cached
// decoding equals its training-path forward, and two threads give bit for bit what one gives.
//
// Every WASM tensor is a misaligned view into a buffer whose other cells hold a sentinel; after
// each test the sentinels are checked, so a kernel that writes past its view fails.
// wasm-transformer-ops-norevec.test.ts runs this file again with V8 revectorization off.
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import type { AttentionShape, Ops, Tensor } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CausalSelfAttention } from '../../src/layers/attention.js';
import { Rng } from '../../src/util/rng.js';
import { expectClose, guardedViews } from './guarded-views.js';

let W: Ops;
const R = new ReferenceOps('f64');

const { uniform, wt } = guardedViews(() => W, 4321);

const TOL = 5e-6; // measured worst: about 5e-7 (f32 sums of exps and products over up to 131 keys)

// ---- attention cases ------------------------------------------------------------------------------

interface Case { name: string; B: number; H: number; D: number; Tq: number; Tk: number; causal: boolean; qOffset: number; fused: boolean }

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
  });

  // The tiled kernels' two tile widths (assembly/attention_tiled.ts; BatchPool.wideTiles): 16 wide
  // (where V8 revectorizes) and 8 wide. Head widths that take every column split of each: 24 = 16 + 8,
  // 29 = 16 + 8 + 5 ragged, 48 = three 16s (8 wide: six 8s); row blocks of 16 rows (one 16-row score
  // tile) and of ≤ 8 rows (the 8-row tile alone: a short query block, as when decoding); causal with
  // diagonal blocks, non-causal, a KV-cache offset, padded strides, and dropout on P.
  describe('attention register tiles, 16 and 8 wide, against the reference', () => {
    const cases: (Case & { dropout?: number })[] = [
      { name: 'D 24 causal fused', B: 2, H: 2, D: 24, Tq: 40, Tk: 40, causal: true, qOffset: 0, fused: true },
      { name: 'D 29 causal fused', B: 1, H: 3, D: 29, Tq: 37, Tk: 37, causal: true, qOffset: 0, fused: true },
      { name: 'D 48 non-causal strided', B: 2, H: 2, D: 48, Tq: 17, Tk: 23, causal: false, qOffset: 0, fused: false },
      { name: 'D 24 short query block after a cache', B: 1, H: 2, D: 24, Tq: 5, Tk: 37, causal: true, qOffset: 32, fused: false },
      { name: 'D 48 causal fused, dropout', B: 2, H: 1, D: 48, Tq: 33, Tk: 33, causal: true, qOffset: 0, fused: true, dropout: 0.25 },
    ];
    for (const c of cases) for (const wide of [true, false]) {
      it(`${c.name}, ${wide ? 16 : 8} wide: forward and backward`, () => {
        const pool = (W as WasmOps).pool, was = pool.wideTiles;
        pool.wideTiles = wide;
        try {
          const n = 3 * c.B * Math.max(c.Tq, c.Tk) * (c.H * c.D + 3) + 16;
          const vals = { qkv: uniform(n, -2, 2), out: new Array(n).fill(0), dout: uniform(n), dqkv: new Array(n).fill(0) };
          const w = attentionCase(W, c, vals, (v, l) => wt(v, l));
          const r = attentionCase(R, c, vals, (v) => R.tensorFrom(v));
          const drop = c.dropout ? { dropout: c.dropout, dropoutSeed: 0x5eed } : {};
          for (const [ops, x] of [[W, w], [R, r]] as const) {
            const s = { ...x.s, ...drop };
            ops.attention(x.q, x.k, x.v, x.out, x.lse, s);
            ops.attentionBackward(x.q, x.k, x.v, x.out, x.lse, x.dout, x.dq, x.dk, x.dv, s);
          }
          const tol = c.dropout ? 2e-5 : TOL;
          expectClose(w.out.data, r.out.data, tol, 'out');
          expectClose(w.lse.data, r.lse.data, tol, 'lse');
          if (w.dqkv && r.dqkv) {
            expectClose(w.dqkv.data, r.dqkv.data, tol, 'dqkv');
          } else {
            expectClose(w.dq.data, r.dq.data, tol, 'dq');
            expectClose(w.dk.data, r.dk.data, tol, 'dk');
            expectClose(w.dv.data, r.dv.data, tol, 'dv');
          }
        } finally {
          pool.wideTiles = was;
        }
      });
    }
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

  // The SwiGLU kernels take e^−|a| from an exp specialised to arguments ≤ 0 (assembly/math.ts,
  // vexpNonPositive): over the whole range of a — the flush-to-zero edge near ln FLT_MIN, ±0, the
  // large values where σ saturates — each element matches float64 to f32 accuracy (relative, with a
  // tiny absolute floor where the true value is a denormal the kernel flushes to 0), in the
  // two-vector loop, the one-vector loop and the ragged tail alike (F = 23 = 16 + 4 + 3).
  it('swiglu over extreme gate values: forward and backward match the reference element by element', () => {
    const A = [-1e4, -200, -100, -88, -87.4, -87.3, -87, -60, -30, -10, -1, -1e-3, -1e-30, -0, 0, 1e-30, 1e-3, 1, 10, 30, 87, 100, 1e4];
    const F = A.length, bs = A.map((_, i) => 1.3 - 0.1 * i), gs = A.map((_, i) => 0.7 + 0.05 * i);
    const run = (ops: Ops) => {
      const gu = ops.tensorFrom([...A, ...bs]), out = ops.tensor(F), dgu = ops.tensor(2 * F);
      ops.swiglu(gu, out, 1, F);
      ops.swigluBackward(gu, ops.tensorFrom(gs), dgu, 1, F);
      return [...Array.from(out.data), ...Array.from(dgu.data)];
    };
    const w = run(W), r = run(R);
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs(w[i] - r[i]), `element ${i} (a = ${A[i % F]}): ${w[i]} vs ${r[i]}`).toBeLessThanOrEqual(2e-6 * Math.abs(r[i]) + 1e-35);
    }
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

describe('attention dropout on P across threads', () => {
  it('the workers regenerate the whole call\'s mask (b0): one thread = two threads = the reference, forward and backward', async () => {
    const one = await createWasmOps({ threads: 1 }), two = await createWasmOps({ threads: 3 });
    two.pool.callerClaims = false; // every batch item on a worker, each a B = 1 call at its own b0
    try {
      const B = 4, H = 2, D = 12, T = 19, C = H * D, n = B * T * 3 * C;
      const vals = uniform(n, -2, 2), dout = uniform(B * T * C);
      const s: AttentionShape = { B, H, D, Tq: T, Tk: T, causal: true, qOffset: 0, qStride: 3 * C, kvStride: 3 * C, oStride: C,
        scale: 0.3, dropout: 0.3, dropoutSeed: 0x9abcdef0 };
      const run = (ops: Ops) => {
        const qkv = ops.tensorFrom(vals), dqkv = ops.tensor(n), out = ops.tensor(B * T * C), lse = ops.tensor(B * H * T);
        const q = qkv.view(0, n), k = qkv.view(C, n - C), v = qkv.view(2 * C, n - 2 * C);
        ops.attention(q, k, v, out, lse, s);
        ops.attentionBackward(q, k, v, out, lse, ops.tensorFrom(dout), dqkv.view(0, n), dqkv.view(C, n - C), dqkv.view(2 * C, n - 2 * C), s);
        return [Array.from(out.data), Array.from(lse.data), Array.from(dqkv.data)];
      };
      const before = two.pool.workerItems;
      const [r1, r2, rr] = [run(one), run(two), run(R)];
      expect(two.pool.workerItems - before).toBe(2 * B);
      for (let i = 0; i < 3; i++) expect(r2[i]).toEqual(r1[i]);
      for (let i = 0; i < 3; i++) expectClose(r2[i], rr[i], 2e-5, `two threads vs reference [${i}]`);
      // The mask is in effect: without dropout the output differs.
      const plain = R.tensor(B * T * C);
      const qkv = R.tensorFrom(vals);
      R.attention(qkv.view(0, n), qkv.view(C, n - C), qkv.view(2 * C, n - 2 * C), plain, R.tensor(B * H * T), { ...s, dropout: 0 });
      expect(Array.from(plain.data)).not.toEqual(rr[0]);
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

