// The bodies of the 16-column GEMM micro-kernels, written once for every multiply-add: a kernel
// class K of assembly/gemm.ts (mul+add) or assembly/gemm_relaxed.ts (relaxed_madd) calls them
// with itself as the type argument, and K.madd is inlined into them, so the plain build never
// sees a relaxed instruction. Not re-exported by an entry: nothing here becomes a WASM export.
//
// Both are shaped for V8's revectorizer, which fuses each adjacent pair of 128-bit operations
// into one 256-bit AVX2 operation: c<row><column group> holds row r, columns 4g..4g+3, and the
// pairs (g0, g1) and (g2, g3) stay adjacent everywhere (loads, multiply-adds, stores). The k loop
// does one step per iteration on purpose: V8's optimising tier keeps each broadcast address
// cheap that way, while a loop unrolled by hand ran 10% (4×16) to 45% (6×16) slower.
import { storeTile4x16, storeTile6x16 } from './gemm_core';

/**
 * C[6×16] at c (row stride ldc bytes) = alpha · Σ_p Ap[p·6 + r] · B_p + beta · C (beta = 0:
 * overwrite), B_p the 16 floats at bp + p·ldb. Revectorized: 12 YMM accumulators, 2 YMM of B
 * and one broadcast of A, 15 of the 16 YMM registers (V8 keeps the last as scratch); 12
 * independent chains give the two FMA pipes slack over their latency (4×16's 8 chains are
 * exactly latency × pipes on Zen 5). With `pack` (a constant at each call), every B_p is also
 * stored to bdst + p·64: the packed panel, written while B is read in place.
 */
// @ts-ignore: decorator
@inline export function tile6x16<K>(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize,
  alpha: f32, beta: f32, pack: bool): void {
  const kern = changetype<K>(0);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0), c23 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0), c32 = f32x4.splat(0), c33 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c42 = f32x4.splat(0), c43 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0), c52 = f32x4.splat(0), c53 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    // One k step: a 16-wide row of B, and A's 6 values each broadcast across a vector.
    const b0 = v128.load(bp, 0), b1 = v128.load(bp, 16), b2 = v128.load(bp, 32), b3 = v128.load(bp, 48);
    if (pack) {
      v128.store(bdst, b0, 0); v128.store(bdst, b1, 16); v128.store(bdst, b2, 32); v128.store(bdst, b3, 48);
      bdst += 64;
    }
    let a = v128.load32_splat(ap, 0);
    c00 = kern.madd(a, b0, c00); c01 = kern.madd(a, b1, c01); c02 = kern.madd(a, b2, c02); c03 = kern.madd(a, b3, c03);
    a = v128.load32_splat(ap, 4);
    c10 = kern.madd(a, b0, c10); c11 = kern.madd(a, b1, c11); c12 = kern.madd(a, b2, c12); c13 = kern.madd(a, b3, c13);
    a = v128.load32_splat(ap, 8);
    c20 = kern.madd(a, b0, c20); c21 = kern.madd(a, b1, c21); c22 = kern.madd(a, b2, c22); c23 = kern.madd(a, b3, c23);
    a = v128.load32_splat(ap, 12);
    c30 = kern.madd(a, b0, c30); c31 = kern.madd(a, b1, c31); c32 = kern.madd(a, b2, c32); c33 = kern.madd(a, b3, c33);
    a = v128.load32_splat(ap, 16);
    c40 = kern.madd(a, b0, c40); c41 = kern.madd(a, b1, c41); c42 = kern.madd(a, b2, c42); c43 = kern.madd(a, b3, c43);
    a = v128.load32_splat(ap, 20);
    c50 = kern.madd(a, b0, c50); c51 = kern.madd(a, b1, c51); c52 = kern.madd(a, b2, c52); c53 = kern.madd(a, b3, c53);
    ap += 24; bp += ldb;
  }
  storeTile6x16(c, ldc, alpha, beta, c00, c01, c02, c03, c10, c11, c12, c13,
    c20, c21, c22, c23, c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53);
}

/**
 * tile6x16 for a 4-row panel (Ap[p·4 + r]): the 4-row panels of the 6-row kernels, and the whole
 * of the mul+add kernel (8 YMM accumulators: 6 rows would need 16 registers with the product's
 * temporary, and spill).
 */
// @ts-ignore: decorator
@inline export function tile4x16<K>(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize,
  alpha: f32, beta: f32, pack: bool): void {
  const kern = changetype<K>(0);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0), c23 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0), c32 = f32x4.splat(0), c33 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp, 0), b1 = v128.load(bp, 16), b2 = v128.load(bp, 32), b3 = v128.load(bp, 48);
    if (pack) {
      v128.store(bdst, b0, 0); v128.store(bdst, b1, 16); v128.store(bdst, b2, 32); v128.store(bdst, b3, 48);
      bdst += 64;
    }
    let a = v128.load32_splat(ap, 0);
    c00 = kern.madd(a, b0, c00); c01 = kern.madd(a, b1, c01); c02 = kern.madd(a, b2, c02); c03 = kern.madd(a, b3, c03);
    a = v128.load32_splat(ap, 4);
    c10 = kern.madd(a, b0, c10); c11 = kern.madd(a, b1, c11); c12 = kern.madd(a, b2, c12); c13 = kern.madd(a, b3, c13);
    a = v128.load32_splat(ap, 8);
    c20 = kern.madd(a, b0, c20); c21 = kern.madd(a, b1, c21); c22 = kern.madd(a, b2, c22); c23 = kern.madd(a, b3, c23);
    a = v128.load32_splat(ap, 12);
    c30 = kern.madd(a, b0, c30); c31 = kern.madd(a, b1, c31); c32 = kern.madd(a, b2, c32); c33 = kern.madd(a, b3, c33);
    ap += 16; bp += ldb;
  }
  storeTile4x16(c, ldc, alpha, beta, c00, c01, c02, c03, c10, c11, c12, c13,
    c20, c21, c22, c23, c30, c31, c32, c33);
}
