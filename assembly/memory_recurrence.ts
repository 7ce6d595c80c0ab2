// The associative-memory recurrence (Ops.memoryForward / memoryBackward in src/ops/types.ts; the
// maths of both passes is in the header of src/layers/linear-memory.ts, the reference loops in
// src/backends/reference/memory-recurrence.ts). One call runs all B sequences × T steps, so a token costs
// arithmetic, not a JS↔WASM crossing. (assembly/heap_base.ts is where the JS allocator starts, not this.)
//
// Every per-step product is a row operation on a [dv, dk] matrix: a dot of a row with a dk-vector
// (M k, M q, dA k) or a row update by a multiple of a dk-vector (A += e kᵀ, dM += dy qᵀ,
// dq += Rᵀ dy as Σ_i dy_i R_i). The optimisers act elementwise, so a commit of row i needs only
// row i of A: each step is one fused pass per row (accumulate, commit or keep, read) rather than a
// pass per operation. Rows run f32x4 over dk; dk is often not a multiple of 4 (14 in memory-lm at
// dModel 56 with 4 heads), so the last 1–3 floats of a row run as one partial vector (lanes past
// the row are zero on load and never stored), through the same vector code as the full ones:
// each pass is an @inline body called with t = 4 in the loop (so the t branches can fold) and once
// with the tail's t. Everything is float32; Adam's bias corrections are worked out in float64.
//
// `saved` (layout: Ops.memoryForward): R [B, n, S] (S = dv·dk, n = ⌊T/C⌋ + 1: one state per
// commit), for Adam m, u, A [B·T, S] each, then a working area of 5·S + 2·dv + 2·dk floats (the last
// 2·dk: the step's normalised k̂, q̂ with MemoryShape.normalize). A commit writes
// the new state straight into the next R slot (built from the last), so the forward's working area
// holds only A, the momentum S, m and u; the backward's holds dM, dA, dS, dm, du (e_i and de_i stay
// in registers). R runs backwards in time within a sequence (R[b, c] at b·n + n − 1 − c) because
// the backward pass walks t downwards and, by the time it runs, R (0.8 MB for a period-1 memory of
// memory-lm, 24 memories) has left the cache: read in ascending order the prefetcher keeps up;
// read descending, the backward took 1.6× as long (628 against 407 ns per token at dk = dv = 14,
// measured with the cache flushed between the passes).
//
// Sequences are independent: the *Range entries run sequences b0 ≤ b < b1 with a working area
// the caller gives, so threads can split a call by sequence, each with a working area of its own.
// A call may hold H memories of one shape (MemoryShape.heads): its sequences are the H·B slots
// h·B + b, memory h's rows starting h head strides on (khs, vhs, yhs elements), so a split runs
// them all, and `saved` is laid out as for H·B sequences.
// Rows of k, q (and dk, dq) are ks elements apart, of v (dv) vs, of y (dy) ys: a memory can read
// its columns of a wider matrix in place (memory-lm's heads read one projection GEMM's output).
// norm: keys and queries are L2-normalised per step into the working area (the backward maps
// dk̂, dq̂ back to the raw rows at the end of each step); acc: the read adds to y.
//
// rule: 0 delta, 1 hebbian. opt: 0 gd, 1 momentum, 2 adam.
import { hsum } from './math';

const RULE_DELTA = 0;
const OPT_GD = 0;
const OPT_ADAM = 2;

// What a row pass does besides its accumulation (forward: A_i += e k; backward: the read).
const KEEP = 0; // no commit
const COMMIT_GD = 1; // M ← M − η A
const COMMIT_MOMENTUM = 2; // S ← β S − η A; M ← M + S

// ---- partial vectors ------------------------------------------------------------------------------

/** The first t (1…4) floats at p, zeros in the other lanes; reads nothing past p + 4t. */
// @ts-ignore: decorator
@inline function ld(p: usize, t: i32): v128 {
  if (t == 4) return v128.load(p);
  if (t == 1) return v128.load32_zero(p);
  const lo = v128.load64_zero(p);
  return t == 2 ? lo : v128.load32_lane(p, lo, 2, 8);
}

/** Stores the first t (1…4) lanes of v at p. */
// @ts-ignore: decorator
@inline function st(p: usize, v: v128, t: i32): void {
  if (t == 4) { v128.store(p, v); return; }
  if (t == 1) { v128.store32_lane(p, v, 0); return; }
  v128.store64_lane(p, v, 0);
  if (t == 3) v128.store32_lane(p, v, 2, 8);
}

/** n floats of p set to 0. */
// @ts-ignore: decorator
@inline function zero(p: usize, n: i32): void {
  memory.fill(p, 0, <usize>n << 2);
}

/** b^n for a small integer n ≥ 0, by repeated multiplication (no std Math: see assembly/math.ts). */
function powi(b: f64, n: i32): f64 {
  let r = 1.0;
  for (let i = 0; i < n; i++) r *= b;
  return r;
}

/**
 * The second result of readRow and dotPair (AssemblyScript returns one value). A global is per
 * instance, and every thread has an instance of its own: no sharing between threads.
 */
let pairSecond: f32 = 0;

// ---- row passes -----------------------------------------------------------------------------------
// Each is a vector body (o: byte offset in the row, t: lanes) and a driver over the row.

/** Lanes of a·c (reduce with hsum). */
// @ts-ignore: decorator
@inline function dotVec(a: usize, c: usize, o: usize, t: i32): v128 {
  return f32x4.mul(ld(a + o, t), ld(c + o, t));
}

/** The lanes whose hsum is Σ_j a[j]·c[j] over n floats (dotRow before its reduction). */
// @ts-ignore: decorator
@inline function dotRowVec(a: usize, c: usize, n: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    s0 = f32x4.add(s0, dotVec(a, c, <usize>j << 2, 4));
    s1 = f32x4.add(s1, dotVec(a, c, <usize>(j + 4) << 2, 4));
  }
  if (j + 4 <= n) { s0 = f32x4.add(s0, dotVec(a, c, <usize>j << 2, 4)); j += 4; }
  if (j < n) s1 = f32x4.add(s1, dotVec(a, c, <usize>j << 2, n - j));
  return f32x4.add(s0, s1);
}

