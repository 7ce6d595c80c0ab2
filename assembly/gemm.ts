// Single-precision GEMM, plain 128-bit SIMD build:  C = alpha · op(A) · op(B) + beta · C.
// Blocking, packing and the loop nest are in assembly/gemm_core.ts; this file holds the plain
// micro-kernels and the exported entry points. The relaxed-SIMD kernels are in gemm_relaxed.ts,
// compiled only into the relaxed build.
//
// Micro-kernels, by `variant` (measured on AMD Zen 3/4 and Zen 5; see shared notes/toolchain.md):
//   0  Revec4x16  4×16 tile, plain f32x4 mul+add. For V8 with --experimental-wasm-revectorize,
//                 which fuses each adjacent pair of 128-bit ops into one 256-bit AVX2 op: the 16
//                 f32x4 accumulators (they would spill on 16 XMM registers) become 8 YMM, plus 2
//                 YMM rows of B and one broadcast of A per row and k step (body in gemm_tiles.ts).
//                 Packs B's panels in its first pass over them (tilePack, see gemmRange).
//   1  Simd4x8    4×8 tile, plain mul+add: 8 accumulators + 2 B vectors + 1 broadcast fit in
//                 16 XMM registers, the best shape without revectorization.
//   2  Relaxed4x8 (gemm_relaxed.ts) Simd4x8 with f32x4.relaxed_madd (FMA where the CPU has it).
//   3  Revec6x16Fma (gemm_relaxed.ts) 6×16 (4×16 on 4-row panels) with relaxed_madd, revectorized
//                 to 256-bit FMA, 12 YMM accumulators:
//                 half the instructions per k step. Zen 3/4 cannot issue the mul+add stream at full
//                 rate (4×16 mul+add reached ~0.83× OpenBLAS there, FMA ~0.95×); on Zen 5 both
//                 run at about the same speed. The revec4x16 path (its name predates the 6-row
//                 tile) uses it whenever relaxed SIMD exists.
// FMA 6×16 rather than 4×16 (measured 2026-12-06, Zen 5, Node 24, 1 thread): 512³ 94 → 104
// GFLOP/s; 4×16's 8 YMM accumulators are exactly the FMA latency × 2 pipes, no slack for a stall.
// The mul+add kernel stays 4×16: its products need a register each, and 6 rows spill.
// The k loops do one step per iteration on purpose: V8's optimising tier unrolls a small loop
// by itself, while a loop unrolled by hand is too big for it and pays an address computation
// per broadcast (measured: 4×16 ×1 is ~10% faster than ×2; 6×16 ×2 spills and runs at half speed).
// The 4×8 kernels (mr = 4) pack B in a pass of its own (fusesPack false: tilePack never runs).
import { gemmRange, gemmRangePackedB, packedBFloats, packWholeB, SCRATCH_BYTES, storeTile4x8 } from './gemm_core';
import { tile4x16 } from './gemm_tiles';

/**
 * 4×16, mul+add: the kernel for V8 with revectorization (256-bit AVX2) without FMA, body in
 * assembly/gemm_tiles.ts. Not 6×16 like the FMA kernel: each mul+add needs a register for the
 * product, so 6 rows (12 YMM accumulators + 2 of B + the broadcast + the product) spill
 * (measured at 512³: 6×16 mul+add 51 GFLOP/s, 4×16 78).
 */
@final @unmanaged class Revec4x16 {
  // @ts-ignore: decorator
  @inline get nr(): i32 { return 16; }
  // @ts-ignore: decorator
  @inline get mr(): i32 { return 4; }
  // @ts-ignore: decorator
  @inline get fusesPack(): bool { return true; }
  // @ts-ignore: decorator
  @inline madd(a: v128, b: v128, c: v128): v128 { return f32x4.add(c, f32x4.mul(a, b)); }

  tile(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile4x16<Revec4x16>(kc, ap, bp, ldb, 0, c, ldc, alpha, beta, false);
  }

