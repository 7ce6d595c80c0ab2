// Kernels of the transformer feed-forward and Mixture-of-Experts ops (contracts in
// src/ops/types.ts): the SwiGLU gate and its backward, and a dot product the MoE combine backward
// uses per kept assignment. Routing, the dispatch plan and the grouped GEMM are driven from
// src/backends/wasm/index.ts (O(n·E) loops, and the existing packed GEMM per group).
import { hoisted, hsum, loadTail, storeTail, V_ONE, vexpNonPositive } from './math';

const V_ZERO: v128 = hoisted(0.0);
// −|x| is x with its sign bit set: one or (V8 builds the masks of f32x4.abs and .neg in the loop).
const V_SIGN_BIT: v128 = hoisted(-0.0);

// out[0..count) = silu(a)·b over `count` floats at a, b (and out).
// @ts-ignore: decorator
@inline function swigluRun(a: usize, bp: usize, o: usize, F: i32): void {
  let c = 0;
  // Two vectors per iteration: the exp chains of both overlap (one alone leaves the FP units
  // waiting on its latency).
  for (; c + 8 <= F; c += 8) {
    const off = <usize>c << 2;
    const x0 = v128.load(a + off), x1 = v128.load(a + off, 16);
    const z0 = vexpNonPositive(v128.or(x0, V_SIGN_BIT));
    const z1 = vexpNonPositive(v128.or(x1, V_SIGN_BIT));
    const d0 = f32x4.div(V_ONE, f32x4.add(V_ONE, z0));
    const d1 = f32x4.div(V_ONE, f32x4.add(V_ONE, z1));
    const s0 = v128.bitselect(d0, f32x4.mul(z0, d0), f32x4.ge(x0, V_ZERO));
    const s1 = v128.bitselect(d1, f32x4.mul(z1, d1), f32x4.ge(x1, V_ZERO));
    v128.store(o + off, f32x4.mul(f32x4.mul(x0, s0), v128.load(bp + off)));
    v128.store(o + off, f32x4.mul(f32x4.mul(x1, s1), v128.load(bp + off, 16)), 16);
  }
  for (; c + 4 <= F; c += 4) {
    const off = <usize>c << 2;
    const x = v128.load(a + off);
    const z = vexpNonPositive(v128.or(x, V_SIGN_BIT));
    const d = f32x4.div(V_ONE, f32x4.add(V_ONE, z));
    const s = v128.bitselect(d, f32x4.mul(z, d), f32x4.ge(x, V_ZERO));
    v128.store(o + off, f32x4.mul(f32x4.mul(x, s), v128.load(bp + off)));
  }
  if (c < F) {
    const off = <usize>c << 2, t = F - c;
    const x = loadTail(a + off, t, 0);
    const z = vexpNonPositive(v128.or(x, V_SIGN_BIT));
    const d = f32x4.div(V_ONE, f32x4.add(V_ONE, z));
    const s = v128.bitselect(d, f32x4.mul(z, d), f32x4.ge(x, V_ZERO));
    storeTail(o + off, f32x4.mul(f32x4.mul(x, s), loadTail(bp + off, t, 0)), t);
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

// @ts-ignore: decorator
@inline function swigluGrad(x: v128, bv: v128, g: v128, da: usize, db: usize, t: i32): void {
  const z = vexpNonPositive(v128.or(x, V_SIGN_BIT));
  const d = f32x4.div(V_ONE, f32x4.add(V_ONE, z));
  const zd = f32x4.mul(z, d);
  const pos = f32x4.ge(x, V_ZERO);
  const s = v128.bitselect(d, zd, pos); // σ(a)
  const sc = v128.bitselect(zd, d, pos); // 1 − σ(a) = σ(−a)
  // da = dout·b·silu'(a), silu'(a) = σ(a)(1 + a(1 − σ(a))); db = dout·silu(a)
  const gda = f32x4.mul(f32x4.mul(g, bv), f32x4.mul(s, f32x4.add(V_ONE, f32x4.mul(x, sc))));
  const gdb = f32x4.mul(g, f32x4.mul(x, s));
  if (t == 4) {
    v128.store(da, gda);
    v128.store(db, gdb);
  } else {
    storeTail(da, gda, t);
    storeTail(db, gdb, t);
  }
}

// @ts-ignore: decorator
@inline function swigluBackwardRun(a: usize, bp: usize, g: usize, da: usize, db: usize, F: i32): void {
  let c = 0;
  for (; c + 8 <= F; c += 8) { // two independent chains per iteration, as swigluRun
    const off = <usize>c << 2;
    swigluGrad(v128.load(a + off), v128.load(bp + off), v128.load(g + off), da + off, db + off, 4);
    const o1 = off + 16;
    swigluGrad(v128.load(a + o1), v128.load(bp + o1), v128.load(g + o1), da + o1, db + o1, 4);
  }
  for (; c + 4 <= F; c += 4) {
    const off = <usize>c << 2;
    swigluGrad(v128.load(a + off), v128.load(bp + off), v128.load(g + off), da + off, db + off, 4);
  }
  if (c < F) {
    const off = <usize>c << 2, t = F - c;
    swigluGrad(loadTail(a + off, t, 0), loadTail(bp + off, t, 0), loadTail(g + off, t, 0), da + off, db + off, t);
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