/** Σ_j a[j]·c[j] over n floats. */
// @ts-ignore: decorator
@inline function dotRow(a: usize, c: usize, n: i32): f32 {
  return hsum(dotRowVec(a, c, n));
}

/**
 * [hsum a, hsum b, hsum c, hsum d] in one vector: four rows' reductions at once (a transpose by
 * shuffles: 6 shuffles and 3 adds instead of four hsums and their extracts). Each lane is
 * (l0 + l2) + (l1 + l3), hsum's order, so the results are bit-identical to four hsums.
 */
// @ts-ignore: decorator
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7)); // a02 b02 a13 b13
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/** y += alpha·x over the lanes. */
// @ts-ignore: decorator
@inline function axpyVec(va: v128, x: usize, y: usize, o: usize, t: i32): void {
  st(y + o, f32x4.add(ld(y + o, t), f32x4.mul(va, ld(x + o, t))), t);
}

/** y[j] += alpha·x[j] over n floats. */
// @ts-ignore: decorator
@inline function axpyRow(alpha: f32, x: usize, y: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let j = 0;
  for (; j + 4 <= n; j += 4) axpyVec(va, x, y, <usize>j << 2, 4);
  if (j < n) axpyVec(va, x, y, <usize>j << 2, n - j);
}

/**
 * Forward step of row i, per lane: a = A + e k; KEEP: A = a (Mn is Mp); commit: A ← 0, d = −η a
 * (momentum: S ← β S + d, d = S), Mn = Mp + d. Returns the lanes of Mn ⊙ q (the read).
 */
// @ts-ignore: decorator
@inline function stepVec(mode: i32, ve: v128, vneg: v128, vbeta: v128, k: usize, A: usize, Sm: usize, Mp: usize,
  Mn: usize, q: usize, o: usize, t: i32): v128 {
  const a = f32x4.add(ld(A + o, t), f32x4.mul(ve, ld(k + o, t)));
  let mn = ld(Mp + o, t);
  if (mode == KEEP) {
    st(A + o, a, t);
  } else {
    st(A + o, f32x4.splat(0), t);
    let d = f32x4.mul(vneg, a);
    if (mode == COMMIT_MOMENTUM) { d = f32x4.add(f32x4.mul(vbeta, ld(Sm + o, t)), d); st(Sm + o, d, t); }
    mn = f32x4.add(mn, d);
  }
  if (mode != KEEP) st(Mn + o, mn, t); // without a commit Mn is Mp: R holds one state per commit
  return f32x4.mul(mn, ld(q + o, t));
}

/** The forward step of row i over its n floats; returns the lanes of y_i = Mn_i · q (reduce with hsum). */
// @ts-ignore: decorator
@inline function stepRow(mode: i32, e: f32, eta: f32, beta: f32, k: usize, A: usize, Sm: usize, Mp: usize, Mn: usize,
  q: usize, n: i32): v128 {
  const ve = f32x4.splat(e), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, stepVec(mode, ve, vneg, vbeta, k, A, Sm, Mp, Mn, q, <usize>j << 2, 4));
  if (j < n) acc = f32x4.add(acc, stepVec(mode, ve, vneg, vbeta, k, A, Sm, Mp, Mn, q, <usize>j << 2, n - j));
  return acc;
}

/**
 * The forward step of rows i … i + g − 1 (g = 1…4): their e from one joint reduction (delta:
 * e = Mp·k − v; hebbian: −v), each row's accumulate / commit / read, and their y from another,
 * stored as one vector (added to y with acc). Row by row, the same arithmetic in the same order
 * as one row at a time.
 */
// @ts-ignore: decorator
@inline function stepRows(mode: i32, delta: bool, acc: i32, g: i32, eta: f32, beta: f32, k: usize, vp: usize, yp: usize,
  A: usize, Sm: usize, Mp: usize, Mn: usize, q: usize, n: i32, rowBytes: usize): void {
  const z = f32x4.splat(0);
  let e4 = f32x4.neg(ld(vp, g));
  if (delta) {
    const d0 = dotRowVec(Mp, k, n);
    const d1 = g > 1 ? dotRowVec(Mp + rowBytes, k, n) : z;
    const d2 = g > 2 ? dotRowVec(Mp + 2 * rowBytes, k, n) : z;
    const d3 = g > 3 ? dotRowVec(Mp + 3 * rowBytes, k, n) : z;
    e4 = f32x4.add(e4, hsum4(d0, d1, d2, d3));
  }
  const y0 = stepRow(mode, f32x4.extract_lane(e4, 0), eta, beta, k, A, Sm, Mp, Mn, q, n);
  let y1 = z, y2 = z, y3 = z;
  if (g > 1) y1 = stepRow(mode, f32x4.extract_lane(e4, 1), eta, beta, k, A + rowBytes, Sm + rowBytes, Mp + rowBytes, Mn + rowBytes, q, n);
  if (g > 2) y2 = stepRow(mode, f32x4.extract_lane(e4, 2), eta, beta, k, A + 2 * rowBytes, Sm + 2 * rowBytes, Mp + 2 * rowBytes, Mn + 2 * rowBytes, q, n);
  if (g > 3) y3 = stepRow(mode, f32x4.extract_lane(e4, 3), eta, beta, k, A + 3 * rowBytes, Sm + 3 * rowBytes, Mp + 3 * rowBytes, Mn + 3 * rowBytes, q, n);
  let y4 = hsum4(y0, y1, y2, y3);
  if (acc) y4 = f32x4.add(ld(yp, g), y4);
  st(yp, y4, g);
}