  tilePack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    tile4x16<Revec4x16>(kc, ap, bp, ldb, bdst, c, ldc, alpha, beta, true);
  }

  // @ts-ignore: decorator
  @inline tile4(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    this.tile(kc, ap, bp, ldb, c, ldc, alpha, beta);
  }

  // @ts-ignore: decorator
  @inline tile4Pack(kc: i32, ap: usize, bp: usize, ldb: usize, bdst: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    this.tilePack(kc, ap, bp, ldb, bdst, c, ldc, alpha, beta);
  }
}

/** 4×8, mul+add: the plain 128-bit kernel (no spills on 16 XMM registers). */
@final @unmanaged class Simd4x8 {
  // @ts-ignore: decorator
  @inline get nr(): i32 { return 8; }
  // @ts-ignore: decorator
  @inline get mr(): i32 { return 4; }
  // @ts-ignore: decorator
  @inline madd(a: v128, b: v128, c: v128): v128 { return f32x4.add(c, f32x4.mul(a, b)); }

  tile(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: usize, alpha: f32, beta: f32): void {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    for (let p = 0; p < kc; p++) {
      const b0 = v128.load(bp, 0), b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap, 0);
      c00 = f32x4.add(c00, f32x4.mul(a, b0)); c01 = f32x4.add(c01, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 4);
      c10 = f32x4.add(c10, f32x4.mul(a, b0)); c11 = f32x4.add(c11, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 8);
      c20 = f32x4.add(c20, f32x4.mul(a, b0)); c21 = f32x4.add(c21, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 12);
      c30 = f32x4.add(c30, f32x4.mul(a, b0)); c31 = f32x4.add(c31, f32x4.mul(a, b1));
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

/** Bytes of packing scratch one thread needs (the caller aligns it to 64 bytes). */
export function gemmScratchBytes(): i32 {
  return <i32>SCRATCH_BYTES;
}

/**
 * Rows [m0, m1) × columns [n0, n1) of C = alpha · op(A) · op(B) + beta · C, with micro-kernel
 * `variant` (0 Revec4x16, 1 Simd4x8; the relaxed build's gemmBlockRelaxed adds 2 and 3).
 * ta/tb: 1 when A is stored k×m / B is stored n×k. m, n, k: the whole product's sizes; the rest
 * of C is not touched. Pointers are byte offsets; `scratch` holds gemmScratchBytes() bytes owned
 * by the calling thread.
 */
export function gemmBlock(variant: i32, ta: i32, tb: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, b: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (variant == 0) gemmRange<Revec4x16>(ta, tb, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1, scratch);
  else gemmRange<Simd4x8>(ta, tb, m, n, k, alpha, a, b, beta, c, m0, m1, n0, n1, scratch);
}

/** Floats a packed op(B) (k×n) takes for a kernel nr columns wide (see gemmPackB). */
export function gemmPackedBFloats(k: i32, n: i32, nr: i32): i32 {
  return packedBFloats(k, n, nr);
}

/**
 * Packs op(B) (k×n: B stored k×n, or n×k when tb = 1) whole at bp, for kernels nr columns wide
 * (the `nr` of the variant that will read it): the layout of gemmBlockPackedB (assembly/gemm_core.ts).
 */
export function gemmPackB(tb: i32, b: usize, n: i32, k: i32, bp: usize, nr: i32): void {
  packWholeB(tb, b, n, k, bp, nr);
}

/**
 * gemmBlock with op(B) packed by gemmPackB (for this variant's nr) at bp: rows [m0, m1) × columns
 * [n0, n1) of C = alpha · op(A) · op(B) + beta · C.
 */
export function gemmBlockPackedB(variant: i32, ta: i32, m: i32, n: i32, k: i32, alpha: f32, a: usize, bp: usize,
  beta: f32, c: usize, m0: i32, m1: i32, n0: i32, n1: i32, scratch: usize): void {
  if (variant == 0) gemmRangePackedB<Revec4x16>(ta, m, n, k, alpha, a, bp, beta, c, m0, m1, n0, n1, scratch);
  else gemmRangePackedB<Simd4x8>(ta, m, n, k, alpha, a, bp, beta, c, m0, m1, n0, n1, scratch);
}
