// The tiled attention path (head width ≤ DMAX; ./attention.ts dispatches). The general kernels
// (./attention_general.ts) work in dot-product form (one query row against four keys, a
// horizontal sum per score) and run at a fraction of the GEMM's speed. Here every product is an
// outer-product register tile, as in the GEMM micro-kernel: a broadcast scalar times two vectors
// into eight accumulators, no horizontal sums, and multiply-adds fused in the relaxed build:
//   scores   ST[j, i] = Σ_d k[j, d] · QT[d, i]: QT is the row block's q, packed transposed once
//            per row block; a 4-key × 8-row tile; the result is key-major, so the online softmax
//            is vertical (lanes = four query rows): no horizontal max or sum either.
//   rows     out[i, d] = α_i·out[i, d] + Σ_j ST[j, i] · v[j, d]  (forward P·V; backward dQ += dS·K)
//   keys     dv[j, d] += Σ_i ST[j, i] · dO[i, d]  (backward dV += Pᵀ·dO; dK += dSᵀ·Q)
// Tiles past the end of the block compute on clamped (repeated) rows or zero-padded columns and
// are not stored; a head width that is not a multiple of 8 finishes with partial vectors.
//
// Tile width (`wide`, chosen by the backend per kernel path): with V8's revectorization (Node 24+,
// AVX2) the tiles are 4 × 16 (sixteen f32x4 accumulators that V8 pairs into eight 256-bit ones,
// as the GEMM's 4×16 micro-kernel: eight independent FMA chains; a 4 × 8 tile pairs into four and
// waits on the FMA latency); without it 4 × 8 (16 XMM registers). The pairing is all or nothing
// per loop: V8 pairs two f32x4 values only where everything from their loads to their stores
// pairs, so these loops take every load of an iteration before its stores, keep the full-width
// tiles apart from the ragged ones, and (the softmax loops, all 16 rows of a block per key) take
// their constants as run-time splats made before the loop (expSoftK), not as global reads.
// Measured at the transformer bench's shape (B 32, 4 heads of 32, T 128, causal, one thread, in
// one process against the previous kernels): forward 5.3 → 3.1 ms, backward 10.0 → 6.4 ms, the
// same results bit for bit (the sums run in the same order per element).
import {
  EXP_C1, EXP_C2, EXP_LO, EXP_LOG2E, EXP_P0, EXP_P1, EXP_P2, EXP_P3, EXP_P4, EXP_P5, EXP_ROUND_MAGIC,
  hoisted, ln, loadTail, rowDot, storeTail, V_ONE, vexp,
} from './math';
import { dropFactor, dropRow4, DROP_MUL_J, maxI, minI, visible } from './attention_common';

const FBR: i32 = 16; // query rows per block: one 16-row score tile, or two of 8 rows
const FBC: i32 = 64; // keys per block (a multiple of 4)
export const DMAX: i32 = 256; // widest head the tiled path packs; wider heads take the general path
// Scratch of the tiled path, in floats: QT and dOT [DMAX, FBR] (packed, transposed row blocks),
// ST and DST [FBC, FBR] (scores/P and dP/dS of one block, key-major), and six [FBR] row vectors.
const F_QT: i32 = 0;
const F_OT: i32 = F_QT + DMAX * FBR;
const F_ST: i32 = F_OT + DMAX * FBR;
const F_DST: i32 = F_ST + FBC * FBR;
const F_M: i32 = F_DST + FBC * FBR;
const F_L: i32 = F_M + FBR;
const F_A: i32 = F_L + FBR;
const F_LS: i32 = F_A + FBR;
const F_DR: i32 = F_LS + FBR;
const F_IV: i32 = F_DR + FBR; // i32: the last key each row sees (i + qOffset; non-causal: i32 max)
export const F_END: i32 = F_IV + FBR;
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Transposes rows [0, r) of a strided row block (D columns from p) into dst[d·FBR + i], zero-padding rows r…FBR. */
// @ts-ignore: decorator
@inline function packT(dst: usize, p: usize, strideBytes: usize, r: i32, D: i32): void {
  if (r == FBR) {
    // A whole block: 4 × 4 transposes (four row loads, eight shuffles, four column stores)
    // for the columns in groups of four; the rest column by column.
    const d4 = D & ~3;
    for (let i = 0; i < FBR; i += 4) {
      const q0 = p + <usize>i * strideBytes, q1 = q0 + strideBytes, q2 = q1 + strideBytes, q3 = q2 + strideBytes;
      let o = dst + (<usize>i << 2);
      for (let d = 0; d < d4; d += 4) {
        const off = <usize>d << 2;
        const a = v128.load(q0 + off), b = v128.load(q1 + off), c = v128.load(q2 + off), e = v128.load(q3 + off);
        const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const ce0 = v128.shuffle<f32>(c, e, 0, 4, 1, 5), ce1 = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
        v128.store(o, v128.shuffle<f32>(ab0, ce0, 0, 1, 4, 5));
        v128.store(o + (<usize>FBR << 2), v128.shuffle<f32>(ab0, ce0, 2, 3, 6, 7));
        v128.store(o + (<usize>(2 * FBR) << 2), v128.shuffle<f32>(ab1, ce1, 0, 1, 4, 5));
        v128.store(o + (<usize>(3 * FBR) << 2), v128.shuffle<f32>(ab1, ce1, 2, 3, 6, 7));
        o += <usize>(4 * FBR) << 2;
      }
      for (let d = d4; d < D; d++) {
        const off = <usize>d << 2;
        v128.store(o, f32x4(load<f32>(q0 + off), load<f32>(q1 + off), load<f32>(q2 + off), load<f32>(q3 + off)));
        o += <usize>FBR << 2;
      }
    }
    return;
  }
  for (let i = 0; i < FBR; i++) {
    let q = p + <usize>i * strideBytes;
    let o = dst + (<usize>i << 2);
    if (i < r) {
      for (let d = 0; d < D; d++) { store<f32>(o, load<f32>(q)); q += 4; o += <usize>FBR << 2; }
    } else {
      for (let d = 0; d < D; d++) { store<f32>(o, 0); o += <usize>FBR << 2; }
    }
  }
}

