// The reference maths' O(rows) scratch (one score row, one head-width row, one E-wide row): grow-only
// module buffers, reused by every later call, so that no op allocates per call (JS is
// single-threaded, and none of the functions calls another while holding its scratch).
/** Grow-only scratch buffers, one per role, so two live at once never share storage. */
const scratch = { a: new Float64Array(64), b: new Float64Array(64), c: new Float64Array(64), i: new Int32Array(64) };
export function f64Scratch(role: 'a' | 'b' | 'c', n: number): Float64Array {
  if (scratch[role].length < n) scratch[role] = new Float64Array(Math.max(n, 2 * scratch[role].length));
  return scratch[role];
}
export function i32Scratch(n: number): Int32Array {
  if (scratch.i.length < n) scratch.i = new Int32Array(Math.max(n, 2 * scratch.i.length));
  return scratch.i;
}
