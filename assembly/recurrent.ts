// Fused recurrent cells: one time step of an LSTM or GRU for a batch of B rows, after the layer's
// recurrent gemm. The contracts (and the reference loops these must match) are in
// src/ops/types.ts ("recurrent cells") and src/backends/reference/index.ts.
//
// Layout: gate blocks sit side by side in each row, so unit j of block k in row b is at
// [b·(blocks·H) + k·H + j]; state tensors are [B, H]. Every kernel walks row by row and, inside a
// row, eight units at a time (two f32x4 halves), all blocks of those units together: each gate
// value is loaded once, and the whole cell (activations, state update, derivatives) stays in
// registers. Then at most one vector of four units, and the last H mod 4 units of a row as one
// partial vector (loadTail/storeTail), so views may start anywhere and nothing past a row's end is
// ever written. The three paths run the same operations on each element: the same results.
//
// The eight-unit loops are written for V8's revectorizer (Node 24+, AVX2), which turns each pair
// of isomorphic f32x4 operations on adjacent memory into one 256-bit operation, but only where it
// can pair everything from an iteration's loads to its stores (see assembly/moe.ts): so every
// load of an iteration comes before its stores, and the constants of σ and tanh are splats of
// run-time values made before the loop (see "constants" below), passed to math.ts's vsigmoidWith
// and vtanhWith, not the hoisted globals (a global read cannot be paired; one unpaired operation
// leaves the whole loop 128-bit). `--trace-wasm-revectorize` shows every cell kernel paired.
// Measured at B 32, H 256, one thread, Zen 5 (medians of 4 alternating runs against the 4-unit
// kernels, µs per call): lstmCell 88.6 → 36.8, lstmCellBackward 7.4 → 5.5, gruCell 73.7 → 30.7,
// gruCellBackward 7.7 → 5.7, gruPaperGates 34.8 → 12.8, gruPaperOutput 20.2 → 9.6. The results
// are the same bit for bit (the same operations per element; math.ts's σ and tanh take e^−|x|
// from vexpNonPositive, equal to vexp there), which tests/backends/wasm-ops.test.ts checks unit
// by unit across the three paths.
import {
  EXP_C1, EXP_C2, EXP_LO, EXP_LOG2E, EXP_P0, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, EXP_ROUND_MAGIC,
  TANH_SMALL, TANH_T11, TANH_T3, TANH_T5, TANH_T7, TANH_T9,
  V_ONE, hoisted, loadTail, storeTail, vsigmoid, vsigmoidWith, vtanh, vtanhWith,
} from './math';

// Loads and stores of k lanes: k = 4 is a full vector. Called with a literal 4 in the loop bodies,
// so the test folds away after inlining.
// @ts-ignore: decorator
@inline function ld(p: usize, k: i32): v128 {
  return k >= 4 ? v128.load(p) : loadTail(p, k, 0);
}
// @ts-ignore: decorator
@inline function st(p: usize, v: v128, k: i32): void {
  if (k >= 4) v128.store(p, v); else storeTail(p, v, k);
}
// 1.0 in every lane, as a run-time global (math.ts "hoisted": V8 would rebuild a constant per use).
// @ts-ignore: decorator
@inline function one(): v128 { return V_ONE; }
/** x·(1−x): the derivative of σ from its output. */
// @ts-ignore: decorator
@inline function dsig(y: v128): v128 { return dsigWith(y, one()); }
// @ts-ignore: decorator
@inline function dsigWith(y: v128, one: v128): v128 { return f32x4.mul(y, f32x4.sub(one, y)); }
/** 1−y²: the derivative of tanh from its output. */
// @ts-ignore: decorator
@inline function dtanh(y: v128): v128 { return dtanhWith(y, one()); }
// @ts-ignore: decorator
@inline function dtanhWith(y: v128, one: v128): v128 { return f32x4.sub(one, f32x4.mul(y, y)); }

// ---- constants of the eight-unit loops -------------------------------------------------------------