/**
 * A 4-key × 8-row score tile: dst[x·FBR + c] = scale · Σ_d key_x[d] · yt[d·FBR + c] for
 * x < 4, c < 8 (k0…k3: the four key rows; yt: the packed QT or dOT at the tile's first row).
 */
// @ts-ignore: decorator
@inline function tileScores(k0: usize, k1: usize, k2: usize, k3: usize, yt: usize, D: i32, dst: usize, vscale: v128): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let d = 0; d < D; d++) {
    const y0 = v128.load(yt), y1 = v128.load(yt, 16);
    let a = v128.load32_splat(k0);
    c00 = madd(a, y0, c00); c01 = madd(a, y1, c01);
    a = v128.load32_splat(k1);
    c10 = madd(a, y0, c10); c11 = madd(a, y1, c11);
    a = v128.load32_splat(k2);
    c20 = madd(a, y0, c20); c21 = madd(a, y1, c21);
    a = v128.load32_splat(k3);
    c30 = madd(a, y0, c30); c31 = madd(a, y1, c31);
    k0 += 4; k1 += 4; k2 += 4; k3 += 4; yt += <usize>FBR << 2;
  }
  const row = <usize>FBR << 2;
  v128.store(dst, f32x4.mul(c00, vscale)); v128.store(dst, f32x4.mul(c01, vscale), 16);
  v128.store(dst + row, f32x4.mul(c10, vscale)); v128.store(dst + row, f32x4.mul(c11, vscale), 16);
  v128.store(dst + 2 * row, f32x4.mul(c20, vscale)); v128.store(dst + 2 * row, f32x4.mul(c21, vscale), 16);
  v128.store(dst + 3 * row, f32x4.mul(c30, vscale)); v128.store(dst + 3 * row, f32x4.mul(c31, vscale), 16);
}

/**
 * The 4-key × 16-row score tile (the whole row block): as tileScores, with sixteen accumulators,
 * which V8's revectorizer pairs into eight 256-bit registers, as the GEMM's 4×16 micro-kernel:
 * eight independent multiply-add chains per step hide the FMA latency (a 4 × 8 tile pairs into
 * four and waits on it), and each key broadcast feeds twice the multiply-adds.
 */
// @ts-ignore: decorator
@inline function tileScores16(k0: usize, k1: usize, k2: usize, k3: usize, yt: usize, D: i32, dst: usize, vscale: v128): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0), c23 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0), c32 = f32x4.splat(0), c33 = f32x4.splat(0);
  for (let d = 0; d < D; d++) {
    const y0 = v128.load(yt), y1 = v128.load(yt, 16), y2 = v128.load(yt, 32), y3 = v128.load(yt, 48);
    let a = v128.load32_splat(k0);
    c00 = madd(a, y0, c00); c01 = madd(a, y1, c01); c02 = madd(a, y2, c02); c03 = madd(a, y3, c03);
    a = v128.load32_splat(k1);
    c10 = madd(a, y0, c10); c11 = madd(a, y1, c11); c12 = madd(a, y2, c12); c13 = madd(a, y3, c13);
    a = v128.load32_splat(k2);
    c20 = madd(a, y0, c20); c21 = madd(a, y1, c21); c22 = madd(a, y2, c22); c23 = madd(a, y3, c23);
    a = v128.load32_splat(k3);
    c30 = madd(a, y0, c30); c31 = madd(a, y1, c31); c32 = madd(a, y2, c32); c33 = madd(a, y3, c33);
    k0 += 4; k1 += 4; k2 += 4; k3 += 4; yt += <usize>FBR << 2;
  }
  // The row stride as a run-time value: with constant strides the sixteen stores become one
  // base with offsets 0…240, which V8's revectorizer pairs across row boundaries (then nothing of
  // the tile is paired); per-row bases keep each row's four stores a group of their own.
  const row = <usize>(FBR << 2) + (<usize>(<u32>D >>> 31) << 2); // D ≥ 0: FBR floats
  storeRow16(dst, vscale, c00, c01, c02, c03);
  storeRow16(dst + row, vscale, c10, c11, c12, c13);
  storeRow16(dst + 2 * row, vscale, c20, c21, c22, c23);
  storeRow16(dst + 3 * row, vscale, c30, c31, c32, c33);
}

// @ts-ignore: decorator
@inline function storeRow16(p: usize, s: v128, x0: v128, x1: v128, x2: v128, x3: v128): void {
  v128.store(p, f32x4.mul(x0, s)); v128.store(p, f32x4.mul(x1, s), 16);
  v128.store(p, f32x4.mul(x2, s), 32); v128.store(p, f32x4.mul(x3, s), 48);
}

// Loads of the two halves of an 8-column chunk with cw (1…8) columns left: partial vectors read
// lane by lane, so nothing past the row's end is touched.
// @ts-ignore: decorator
@inline function ldLo(p: usize, cw: i32): v128 { return cw >= 4 ? v128.load(p) : loadTail(p, cw, 0); }
// @ts-ignore: decorator
@inline function ldHi(p: usize, cw: i32): v128 {
  return cw >= 8 ? v128.load(p, 16) : (cw > 4 ? loadTail(p + 16, cw - 4, 0) : f32x4.splat(0));
}
// @ts-ignore: decorator
@inline function stPair(p: usize, lo: v128, hi: v128, cw: i32): void {
  if (cw >= 8) { v128.store(p, lo); v128.store(p, hi, 16); return; }
  if (cw >= 4) v128.store(p, lo); else storeTail(p, lo, cw);
  if (cw > 4) storeTail(p + 16, hi, cw - 4);
}

