// Fused recurrent cells: one time step of an LSTM or GRU for a batch of B rows, after the layer's
// recurrent gemm. The contracts (and the reference loops these must match) are in
// src/ops/types.ts ("recurrent cells") and src/backends/reference/index.ts.
//
// Layout: gate blocks sit side by side in each row, so unit j of block k in row b is at
// [b·(blocks·H) + k·H + j]; state tensors are [B, H]. Every kernel walks row by row and, inside a
// row, four units at a time (f32x4), all blocks of those four units together: each gate value is
// loaded once, and the whole cell (activations, state update, derivatives) stays in registers.
// The last H mod 4 units of a row are one partial vector (loadTail/storeTail), so views may start
// anywhere and nothing past a row's end is ever written.
import { V_ONE, loadTail, storeTail, vsigmoid, vtanh } from './math';

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
@inline function dsig(y: v128): v128 { return f32x4.mul(y, f32x4.sub(one(), y)); }
/** 1−y²: the derivative of tanh from its output. */
// @ts-ignore: decorator
@inline function dtanh(y: v128): v128 { return f32x4.sub(one(), f32x4.mul(y, y)); }

// ---- LSTM ----------------------------------------------------------------------------------------

// The cell runs in two passes over a row. A single pass (all four activations, then c, tanh(c)
// and h for one vector of units) is one long dependency chain per vector (σ, then c, then tanh:
// ~150 cycles), longer than the out-of-order window can overlap with the next vector's, so at
// H = 100 it ran latency-bound (1.2 µs a step). Apart, each activation is a short independent
// chain and the passes run at throughput. Each element gets the same operations either way.

// One vector of a block's gates in place: σ, or tanh for the g block.
// @ts-ignore: decorator
@inline function lstmActivate(g: usize, isTanh: bool, k: i32): void {
  const x = ld(g, k);
  st(g, isTanh ? vtanh(x) : vsigmoid(x), k);
}

// @ts-ignore: decorator
@inline function lstmActivateBlock(g: usize, H: i32, isTanh: bool): void {
  let j = 0;
  for (; j + 4 <= H; j += 4) lstmActivate(g + (<usize>j << 2), isTanh, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const g = gates + <usize>b * 4 * hb, o = <usize>b * hb;
    lstmActivateBlock(g, H, false);
    lstmActivateBlock(g + hb, H, false);
    lstmActivateBlock(g + 2 * hb, H, true);
    lstmActivateBlock(g + 3 * hb, H, false);
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2;
      lstmUnits(g + q, hb, cPrev + o + q, c + o + q, tanhC + o + q, h + o + q, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 4 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2;
      lstmUnitsBackward(gates + row + q, dgates + row + q, hb, cPrev + o + q, tanhC + o + q, dh + o + q, dc + o + q, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 3 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2;
      gruUnits(xp + row + q, hp + row + q, hb, hPrev + o + q, h + o + q, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 3 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2, rq = row + q, oq = o + q;
      gruUnitsBackward(gates + rq, hp + rq, dxp + rq, dhp + rq, hb, hPrev + oq, dh + oq, dhPrev + oq, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * 2 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2;
      paperGateUnits(xrz + row + q, hrz + row + q, hb, hPrev + o + q, rh + o + q, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const zrow = rz + <usize>b * 2 * hb + hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2;
      paperOutputUnits(zrow + q, xn + o + q, hPrev + o + q, h + o + q, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const zo = <usize>b * 2 * hb + hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2, oq = o + q;
      paperOutputUnitsBackward(rz + zo + q, drz + zo + q, n + oq, hPrev + oq, dh + oq, dn + oq, dhPrev + oq, 4);
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
  const hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const ro = <usize>b * 2 * hb, o = <usize>b * hb;
    let j = 0;
    for (; j + 4 <= H; j += 4) {
      const q = <usize>j << 2, oq = o + q;
      paperGateUnitsBackward(rz + ro + q, drz + ro + q, hPrev + oq, drh + oq, dhPrev + oq, 4);
    }
    if (j < H) {
      const q = <usize>j << 2, oq = o + q;
      paperGateUnitsBackward(rz + ro + q, drz + ro + q, hPrev + oq, drh + oq, dhPrev + oq, H - j);
    }
  }
}
