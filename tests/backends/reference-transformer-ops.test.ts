// The transformer and MoE ops of the reference backend (src/backends/reference/transformer-ops.ts)
// are the specification the WASM and CUDA backends are tested against, so they are checked here on
// cases worked out by hand and against naive formulas (materialised softmax, per-group gemm).
// Their gradients are checked separately (src/gradcheck/transformer-ops-checks.ts).
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import type { AttentionShape, Ops } from '../../src/ops/types.js';
import { Rng } from '../../src/util/rng.js';

const R = new ReferenceOps('f64');
const R32 = new ReferenceOps('f32');
const list = (x: { data: ArrayLike<number> }) => Array.from(x.data);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    expect(err, `${what} element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i])));
  }
}

function randoms(n: number, rng: Rng, std = 1): number[] {
  return Array.from({ length: n }, () => rng.normal(0, std));
}

// ---- moePlan -------------------------------------------------------------------------------------

describe('moePlan, by hand', () => {
  // n = 4 tokens, k = 2, E = 3. topIdx rows (rank 0, rank 1): t0 (0,1), t1 (1,0), t2 (0,2), t3 (0,1).
  const topIdx = [0, 1, 1, 0, 0, 2, 0, 1];
  function plan(E: number, capacity: number, idx = topIdx, n = 4, k = 2) {
    const slot = R.ints(n * k), rowToken = R.intsFrom(new Array(n * k).fill(99));
    const offsets = R.ints(E + 1), routed = R.ints(E);
    R.moePlan(R.intsFrom(idx), n, E, k, capacity, slot, rowToken, offsets, routed);
    return { slot: list(slot), rowToken: list(rowToken), offsets: list(offsets), routed: list(routed) };
  }

  it('capacity 2 drops in priority order: rank 0 of every token, then rank 1, lower t first', () => {
    // Priority order: (t0,e0) (t1,e1) (t2,e0) (t3,e0) | (t0,e1) (t1,e0) (t2,e2) (t3,e1).
    // e0: t0, t2 kept; t3 (rank 0!) and t1 (rank 1) dropped. e1: t1 (rank 0), t0 (rank 1) kept;
    // t3's rank 1 dropped. e2: t2. routed counts before dropping: e0 4, e1 3, e2 1.
    const p = plan(3, 2);
    expect(p.routed).toEqual([4, 3, 1]);
    expect(p.offsets).toEqual([0, 2, 4, 5]);
    expect(p.slot).toEqual([0, 3, 2, -1, 1, 4, -1, -1]);
    // Rows 0..4 hold e0: t0, t2; e1: t1, t0; e2: t2. Rows ≥ offsets[E] = 5 are 0.
    expect(p.rowToken).toEqual([0, 2, 1, 0, 2, 0, 0, 0]);
  });

  it('dropless (capacity < 0) keeps everything, each group in priority order', () => {
    const p = plan(3, -1);
    expect(p.routed).toEqual([4, 3, 1]);
    expect(p.offsets).toEqual([0, 4, 7, 8]);
    // e0 rows 0..3: t0 (r0), t2 (r0), t3 (r0), t1 (r1); e1 rows 4..6: t1 (r0), t0 (r1), t3 (r1); e2 row 7: t2.
    expect(p.rowToken).toEqual([0, 2, 3, 1, 1, 0, 3, 2]);
    expect(p.slot).toEqual([0, 5, 4, 3, 1, 7, 2, 6]);
  });

  it('an expert nobody chose gets an empty group; capacity 0 drops everything', () => {
    const p = plan(5, -1);
    expect(p.routed).toEqual([4, 3, 1, 0, 0]);
    expect(p.offsets).toEqual([0, 4, 7, 8, 8, 8]);
    const z = plan(3, 0);
    expect(z.offsets).toEqual([0, 0, 0, 0]);
    expect(z.slot).toEqual(new Array(8).fill(-1));
    expect(z.rowToken).toEqual(new Array(8).fill(0));
    expect(z.routed).toEqual([4, 3, 1]);
  });

  it('top-1: capacity 1 keeps the lowest token per expert', () => {
    const p = plan(3, 1, [2, 0, 2, 2], 4, 1);
    expect(p.offsets).toEqual([0, 1, 1, 2]);
    expect(p.slot).toEqual([1, 0, -1, -1]);
    expect(p.rowToken).toEqual([1, 0, 0, 0]);
  });

  it('rejects an expert index out of range', () => {
    expect(() => plan(3, -1, [0, 3, 1, 0, 0, 2, 0, 1])).toThrow(/topIdx\[1\] = 3 is outside 0..2/);
  });
});

// ---- moeRoute ------------------------------------------------------------------------------------

describe('moeRoute', () => {
  function route(logits: number[], E: number, k: number, renormalize: boolean) {
    const n = logits.length / E;
    const probs = R.tensor(n * E), lse = R.tensor(n), topIdx = R.ints(n * k), topGate = R.tensor(n * k);
    R.moeRoute(R.tensorFrom(logits), probs, lse, topIdx, topGate, n, E, k, renormalize);
    return { probs: list(probs), lse: list(lse), topIdx: list(topIdx), topGate: list(topGate) };
  }

  it('breaks ties toward the lower expert index', () => {
    expect(route([1, 1, 1], 3, 2, false).topIdx).toEqual([0, 1]);
    expect(route([0, 2, 2, 1], 4, 2, false).topIdx).toEqual([1, 2]);
    expect(route([0, 1, 2, 2], 4, 1, false).topIdx).toEqual([2]);
    expect(route([5, 0, 5, 5], 4, 2, false).topIdx).toEqual([0, 2]);
  });

  it('gives softmax, logsumexp and the (renormalised) gates', () => {
    // logits [0, ln 2, ln 3, ln 4]: probs 1/10, 2/10, 3/10, 4/10, lse = ln 10.
    const lg = [0, Math.log(2), Math.log(3), Math.log(4)];
    const raw = route(lg, 4, 2, false);
    close(raw.probs, [0.1, 0.2, 0.3, 0.4], 1e-14);
    close(raw.lse, [Math.log(10)], 1e-14);
    expect(raw.topIdx).toEqual([3, 2]);
    close(raw.topGate, [0.4, 0.3], 1e-14);
    const ren = route(lg, 4, 2, true);
    close(ren.topGate, [4 / 7, 3 / 7], 1e-14);
    // top-1 renormalised is the constant 1.
    close(route(lg, 4, 1, true).topGate, [1], 1e-15);
  });

  it('stays finite for large logits', () => {
    const r = route([1000, 999, -1000], 3, 2, true);
    close(r.lse, [1000 + Math.log(1 + Math.exp(-1))], 1e-14);
    expect(r.topIdx).toEqual([0, 1]);
    close(r.topGate, [1 / (1 + Math.exp(-1)), Math.exp(-1) / (1 + Math.exp(-1))], 1e-14);
  });
});

describe('moeRouteBackward, by hand', () => {
  it('renormalised top-2: dp over the chosen pair, then the softmax Jacobian', () => {
    // probs [0.1, 0.2, 0.3, 0.4], chosen (3, 2), S = 0.7, g = (4/7, 3/7), dgate = (1, 0):
    // Σ dg·g = 4/7; dp_3 = (1 − 4/7)/0.7 = 30/49, dp_2 = (0 − 4/7)/0.7 = −40/49.
    // dlogits = p ⊙ (dp − Σ dp·p): Σ dp·p = 0.4·30/49 − 0.3·40/49 = 0.
    const probs = R.tensorFrom([0.1, 0.2, 0.3, 0.4]), lse = R.tensorFrom([Math.log(10)]);
    const dl = R.tensorFrom([NaN, NaN, NaN, NaN]);
    R.moeRouteBackward(probs, lse, R.intsFrom([3, 2]), R.tensorFrom([4 / 7, 3 / 7]), R.tensorFrom([1, 0]),
      null, 0, dl, 1, 4, 2, true);
    close(list(dl), [0, 0, 0.3 * -40 / 49, 0.4 * 30 / 49], 1e-14);
    // With balanceGrad b and zGrad z: dp += b; dlogits += z·lse·p.
    const b = [1, 0, 0, 0], z = 0.5;
    R.moeRouteBackward(probs, lse, R.intsFrom([3, 2]), R.tensorFrom([4 / 7, 3 / 7]), R.tensorFrom([1, 0]),
      R.tensorFrom(b), z, dl, 1, 4, 2, true);
    const dp = [1, 0, -40 / 49, 30 / 49], p = [0.1, 0.2, 0.3, 0.4];
    const dot = dp.reduce((s, v, i) => s + v * p[i], 0);
    close(list(dl), p.map((pi, i) => pi * (dp[i] - dot) + z * Math.log(10) * pi), 1e-14);
  });
});

// ---- combine -------------------------------------------------------------------------------------

describe('moeCombine and its backward', () => {
  // n = 2, k = 2, C = 2; yd rows r0..r3 = [1,2], [3,4], [5,6], [7,8].
  // token 0: slot (2, 0), gates (0.5, 0.25); token 1: slot (1, −1), gates (0.6, 0.4).
  const yd = R.tensorFrom([1, 2, 3, 4, 5, 6, 7, 8]), slot = R.intsFrom([2, 0, 1, -1]);
  const gate = R.tensorFrom([0.5, 0.25, 0.6, 0.4]);

  it('sums gated expert rows, skipping dropped ones', () => {
    const y = R.tensorFrom([NaN, NaN, NaN, NaN]);
    R.moeCombine(yd, slot, gate, y, 2, 2, 2);
    expect(list(y)).toEqual([0.5 * 5 + 0.25 * 1, 0.5 * 6 + 0.25 * 2, 0.6 * 3, 0.6 * 4]);
  });

  it('backward overwrites dyd (unused rows zero) and dgate (dropped zero)', () => {
    const dyd = R.tensorFrom(new Array(8).fill(NaN)), dgate = R.tensorFrom([NaN, NaN, NaN, NaN]);
    R.moeCombineBackward(yd, slot, gate, R.tensorFrom([1, -1, 2, 3]), dyd, dgate, 2, 2, 2);
    // row 0 = 0.25·dy0, row 1 = 0.6·dy1, row 2 = 0.5·dy0, row 3 unused.
    expect(list(dyd)).toEqual([0.25, -0.25, 1.2, 0.6 * 3, 0.5, -0.5, 0, 0]);
    expect(list(dgate)).toEqual([5 - 6, 1 - 2, 2 * 3 + 3 * 4, 0]);
  });
});

// ---- swiglu / groupedGemm ------------------------------------------------------------------------

describe('swiglu and groupedGemm', () => {
  it('swiglu: out = silu(a)·b', () => {
    const a = [0, 1, -2], b = [3, 0.5, 2];
    const out = R.tensor(3);
    R.swiglu(R.tensorFrom([...a, ...b]), out, 1, 3);
    close(list(out), a.map((x, i) => (x / (1 + Math.exp(-x))) * b[i]), 1e-15);
  });

  it('matches one gemm per group; leaves rows outside every group and empty groups untouched', () => {
    const rng = new Rng(3);
    const G = 3, rows = 7, n = 4, k = 3, off = [0, 2, 2, 6]; // group 1 empty, row 6 outside
    const A = R.tensorFrom(randoms(rows * k, rng)), W = R.tensorFrom(randoms(G * k * n, rng));
    const offsets = R.intsFrom(off);
    for (const mode of ['nn', 'nt'] as const) {
      const C = R.tensorFrom(new Array(rows * n).fill(7));
      R.groupedGemm(mode, G, offsets, n, k, A, W, 0, C);
      for (let g = 0; g < G; g++) {
        const m = off[g + 1] - off[g];
        if (m === 0) continue;
        const ref = R.tensor(m * n);
        R.gemm(false, mode === 'nt', m, n, k, 1, A.view(off[g] * k, m * k), W.view(g * k * n, k * n), 0, ref);
        close(list(C).slice(off[g] * n, off[g + 1] * n), list(ref), 1e-14, `${mode} group ${g}`);
      }
      expect(list(C).slice(6 * n), mode).toEqual([7, 7, 7, 7]);
      // beta 1 adds on top.
      const C2 = R.tensorFrom(list(C));
      R.groupedGemm(mode, G, offsets, n, k, A, W, 1, C2);
      close(list(C2).slice(0, 6 * n), list(C).slice(0, 6 * n).map((x) => 2 * x), 1e-14, `${mode} beta 1`);
    }
    // 'tn' accumulates per group; the empty group keeps exactly what it had.
    const Y = R.tensorFrom(randoms(rows * n, rng));
    const Cw = R.tensorFrom(new Array(G * k * n).fill(0.5));
    R.groupedGemm('tn', G, offsets, n, k, A, Y, 1, Cw);
    expect(list(Cw).slice(k * n, 2 * k * n)).toEqual(new Array(k * n).fill(0.5));
    for (const g of [0, 2]) {
      const m = off[g + 1] - off[g];
      const ref = R.tensorFrom(new Array(k * n).fill(0.5));
      R.gemm(true, false, k, n, m, 1, A.view(off[g] * k, m * k), Y.view(off[g] * n, m * n), 1, ref);
      close(list(Cw).slice(g * k * n, (g + 1) * k * n), list(ref), 1e-14, `tn group ${g}`);
    }
  });

  it('rejects bad offsets and short tensors with a clear RangeError', () => {
    const A = R.tensor(12), W = R.tensor(24), C = R.tensor(16);
    expect(() => R.groupedGemm('nn', 2, R.intsFrom([0, 3, 2]), 4, 3, A, W, 0, C)).toThrow(/non-decreasing/);
    expect(() => R.groupedGemm('nn', 2, R.intsFrom([0, 2, 5]), 4, 3, A, W, 0, C)).toThrow(RangeError);
    expect(() => R.groupedGemm('nn', 2, R.intsFrom([1, 2, 4]), 4, 3, A, W, 0, C)).toThrow(/offsets\[0\] must be 0/);
  });
});

// ---- attention -----------------------------------------------------------------------------------

/** The textbook formula: materialise S = scale·QKᵀ per (b, h), mask with −∞, softmax, P·V. */
function naiveAttention(q: number[], k: number[], v: number[], s: AttentionShape) {
  const { B, H, D, Tq, Tk } = s;
  const out = new Array(B * Tq * s.oStride).fill(NaN), lse = new Array(B * H * Tq).fill(NaN);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const S: number[] = [];
    for (let j = 0; j < Tk; j++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[(b * Tq + i) * s.qStride + h * D + d] * k[(b * Tk + j) * s.kvStride + h * D + d];
      S.push(s.causal && j > i + s.qOffset ? -Infinity : s.scale * dot);
    }
    const m = Math.max(...S);
    const e = S.map((x) => Math.exp(x - m));
    const Z = e.reduce((a, x) => a + x, 0);
    lse[(b * H + h) * Tq + i] = m + Math.log(Z);
    for (let d = 0; d < D; d++) {
      let o = 0;
      for (let j = 0; j < Tk; j++) o += (e[j] / Z) * v[(b * Tk + j) * s.kvStride + h * D + d];
      out[(b * Tq + i) * s.oStride + h * D + d] = o;
    }
  }
  return { out, lse };
}

function shape(B: number, H: number, D: number, Tq: number, Tk: number, causal: boolean, qOffset: number,
  pad = 0): AttentionShape {
  const C = H * D;
  return { B, H, D, Tq, Tk, causal, qOffset, qStride: C + pad, kvStride: C + 2 * pad, oStride: C + pad, scale: 1 / Math.sqrt(D) };
}

describe('attention (forward) against the materialised-softmax formula', () => {
  const cases: [string, AttentionShape][] = [
    ['causal T=5 D=3 H=2', shape(2, 2, 3, 5, 5, true, 0)],
    ['full Tq=3 Tk=5', shape(2, 2, 3, 3, 5, false, 0)],
    ['KV cache Tq=2 Tk=5 qOffset=3', shape(1, 3, 2, 2, 5, true, 3)],
    ['strided rows (padding columns)', shape(2, 2, 3, 4, 4, true, 0, 2)],
    // Longer than the initial 64-entry scratch row, so the grow path runs.
    ['T=70 (scratch growth)', shape(1, 1, 2, 70, 70, true, 0)],
  ];
  it.each(cases)('%s', (_, s) => {
    const rng = new Rng(11);
    const q = randoms(s.B * s.Tq * s.qStride, rng), k = randoms(s.B * s.Tk * s.kvStride, rng);
    const v = randoms(s.B * s.Tk * s.kvStride, rng);
    const out = R.tensorFrom(new Array(s.B * s.Tq * s.oStride).fill(NaN)), lse = R.tensor(s.B * s.H * s.Tq);
    R.attention(R.tensorFrom(q), R.tensorFrom(k), R.tensorFrom(v), out, lse, s);
    const ref = naiveAttention(q, k, v, s);
    close(list(lse), ref.lse, 1e-13, 'lse');
    // Padding columns (NaN in both) are left untouched.
    const o = list(out);
    for (let i = 0; i < o.length; i++) {
      if (Number.isNaN(ref.out[i])) expect(o[i], `padding ${i}`).toBeNaN();
      else expect(Math.abs(o[i] - ref.out[i]), `out ${i}`).toBeLessThanOrEqual(1e-13);
    }
  });

  it('a single visible key gives exactly its value row (causal, query 0)', () => {
    const s = shape(1, 1, 2, 2, 2, true, 0);
    const out = R.tensor(4), lse = R.tensor(2);
    R.attention(R.tensorFrom([1, 2, 3, 4]), R.tensorFrom([5, 6, 7, 8]), R.tensorFrom([9, 10, 11, 12]), out, lse, s);
    expect(list(out).slice(0, 2)).toEqual([9, 10]);
    close([lse.data[0]], [(1 * 5 + 2 * 6) / Math.sqrt(2)], 1e-15);
  });

  it('a query that sees no key (qOffset < 0) gets zeros, lse = −∞, and zero gradients', () => {
    // Not a case the models produce; fixed here so every backend agrees instead of dividing 0/0.
    const s = shape(1, 1, 2, 3, 3, true, -1);
    const rng = new Rng(4);
    const q = R.tensorFrom(randoms(6, rng)), k = R.tensorFrom(randoms(6, rng)), v = R.tensorFrom(randoms(6, rng));
    const out = R.tensorFrom(new Array(6).fill(NaN)), lse = R.tensor(3);
    R.attention(q, k, v, out, lse, s);
    expect(list(out).slice(0, 2)).toEqual([0, 0]);
    expect(lse.data[0]).toBe(-Infinity);
    expect(list(out).slice(2, 4)).toEqual(list(v).slice(0, 2)); // query 1 sees key 0 only
    const dq = R.tensorFrom(new Array(6).fill(NaN)), dk = R.tensorFrom(new Array(6).fill(NaN)), dv = R.tensorFrom(new Array(6).fill(NaN));
    R.attentionBackward(q, k, v, out, lse, R.tensorFrom(randoms(6, rng)), dq, dk, dv, s);
    expect(list(dq).slice(0, 2)).toEqual([0, 0]);
    expect(list(dk).slice(4)).toEqual([0, 0]); // key 2 is visible to no query
    for (const x of [...list(dq), ...list(dk), ...list(dv)]) expect(Number.isFinite(x)).toBe(true);
  });

  it('rejects a short tensor or a stride narrower than H·D', () => {
    const s = shape(1, 2, 3, 4, 4, false, 0);
    const ok = R.tensor(24), lse = R.tensor(8);
    expect(() => R.attention(R.tensor(23), ok, ok, ok, lse, s)).toThrow(/attention: q holds 23 elements/);
    expect(() => R.attention(ok, ok, ok, ok, R.tensor(7), s)).toThrow(/lse holds 7/);
    expect(() => R.attention(ok, ok, ok, ok, lse, { ...s, kvStride: 5 })).toThrow(/kvStride = 5 is less than H·D = 6/);
  });
});

describe('attentionBackward', () => {
  function run(ops: Ops, s: AttentionShape, seed: number, fill = NaN) {
    const rng = new Rng(seed);
    const nq = s.B * s.Tq * s.qStride, nk = s.B * s.Tk * s.kvStride, no = s.B * s.Tq * s.oStride;
    const q = ops.tensorFrom(randoms(nq, rng)), k = ops.tensorFrom(randoms(nk, rng)), v = ops.tensorFrom(randoms(nk, rng));
    const dout = ops.tensorFrom(randoms(no, rng));
    const out = ops.tensor(no), lse = ops.tensor(s.B * s.H * s.Tq);
    ops.attention(q, k, v, out, lse, s);
    const dq = ops.tensorFrom(new Array(nq).fill(fill)), dk = ops.tensorFrom(new Array(nk).fill(fill));
    const dv = ops.tensorFrom(new Array(nk).fill(fill));
    ops.attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, s);
    return { out: list(out), lse: list(lse), dq: list(dq), dk: list(dk), dv: list(dv) };
  }

  it('gives exactly zero dk and dv for keys no query can see (and overwrites NaN)', () => {
    // Tq = 2 queries at positions 0, 1 (qOffset 0) over Tk = 5 keys: keys 2..4 are never visible.
    const s = shape(2, 2, 3, 2, 5, true, 0);
    const r = run(R, s, 5);
    const C = s.H * s.D;
    for (let b = 0; b < s.B; b++) for (let j = 0; j < s.Tk; j++) {
      const rowK = r.dk.slice((b * s.Tk + j) * C, (b * s.Tk + j + 1) * C);
      const rowV = r.dv.slice((b * s.Tk + j) * C, (b * s.Tk + j + 1) * C);
      if (j >= 2) {
        expect(rowK, `dk b${b} j${j}`).toEqual(new Array(C).fill(0));
        expect(rowV, `dv b${b} j${j}`).toEqual(new Array(C).fill(0));
      } else {
        for (const x of [...rowK, ...rowV]) { expect(Number.isFinite(x)).toBe(true); }
        expect(rowV.some((x) => x !== 0)).toBe(true);
      }
    }
    for (const x of r.dq) expect(Number.isFinite(x)).toBe(true);
  });

  it('a fused dQKV buffer (stride 3C) gets the same numbers as separate tensors', () => {
    const B = 2, H = 2, D = 3, T = 5, C = H * D;
    const rng = new Rng(9);
    const qkvVals = randoms(B * T * 3 * C, rng), doutVals = randoms(B * T * C, rng);
    const fused: AttentionShape = { ...shape(B, H, D, T, T, true, 0), qStride: 3 * C, kvStride: 3 * C };
    const sep = shape(B, H, D, T, T, true, 0);
    const span = (B * T - 1) * 3 * C + C;
    const qkv = R.tensorFrom(qkvVals), dqkv = R.tensorFrom(new Array(qkvVals.length).fill(NaN));
    const out = R.tensor(B * T * C), lse = R.tensor(B * H * T);
    const [q, k, v] = [0, C, 2 * C].map((o) => qkv.view(o, span));
    const [dq, dk, dv] = [0, C, 2 * C].map((o) => dqkv.view(o, span));
    R.attention(q, k, v, out, lse, fused);
    R.attentionBackward(q, k, v, out, lse, R.tensorFrom(doutVals), dq, dk, dv, fused);
    // The same problem with q, k, v split out of the fused rows.
    const split = (part: number) => R.tensorFrom(Array.from({ length: B * T * C }, (_, i) =>
      qkvVals[Math.floor(i / C) * 3 * C + part * C + (i % C)]));
    const [qs, ks, vs] = [0, 1, 2].map(split);
    const outS = R.tensor(B * T * C), lseS = R.tensor(B * H * T);
    const [dqs, dks, dvs] = [0, 1, 2].map(() => R.tensor(B * T * C));
    R.attention(qs, ks, vs, outS, lseS, sep);
    R.attentionBackward(qs, ks, vs, outS, lseS, R.tensorFrom(doutVals), dqs, dks, dvs, sep);
    expect(list(out)).toEqual(list(outS));
    const d = list(dqkv);
    for (const x of d) expect(Number.isFinite(x)).toBe(true); // every element overwritten, none left NaN
    const parts = [dqs, dks, dvs].map(list);
    for (let r = 0; r < B * T; r++) for (let p = 0; p < 3; p++) {
      expect(d.slice(r * 3 * C + p * C, r * 3 * C + (p + 1) * C), `row ${r} part ${p}`).toEqual(parts[p].slice(r * C, (r + 1) * C));
    }
  });
});

// ---- float32 vs float64 --------------------------------------------------------------------------

describe('the f32 and f64 reference backends agree', () => {
  it('on attention forward and backward', () => {
    for (const s of [shape(2, 2, 3, 5, 5, true, 0), shape(1, 2, 4, 3, 6, true, 3, 1), shape(2, 1, 5, 4, 3, false, 0)]) {
      const a = run2(s);
      for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) close(a.f32[key], a.f64[key], 2e-5, key);
    }
    function run2(s: AttentionShape) {
      const one = (ops: Ops) => {
        const rng = new Rng(21);
        const nq = s.B * s.Tq * s.qStride, nk = s.B * s.Tk * s.kvStride, no = s.B * s.Tq * s.oStride;
        const q = ops.tensorFrom(randoms(nq, rng)), k = ops.tensorFrom(randoms(nk, rng)), v = ops.tensorFrom(randoms(nk, rng));
        const dout = ops.tensorFrom(randoms(no, rng));
        const out = ops.tensor(no), lse = ops.tensor(s.B * s.H * s.Tq);
        ops.attention(q, k, v, out, lse, s);
        const dq = ops.tensor(nq), dk = ops.tensor(nk), dv = ops.tensor(nk);
        ops.attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, s);
        return { out: list(out), lse: list(lse), dq: list(dq), dk: list(dk), dv: list(dv) };
      };
      return { f32: one(R32), f64: one(R) };
    }
  });

  it('on swiglu, groupedGemm, routing, plan, combine and the router backward', () => {
    const both = (f: (ops: Ops) => number[][]) => {
      const a = f(R32), b = f(R);
      a.forEach((x, i) => close(x, b[i], 2e-5, `output ${i}`));
    };
    both((ops) => {
      const rng = new Rng(1);
      const gu = ops.tensorFrom(randoms(3 * 8, rng, 2)), out = ops.tensor(12), dgu = ops.tensor(24);
      ops.swiglu(gu, out, 3, 4);
      ops.swigluBackward(gu, ops.tensorFrom(randoms(12, rng)), dgu, 3, 4);
      const off = ops.intsFrom([0, 3, 3, 5]), A = ops.tensorFrom(randoms(5 * 3, rng)), W = ops.tensorFrom(randoms(3 * 12, rng));
      const C = ops.tensor(5 * 4), Cw = ops.tensor(3 * 12);
      ops.groupedGemm('nn', 3, off, 4, 3, A, W, 0, C);
      ops.groupedGemm('tn', 3, off, 4, 3, A, C, 1, Cw);
      return [list(out), list(dgu), list(C), list(Cw)];
    });
    both((ops) => {
      const rng = new Rng(2);
      const n = 6, E = 4, k = 2, Cd = 3;
      const probs = ops.tensor(n * E), lse = ops.tensor(n), topIdx = ops.ints(n * k), gate = ops.tensor(n * k);
      // Logits on a ladder with clear gaps, so f32 rounding cannot change the choice.
      const lg: number[] = [];
      for (let t = 0; t < n; t++) for (let e = 0; e < E; e++) lg.push(((t + e * 3) % E) * 0.9 + rng.uniform(-0.1, 0.1));
      ops.moeRoute(ops.tensorFrom(lg), probs, lse, topIdx, gate, n, E, k, true);
      const slot = ops.ints(n * k), rowToken = ops.ints(n * k), offsets = ops.ints(E + 1), routed = ops.ints(E);
      ops.moePlan(topIdx, n, E, k, 2, slot, rowToken, offsets, routed);
      const yd = ops.tensorFrom(randoms(n * k * Cd, rng)), y = ops.tensor(n * Cd), dy = ops.tensorFrom(randoms(n * Cd, rng));
      ops.moeCombine(yd, slot, gate, y, n, k, Cd);
      const dyd = ops.tensor(n * k * Cd), dgate = ops.tensor(n * k), dl = ops.tensor(n * E);
      ops.moeCombineBackward(yd, slot, gate, dy, dyd, dgate, n, k, Cd);
      ops.moeRouteBackward(probs, lse, topIdx, gate, dgate, ops.tensorFrom([0.1, -0.2, 0.3, 0]), 0.05, dl, n, E, k, true);
      return [list(probs), list(lse), list(topIdx), list(gate), list(slot), list(rowToken), list(offsets), list(routed),
        list(y), list(dyd), list(dgate), list(dl)];
    });
  });
});