/**
 * A 4 × 8 accumulation tile: acc_x[c] = Σ_t coef_x(t) · src_t[c] over t < steps, where coef_x(t)
 * is the f32 at c_x + t·cstep and src_t the row at src + t·sstride (columns d0…d0+cw); then
 * o_x = alpha_x · o_x + acc_x for x < nout (alpha: one lane per output row).
 * A full-width tile (cw = 8) has its own loop and stores, apart from the ragged one: V8's
 * revectorizer pairs the two halves of each row into one 256-bit register only where every path
 * from the loads to the stores can be paired, and the ragged path's lane-by-lane loads cannot.
 */
// @ts-ignore: decorator
@inline function tileAcc(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, cw: i32, o0: usize, o1: usize, o2: usize, o3: usize, nout: i32, alpha: v128): void {
  if (cw == 8) tileAccFull(c0, c1, c2, c3, cstep, src, sstride, steps, o0, o1, o2, o3, nout, alpha);
  else tileAccRagged(c0, c1, c2, c3, cstep, src, sstride, steps, cw, o0, o1, o2, o3, nout, alpha);
}

/**
 * The accumulation tiles of four output rows across all D columns (o: the first row, ostride
 * bytes between rows; src: column 0 of the first source row): 16-column tiles when wide (see
 * tileScores16), then 8-column ones, the last one ragged where D is not a multiple of 8.
 */
// @ts-ignore: decorator
@inline function accRows(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, D: i32, o: usize, ostride: usize, nout: i32, alpha: v128, wide: i32): void {
  let d0 = 0;
  if (wide) for (; d0 + 16 <= D; d0 += 16) {
    const off = <usize>d0 << 2;
    tileAcc16(c0, c1, c2, c3, cstep, src + off, sstride, steps, o + off, o + ostride + off, o + 2 * ostride + off,
      o + 3 * ostride + off, nout, alpha);
  }
  for (; d0 < D; d0 += 8) {
    const off = <usize>d0 << 2;
    tileAcc(c0, c1, c2, c3, cstep, src + off, sstride, steps, minI(8, D - d0), o + off, o + ostride + off,
      o + 2 * ostride + off, o + 3 * ostride + off, nout, alpha);
  }
}

// @ts-ignore: decorator
@inline function tileAcc16(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, o0: usize, o1: usize, o2: usize, o3: usize, nout: i32, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a22 = f32x4.splat(0), a23 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0), a32 = f32x4.splat(0), a33 = f32x4.splat(0);
  for (let t = 0; t < steps; t++) {
    const y0 = v128.load(src), y1 = v128.load(src, 16), y2 = v128.load(src, 32), y3 = v128.load(src, 48);
    let a = v128.load32_splat(c0);
    a00 = madd(a, y0, a00); a01 = madd(a, y1, a01); a02 = madd(a, y2, a02); a03 = madd(a, y3, a03);
    a = v128.load32_splat(c1);
    a10 = madd(a, y0, a10); a11 = madd(a, y1, a11); a12 = madd(a, y2, a12); a13 = madd(a, y3, a13);
    a = v128.load32_splat(c2);
    a20 = madd(a, y0, a20); a21 = madd(a, y1, a21); a22 = madd(a, y2, a22); a23 = madd(a, y3, a23);
    a = v128.load32_splat(c3);
    a30 = madd(a, y0, a30); a31 = madd(a, y1, a31); a32 = madd(a, y2, a32); a33 = madd(a, y3, a33);
    c0 += cstep; c1 += cstep; c2 += cstep; c3 += cstep; src += sstride;
  }
  updRow16(o0, f32x4.splat(f32x4.extract_lane(alpha, 0)), a00, a01, a02, a03);
  if (nout > 1) updRow16(o1, f32x4.splat(f32x4.extract_lane(alpha, 1)), a10, a11, a12, a13);
  if (nout > 2) updRow16(o2, f32x4.splat(f32x4.extract_lane(alpha, 2)), a20, a21, a22, a23);
  if (nout > 3) updRow16(o3, f32x4.splat(f32x4.extract_lane(alpha, 3)), a30, a31, a32, a33);
}

// o = al·o + acc on one row of 16: every load before any store (pairable, as gemm_core's updateRow4).
// @ts-ignore: decorator
@inline function updRow16(o: usize, al: v128, a0: v128, a1: v128, a2: v128, a3: v128): void {
  const x0 = v128.load(o), x1 = v128.load(o, 16), x2 = v128.load(o, 32), x3 = v128.load(o, 48);
  v128.store(o, madd(al, x0, a0)); v128.store(o, madd(al, x1, a1), 16);
  v128.store(o, madd(al, x2, a2), 32); v128.store(o, madd(al, x3, a3), 48);
}

// o = al·o + (a0 | a1) on one row of 8: both loads before both stores (pairable).
// @ts-ignore: decorator
@inline function updRow8(o: usize, al: v128, a0: v128, a1: v128): void {
  const x0 = v128.load(o), x1 = v128.load(o, 16);
  v128.store(o, madd(al, x0, a0));
  v128.store(o, madd(al, x1, a1), 16);
}

