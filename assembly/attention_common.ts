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