/** dotRow(a, c, n) for a row of four vectors (12 < n ≤ 16): its two partial sums, hsum's order. */
// @ts-ignore: decorator
@inline function dot16(a0: v128, a1: v128, a2: v128, a3: v128, c0: v128, c1: v128, c2: v128, c3: v128): f32 {
  const z = f32x4.splat(0);
  const s0 = f32x4.add(f32x4.add(z, f32x4.mul(a0, c0)), f32x4.mul(a2, c2));
  const s1 = f32x4.add(f32x4.add(z, f32x4.mul(a1, c1)), f32x4.mul(a3, c3));
  return hsum(f32x4.add(s0, s1));
}

/** normalizeRow's norm of a row of four vectors (lanes past the row zero). */
// @ts-ignore: decorator
@inline function norm16(x0: v128, x1: v128, x2: v128, x3: v128): f32 {
  return max<f32>(sqrt<f32>(dot16(x0, x1, x2, x3, x0, x1, x2, x3)), <f32>1e-12);
}

/**
 * The forward step's rows (no Adam commit) for 12 < dk ≤ 16 (memory-lm's 14): each row is four
 * vectors, the last of tl lanes, with k and q held in registers for all the rows. The same
 * arithmetic in the same order as stepRows (dotRow's two partial sums, hsum's order): bit-identical.
 */
function stepRows16(mode: i32, delta: bool, norm: i32, acc: i32, dv: i32, tl: i32, eta: f32, beta: f32, rowBytes: usize,
  k: usize, q: usize, v: usize, y: usize, A: usize, Sm: usize, Mp: usize, Mn: usize): void {
  const z = f32x4.splat(0), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  let k0 = v128.load(k), k1 = v128.load(k + 16), k2 = v128.load(k + 32), k3 = ld(k + 48, tl);
  let q0 = v128.load(q), q1 = v128.load(q + 16), q2 = v128.load(q + 32), q3 = ld(q + 48, tl);
  if (norm) { // normalizeRow's arithmetic, in registers
    const kn = f32x4.splat(norm16(k0, k1, k2, k3)), qn = f32x4.splat(norm16(q0, q1, q2, q3));
    k0 = f32x4.div(k0, kn); k1 = f32x4.div(k1, kn); k2 = f32x4.div(k2, kn); k3 = f32x4.div(k3, kn);
    q0 = f32x4.div(q0, qn); q1 = f32x4.div(q1, qn); q2 = f32x4.div(q2, qn); q3 = f32x4.div(q3, qn);
  }
  for (let i = 0; i < dv; i++) {
    const o = <usize>i * rowBytes, P = Mp + o, N = Mn + o, Ai = A + o, Si = Sm + o;
    const p0 = v128.load(P), p1 = v128.load(P + 16), p2 = v128.load(P + 32), p3 = ld(P + 48, tl);
    let e = -load<f32>(v + (<usize>i << 2));
    if (delta) e += dot16(p0, p1, p2, p3, k0, k1, k2, k3);
    const ve = f32x4.splat(e);
    let a0 = f32x4.add(v128.load(Ai), f32x4.mul(ve, k0)), a1 = f32x4.add(v128.load(Ai + 16), f32x4.mul(ve, k1));
    let a2 = f32x4.add(v128.load(Ai + 32), f32x4.mul(ve, k2)), a3 = f32x4.add(ld(Ai + 48, tl), f32x4.mul(ve, k3));
    let m0 = p0, m1 = p1, m2 = p2, m3 = p3;
    if (mode == KEEP) {
      v128.store(Ai, a0); v128.store(Ai + 16, a1); v128.store(Ai + 32, a2); st(Ai + 48, a3, tl);
    } else {
      v128.store(Ai, z); v128.store(Ai + 16, z); v128.store(Ai + 32, z); st(Ai + 48, z, tl);
      let d0 = f32x4.mul(vneg, a0), d1 = f32x4.mul(vneg, a1), d2 = f32x4.mul(vneg, a2), d3 = f32x4.mul(vneg, a3);
      if (mode == COMMIT_MOMENTUM) {
        d0 = f32x4.add(f32x4.mul(vbeta, v128.load(Si)), d0); d1 = f32x4.add(f32x4.mul(vbeta, v128.load(Si + 16)), d1);
        d2 = f32x4.add(f32x4.mul(vbeta, v128.load(Si + 32)), d2); d3 = f32x4.add(f32x4.mul(vbeta, ld(Si + 48, tl)), d3);
        v128.store(Si, d0); v128.store(Si + 16, d1); v128.store(Si + 32, d2); st(Si + 48, d3, tl);
      }
      m0 = f32x4.add(m0, d0); m1 = f32x4.add(m1, d1); m2 = f32x4.add(m2, d2); m3 = f32x4.add(m3, d3);
      v128.store(N, m0); v128.store(N + 16, m1); v128.store(N + 32, m2); st(N + 48, m3, tl);
    }
    let r = f32x4.add(z, f32x4.mul(m0, q0));
    r = f32x4.add(r, f32x4.mul(m1, q1)); r = f32x4.add(r, f32x4.mul(m2, q2)); r = f32x4.add(r, f32x4.mul(m3, q3));
    const yi = hsum(r), yo = y + (<usize>i << 2);
    store<f32>(yo, acc ? load<f32>(yo) + yi : yi);
  }
}

/**
 * Adam's commit, per lane: m ← β1 m + (1−β1) A; u ← β2 u + (1−β2) A²; Mn = Mp − η c1 m / √(c2 u + ε);
 * stores m, u, A at sm, su, sa (the saved blocks).
 */