// @ts-ignore: decorator
@inline function tileAccFull(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, o0: usize, o1: usize, o2: usize, o3: usize, nout: i32, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let t = 0; t < steps; t++) {
    const y0 = v128.load(src), y1 = v128.load(src, 16);
    let a = v128.load32_splat(c0);
    a00 = madd(a, y0, a00); a01 = madd(a, y1, a01);
    a = v128.load32_splat(c1);
    a10 = madd(a, y0, a10); a11 = madd(a, y1, a11);
    a = v128.load32_splat(c2);
    a20 = madd(a, y0, a20); a21 = madd(a, y1, a21);
    a = v128.load32_splat(c3);
    a30 = madd(a, y0, a30); a31 = madd(a, y1, a31);
    c0 += cstep; c1 += cstep; c2 += cstep; c3 += cstep; src += sstride;
  }
  updRow8(o0, f32x4.splat(f32x4.extract_lane(alpha, 0)), a00, a01);
  if (nout > 1) updRow8(o1, f32x4.splat(f32x4.extract_lane(alpha, 1)), a10, a11);
  if (nout > 2) updRow8(o2, f32x4.splat(f32x4.extract_lane(alpha, 2)), a20, a21);
  if (nout > 3) updRow8(o3, f32x4.splat(f32x4.extract_lane(alpha, 3)), a30, a31);
}

// @ts-ignore: decorator
@inline function tileAccRagged(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, cw: i32, o0: usize, o1: usize, o2: usize, o3: usize, nout: i32, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let t = 0; t < steps; t++) {
    const y0 = ldLo(src, cw), y1 = ldHi(src, cw);
    let a = v128.load32_splat(c0);
    a00 = madd(a, y0, a00); a01 = madd(a, y1, a01);
    a = v128.load32_splat(c1);
    a10 = madd(a, y0, a10); a11 = madd(a, y1, a11);
    a = v128.load32_splat(c2);
    a20 = madd(a, y0, a20); a21 = madd(a, y1, a21);
    a = v128.load32_splat(c3);
    a30 = madd(a, y0, a30); a31 = madd(a, y1, a31);
    c0 += cstep; c1 += cstep; c2 += cstep; c3 += cstep; src += sstride;
  }
  let al = f32x4.splat(f32x4.extract_lane(alpha, 0));
  stPair(o0, madd(al, ldLo(o0, cw), a00), madd(al, ldHi(o0, cw), a01), cw);
  if (nout > 1) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 1));
    stPair(o1, madd(al, ldLo(o1, cw), a10), madd(al, ldHi(o1, cw), a11), cw);
  }
  if (nout > 2) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 2));
    stPair(o2, madd(al, ldLo(o2, cw), a20), madd(al, ldHi(o2, cw), a21), cw);
  }
  if (nout > 3) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 3));
    stPair(o3, madd(al, ldLo(o3, cw), a30), madd(al, ldHi(o3, cw), a31), cw);
  }
}

/** The score tiles of one block: dst[jj·FBR + ii] for jj < jn (rounded up to 4), ii < r (rounded up to 8). */
// @ts-ignore: decorator
@inline function blockScores(x: usize, firstRow: i32, jn: i32, strideBytes: usize, col: usize, yt: usize, D: i32,
  dst: usize, vscale: v128, r: i32, wide: i32): void {
  const lastRow = firstRow + jn - 1;
  for (let jj = 0; jj < jn; jj += 4) {
    const r0 = firstRow + jj;
    const p0 = x + <usize>r0 * strideBytes + col;
    const p1 = x + <usize>minI(r0 + 1, lastRow) * strideBytes + col;
    const p2 = x + <usize>minI(r0 + 2, lastRow) * strideBytes + col;
    const p3 = x + <usize>minI(r0 + 3, lastRow) * strideBytes + col;
    const d = dst + (<usize>(jj * FBR) << 2);
    // One 16-row tile (wide), or the 8-row tiles that hold real rows (only one when r ≤ 8: r = 1
    // when decoding).
    if (wide && r > 8) tileScores16(p0, p1, p2, p3, yt, D, d, vscale);
    else for (let ii = 0; ii < r; ii += 8) tileScores(p0, p1, p2, p3, yt + (<usize>ii << 2), D, d + (<usize>ii << 2), vscale);
  }
}

/** Lanes (query rows i0+g … i0+g+3) that may see key j: all ones where visible, zero where masked. */
// @ts-ignore: decorator
@inline function visMask(causal: i32, j: i32, iv: v128): v128 {
  // causal: visible iff j ≤ i + qOffset, i.e. (i + qOffset) ≥ j; iv holds i + qOffset per lane
  return causal ? i32x4.ge_s(iv, i32x4.splat(j)) : i32x4.splat(-1);
}

const LANE_IDX: v128 = i32x4(0, 1, 2, 3);

// exp for the tiled path's softmax arguments (s − m ≤ 0 forward, s − lse ≲ 0 backward): math.ts's
// vexp (same Cephes reduction and polynomial) without its overflow handling, which costs a third of
// its instructions: the input is clamped to [ln FLT_MIN, 88], where 2ⁿ (n ≤ 127) is one normal
// number, and the multiply-adds fuse in the relaxed build. Below ln FLT_MIN (−∞ included) it
// returns exactly 0, like vexp; at most one ulp or so from vexp elsewhere.
// math.ts's constants (one definition), ln2's two parts negated so that r = x − n·ln2 is two
// multiply-adds; the upper clamp is 88 (2ⁿ stays one normal number), not vexp's ln FLT_MAX.
const XS_LO: f32 = EXP_LO;
const XS_HI: f32 = 88.0;
const XS_LOG2E: f32 = EXP_LOG2E;
const XS_NC1: f32 = -EXP_C1;
const XS_NC2: f32 = -EXP_C2;
const XS_MAGIC: f32 = EXP_ROUND_MAGIC;
const XS_P0: f32 = EXP_P0;
const XS_P1: f32 = EXP_P1;
const XS_P2: f32 = EXP_P2;
const XS_P3: f32 = EXP_P3;
const XS_P4: f32 = EXP_P4;
const XS_P5: f32 = EXP_P5;
const X_LO: v128 = hoisted(XS_LO);
const X_HI: v128 = hoisted(XS_HI);
const X_LOG2E: v128 = hoisted(XS_LOG2E);
const X_NC1: v128 = hoisted(XS_NC1);
const X_NC2: v128 = hoisted(XS_NC2);
const X_MAGIC: v128 = hoisted(XS_MAGIC);
const X_P0: v128 = hoisted(XS_P0);
const X_P1: v128 = hoisted(XS_P1);
const X_P2: v128 = hoisted(XS_P2);
const X_P3: v128 = hoisted(XS_P3);
const X_P4: v128 = hoisted(XS_P4);
const X_P5: v128 = hoisted(XS_P5);
const X_BIAS: v128 = i32x4.trunc_sat_f32x4_s(hoisted(127.0)); // i32 127 (a run-time value, see hoisted)

