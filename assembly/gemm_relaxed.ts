// The relaxed-SIMD GEMM micro-kernels, in their own file because only the relaxed build
// (assembly/index.relaxed.ts, compiled with --enable relaxed-simd) may contain relaxed
// instructions: the plain build must validate on engines without relaxed SIMD.
// f32x4.relaxed_madd(a, b, c) = a·b + c, fused (one rounding) where the CPU has FMA.
import { gemmRange, gemmRangePackedB, storeTile4x8 } from './gemm_core';
import { tile4x16, tile6x16 } from './gemm_tiles';
import { gemmBlock, gemmBlockPackedB } from './gemm';

/** Variant 2: 4×8 with fused multiply-add, for 128-bit SIMD (no revectorization). */
@final @unmanaged class Relaxed4x8 {
  // @ts-ignore: decorator
  @inline get nr(): i32 { return 8; }
  // @ts-ignore: decorator
  @inline get mr(): i32 { return 4; }
  // @ts-ignore: decorator
  @inline madd(a: v128, b: v128, c: v128): v128 { return f32x4.relaxed_madd(a, b, c); }

  tile(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    for (let p = 0; p < kc; p++) {
      const b0 = v128.load(bp, 0), b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap, 0);
      c00 = f32x4.relaxed_madd(a, b0, c00); c01 = f32x4.relaxed_madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = f32x4.relaxed_madd(a, b0, c10); c11 = f32x4.relaxed_madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = f32x4.relaxed_madd(a, b0, c20); c21 = f32x4.relaxed_madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = f32x4.relaxed_madd(a, b0, c30); c31 = f32x4.relaxed_madd(a, b1, c31);
      ap += 16; bp += ldb;
    }
    storeTile4x8(c, ldc, alpha, beta, c00, c01, c10, c11, c20, c21, c30, c31);
  }

  // @ts-ignore: decorator
  @inline tile4(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    this.tile(kc, ap, bp, ldb, c, ldc, alpha, beta);
  }

  // @ts-ignore: decorator
  @inline get fusesPack(): bool { return false; }
  // @ts-ignore: decorator
  @inline tilePack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    unreachable();
  }
  // @ts-ignore: decorator
  @inline tile4Pack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    unreachable();
  }
}

/**
 * Variant 3: the revectorization kernel (Revec6x16 in gemm.ts) with fused multiply-add. V8
 * revectorizes relaxed_madd pairs into 256-bit vfmadd: per k step 12 FMAs instead of 12 muls +
 * 12 adds, which matters on CPUs whose front end cannot issue the mul+add stream at full rate
 * (Zen 3/4: mul+add reaches ~0.83× OpenBLAS, FMA ~0.98×; Zen 5 runs both at about the same speed).
 */
@final @unmanaged class Revec6x16Fma {
  // @ts-ignore: decorator
  @inline get nr(): i32 { return 16; }
  // @ts-ignore: decorator
  @inline get mr(): i32 { return 6; }
  // @ts-ignore: decorator
  @inline get fusesPack(): bool { return true; }
  // @ts-ignore: decorator
  @inline madd(a: v128, b: v128, c: v128): v128 { return f32x4.relaxed_madd(a, b, c); }

  tile(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile6x16<Revec6x16Fma>(kc, ap, bp, ldb, 0, c, ldc, alpha, beta, false);
  }

  tilePack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile6x16<Revec6x16Fma>(kc, ap, bp, ldb, bdst, c, ldc, alpha, beta, true);
  }

  tile4(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile4x16<Revec6x16Fma>(kc, ap, bp, ldb, 0, c, ldc, alpha, beta, false);
  }

  tile4Pack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile4x16<Revec6x16Fma>(kc, ap, bp, ldb, bdst, c, ldc, alpha, beta, true);
  }
}

/**
 * gemmBlock of the relaxed build (same arguments, see assembly/gemm.ts): variants 2 and 3 run
 * the kernels above, 0 and 1 the plain ones.
 */
export function gemmBlockRelaxed(variant: i32, ta: i32, tb: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, b: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (variant == 3) gemmRange<Revec6x16Fma>(ta, tb, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1, scratch);
  else if (variant == 2) gemmRange<Relaxed4x8>(ta, tb, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1, scratch);
  else gemmBlock(variant, ta, tb, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1, scratch);
}

/** gemmBlockPackedB of the relaxed build (same arguments, see assembly/gemm.ts), as gemmBlockRelaxed. */
export function gemmBlockPackedBRelaxed(variant: i32, ta: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, bp: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (variant == 3) gemmRangePackedB<Revec6x16Fma>(ta, m, n, k, alpha, a, bp, beta, c, m0, m1, n0, n1, scratch);
  else if (variant == 2) gemmRangePackedB<Relaxed4x8>(ta, m, n, k, alpha, a, bp, beta, c, m0, m1, n0, n1, scratch);
  else gemmBlockPackedB(variant, ta, m, n, k, alpha, a, bp, beta, c, m0, m1, n0, n1, scratch);
}