// Each kernel that needs σ or tanh makes the splats of vsigmoidWith's and vtanhWith's constants
// once, before its loops, with the same names everywhere (lo, log2e, magic, c1, c2, p0…p5, one,
// bias, sign, zero; m2, small, t11…t3 for tanh), and writes them out at each call
// (AssemblyScript has no macros or tuples). The 4-unit and partial paths use math.ts's globals.
/** The i32 exponent bias 127 in every lane, as a run-time value (see math.ts "hoisted"). */
// @ts-ignore: decorator
@inline function expBias(): v128 { return i32x4.splat(<i32>f32x4.extract_lane(hoisted(127.0), 0)); }

// ---- LSTM ----------------------------------------------------------------------------------------

// The cell runs in two passes over a row. A single pass (all four activations, then c, tanh(c)
// and h for one vector of units) is one long dependency chain per vector (σ, then c, then tanh:
// ~150 cycles), longer than the out-of-order window can overlap with the next vector's, so at
// H = 100 it ran latency-bound (1.2 µs a step). Apart, each activation is a short independent
// chain and the passes run at throughput. Each element gets the same operations either way.
// (Re-measured with the 256-bit loops: one pass of eight units was not faster; nor were sixteen
// units per iteration, which run out of the sixteen AVX registers.)

// One vector of a block's gates in place: σ, or tanh for the g block.
// @ts-ignore: decorator
@inline function lstmActivate(g: usize, isTanh: bool, k: i32): void {
  const x = ld(g, k);
  st(g, isTanh ? vtanh(x) : vsigmoid(x), k);
}