// @ts-ignore: decorator
@inline function adamVec(Mp: usize, Mn: usize, A: usize, m: usize, u: usize, sm: usize, su: usize, sa: usize,
  vb1: v128, vob1: v128, vb2: v128, vob2: v128, vstep: v128, vc2: v128, veps: v128, o: usize, t: i32): void {
  const a = ld(A + o, t);
  const mv = f32x4.add(f32x4.mul(vb1, ld(m + o, t)), f32x4.mul(vob1, a));
  const uv = f32x4.add(f32x4.mul(vb2, ld(u + o, t)), f32x4.mul(vob2, f32x4.mul(a, a)));
  st(m + o, mv, t); st(u + o, uv, t);
  st(sm + o, mv, t); st(su + o, uv, t); st(sa + o, a, t);
  const d = f32x4.sqrt(f32x4.add(f32x4.mul(vc2, uv), veps));
  st(Mn + o, f32x4.sub(ld(Mp + o, t), f32x4.div(f32x4.mul(vstep, mv), d)), t);
}

/** Adam's commit over the flat state of S floats. */
function adamCommit(Mp: usize, Mn: usize, A: usize, m: usize, u: usize, sm: usize, su: usize, sa: usize, S: i32,
  eta: f32, b1: f32, b2: f32, eps: f32, c1: f32, c2: f32): void {
  const vb1 = f32x4.splat(b1), vob1 = f32x4.splat(1 - b1), vb2 = f32x4.splat(b2), vob2 = f32x4.splat(1 - b2);
  const vstep = f32x4.splat(eta * c1), vc2 = f32x4.splat(c2), veps = f32x4.splat(eps);
  let x = 0;
  for (; x + 4 <= S; x += 4) adamVec(Mp, Mn, A, m, u, sm, su, sa, vb1, vob1, vb2, vob2, vstep, vc2, veps, <usize>x << 2, 4);
  if (x < S) adamVec(Mp, Mn, A, m, u, sm, su, sa, vb1, vob1, vb2, vob2, vstep, vc2, veps, <usize>x << 2, S - x);
}

/**
 * MemoryShape.normalize: out = x / max(‖x‖, 1e-12) over n floats (src/layers/linear-memory.ts's
 * l2Normalize, in float32 here); returns the norm used (the backward divides by it).
 */
function normalizeRow(x: usize, out: usize, n: i32): f32 {
  const nrm = max<f32>(sqrt<f32>(dotRow(x, x, n)), <f32>1e-12);
  const vn = f32x4.splat(nrm);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(out + (<usize>j << 2), f32x4.div(v128.load(x + (<usize>j << 2)), vn));
  if (j < n) st(out + (<usize>j << 2), f32x4.div(ld(x + (<usize>j << 2), n - j), vn), n - j);
  return nrm;
}

/** Backward of normalizeRow in place: g ← (g − x̂ (x̂·g)) / nrm over n floats, x̂ the normalised row. */
function normalizeRowBackward(xh: usize, nrm: f32, g: usize, n: i32): void {
  const vd = f32x4.splat(dotRow(xh, g, n)), vn = f32x4.splat(nrm);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(g + o, f32x4.div(f32x4.sub(v128.load(g + o), f32x4.mul(v128.load(xh + o), vd)), vn));
  }
  if (j < n) {
    const o = <usize>j << 2, t = n - j;
    st(g + o, f32x4.div(f32x4.sub(ld(g + o, t), f32x4.mul(ld(xh + o, t), vd)), vn), t);
  }
}

/** Where `saved`'s working area starts (src/ops/memory-recurrence.ts: memoryWorkOffset), in bytes. */
function workOf(saved: usize, B: i32, T: i32, dk: i32, dv: i32, opt: i32, period: i32): usize { // B: every slot (B·H)
  const SB = <usize>(dk * dv) << 2;
  const adamBlock = opt == OPT_ADAM ? <usize>B * <usize>T * SB : 0;
  return saved + <usize>B * <usize>(T / period + 1) * SB + 3 * adamBlock;
}

/** Ops.memoryForward on all B sequences, with `saved`'s own working area. */
export function memoryForward(k: usize, v: usize, q: usize, y: usize, saved: usize, B: i32, T: i32, dk: i32, dv: i32,
  rule: i32, opt: i32, period: i32, eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64,
  ks: i32, vs: i32, ys: i32, norm: i32, acc: i32, H: i32, khs: i32, vhs: i32, yhs: i32): void {
  memoryForwardRange(k, v, q, y, saved, B, T, dk, dv, rule, opt, period, eta64, beta64, beta1, beta2, eps64,
    ks, vs, ys, norm, acc, H, khs, vhs, yhs, 0, B * H, workOf(saved, B * H, T, dk, dv, opt, period));
}

/**
 * memoryForward on sequences b0 ≤ b < b1 of the B the arguments describe, with the working area
 * (4·dk·dv floats) at `work`: threads run disjoint ranges, each with a working area of its own
 * (src/backends/wasm/batch-pool.ts). Each sequence is computed by the same code whatever the
 * range, so a split call is bit-identical to a whole one.
 */