// @ts-ignore: decorator
@inline function expSoft(x: v128): v128 {
  return expSoftK(x, X_LO, X_HI, X_LOG2E, X_MAGIC, X_NC1, X_NC2, X_P0, X_P1, X_P2, X_P3, X_P4, X_P5, V_ONE, X_BIAS);
}

// The exp with its constants as arguments: the 16-row softmax loops pass splats made before the
// loop, which V8's revectorizer pairs into 256-bit code (one 256-bit broadcast each) where it does
// not pair a read of the hoisted globals above (and one unpaired operation leaves the whole loop
// unpaired); expSoft passes the globals. The same operations either way: the same results.
// @ts-ignore: decorator
@inline function expSoftK(x: v128, lo: v128, hi: v128, log2e: v128, magic: v128, nc1: v128, nc2: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, bias: v128): v128 {
  const xc = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const t = madd(xc, log2e, magic);
  const nf = f32x4.sub(t, magic);
  const ni = i32x4.sub(t, magic);
  const r = madd(nf, nc2, madd(nf, nc1, xc));
  let p = madd(p0, r, p1);
  p = madd(p, r, p2);
  p = madd(p, r, p3);
  p = madd(p, r, p4);
  p = madd(p, r, p5);
  p = f32x4.add(madd(p, f32x4.mul(r, r), r), one);
  const y = f32x4.mul(p, i32x4.shl(i32x4.add(ni, bias), 23));
  return v128.andnot(y, f32x4.lt(x, lo));
}

/** l = α·l + sum for rows g…g+3 (byte offset gb). */
// @ts-ignore: decorator
@inline function addSum(L: usize, A: usize, gb: usize, sum: v128): void {
  v128.store(L + gb, f32x4.add(f32x4.mul(v128.load(L + gb), v128.load(A + gb)), sum));
}

