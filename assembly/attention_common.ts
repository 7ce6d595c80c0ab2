// What both attention paths (./attention_general.ts, ./attention_tiled.ts) share: the causal
// visibility of a key block and small integer helpers.

// @ts-ignore: decorator
@inline export function minI(a: i32, b: i32): i32 { return a < b ? a : b; }
// @ts-ignore: decorator
@inline export function maxI(a: i32, b: i32): i32 { return a > b ? a : b; }

/** Keys of the block [j0, j0+jn) that query row i sees. */
// @ts-ignore: decorator
@inline export function visible(causal: i32, i: i32, qOffset: i32, j0: i32, jn: i32): i32 {
  return causal ? maxI(0, minI(jn, i + qOffset + 1 - j0)) : jn;
}

// ==== attention dropout (the mask's definition: attentionDropKeep in src/ops/types.ts) ============
// Entry (b·H + h, i, j) is kept iff fmix(row ^ j·MUL_J) ≥ threshold (unsigned), where
// row = fmix(fmix(seed ^ bh·MUL_ROW) ^ i·MUL_I): nothing is stored, the backward pass recomputes it.
export const DROP_MUL_ROW: u32 = 0x9E3779B1;
export const DROP_MUL_I: u32 = 0x85EBCA77;
export const DROP_MUL_J: u32 = 0xC2B2AE3D;

/** murmur3's 32-bit finaliser. */
// @ts-ignore: decorator
@inline export function fmix(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x85EBCA6B;
  x ^= x >>> 13;
  x *= 0xC2B2AE35;
  x ^= x >>> 16;
  return x;
}

/** fmix on four lanes. */
// @ts-ignore: decorator
@inline export function fmix4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x85EBCA6B));
  x = v128.xor(x, i32x4.shr_u(x, 13));
  x = i32x4.mul(x, i32x4.splat(0xC2B2AE35));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/** The row hash of query row i in head bh. */
// @ts-ignore: decorator
@inline export function dropRow(seed: u32, bh: i32, i: i32): u32 {
  return fmix(fmix(seed ^ (<u32>bh * DROP_MUL_ROW)) ^ (<u32>i * DROP_MUL_I));
}

/** The row hashes of query rows i…i+3 (one per lane) in head bh. */
// @ts-ignore: decorator
@inline export function dropRow4(seed: u32, bh: i32, i: i32): v128 {
  const iv = i32x4.add(i32x4.splat(i), i32x4(0, 1, 2, 3));
  return fmix4(v128.xor(i32x4.splat(fmix(seed ^ (<u32>bh * DROP_MUL_ROW))), i32x4.mul(iv, i32x4.splat(DROP_MUL_I))));
}

/**
 * Inverted-dropout factors from x = row ^ j·MUL_J per lane: keepScale (1/(1 − p)) where the
 * hash ≥ threshold, 0 where the entry is dropped.
 */
// @ts-ignore: decorator
@inline export function dropFactor(x: v128, thr: v128, keepScale: v128): v128 {
  return v128.and(keepScale, i32x4.ge_u(fmix4(x), thr));
}