export function memoryForwardRange(k: usize, v: usize, q: usize, y: usize, saved: usize, B: i32, T: i32, dk: i32, dv: i32,
  rule: i32, opt: i32, period: i32, eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64,
  ks: i32, vs: i32, ys: i32, norm: i32, acc: i32, H: i32, khs: i32, vhs: i32, yhs: i32,
  b0: i32, b1: i32, work: usize): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, SB = <usize>S << 2;
  const kRow = <usize>ks << 2, vRow = <usize>vs << 2, yRow = <usize>ys << 2;
  const kHat = work + 5 * SB, qHat = kHat + rowBytes; // normalize: the step's k̂, q̂
  const eta = <f32>eta64, beta = <f32>beta64;
  const adamBlock = opt == OPT_ADAM ? <usize>(B * H) * <usize>T * SB : 0;
  const nc = T / period + 1; // states per sequence
  const mBase = saved + <usize>(B * H) * <usize>nc * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const A = work, Sm = A + SB, m = Sm + SB, u = m + SB;
  // Sequence slot sb = h·B + b: memory h (of H in the call), sequence b; b0…b1 are slots.
  for (let sb = b0; sb < b1; sb++) {
    const h = sb / B, b = sb - h * B;
    const kh = k + (<usize>h * <usize>khs << 2), qh = q + (<usize>h * <usize>khs << 2);
    const vh = v + (<usize>h * <usize>vhs << 2), yh = y + (<usize>h * <usize>yhs << 2);
    zero(A, 4 * S);
    let commits = 0;
    const Rlast = saved + <usize>(sb * nc + nc - 1) * SB; // R[sb, c] at Rlast − c·S (time-reversed)
    zero(Rlast, S); // R[sb, 0]
    for (let t = 1; t <= T; t++) {
      const row = <usize>(b * T + t - 1);
      const Mp = Rlast - <usize>((t - 1) / period) * SB, Mn = Rlast - <usize>(t / period) * SB;
      let kp = kh + row * kRow, qp = qh + row * kRow;
      const vp = vh + row * vRow, yp = yh + row * yRow;
      const commit = t % period == 0;
      if (commit) commits++;
      const fast = (opt != OPT_ADAM || !commit) && dk > 12 && dk <= 16; // stepRows16 (normalises itself)
      if (norm && !fast) { normalizeRow(kp, kHat, dk); normalizeRow(qp, qHat, dk); kp = kHat; qp = qHat; }
      // Row i: e_i = M_i·k − v_i (delta) or −v_i (hebbian); A_i += e_i k; commit (or keep) M_i; y_i = M_i·q.
      if (opt != OPT_ADAM || !commit) {
        const mode = !commit ? KEEP : opt == OPT_GD ? COMMIT_GD : COMMIT_MOMENTUM;
        const delta = rule == RULE_DELTA;
        if (fast) {
          stepRows16(mode, delta, norm, acc, dv, dk - 12, eta, beta, rowBytes, kp, qp, vp, yp, A, Sm, Mp, Mn);
        } else {
          for (let i = 0; i < dv; i += 4) {
            const Mi = <usize>i * rowBytes, o = <usize>i << 2;
            stepRows(mode, delta, acc, min(4, dv - i), eta, beta, kp, vp + o, yp + o, A + Mi, Sm + Mi, Mp + Mi, Mn + Mi, qp, dk, rowBytes);
          }
        }
      } else {
        // Adam's commit needs the step's bias corrections and saves m, u, A: a pass of its own.
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          let ei = -load<f32>(vp + (<usize>i << 2));
          if (rule == RULE_DELTA) ei += dotRow(Mp + Mi, kp, dk);
          axpyRow(ei, kp, A + Mi, dk);
        }
        const c1 = <f32>(1 / (1 - powi(beta1, commits))), c2 = <f32>(1 / (1 - powi(beta2, commits)));
        const so = <usize>(sb * T + t - 1) * SB;
        adamCommit(Mp, Mn, A, m, u, mBase + so, uBase + so, aBase + so, S, eta, <f32>beta1, <f32>beta2, <f32>eps64, c1, c2);
        zero(A, S);
        for (let i = 0; i < dv; i++) {
          const yi = dotRow(Mn + <usize>i * rowBytes, qp, dk), yo = yp + (<usize>i << 2);
          store<f32>(yo, acc ? load<f32>(yo) + yi : yi);
        }
      }
    }
  }
}

/**
 * Backward of the read of row i (y_i = R_i·q), per lane: dM += g q; dq += g R; then of the commit:
 * COMMIT_GD: dA = −η dM; COMMIT_MOMENTUM: dS += dM, dA = −η dS, dS ← β dS. Returns the lanes of
 * dA as the write's backward will see them.
 */
// @ts-ignore: decorator
@inline function readVec(mode: i32, vg: v128, vneg: v128, vbeta: v128, q: usize, dM: usize, R: usize, dq: usize,
  dA: usize, dS: usize, o: usize, t: i32): v128 {
  const d = f32x4.add(ld(dM + o, t), f32x4.mul(vg, ld(q + o, t)));
  st(dM + o, d, t);
  st(dq + o, f32x4.add(ld(dq + o, t), f32x4.mul(vg, ld(R + o, t))), t);
  if (mode == KEEP) return ld(dA + o, t);
  let da: v128;
  if (mode == COMMIT_GD) {
    da = f32x4.mul(vneg, d);
  } else {
    const sv = f32x4.add(ld(dS + o, t), d);
    da = f32x4.mul(vneg, sv);
    st(dS + o, f32x4.mul(vbeta, sv), t);
  }
  st(dA + o, da, t);
  return da;
}

/**
 * The read's (and commit's) backward for row i over its n floats, and the two dot products the
 * write's backward needs, sharing the pass: returns Rp_i·k (delta only, else 0) and leaves dA_i·k
 * in pairSecond.
 */
// @ts-ignore: decorator
@inline function readRow(mode: i32, delta: bool, g: f32, eta: f32, beta: f32, q: usize, dM: usize, R: usize, dq: usize,
  dA: usize, dS: usize, Rp: usize, k: usize, n: i32): f32 {
  const vg = f32x4.splat(g), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  let se = f32x4.splat(0), sd = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2, kv = v128.load(k + o);
    sd = f32x4.add(sd, f32x4.mul(readVec(mode, vg, vneg, vbeta, q, dM, R, dq, dA, dS, o, 4), kv));
    if (delta) se = f32x4.add(se, f32x4.mul(v128.load(Rp + o), kv));
  }
  if (j < n) {
    const o = <usize>j << 2, t = n - j, kv = ld(k + o, t);
    sd = f32x4.add(sd, f32x4.mul(readVec(mode, vg, vneg, vbeta, q, dM, R, dq, dA, dS, o, t), kv));
    if (delta) se = f32x4.add(se, f32x4.mul(ld(Rp + o, t), kv));
  }
  pairSecond = hsum(sd);
  return hsum(se);
}