export function attentionTiled(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize, wide: i32): void {
  const drop = dropThr != 0;
  const vthr = i32x4.splat(dropThr), vks = f32x4.splat(dropScale);
  const QT = scratch + (<usize>F_QT << 2), ST = scratch + (<usize>F_ST << 2);
  const M = scratch + (<usize>F_M << 2), L = scratch + (<usize>F_L << 2), A = scratch + (<usize>F_A << 2);
  const IV = scratch + (<usize>F_IV << 2);
  const vscale = f32x4.splat(scale);
  const NEG_INF = f32x4.splat(<f32>-Infinity);
  // The 16-row loops' constants: run-time splats, made here (see expSoftK).
  const xlo = hoisted(XS_LO), xhi = hoisted(XS_HI), xl2e = hoisted(XS_LOG2E), xmg = hoisted(XS_MAGIC);
  const xc1 = hoisted(XS_NC1), xc2 = hoisted(XS_NC2), xp0 = hoisted(XS_P0), xp1 = hoisted(XS_P1), xp2 = hoisted(XS_P2);
  const xp3 = hoisted(XS_P3), xp4 = hoisted(XS_P4), xp5 = hoisted(XS_P5), xone = hoisted(1.0);
  const xbias = i32x4.trunc_sat_f32x4_s(hoisted(127.0)), xninf = hoisted(<f32>-Infinity), xzero = hoisted(0.0);
  const qsb = <usize>qStride << 2, kvsb = <usize>kvStride << 2, osb = <usize>oStride << 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = <usize>(h * D) << 2;
      for (let i0 = 0; i0 < Tq; i0 += FBR) {
        const r = minI(FBR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        const qRow0 = q + <usize>(b * Tq + i0) * qsb + col, oRow0 = out + <usize>(b * Tq + i0) * osb + col;
        packT(QT, qRow0, qsb, r, D);
        for (let g = 0; g < FBR; g += 4) {
          v128.store(M + (<usize>g << 2), NEG_INF);
          v128.store(L + (<usize>g << 2), f32x4.splat(0));
        }
        for (let ii = 0; ii < r; ii++) memory.fill(oRow0 + <usize>ii * osb, 0, <usize>D << 2);
        for (let ii = 0; ii < FBR; ii++) store<i32>(IV + (<usize>ii << 2), causal ? i0 + ii + qOffset : I32.MAX_VALUE);
        for (let j0 = 0; j0 < jEnd; j0 += FBC) {
          const jn = minI(FBC, jEnd - j0);
          blockScores(k, b * Tk + j0, jn, kvsb, col, QT, D, ST, vscale, r, wide);
          // Online softmax, four query rows per vector: mask, block max, rescale, exp, sums.
          if (r > 8 && !drop) {
            // All 16 rows per key, four vectors: pairs for the revectorizer (see expSoftK), the
            // same operations per lane in the same order as the loop below. Rows past r are
            // padding (zero q: finite scores) that nothing stores.
            const w0 = v128.load(IV), w1 = v128.load(IV, 16), w2 = v128.load(IV, 32), w3 = v128.load(IV, 48);
            let mb0 = xninf, mb1 = xninf, mb2 = xninf, mb3 = xninf;
            for (let jj = 0; jj < jn; jj++) {
              const o = ST + (<usize>(jj * FBR) << 2);
              const s0 = v128.load(o), s1 = v128.load(o, 16), s2 = v128.load(o, 32), s3 = v128.load(o, 48);
              const jv = i32x4.splat(j0 + jj);
              const v0 = v128.bitselect(s0, xninf, i32x4.ge_s(w0, jv)), v1 = v128.bitselect(s1, xninf, i32x4.ge_s(w1, jv));
              const v2 = v128.bitselect(s2, xninf, i32x4.ge_s(w2, jv)), v3 = v128.bitselect(s3, xninf, i32x4.ge_s(w3, jv));
              v128.store(o, v0); v128.store(o, v1, 16); v128.store(o, v2, 32); v128.store(o, v3, 48);
              mb0 = f32x4.pmax(mb0, v0); mb1 = f32x4.pmax(mb1, v1); mb2 = f32x4.pmax(mb2, v2); mb3 = f32x4.pmax(mb3, v3);
            }
            // m = max(m, block max); the m to subtract z (0 for a row that has seen no key yet, so
            // that exp gives 0, not NaN); α = e^(m_old − z). Loads before stores (pairable).
            const o0 = v128.load(M), o1 = v128.load(M, 16), o2 = v128.load(M, 32), o3 = v128.load(M, 48);
            const n0 = f32x4.pmax(o0, mb0), n1 = f32x4.pmax(o1, mb1), n2 = f32x4.pmax(o2, mb2), n3 = f32x4.pmax(o3, mb3);
            const z0 = v128.bitselect(xzero, n0, f32x4.eq(n0, xninf)), z1 = v128.bitselect(xzero, n1, f32x4.eq(n1, xninf));
            const z2 = v128.bitselect(xzero, n2, f32x4.eq(n2, xninf)), z3 = v128.bitselect(xzero, n3, f32x4.eq(n3, xninf));
            v128.store(A, expSoft(f32x4.sub(o0, z0))); v128.store(A, expSoft(f32x4.sub(o1, z1)), 16);
            v128.store(A, expSoft(f32x4.sub(o2, z2)), 32); v128.store(A, expSoft(f32x4.sub(o3, z3)), 48);
            v128.store(M, n0); v128.store(M, n1, 16); v128.store(M, n2, 32); v128.store(M, n3, 48);
            let u0 = xzero, u1 = xzero, u2 = xzero, u3 = xzero;
            for (let jj = 0; jj < jn; jj++) {
              const o = ST + (<usize>(jj * FBR) << 2);
              const s0 = v128.load(o), s1 = v128.load(o, 16), s2 = v128.load(o, 32), s3 = v128.load(o, 48);
              const e0 = expSoftK(f32x4.sub(s0, z0), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias);
              const e1 = expSoftK(f32x4.sub(s1, z1), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias);
              const e2 = expSoftK(f32x4.sub(s2, z2), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias);
              const e3 = expSoftK(f32x4.sub(s3, z3), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias);
              v128.store(o, e0); v128.store(o, e1, 16); v128.store(o, e2, 32); v128.store(o, e3, 48);
              u0 = f32x4.add(u0, e0); u1 = f32x4.add(u1, e1); u2 = f32x4.add(u2, e2); u3 = f32x4.add(u3, e3);
            }
            addSum(L, A, 0, u0); addSum(L, A, 16, u1); addSum(L, A, 32, u2); addSum(L, A, 48, u3);
          } else for (let g = 0; g < r; g += 4) {
            const iv = i32x4.add(i32x4.splat(i0 + g + qOffset), LANE_IDX);
            let mb = NEG_INF;
            for (let jj = 0; jj < jn; jj++) {
              const p = ST + (<usize>(jj * FBR + g) << 2);
              const sv = v128.bitselect(v128.load(p), NEG_INF, visMask(causal, j0 + jj, iv));
              v128.store(p, sv);
              mb = f32x4.pmax(mb, sv);
            }
            const mOld = v128.load(M + (<usize>g << 2));
            const mNew = f32x4.pmax(mOld, mb);
            // A row that has seen no key yet keeps m = −∞: subtract 0 instead, so exp gives 0, not NaN.
            const mSafe = v128.bitselect(f32x4.splat(0), mNew, f32x4.eq(mNew, NEG_INF));
            const alpha = expSoft(f32x4.sub(mOld, mSafe));
            let sum = f32x4.splat(0);
            if (drop) {
              // The sum (so lse) is over the undropped P; P·V takes the dropped, rescaled P.
              const rowKey = dropRow4(seed, (b0 + b) * H + h, i0 + g);
              for (let jj = 0; jj < jn; jj++) {
                const p = ST + (<usize>(jj * FBR + g) << 2);
                const e = expSoft(f32x4.sub(v128.load(p), mSafe));
                sum = f32x4.add(sum, e);
                const c = dropFactor(v128.xor(rowKey, i32x4.splat(<u32>(j0 + jj) * DROP_MUL_J)), vthr, vks);
                v128.store(p, f32x4.mul(e, c));
              }
            } else {
              for (let jj = 0; jj < jn; jj++) {
                const p = ST + (<usize>(jj * FBR + g) << 2);
                const e = expSoft(f32x4.sub(v128.load(p), mSafe));
                v128.store(p, e);
                sum = f32x4.add(sum, e);
              }
            }
            v128.store(L + (<usize>g << 2), f32x4.add(f32x4.mul(v128.load(L + (<usize>g << 2)), alpha), sum));
            v128.store(M + (<usize>g << 2), mNew);
            v128.store(A + (<usize>g << 2), alpha);
          }
          // out = α·out + P·V, four rows × eight columns per tile; keys past a group's last
          // visible one have P = 0 and are skipped.
          const vRow0 = v + <usize>(b * Tk + j0) * kvsb + col;
          for (let ii = 0; ii < r; ii += 4) {
            const nout = minI(4, r - ii);
            const steps = causal ? maxI(0, minI(jn, i0 + ii + nout + qOffset - j0)) : jn;
            const c = ST + (<usize>ii << 2);
            const o = oRow0 + <usize>ii * osb;
            const alpha = v128.load(A + (<usize>ii << 2));
            accRows(c, c + 4, c + 8, c + 12, <usize>FBR << 2, vRow0, kvsb, steps, D, o, osb, nout, alpha, wide);
          }
        }
        for (let ii = 0; ii < r; ii++) {
          const l = load<f32>(L + (<usize>ii << 2));
          const lp = lse + (<usize>((b * H + h) * Tq + i0 + ii) << 2);
          if (l > 0) {
            const orow = oRow0 + <usize>ii * osb;
            const inv = f32x4.splat(<f32>1 / l);
            let d = 0;
            for (; d + 4 <= D; d += 4) v128.store(orow + (<usize>d << 2), f32x4.mul(v128.load(orow + (<usize>d << 2)), inv));
            if (d < D) storeTail(orow + (<usize>d << 2), f32x4.mul(loadTail(orow + (<usize>d << 2), D - d, 0), inv), D - d);
            store<f32>(lp, load<f32>(M + (<usize>ii << 2)) + <f32>ln(<f64>l));
          } else {
            store<f32>(lp, <f32>-Infinity);
          }
        }
      }
    }
  }
}