// One block of a gate row in place (H units at g): eight units per iteration, then the rest.
// @ts-ignore: decorator
@inline function lstmActivateBlock(g: usize, H: i32, isTanh: bool,
  lo: v128, log2e: v128, magic: v128, c1: v128, c2: v128, p0: v128, p1: v128, p2: v128, p3: v128, p4: v128,
  p5: v128, one: v128, bias: v128, sign: v128, zero: v128,
  m2: v128, small: v128, t11: v128, t9: v128, t7: v128, t5: v128, t3: v128): void {
  let j = 0;
  for (; j + 8 <= H; j += 8) {
    const p = g + (<usize>j << 2);
    const x0 = v128.load(p), x1 = v128.load(p, 16);
    let y0: v128, y1: v128;
    if (isTanh) {
      y0 = vtanhWith(x0, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      y1 = vtanhWith(x1, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
    } else {
      y0 = vsigmoidWith(x0, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      y1 = vsigmoidWith(x1, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
    }
    v128.store(p, y0);
    v128.store(p, y1, 16);
  }
  if (j + 4 <= H) { lstmActivate(g + (<usize>j << 2), isTanh, 4); j += 4; }
  if (j < H) lstmActivate(g + (<usize>j << 2), isTanh, H - j);
}

// One vector of units after the activations. g: the unit's address in the i block of the gate
// row; hb: one block in bytes; the others: the unit's address in the [B,H] state tensors.
// @ts-ignore: decorator
@inline function lstmUnits(g: usize, hb: usize, cPrev: usize, c: usize, tanhC: usize, h: usize, k: i32): void {
  const i = ld(g, k), f = ld(g + hb, k), gg = ld(g + 2 * hb, k), o = ld(g + 3 * hb, k);
  const cn = f32x4.add(f32x4.mul(f, ld(cPrev, k)), f32x4.mul(i, gg));
  const tc = vtanh(cn);
  st(c, cn, k);
  st(tanhC, tc, k);
  st(h, f32x4.mul(o, tc), k);
}

// gates [B,4H] (i,f,g,o pre-activations → activations), cPrev, c, tanhC, h [B,H].
// c = f⊙cPrev + i⊙g, tanhC = tanh(c), h = o⊙tanhC.
export function lstmCell(gates: usize, cPrev: usize, c: usize, tanhC: usize, h: usize, B: i32, H: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), bias = expBias(), sign = hoisted(-0.0), zero = hoisted(0.0);
  const m2 = hoisted(-2.0), small = hoisted(TANH_SMALL), t11 = hoisted(TANH_T11), t9 = hoisted(TANH_T9), t7 = hoisted(TANH_T7);
  const t5 = hoisted(TANH_T5), t3 = hoisted(TANH_T3);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g = gates + <usize>b * 4 * hb, o = <usize>b * hb;
    lstmActivateBlock(g, H, false, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero, m2, small, t11, t9, t7, t5, t3);
    lstmActivateBlock(g + hb, H, false, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero, m2, small, t11, t9, t7, t5, t3);
    lstmActivateBlock(g + 2 * hb, H, true, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero, m2, small, t11, t9, t7, t5, t3);
    lstmActivateBlock(g + 3 * hb, H, false, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero, m2, small, t11, t9, t7, t5, t3);
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      const q = <usize>j << 2, gq = g + q, sq = o + q;
      const i0 = v128.load(gq), i1 = v128.load(gq, 16);
      const f0 = v128.load(gq + hb), f1 = v128.load(gq + hb, 16);
      const g0 = v128.load(gq + 2 * hb), g1 = v128.load(gq + 2 * hb, 16);
      const o0 = v128.load(gq + 3 * hb), o1 = v128.load(gq + 3 * hb, 16);
      const cp0 = v128.load(cPrev + sq), cp1 = v128.load(cPrev + sq, 16);
      const cn0 = f32x4.add(f32x4.mul(f0, cp0), f32x4.mul(i0, g0));
      const cn1 = f32x4.add(f32x4.mul(f1, cp1), f32x4.mul(i1, g1));
      const tc0 = vtanhWith(cn0, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      const tc1 = vtanhWith(cn1, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      v128.store(c + sq, cn0);
      v128.store(c + sq, cn1, 16);
      v128.store(tanhC + sq, tc0);
      v128.store(tanhC + sq, tc1, 16);
      v128.store(h + sq, f32x4.mul(o0, tc0));
      v128.store(h + sq, f32x4.mul(o1, tc1), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2;
      lstmUnits(g + q, hb, cPrev + o + q, c + o + q, tanhC + o + q, h + o + q, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2;
      lstmUnits(g + q, hb, cPrev + o + q, c + o + q, tanhC + o + q, h + o + q, H - j);
    }
  }
}

// @ts-ignore: decorator
@inline function lstmUnitsBackward(g: usize, dg: usize, hb: usize, cPrev: usize, tanhC: usize, dh: usize,
  dc: usize, k: i32): void {
  const i = ld(g, k), f = ld(g + hb, k), gg = ld(g + 2 * hb, k), o = ld(g + 3 * hb, k);
  const tc = ld(tanhC, k), d = ld(dh, k);
  // dL/dc_t: from step t+1 (dc) and through h = o⊙tanh(c).
  const dct = f32x4.add(ld(dc, k), f32x4.mul(f32x4.mul(d, o), dtanh(tc)));
  st(dg, f32x4.mul(f32x4.mul(dct, gg), dsig(i)), k);
  st(dg + hb, f32x4.mul(f32x4.mul(dct, ld(cPrev, k)), dsig(f)), k);
  st(dg + 2 * hb, f32x4.mul(f32x4.mul(dct, i), dtanh(gg)), k);
  st(dg + 3 * hb, f32x4.mul(f32x4.mul(d, tc), dsig(o)), k);
  st(dc, f32x4.mul(dct, f), k);
}

// gates [B,4H] activated; cPrev, tanhC, dh [B,H]; dc [B,H] in: dL/dc_t from t+1, out: dL/dcPrev;
// dgates [B,4H] out: pre-activation gradients.
export function lstmCellBackward(gates: usize, cPrev: usize, tanhC: usize, dh: usize, dc: usize, dgates: usize,
  B: i32, H: i32): void {
  const one = hoisted(1.0);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 4 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // lstmUnitsBackward on two vectors, all loads first (see the header).
      const q = <usize>j << 2, gq = gates + row + q, dq = dgates + row + q, sq = o + q;
      const i0 = v128.load(gq), i1 = v128.load(gq, 16);
      const f0 = v128.load(gq + hb), f1 = v128.load(gq + hb, 16);
      const g0 = v128.load(gq + 2 * hb), g1 = v128.load(gq + 2 * hb, 16);
      const o0 = v128.load(gq + 3 * hb), o1 = v128.load(gq + 3 * hb, 16);
      const tc0 = v128.load(tanhC + sq), tc1 = v128.load(tanhC + sq, 16);
      const d0 = v128.load(dh + sq), d1 = v128.load(dh + sq, 16);
      const dn0 = v128.load(dc + sq), dn1 = v128.load(dc + sq, 16);
      const cp0 = v128.load(cPrev + sq), cp1 = v128.load(cPrev + sq, 16);
      const dct0 = f32x4.add(dn0, f32x4.mul(f32x4.mul(d0, o0), dtanhWith(tc0, one)));
      const dct1 = f32x4.add(dn1, f32x4.mul(f32x4.mul(d1, o1), dtanhWith(tc1, one)));
      v128.store(dq, f32x4.mul(f32x4.mul(dct0, g0), dsigWith(i0, one)));
      v128.store(dq, f32x4.mul(f32x4.mul(dct1, g1), dsigWith(i1, one)), 16);
      v128.store(dq + hb, f32x4.mul(f32x4.mul(dct0, cp0), dsigWith(f0, one)));
      v128.store(dq + hb, f32x4.mul(f32x4.mul(dct1, cp1), dsigWith(f1, one)), 16);
      v128.store(dq + 2 * hb, f32x4.mul(f32x4.mul(dct0, i0), dtanhWith(g0, one)));
      v128.store(dq + 2 * hb, f32x4.mul(f32x4.mul(dct1, i1), dtanhWith(g1, one)), 16);
      v128.store(dq + 3 * hb, f32x4.mul(f32x4.mul(d0, tc0), dsigWith(o0, one)));
      v128.store(dq + 3 * hb, f32x4.mul(f32x4.mul(d1, tc1), dsigWith(o1, one)), 16);
      v128.store(dc + sq, f32x4.mul(dct0, f0));
      v128.store(dc + sq, f32x4.mul(dct1, f1), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2;
      lstmUnitsBackward(gates + row + q, dgates + row + q, hb, cPrev + o + q, tanhC + o + q, dh + o + q, dc + o + q, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2;
      lstmUnitsBackward(gates + row + q, dgates + row + q, hb, cPrev + o + q, tanhC + o + q, dh + o + q, dc + o + q, H - j);
    }
  }
}

// ---- GRU, PyTorch convention ---------------------------------------------------------------------

// @ts-ignore: decorator
@inline function gruUnits(x: usize, p: usize, hb: usize, hPrev: usize, h: usize, k: i32): void {
  const r = vsigmoid(f32x4.add(ld(x, k), ld(p, k)));
  const z = vsigmoid(f32x4.add(ld(x + hb, k), ld(p + hb, k)));
  const n = vtanh(f32x4.add(ld(x + 2 * hb, k), f32x4.mul(r, ld(p + 2 * hb, k))));
  st(x, r, k);
  st(x + hb, z, k);
  st(x + 2 * hb, n, k);
  // h = (1−z)⊙n + z⊙hPrev = n + z⊙(hPrev − n)
  st(h, f32x4.add(n, f32x4.mul(z, f32x4.sub(ld(hPrev, k), n))), k);
}

// xp [B,3H] (r,z,n pre-activations from the input → activations), hp [B,3H], hPrev, h [B,H].
export function gruCell(xp: usize, hp: usize, hPrev: usize, h: usize, B: i32, H: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), bias = expBias(), sign = hoisted(-0.0), zero = hoisted(0.0);
  const m2 = hoisted(-2.0), small = hoisted(TANH_SMALL), t11 = hoisted(TANH_T11), t9 = hoisted(TANH_T9), t7 = hoisted(TANH_T7);
  const t5 = hoisted(TANH_T5), t3 = hoisted(TANH_T3);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 3 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // gruUnits on two vectors, all loads first (see the header).
      const q = <usize>j << 2, x = xp + row + q, p = hp + row + q, sq = o + q;
      const xr0 = v128.load(x), xr1 = v128.load(x, 16), pr0 = v128.load(p), pr1 = v128.load(p, 16);
      const xz0 = v128.load(x + hb), xz1 = v128.load(x + hb, 16), pz0 = v128.load(p + hb), pz1 = v128.load(p + hb, 16);
      const xn0 = v128.load(x + 2 * hb), xn1 = v128.load(x + 2 * hb, 16);
      const pn0 = v128.load(p + 2 * hb), pn1 = v128.load(p + 2 * hb, 16);
      const hp0 = v128.load(hPrev + sq), hp1 = v128.load(hPrev + sq, 16);
      const r0 = vsigmoidWith(f32x4.add(xr0, pr0), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const r1 = vsigmoidWith(f32x4.add(xr1, pr1), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const z0 = vsigmoidWith(f32x4.add(xz0, pz0), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const z1 = vsigmoidWith(f32x4.add(xz1, pz1), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const n0 = vtanhWith(f32x4.add(xn0, f32x4.mul(r0, pn0)),
        lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      const n1 = vtanhWith(f32x4.add(xn1, f32x4.mul(r1, pn1)),
        lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      v128.store(x, r0);
      v128.store(x, r1, 16);
      v128.store(x + hb, z0);
      v128.store(x + hb, z1, 16);
      v128.store(x + 2 * hb, n0);
      v128.store(x + 2 * hb, n1, 16);
      v128.store(h + sq, f32x4.add(n0, f32x4.mul(z0, f32x4.sub(hp0, n0))));
      v128.store(h + sq, f32x4.add(n1, f32x4.mul(z1, f32x4.sub(hp1, n1))), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2;
      gruUnits(xp + row + q, hp + row + q, hb, hPrev + o + q, h + o + q, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2;
      gruUnits(xp + row + q, hp + row + q, hb, hPrev + o + q, h + o + q, H - j);
    }
  }
}

// @ts-ignore: decorator
@inline function gruUnitsBackward(g: usize, p: usize, dx: usize, dp: usize, hb: usize, hPrev: usize, dh: usize,
  dhPrev: usize, k: i32): void {
  const r = ld(g, k), z = ld(g + hb, k), n = ld(g + 2 * hb, k), d = ld(dh, k);
  const dn = f32x4.mul(f32x4.mul(d, f32x4.sub(one(), z)), dtanh(n));
  const dz = f32x4.mul(f32x4.mul(d, f32x4.sub(ld(hPrev, k), n)), dsig(z));
  const dr = f32x4.mul(f32x4.mul(dn, ld(p + 2 * hb, k)), dsig(r));
  st(dx, dr, k);
  st(dx + hb, dz, k);
  st(dx + 2 * hb, dn, k);
  st(dp, dr, k);
  st(dp + hb, dz, k);
  st(dp + 2 * hb, f32x4.mul(dn, r), k);
  st(dhPrev, f32x4.add(ld(dhPrev, k), f32x4.mul(d, z)), k);
}

// gates [B,3H] activated, hp [B,3H], hPrev, dh [B,H]; dxp, dhp [B,3H] out; dhPrev [B,H] += z⊙dh.
export function gruCellBackward(gates: usize, hp: usize, hPrev: usize, dh: usize, dxp: usize, dhp: usize, dhPrev: usize,
  B: i32, H: i32): void {
  const one = hoisted(1.0);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 3 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // gruUnitsBackward on two vectors, all loads first (see the header).
      const q = <usize>j << 2, rq = row + q, sq = o + q;
      const g = gates + rq, dx = dxp + rq, dp = dhp + rq;
      const r0 = v128.load(g), r1 = v128.load(g, 16), z0 = v128.load(g + hb), z1 = v128.load(g + hb, 16);
      const n0 = v128.load(g + 2 * hb), n1 = v128.load(g + 2 * hb, 16);
      const d0 = v128.load(dh + sq), d1 = v128.load(dh + sq, 16);
      const h0 = v128.load(hPrev + sq), h1 = v128.load(hPrev + sq, 16);
      const pn0 = v128.load(hp + rq + 2 * hb), pn1 = v128.load(hp + rq + 2 * hb, 16);
      const a0 = v128.load(dhPrev + sq), a1 = v128.load(dhPrev + sq, 16);
      const dn0 = f32x4.mul(f32x4.mul(d0, f32x4.sub(one, z0)), dtanhWith(n0, one));
      const dn1 = f32x4.mul(f32x4.mul(d1, f32x4.sub(one, z1)), dtanhWith(n1, one));
      const dz0 = f32x4.mul(f32x4.mul(d0, f32x4.sub(h0, n0)), dsigWith(z0, one));
      const dz1 = f32x4.mul(f32x4.mul(d1, f32x4.sub(h1, n1)), dsigWith(z1, one));
      const dr0 = f32x4.mul(f32x4.mul(dn0, pn0), dsigWith(r0, one));
      const dr1 = f32x4.mul(f32x4.mul(dn1, pn1), dsigWith(r1, one));
      v128.store(dx, dr0);
      v128.store(dx, dr1, 16);
      v128.store(dx + hb, dz0);
      v128.store(dx + hb, dz1, 16);
      v128.store(dx + 2 * hb, dn0);
      v128.store(dx + 2 * hb, dn1, 16);
      v128.store(dp, dr0);
      v128.store(dp, dr1, 16);
      v128.store(dp + hb, dz0);
      v128.store(dp + hb, dz1, 16);
      v128.store(dp + 2 * hb, f32x4.mul(dn0, r0));
      v128.store(dp + 2 * hb, f32x4.mul(dn1, r1), 16);
      v128.store(dhPrev + sq, f32x4.add(a0, f32x4.mul(d0, z0)));
      v128.store(dhPrev + sq, f32x4.add(a1, f32x4.mul(d1, z1)), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2, rq = row + q, oq = o + q;
      gruUnitsBackward(gates + rq, hp + rq, dxp + rq, dhp + rq, hb, hPrev + oq, dh + oq, dhPrev + oq, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2, rq = row + q, oq = o + q;
      gruUnitsBackward(gates + rq, hp + rq, dxp + rq, dhp + rq, hb, hPrev + oq, dh + oq, dhPrev + oq, H - j);
    }
  }
}

// ---- GRU, paper convention (Cho et al. 2014) -----------------------------------------------------

// @ts-ignore: decorator
@inline function paperGateUnits(x: usize, p: usize, hb: usize, hPrev: usize, rh: usize, k: i32): void {
  const r = vsigmoid(f32x4.add(ld(x, k), ld(p, k)));
  st(x, r, k);
  st(x + hb, vsigmoid(f32x4.add(ld(x + hb, k), ld(p + hb, k))), k);
  st(rh, f32x4.mul(r, ld(hPrev, k)), k);
}

// xrz [B,2H] (r,z pre-activations → σ), hrz [B,2H], hPrev [B,H]; rh [B,H] out = r⊙hPrev.
export function gruPaperGates(xrz: usize, hrz: usize, hPrev: usize, rh: usize, B: i32, H: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), bias = expBias(), sign = hoisted(-0.0), zero = hoisted(0.0);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 2 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // paperGateUnits on two vectors, all loads first (see the header).
      const q = <usize>j << 2, x = xrz + row + q, p = hrz + row + q, sq = o + q;
      const xr0 = v128.load(x), xr1 = v128.load(x, 16), pr0 = v128.load(p), pr1 = v128.load(p, 16);
      const xz0 = v128.load(x + hb), xz1 = v128.load(x + hb, 16), pz0 = v128.load(p + hb), pz1 = v128.load(p + hb, 16);
      const h0 = v128.load(hPrev + sq), h1 = v128.load(hPrev + sq, 16);
      const r0 = vsigmoidWith(f32x4.add(xr0, pr0), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const r1 = vsigmoidWith(f32x4.add(xr1, pr1), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const z0 = vsigmoidWith(f32x4.add(xz0, pz0), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      const z1 = vsigmoidWith(f32x4.add(xz1, pz1), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, zero);
      v128.store(x, r0);
      v128.store(x, r1, 16);
      v128.store(x + hb, z0);
      v128.store(x + hb, z1, 16);
      v128.store(rh + sq, f32x4.mul(r0, h0));
      v128.store(rh + sq, f32x4.mul(r1, h1), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2;
      paperGateUnits(xrz + row + q, hrz + row + q, hb, hPrev + o + q, rh + o + q, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2;
      paperGateUnits(xrz + row + q, hrz + row + q, hb, hPrev + o + q, rh + o + q, H - j);
    }
  }
}

// @ts-ignore: decorator
@inline function paperOutputUnits(zp: usize, xn: usize, hPrev: usize, h: usize, k: i32): void {
  const z = ld(zp, k);
  const n = vtanh(ld(xn, k));
  st(xn, n, k);
  st(h, f32x4.add(n, f32x4.mul(z, f32x4.sub(ld(hPrev, k), n))), k);
}

// rz [B,2H] activated, xn [B,H] (pre-activation → n), hPrev [B,H]; h [B,H] out.
export function gruPaperOutput(rz: usize, xn: usize, hPrev: usize, h: usize, B: i32, H: i32): void {
  const lo = hoisted(EXP_LO), log2e = hoisted(EXP_LOG2E), magic = hoisted(EXP_ROUND_MAGIC), c1 = hoisted(EXP_C1), c2 = hoisted(EXP_C2);
  const p0 = hoisted(EXP_P0), p1 = hoisted(EXP_P1), p2 = hoisted(EXP_P2), p3 = hoisted(EXP_P3), p4 = hoisted(EXP_P4), p5 = hoisted(EXP_P5);
  const one = hoisted(1.0), bias = expBias(), sign = hoisted(-0.0);
  const m2 = hoisted(-2.0), small = hoisted(TANH_SMALL), t11 = hoisted(TANH_T11), t9 = hoisted(TANH_T9), t7 = hoisted(TANH_T7);
  const t5 = hoisted(TANH_T5), t3 = hoisted(TANH_T3);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const zrow = rz + <usize>b * 2 * hb + hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // paperOutputUnits on two vectors, all loads first (see the header).
      const q = <usize>j << 2, zq = zrow + q, sq = o + q;
      const z0 = v128.load(zq), z1 = v128.load(zq, 16);
      const x0 = v128.load(xn + sq), x1 = v128.load(xn + sq, 16);
      const h0 = v128.load(hPrev + sq), h1 = v128.load(hPrev + sq, 16);
      const n0 = vtanhWith(x0, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      const n1 = vtanhWith(x1, lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias, sign, m2, small, t11, t9, t7, t5, t3);
      v128.store(xn + sq, n0);
      v128.store(xn + sq, n1, 16);
      v128.store(h + sq, f32x4.add(n0, f32x4.mul(z0, f32x4.sub(h0, n0))));
      v128.store(h + sq, f32x4.add(n1, f32x4.mul(z1, f32x4.sub(h1, n1))), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2;
      paperOutputUnits(zrow + q, xn + o + q, hPrev + o + q, h + o + q, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2;
      paperOutputUnits(zrow + q, xn + o + q, hPrev + o + q, h + o + q, H - j);
    }
  }
}

// @ts-ignore: decorator
@inline function paperOutputUnitsBackward(zp: usize, dzp: usize, n: usize, hPrev: usize, dh: usize, dn: usize,
  dhPrev: usize, k: i32): void {
  const z = ld(zp, k), nn = ld(n, k), d = ld(dh, k);
  st(dzp, f32x4.mul(f32x4.mul(d, f32x4.sub(ld(hPrev, k), nn)), dsig(z)), k);
  st(dn, f32x4.mul(f32x4.mul(d, f32x4.sub(one(), z)), dtanh(nn)), k);
  st(dhPrev, f32x4.add(ld(dhPrev, k), f32x4.mul(d, z)), k);
}

// rz [B,2H], n, hPrev, dh [B,H]; writes the z block of drz [B,2H] and dn [B,H]; dhPrev += z⊙dh.
export function gruPaperOutputBackward(rz: usize, n: usize, hPrev: usize, dh: usize, drz: usize, dn: usize, dhPrev: usize,
  B: i32, H: i32): void {
  const one = hoisted(1.0);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const zo = <usize>b * 2 * hb + hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // paperOutputUnitsBackward on two vectors, all loads first (see the header).
      const q = <usize>j << 2, zq = zo + q, sq = o + q;
      const z0 = v128.load(rz + zq), z1 = v128.load(rz + zq, 16);
      const n0 = v128.load(n + sq), n1 = v128.load(n + sq, 16);
      const d0 = v128.load(dh + sq), d1 = v128.load(dh + sq, 16);
      const h0 = v128.load(hPrev + sq), h1 = v128.load(hPrev + sq, 16);
      const a0 = v128.load(dhPrev + sq), a1 = v128.load(dhPrev + sq, 16);
      v128.store(drz + zq, f32x4.mul(f32x4.mul(d0, f32x4.sub(h0, n0)), dsigWith(z0, one)));
      v128.store(drz + zq, f32x4.mul(f32x4.mul(d1, f32x4.sub(h1, n1)), dsigWith(z1, one)), 16);
      v128.store(dn + sq, f32x4.mul(f32x4.mul(d0, f32x4.sub(one, z0)), dtanhWith(n0, one)));
      v128.store(dn + sq, f32x4.mul(f32x4.mul(d1, f32x4.sub(one, z1)), dtanhWith(n1, one)), 16);
      v128.store(dhPrev + sq, f32x4.add(a0, f32x4.mul(d0, z0)));
      v128.store(dhPrev + sq, f32x4.add(a1, f32x4.mul(d1, z1)), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2, oq = o + q;
      paperOutputUnitsBackward(rz + zo + q, drz + zo + q, n + oq, hPrev + oq, dh + oq, dn + oq, dhPrev + oq, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2, oq = o + q;
      paperOutputUnitsBackward(rz + zo + q, drz + zo + q, n + oq, hPrev + oq, dh + oq, dn + oq, dhPrev + oq, H - j);
    }
  }
}

// @ts-ignore: decorator
@inline function paperGateUnitsBackward(rp: usize, drp: usize, hPrev: usize, drh: usize, dhPrev: usize, k: i32): void {
  const r = ld(rp, k), d = ld(drh, k);
  st(drp, f32x4.mul(f32x4.mul(d, ld(hPrev, k)), dsig(r)), k);
  st(dhPrev, f32x4.add(ld(dhPrev, k), f32x4.mul(d, r)), k);
}

// rz [B,2H], hPrev, drh [B,H]; writes the r block of drz [B,2H]; dhPrev += r⊙drh.
export function gruPaperGatesBackward(rz: usize, hPrev: usize, drh: usize, drz: usize, dhPrev: usize, B: i32, H: i32): void {
  const one = hoisted(1.0);
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const ro = <usize>b * 2 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 8 <= H; j += 8) {
      // paperGateUnitsBackward on two vectors, all loads first (see the header).
      const q = <usize>j << 2, rq = ro + q, sq = o + q;
      const r0 = v128.load(rz + rq), r1 = v128.load(rz + rq, 16);
      const d0 = v128.load(drh + sq), d1 = v128.load(drh + sq, 16);
      const h0 = v128.load(hPrev + sq), h1 = v128.load(hPrev + sq, 16);
      const a0 = v128.load(dhPrev + sq), a1 = v128.load(dhPrev + sq, 16);
      v128.store(drz + rq, f32x4.mul(f32x4.mul(d0, h0), dsigWith(r0, one)));
      v128.store(drz + rq, f32x4.mul(f32x4.mul(d1, h1), dsigWith(r1, one)), 16);
      v128.store(dhPrev + sq, f32x4.add(a0, f32x4.mul(d0, r0)));
      v128.store(dhPrev + sq, f32x4.add(a1, f32x4.mul(d1, r1)), 16);
    }
    if (j + 4 <= H) {
      const q = <usize>j << 2, oq = o + q;
      paperGateUnitsBackward(rz + ro + q, drz + ro + q, hPrev + oq, drh + oq, dhPrev + oq, 4);
      j += 4;
    }
    if (j < H) {
      const q = <usize>j << 2, oq = o + q;
      paperGateUnitsBackward(rz + ro + q, drz + ro + q, hPrev + oq, drh + oq, dhPrev + oq, H - j);
    }
  }
}