/** Returns a·c and leaves b·c in pairSecond: two dot products sharing the loads of c. */
// @ts-ignore: decorator
@inline function dotPair(a: usize, b: usize, c: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2, cv = v128.load(c + o);
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), cv));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(b + o), cv));
  }
  if (j < n) {
    const o = <usize>j << 2, t = n - j, cv = ld(c + o, t);
    s0 = f32x4.add(s0, f32x4.mul(ld(a + o, t), cv));
    s1 = f32x4.add(s1, f32x4.mul(ld(b + o, t), cv));
  }
  pairSecond = hsum(s1);
  return hsum(s0);
}

/** Delta-rule write backward, row i, per lane: dk += e dA + de R; dM += de k. */
// @ts-ignore: decorator
@inline function deltaVec(ve: v128, vde: v128, dA: usize, R: usize, k: usize, dkp: usize, dM: usize, o: usize, t: i32): void {
  st(dkp + o, f32x4.add(ld(dkp + o, t), f32x4.add(f32x4.mul(ve, ld(dA + o, t)), f32x4.mul(vde, ld(R + o, t)))), t);
  st(dM + o, f32x4.add(ld(dM + o, t), f32x4.mul(vde, ld(k + o, t))), t);
}

// @ts-ignore: decorator
@inline function deltaRow(e: f32, de: f32, dA: usize, R: usize, k: usize, dkp: usize, dM: usize, n: i32): void {
  const ve = f32x4.splat(e), vde = f32x4.splat(de);
  let j = 0;
  for (; j + 4 <= n; j += 4) deltaVec(ve, vde, dA, R, k, dkp, dM, <usize>j << 2, 4);
  if (j < n) deltaVec(ve, vde, dA, R, k, dkp, dM, <usize>j << 2, n - j);
}

/**
 * The write's backward for row i, given rk = R_{t−1,i}·k and dAk = dA_i·k:
 *   delta:   e = rk − v_i, de = dAk; dv_i = −de; dk += e dA_i + de R_{t−1,i}; dM_i += de k;
 *   hebbian: dv_i = −dAk; dk += −v_i dA_i.
 */
// @ts-ignore: decorator
@inline function writeGrad(delta: bool, rk: f32, dAk: f32, vi: f32, dA: usize, Rp: usize, k: usize, dkp: usize, dM: usize,
  dvi: usize, n: i32): void {
  store<f32>(dvi, -dAk);
  if (delta) deltaRow(rk - vi, dAk, dA, Rp, k, dkp, dM, n);
  else axpyRow(-vi, dA, dkp, n);
}

/**
 * One backward step's rows (readRow then writeGrad, row by row, no Adam commit) for 12 < dk ≤ 16
 * (memory-lm's 14): the row is four vectors, the last of tl lanes, so k, q and the step's dq and
 * dk accumulators stay in registers across the rows instead of a load and a store of dq and dk per
 * row (a chain through memory from row to row). The same arithmetic in the same order as the
 * general loop: bit-identical results.
 */