export function attentionBackwardTiled(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize, wide: i32): void {
  const drop = dropThr != 0;
  const vthr = i32x4.splat(dropThr), vks = f32x4.splat(dropScale);
  const QT = scratch + (<usize>F_QT << 2), OT = scratch + (<usize>F_OT << 2);
  const ST = scratch + (<usize>F_ST << 2), DST = scratch + (<usize>F_DST << 2);
  const LS = scratch + (<usize>F_LS << 2), DR = scratch + (<usize>F_DR << 2), IV = scratch + (<usize>F_IV << 2);
  const vscale = f32x4.splat(scale), one = f32x4.splat(1);
  // The 16-row loop's constants: run-time splats, made here (see expSoftK).
  const xlo = hoisted(XS_LO), xhi = hoisted(XS_HI), xl2e = hoisted(XS_LOG2E), xmg = hoisted(XS_MAGIC);
  const xc1 = hoisted(XS_NC1), xc2 = hoisted(XS_NC2), xp0 = hoisted(XS_P0), xp1 = hoisted(XS_P1), xp2 = hoisted(XS_P2);
  const xp3 = hoisted(XS_P3), xp4 = hoisted(XS_P4), xp5 = hoisted(XS_P5), xone = hoisted(1.0);
  const xbias = i32x4.trunc_sat_f32x4_s(hoisted(127.0)), vsc = hoisted(scale);
  const qsb = <usize>qStride << 2, kvsb = <usize>kvStride << 2, osb = <usize>oStride << 2;
  const rowB = <usize>FBR << 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = <usize>(h * D) << 2;
      // Overwrite semantics: clear only this (b, h)'s blocks, then accumulate into them.
      for (let i = 0; i < Tq; i++) memory.fill(dq + <usize>(b * Tq + i) * qsb + col, 0, <usize>D << 2);
      for (let j = 0; j < Tk; j++) {
        memory.fill(dk + <usize>(b * Tk + j) * kvsb + col, 0, <usize>D << 2);
        memory.fill(dv + <usize>(b * Tk + j) * kvsb + col, 0, <usize>D << 2);
      }
      for (let i0 = 0; i0 < Tq; i0 += FBR) {
        const r = minI(FBR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        const qRow0 = q + <usize>(b * Tq + i0) * qsb + col, dqRow0 = dq + <usize>(b * Tq + i0) * qsb + col;
        const oRow0 = out + <usize>(b * Tq + i0) * osb + col, doRow0 = dout + <usize>(b * Tq + i0) * osb + col;
        packT(QT, qRow0, qsb, r, D);
        packT(OT, doRow0, osb, r, D);
        for (let ii = 0; ii < FBR; ii++) {
          // Padding rows: lse = +∞ gives P = 0 (their q and dO are zero, so nothing else moves).
          const valid = ii < r;
          store<f32>(LS + (<usize>ii << 2), valid ? load<f32>(lse + (<usize>((b * H + h) * Tq + i0 + ii) << 2)) : <f32>Infinity);
          store<f32>(DR + (<usize>ii << 2), valid ? rowDot(doRow0 + <usize>ii * osb, oRow0 + <usize>ii * osb, D) : 0);
          store<i32>(IV + (<usize>ii << 2), causal ? i0 + ii + qOffset : I32.MAX_VALUE);
        }
        for (let j0 = 0; j0 < jEnd; j0 += FBC) {
          const jn = minI(FBC, jEnd - j0);
          const kRow0 = k + <usize>(b * Tk + j0) * kvsb + col, vRow0 = v + <usize>(b * Tk + j0) * kvsb + col;
          blockScores(k, b * Tk + j0, jn, kvsb, col, QT, D, ST, vscale, r, wide); // S = scale·K·Qᵀ
          blockScores(v, b * Tk + j0, jn, kvsb, col, OT, D, DST, one, r, wide); // dP = V·dOᵀ
          // P = exp(S − lse) and scale·dS = scale·P ⊙ (dP − Drow), exactly 0 where masked.
          if (r > 8 && !drop) {
            // All 16 rows per key, four vectors: pairs for the revectorizer (see expSoftK); rows
            // past r are padding (lse = +∞: P = 0) that nothing reads.
            const l0 = v128.load(LS), l1 = v128.load(LS, 16), l2 = v128.load(LS, 32), l3 = v128.load(LS, 48);
            const e0 = v128.load(DR), e1 = v128.load(DR, 16), e2 = v128.load(DR, 32), e3 = v128.load(DR, 48);
            const w0 = v128.load(IV), w1 = v128.load(IV, 16), w2 = v128.load(IV, 32), w3 = v128.load(IV, 48);
            for (let jj = 0; jj < jn; jj++) {
              const o = ST + (<usize>(jj * FBR) << 2), od = DST + (<usize>(jj * FBR) << 2);
              const s0 = v128.load(o), s1 = v128.load(o, 16), s2 = v128.load(o, 32), s3 = v128.load(o, 48);
              const d0 = v128.load(od), d1 = v128.load(od, 16), d2 = v128.load(od, 32), d3 = v128.load(od, 48);
              const jv = i32x4.splat(j0 + jj);
              const m0 = i32x4.ge_s(w0, jv), m1 = i32x4.ge_s(w1, jv), m2 = i32x4.ge_s(w2, jv), m3 = i32x4.ge_s(w3, jv);
              const p0 = v128.and(expSoftK(f32x4.sub(s0, l0), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias), m0);
              const p1 = v128.and(expSoftK(f32x4.sub(s1, l1), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias), m1);
              const p2 = v128.and(expSoftK(f32x4.sub(s2, l2), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias), m2);
              const p3 = v128.and(expSoftK(f32x4.sub(s3, l3), xlo, xhi, xl2e, xmg, xc1, xc2, xp0, xp1, xp2, xp3, xp4, xp5, xone, xbias), m3);
              v128.store(o, p0); v128.store(o, p1, 16); v128.store(o, p2, 32); v128.store(o, p3, 48);
              v128.store(od, v128.and(f32x4.mul(f32x4.mul(p0, f32x4.sub(d0, e0)), vsc), m0));
              v128.store(od, v128.and(f32x4.mul(f32x4.mul(p1, f32x4.sub(d1, e1)), vsc), m1), 16);
              v128.store(od, v128.and(f32x4.mul(f32x4.mul(p2, f32x4.sub(d2, e2)), vsc), m2), 32);
              v128.store(od, v128.and(f32x4.mul(f32x4.mul(p3, f32x4.sub(d3, e3)), vsc), m3), 48);
            }
          } else for (let g = 0; g < r; g += 4) {
            const iv = i32x4.add(i32x4.splat(i0 + g + qOffset), LANE_IDX);
            const vl = v128.load(LS + (<usize>g << 2)), vD = v128.load(DR + (<usize>g << 2));
            if (drop) {
              // Dropout factor c = m/(1 − p): ST holds c·P (for dV), dS = P ⊙ (c·dP − Drow) (the
              // derivation: src/backends/reference/attention.ts).
              const rowKey = dropRow4(seed, (b0 + b) * H + h, i0 + g);
              for (let jj = 0; jj < jn; jj++) {
                const o = <usize>(jj * FBR + g) << 2;
                const m = visMask(causal, j0 + jj, iv);
                const c = dropFactor(v128.xor(rowKey, i32x4.splat(<u32>(j0 + jj) * DROP_MUL_J)), vthr, vks);
                const p = v128.and(expSoft(f32x4.sub(v128.load(ST + o), vl)), m);
                v128.store(ST + o, f32x4.mul(p, c));
                v128.store(DST + o, v128.and(f32x4.mul(f32x4.mul(p, f32x4.sub(f32x4.mul(v128.load(DST + o), c), vD)), vscale), m));
              }
            } else {
              for (let jj = 0; jj < jn; jj++) {
                const o = <usize>(jj * FBR + g) << 2;
                const m = visMask(causal, j0 + jj, iv);
                const p = v128.and(expSoft(f32x4.sub(v128.load(ST + o), vl)), m);
                v128.store(ST + o, p);
                v128.store(DST + o, v128.and(f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(DST + o), vD)), vscale), m));
              }
            }
          }
          // dQ += (scale·dS)·K: four rows × eight columns, over the keys the rows can see.
          for (let ii = 0; ii < r; ii += 4) {
            const nout = minI(4, r - ii);
            const steps = causal ? maxI(0, minI(jn, i0 + ii + nout + qOffset - j0)) : jn;
            const c = DST + (<usize>ii << 2);
            const o = dqRow0 + <usize>ii * qsb;
            accRows(c, c + 4, c + 8, c + 12, rowB, kRow0, kvsb, steps, D, o, qsb, nout, one, wide);
          }
          // dV += Pᵀ·dO and dK += (scale·dS)ᵀ·Q: four keys × eight columns, over the rows that
          // see the tile's first key (causal: i ≥ j − qOffset).
          for (let jj = 0; jj < jn; jj += 4) {
            const nout = minI(4, jn - jj);
            const first = causal ? maxI(0, j0 + jj - qOffset - i0) : 0;
            if (first >= r) continue;
            const steps = r - first;
            const c = ST + (<usize>(jj * FBR + first) << 2), dc = DST + (<usize>(jj * FBR + first) << 2);
            const ov = vRow0 + <usize>jj * kvsb, ok = kRow0 + <usize>jj * kvsb;
            const dvo = dv + (ov - v), dko = dk + (ok - k);
            accRows(c, c + rowB, c + 2 * rowB, c + 3 * rowB, 4, doRow0 + <usize>first * osb, osb, steps, D, dvo, kvsb, nout, one, wide);
            accRows(dc, dc + rowB, dc + 2 * rowB, dc + 3 * rowB, 4, qRow0 + <usize>first * qsb, qsb, steps, D, dko, kvsb, nout, one, wide);
          }
        }
      }
    }
  }
}

