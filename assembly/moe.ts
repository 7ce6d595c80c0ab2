// Kernels of the transformer feed-forward and Mixture-of-Experts ops (contracts in
// src/ops/types.ts): the SwiGLU gate and its backward, and a dot product the MoE combine backward
// uses per kept assignment. Routing, the dispatch plan and the grouped GEMM are driven from
// src/backends/wasm/index.ts (O(n·E) loops, and the existing packed GEMM per group).
import {
  EXP_C1, EXP_C2, EXP_LO, EXP_LOG2E, EXP_P0, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, EXP_ROUND_MAGIC,
  hoisted, hsum, loadTail, storeTail, V_ONE, vexpNonPositive, vexpNonPositiveWith,
} from './math';

const V_ZERO: v128 = hoisted(0.0);
// −|x| is x with its sign bit set: one or (V8 builds the masks of f32x4.abs and .neg in the loop).
const V_SIGN_BIT: v128 = hoisted(-0.0);

// The two-vector loops below are written for V8's revectorizer, which pairs two isomorphic f32x4
// computations into one of 256 bits (AVX2) where it can pair everything from their loads to their
// stores (measured: about 1.7× faster than the 128-bit code). That takes every load of an
// iteration before its stores (a store is a side effect the loads cannot move across), and
// constants that are splats of run-time values, made once per call before the loop: math.ts's
// hoisted constants are globals, and a global read cannot be paired. So e^−|a| is computed here
// by math.ts's vexpNonPositiveWith (vexpNonPositive with its constants as arguments: the same
// results, bit for bit), its constants from hoisted() calls in the kernel, before the loop.

// silu(x) = x·σ(x) and σ(x), σ(−x) from z = e^−|x| (see math.ts: no overflow, no cancellation).
// @ts-ignore: decorator
@inline function siluOf(x: v128, z: v128, one: v128, zero: v128): v128 {
  const d = f32x4.div(one, f32x4.add(one, z));
  return f32x4.mul(x, v128.bitselect(d, f32x4.mul(z, d), f32x4.ge(x, zero)));
}

// @ts-ignore: decorator
@inline function silu(x: v128): v128 {
  return siluOf(x, vexpNonPositive(v128.or(x, V_SIGN_BIT)), V_ONE, V_ZERO);
}