function backStep16(mode: i32, delta: bool, norm: i32, eta: f32, beta: f32, dv: i32, tl: i32, rowBytes: usize, q: usize,
  k: usize, v: usize, dy: usize, dM: usize, Rt: usize, Rp: usize, dA: usize, dS: usize, dq: usize, dkp: usize, dvp: usize): void {
  const z = f32x4.splat(0), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  let k0 = v128.load(k), k1 = v128.load(k + 16), k2 = v128.load(k + 32), k3 = ld(k + 48, tl);
  let q0 = v128.load(q), q1 = v128.load(q + 16), q2 = v128.load(q + 32), q3 = ld(q + 48, tl);
  let kn = z, qn = z; // normalize: the norms, splat
  if (norm) { // normalizeRow's arithmetic, in registers
    kn = f32x4.splat(norm16(k0, k1, k2, k3)); qn = f32x4.splat(norm16(q0, q1, q2, q3));
    k0 = f32x4.div(k0, kn); k1 = f32x4.div(k1, kn); k2 = f32x4.div(k2, kn); k3 = f32x4.div(k3, kn);
    q0 = f32x4.div(q0, qn); q1 = f32x4.div(q1, qn); q2 = f32x4.div(q2, qn); q3 = f32x4.div(q3, qn);
  }
  let aq0 = z, aq1 = z, aq2 = z, aq3 = z, ak0 = z, ak1 = z, ak2 = z, ak3 = z;
  for (let i = 0; i < dv; i++) {
    const o = <usize>i * rowBytes, M = dM + o, R = Rt + o, P = Rp + o, Ai = dA + o, Si = dS + o;
    const vg = f32x4.splat(load<f32>(dy + (<usize>i << 2)));
    // read: dM_i += g q; dq += g R_i
    const d0 = f32x4.add(v128.load(M), f32x4.mul(vg, q0)), d1 = f32x4.add(v128.load(M + 16), f32x4.mul(vg, q1));
    const d2 = f32x4.add(v128.load(M + 32), f32x4.mul(vg, q2)), d3 = f32x4.add(ld(M + 48, tl), f32x4.mul(vg, q3));
    aq0 = f32x4.add(aq0, f32x4.mul(vg, v128.load(R))); aq1 = f32x4.add(aq1, f32x4.mul(vg, v128.load(R + 16)));
    aq2 = f32x4.add(aq2, f32x4.mul(vg, v128.load(R + 32))); aq3 = f32x4.add(aq3, f32x4.mul(vg, ld(R + 48, tl)));
    // the commit's backward: dA (KEEP: as it is)
    let a0: v128, a1: v128, a2: v128, a3: v128;
    if (mode == KEEP) {
      a0 = v128.load(Ai); a1 = v128.load(Ai + 16); a2 = v128.load(Ai + 32); a3 = ld(Ai + 48, tl);
    } else if (mode == COMMIT_GD) {
      a0 = f32x4.mul(vneg, d0); a1 = f32x4.mul(vneg, d1); a2 = f32x4.mul(vneg, d2); a3 = f32x4.mul(vneg, d3);
    } else {
      const s0 = f32x4.add(v128.load(Si), d0), s1 = f32x4.add(v128.load(Si + 16), d1);
      const s2 = f32x4.add(v128.load(Si + 32), d2), s3 = f32x4.add(ld(Si + 48, tl), d3);
      a0 = f32x4.mul(vneg, s0); a1 = f32x4.mul(vneg, s1); a2 = f32x4.mul(vneg, s2); a3 = f32x4.mul(vneg, s3);
      v128.store(Si, f32x4.mul(vbeta, s0)); v128.store(Si + 16, f32x4.mul(vbeta, s1));
      v128.store(Si + 32, f32x4.mul(vbeta, s2)); st(Si + 48, f32x4.mul(vbeta, s3), tl);
    }
    if (mode != KEEP) { v128.store(Ai, a0); v128.store(Ai + 16, a1); v128.store(Ai + 32, a2); st(Ai + 48, a3, tl); }
    // dA_i·k and (delta) R_{t−1,i}·k, summed in readRow's order
    let sd = f32x4.add(z, f32x4.mul(a0, k0));
    sd = f32x4.add(sd, f32x4.mul(a1, k1)); sd = f32x4.add(sd, f32x4.mul(a2, k2)); sd = f32x4.add(sd, f32x4.mul(a3, k3));
    const dAk = hsum(sd), vi = load<f32>(v + (<usize>i << 2));
    store<f32>(dvp + (<usize>i << 2), -dAk);
    if (delta) {
      const p0 = v128.load(P), p1 = v128.load(P + 16), p2 = v128.load(P + 32), p3 = ld(P + 48, tl);
      let se = f32x4.add(z, f32x4.mul(p0, k0));
      se = f32x4.add(se, f32x4.mul(p1, k1)); se = f32x4.add(se, f32x4.mul(p2, k2)); se = f32x4.add(se, f32x4.mul(p3, k3));
      // the write's backward: e = rk − v_i, de = dAk; dk += e dA_i + de R_{t−1,i}; dM_i += de k
      const ve = f32x4.splat(hsum(se) - vi), vde = f32x4.splat(dAk);
      ak0 = f32x4.add(ak0, f32x4.add(f32x4.mul(ve, a0), f32x4.mul(vde, p0)));
      ak1 = f32x4.add(ak1, f32x4.add(f32x4.mul(ve, a1), f32x4.mul(vde, p1)));
      ak2 = f32x4.add(ak2, f32x4.add(f32x4.mul(ve, a2), f32x4.mul(vde, p2)));
      ak3 = f32x4.add(ak3, f32x4.add(f32x4.mul(ve, a3), f32x4.mul(vde, p3)));
      v128.store(M, f32x4.add(d0, f32x4.mul(vde, k0))); v128.store(M + 16, f32x4.add(d1, f32x4.mul(vde, k1)));
      v128.store(M + 32, f32x4.add(d2, f32x4.mul(vde, k2))); st(M + 48, f32x4.add(d3, f32x4.mul(vde, k3)), tl);
    } else {
      // hebbian: dk += −v_i dA_i; dM_i as read left it
      const vn = f32x4.splat(-vi);
      ak0 = f32x4.add(ak0, f32x4.mul(vn, a0)); ak1 = f32x4.add(ak1, f32x4.mul(vn, a1));
      ak2 = f32x4.add(ak2, f32x4.mul(vn, a2)); ak3 = f32x4.add(ak3, f32x4.mul(vn, a3));
      v128.store(M, d0); v128.store(M + 16, d1); v128.store(M + 32, d2); st(M + 48, d3, tl);
    }
  }
  if (norm) { // normalizeRowBackward: g ← (g − x̂ (x̂·g)) / ‖x‖
    const dk_ = f32x4.splat(dot16(k0, k1, k2, k3, ak0, ak1, ak2, ak3)), dq_ = f32x4.splat(dot16(q0, q1, q2, q3, aq0, aq1, aq2, aq3));
    ak0 = f32x4.div(f32x4.sub(ak0, f32x4.mul(k0, dk_)), kn); ak1 = f32x4.div(f32x4.sub(ak1, f32x4.mul(k1, dk_)), kn);
    ak2 = f32x4.div(f32x4.sub(ak2, f32x4.mul(k2, dk_)), kn); ak3 = f32x4.div(f32x4.sub(ak3, f32x4.mul(k3, dk_)), kn);
    aq0 = f32x4.div(f32x4.sub(aq0, f32x4.mul(q0, dq_)), qn); aq1 = f32x4.div(f32x4.sub(aq1, f32x4.mul(q1, dq_)), qn);
    aq2 = f32x4.div(f32x4.sub(aq2, f32x4.mul(q2, dq_)), qn); aq3 = f32x4.div(f32x4.sub(aq3, f32x4.mul(q3, dq_)), qn);
  }
  v128.store(dq, aq0); v128.store(dq + 16, aq1); v128.store(dq + 32, aq2); st(dq + 48, aq3, tl);
  v128.store(dkp, ak0); v128.store(dkp + 16, ak1); v128.store(dkp + 32, ak2); st(dkp + 48, ak3, tl);
}

/** Ops.memoryBackward on all B sequences, with `saved`'s own working area. */
export function memoryBackward(k: usize, v: usize, q: usize, saved: usize, dy: usize, dK: usize, dV: usize, dQ: usize,
  B: i32, T: i32, dk: i32, dv: i32, rule: i32, opt: i32, period: i32,
  eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64, ks: i32, vs: i32, ys: i32, norm: i32,
  H: i32, khs: i32, vhs: i32, yhs: i32): void {
  memoryBackwardRange(k, v, q, saved, dy, dK, dV, dQ, B, T, dk, dv, rule, opt, period, eta64, beta64, beta1, beta2, eps64,
    ks, vs, ys, norm, H, khs, vhs, yhs, 0, B * H, workOf(saved, B * H, T, dk, dv, opt, period));
}

/** memoryBackward on sequences b0 ≤ b < b1, working area (5·dk·dv floats) at `work` (as memoryForwardRange). */
export function memoryBackwardRange(k: usize, v: usize, q: usize, saved: usize, dy: usize, dK: usize, dV: usize, dQ: usize,
  B: i32, T: i32, dk: i32, dv: i32, rule: i32, opt: i32, period: i32,
  eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64, ks: i32, vs: i32, ys: i32, norm: i32,
  H: i32, khs: i32, vhs: i32, yhs: i32, b0: i32, b1: i32, work: usize): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, SB = <usize>S << 2;
  const kRow = <usize>ks << 2, vRow = <usize>vs << 2, yRow = <usize>ys << 2;
  const eta = <f32>eta64, beta = <f32>beta64, b1f = <f32>beta1, b2f = <f32>beta2, eps = <f32>eps64;
  const adamBlock = opt == OPT_ADAM ? <usize>(B * H) * <usize>T * SB : 0;
  const nc = T / period + 1;
  const mBase = saved + <usize>(B * H) * <usize>nc * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const dM = work, dA = dM + SB, dS = dA + SB, dm = dS + SB, du = dm + SB;
  const kHat = work + 5 * SB, qHat = kHat + rowBytes; // normalize: the step's k̂, q̂
  for (let sb = b0; sb < b1; sb++) {
    const h = sb / B, b = sb - h * B;
    const ko = <usize>h * <usize>khs << 2, vo = <usize>h * <usize>vhs << 2, yo = <usize>h * <usize>yhs << 2;
    zero(dM, 5 * S);
    let commits = T / period;
    const Rlast = saved + <usize>(sb * nc + nc - 1) * SB;
    for (let t = T; t >= 1; t--) {
      const row = <usize>(b * T + t - 1);
      const Rt = Rlast - <usize>(t / period) * SB, Rp = Rlast - <usize>((t - 1) / period) * SB;
      let kp = k + ko + row * kRow, qp = q + ko + row * kRow;
      const vp = v + vo + row * vRow;
      const dkp = dK + ko + row * kRow, dqp = dQ + ko + row * kRow, dvp = dV + vo + row * vRow, dyp = dy + yo + row * yRow;
      // normalize: the recurrence ran on k̂, q̂ (recomputed here); dkp, dqp gather dk̂, dq̂ and are
      // mapped to the raw rows' gradients at the end of the step.
      const commit = t % period == 0;
      const delta = rule == RULE_DELTA, adamCommit = commit && opt == OPT_ADAM;
      const mode = !commit || opt == OPT_ADAM ? KEEP : opt == OPT_GD ? COMMIT_GD : COMMIT_MOMENTUM;
      if (!adamCommit && dk > 12 && dk <= 16) {
        // the whole step, normalisation and its backward included, in registers
        backStep16(mode, delta, norm, eta, beta, dv, dk - 12, rowBytes, qp, kp, vp, dyp, dM, Rt, Rp, dA, dS, dqp, dkp, dvp);
        if (commit) commits--;
        continue;
      }
      let kn: f32 = 1, qn: f32 = 1;
      if (norm) { kn = normalizeRow(kp, kHat, dk); qn = normalizeRow(qp, qHat, dk); kp = kHat; qp = qHat; }
      // read y_t = R_t q_t: dM += dy qᵀ, dq = R_tᵀ dy; then the commit's backward (A was reset after
      // it, so the dA of later steps is dropped); then the write's (A += G_t, dG = dA). With gd and
      // momentum all three run row by row; Adam's commit needs the whole of dM first.
      zero(dqp, dk);
      zero(dkp, dk);
      for (let i = 0; i < dv; i++) {
        const Mi = <usize>i * rowBytes, g = load<f32>(dyp + (<usize>i << 2));
        const rk = readRow(mode, delta, g, eta, beta, qp, dM + Mi, Rt + Mi, dqp, dA + Mi, dS + Mi, Rp + Mi, kp, dk);
        if (!adamCommit) writeGrad(delta, rk, pairSecond, load<f32>(vp + (<usize>i << 2)), dA + Mi, Rp + Mi, kp, dkp, dM + Mi, dvp + (<usize>i << 2), dk);
      }
      if (adamCommit) {
        // dm += dM·(−η c1/D); du += dM·(η c1 m c2 / (2D³)), D = √(c2 u + ε);
        // dA = (1−β1) dm + 2(1−β2) A du; dm ← β1 dm; du ← β2 du. Scalar: Adam memories are rare.
        const c1 = <f32>(1 / (1 - powi(beta1, commits))), c2 = <f32>(1 / (1 - powi(beta2, commits)));
        const so = <usize>(sb * T + t - 1) * SB;
        for (let x = 0; x < S; x++) {
          const o = <usize>x << 2;
          const mx = load<f32>(mBase + so + o), ux = load<f32>(uBase + so + o), ax = load<f32>(aBase + so + o);
          const D = sqrt<f32>(c2 * ux + eps), g = load<f32>(dM + o);
          const dmx = load<f32>(dm + o) + g * (-eta * c1 / D);
          const dux = load<f32>(du + o) + g * (eta * c1 * mx * c2 / (2 * D * D * D));
          store<f32>(dA + o, (1 - b1f) * dmx + 2 * (1 - b2f) * ax * dux);
          store<f32>(dm + o, b1f * dmx);
          store<f32>(du + o, b2f * dux);
        }
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          const rk = dotPair(Rp + Mi, dA + Mi, kp, dk);
          writeGrad(delta, rk, pairSecond, load<f32>(vp + (<usize>i << 2)), dA + Mi, Rp + Mi, kp, dkp, dM + Mi, dvp + (<usize>i << 2), dk);
        }
      }
      if (norm) { normalizeRowBackward(kHat, kn, dkp, dk); normalizeRowBackward(qHat, qn, dqp, dk); }
      if (commit) commits--;
    }
  }
}