// out[0..count) = silu(a)·b over `count` floats at a, b (and out).
// @ts-ignore: decorator
@inline function swigluRun(a: usize, bp: usize, o: usize, F: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), zero = hoisted(0.0), sign = hoisted(-0.0), bias = i32x4.splat(<i32>f32x4.extract_lane(hoisted(127.0), 0));
  let c = 0;
  for (; c + 8 <= F; c += 8) {
    const off = <usize>c << 2;
    const x0 = v128.load(a + off), x1 = v128.load(a + off, 16);
    const b0 = v128.load(bp + off), b1 = v128.load(bp + off, 16);
    const z0 = vexpNonPositiveWith(v128.or(x0, sign), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
    const z1 = vexpNonPositiveWith(v128.or(x1, sign), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
    const y0 = f32x4.mul(siluOf(x0, z0, one, zero), b0), y1 = f32x4.mul(siluOf(x1, z1, one, zero), b1);
    v128.store(o + off, y0);
    v128.store(o + off, y1, 16);
  }
  for (; c + 4 <= F; c += 4) {
    const off = <usize>c << 2;
    v128.store(o + off, f32x4.mul(silu(v128.load(a + off)), v128.load(bp + off)));
  }
  if (c < F) {
    const off = <usize>c << 2, t = F - c;
    storeTail(o + off, f32x4.mul(silu(loadTail(a + off, t, 0)), loadTail(bp + off, t, 0)), t);
  }
}

// gu: rows×2F (a | b), out: rows×F. out = silu(a)·b = a·σ(a)·b.
export function swiglu(gu: usize, out: usize, rows: i32, F: i32): void {
  for (let r = 0; r < rows; r++) {
    const a = gu + ((<usize>r * <usize>(2 * F)) << 2), bp = a + (<usize>F << 2);
    swigluRun(a, bp, out + ((<usize>r * <usize>F) << 2), F);
  }
}

// The same on one span of `count` floats with a, b and out anywhere: the batch pool
// (src/backends/wasm/batch-pool.ts) splits one long row of swiglu into spans, one per thread.
export function swigluSpan(a: usize, b: usize, out: usize, count: i32): void {
  swigluRun(a, b, out, count);
}

// da = dout·b·silu'(a), silu'(a) = σ(a)(1 + a(1 − σ(a))); db = dout·silu(a); z = e^−|a|.
// @ts-ignore: decorator
@inline function swigluGradA(x: v128, z: v128, bv: v128, g: v128, one: v128, zero: v128): v128 {
  const d = f32x4.div(one, f32x4.add(one, z));
  const zd = f32x4.mul(z, d);
  const pos = f32x4.ge(x, zero);
  const s = v128.bitselect(d, zd, pos); // σ(a)
  const sc = v128.bitselect(zd, d, pos); // 1 − σ(a) = σ(−a)
  return f32x4.mul(f32x4.mul(g, bv), f32x4.mul(s, f32x4.add(one, f32x4.mul(x, sc))));
}
// @ts-ignore: decorator
@inline function swigluGradB(x: v128, z: v128, g: v128, one: v128, zero: v128): v128 {
  return f32x4.mul(g, siluOf(x, z, one, zero)); // the same d as swigluGradA's: V8 computes it once
}

// @ts-ignore: decorator
@inline function swigluBackwardRun(a: usize, bp: usize, g: usize, da: usize, db: usize, F: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), zero = hoisted(0.0), sign = hoisted(-0.0), bias = i32x4.splat(<i32>f32x4.extract_lane(hoisted(127.0), 0));
  let c = 0;
  // Two vectors per iteration, loads first, stores as adjacent pairs (see above swigluRun).
  for (; c + 8 <= F; c += 8) {
    const off = <usize>c << 2;
    const x0 = v128.load(a + off), x1 = v128.load(a + off, 16);
    const b0 = v128.load(bp + off), b1 = v128.load(bp + off, 16);
    const g0 = v128.load(g + off), g1 = v128.load(g + off, 16);
    const z0 = vexpNonPositiveWith(v128.or(x0, sign), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
    const z1 = vexpNonPositiveWith(v128.or(x1, sign), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
    const da0 = swigluGradA(x0, z0, b0, g0, one, zero), da1 = swigluGradA(x1, z1, b1, g1, one, zero);
    const db0 = swigluGradB(x0, z0, g0, one, zero), db1 = swigluGradB(x1, z1, g1, one, zero);
    v128.store(da + off, da0);
    v128.store(da + off, da1, 16);
    v128.store(db + off, db0);
    v128.store(db + off, db1, 16);
  }
  for (; c + 4 <= F; c += 4) {
    const off = <usize>c << 2;
    const x = v128.load(a + off), z = vexpNonPositive(v128.or(x, V_SIGN_BIT)), gv = v128.load(g + off);
    v128.store(da + off, swigluGradA(x, z, v128.load(bp + off), gv, V_ONE, V_ZERO));
    v128.store(db + off, swigluGradB(x, z, gv, V_ONE, V_ZERO));
  }
  if (c < F) {
    const off = <usize>c << 2, t = F - c;
    const x = loadTail(a + off, t, 0), z = vexpNonPositive(v128.or(x, V_SIGN_BIT)), gv = loadTail(g + off, t, 0);
    storeTail(da + off, swigluGradA(x, z, loadTail(bp + off, t, 0), gv, V_ONE, V_ZERO), t);
    storeTail(db + off, swigluGradB(x, z, gv, V_ONE, V_ZERO), t);
  }
}

// gu: rows×2F, dout: rows×F, dgu: rows×2F (OVERWRITTEN: da | db).
export function swigluBackward(gu: usize, dout: usize, dgu: usize, rows: i32, F: i32): void {
  for (let r = 0; r < rows; r++) {
    const rowOff = (<usize>r * <usize>(2 * F)) << 2;
    const a = gu + rowOff, bp = a + (<usize>F << 2);
    const da = dgu + rowOff, db = da + (<usize>F << 2);
    swigluBackwardRun(a, bp, dout + ((<usize>r * <usize>F) << 2), da, db, F);
  }
}

// The backward on one span (see swigluSpan): da, db from a, b, dout, `count` floats each.
export function swigluBackwardSpan(a: usize, b: usize, dout: usize, da: usize, db: usize, count: i32): void {
  swigluBackwardRun(a, b, dout, da, db, count);
}

// Σ a[i]·b[i] over n elements, in f32 with four vector accumulators.
export function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  if (i < n) {
    const o = <usize>i << 2;
    s1 = f32x4.add(s1, f32x4.mul(loadTail(a + o, n - i, 0), loadTail(b + o, n - i, 0)));
  }
  return hsum(f32x4.add(s0, s1));
}
