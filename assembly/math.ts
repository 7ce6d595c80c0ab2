// Shared maths for the kernels: a vectorised exp (f32x4), the activations built on it (sigmoid,
// tanh), a scalar natural log in f64, row reductions, and loads/stores of a ragged 1–3 element
// tail as one vector. The vector functions are @inline so each kernel gets its own copy.
//
// No tables and no std Math: AssemblyScript's Math.exp/log use lookup tables, i.e. static data
// segments, and every worker instance would re-initialise them in the one shared memory. The
// vector constants are globals (per instance, not in memory): see "hoisted" below.

// ---- constants, hoisted out of loops -----------------------------------------------------------

// V8's optimising compiler rebuilds a v128.const inside every loop that uses it (a 64-bit
// immediate move, a move into an XMM register and a shuffle: three instructions per constant),
// and exp alone needs about fifteen: measured, that halves exp throughput. Binaryen folds every
// f32x4.splat(constant) into a v128.const, so the vector constants below are globals set once at
// instantiation (the module's start function) from a 1.0 that binaryen cannot see through; a loop
// then reads each with one plain memory operand. memory.size() is only known at run time and
// (m | 1)/(m | 1) is exactly 1 whatever it is.
const RUNTIME_ONE: f32 = <f32>(memory.size() | 1) / <f32>(memory.size() | 1);

/** f32x4.splat(c) kept as a run-time value (see above): use it for constants of hot loops. */
// @ts-ignore: decorator
@inline export function hoisted(c: f32): v128 {
  return f32x4.splat(c * RUNTIME_ONE);
}

export const V_ONE: v128 = hoisted(1.0);
const V_ZERO: v128 = hoisted(0.0);
const V_SIGN: v128 = hoisted(-0.0); // the sign bit alone

// ---- exp ---------------------------------------------------------------------------------------

// exp(x) for four lanes, accurate to about 1 ulp over the whole f32 range.
// Method (Cephes expf): x = n·ln2 + r with n = round(x/ln2) and |r| ≤ ln2/2, so
// exp(x) = 2ⁿ · exp(r), exp(r) from a degree-7 polynomial. ln2 is split in two (Cody–Waite):
// EXP_C1 has only 9 significant bits, so n·EXP_C1 is exact for |n| ≤ 2¹⁵ and r keeps its accuracy.
// Range: x < ln(FLT_MIN) ≈ −87.34 returns exactly 0 (flush to zero: no denormals, which are slow
// on x86 and useless to a network), x > ln(FLT_MAX) ≈ 88.72 returns +∞, NaN stays NaN. The input is
// clamped first, so the integer arithmetic on n can never overflow, whatever x is (±∞ included).
// The scalar constants are exported: kernels that V8 must revectorize (assembly/moe.ts,
// assembly/attention_tiled.ts) splat them at run time before their loops (a read of the hoisted
// globals below cannot be paired), and this is their one definition.
export const EXP_LO: f32 = -87.33654; // ln(FLT_MIN): below this exp(x) is a denormal; we flush to 0
export const EXP_HI: f32 = 88.72283; // ln(FLT_MAX): above this exp(x) overflows to +∞
export const EXP_LOG2E: f32 = 1.44269504088896341;
export const EXP_C1: f32 = 0.693359375; // ln2 high part (9 bits)
export const EXP_C2: f32 = -2.12194440e-4; // ln2 − EXP_C1
// 1.5·2²³: adding it to |v| < 2²² rounds v to an integer (round-to-nearest-even) that then sits
// in the low mantissa bits, so one add gives both the rounded float and, subtracting the bit
// patterns, its integer value.
export const EXP_ROUND_MAGIC: f32 = 12582912.0;
// exp(r) ≈ 1 + r + r²·P(r), |r| ≤ 0.347 (Cephes coefficients, relative error < 1 ulp).
export const EXP_P0: f32 = 1.9875691500e-4;
export const EXP_P1: f32 = 1.3981999507e-3;
export const EXP_P2: f32 = 8.3334519073e-3;
export const EXP_P3: f32 = 4.1665795894e-2;
export const EXP_P4: f32 = 1.6666665459e-1;
export const EXP_P5: f32 = 5.0000001201e-1;
const V_EXP_LO: v128 = hoisted(EXP_LO);
const V_EXP_HI: v128 = hoisted(EXP_HI);
const V_LOG2E: v128 = hoisted(EXP_LOG2E);
const V_EXP_C1: v128 = hoisted(EXP_C1);
const V_EXP_C2: v128 = hoisted(EXP_C2);
const V_ROUND_MAGIC: v128 = hoisted(EXP_ROUND_MAGIC);
const V_EXP_P0: v128 = hoisted(EXP_P0);
const V_EXP_P1: v128 = hoisted(EXP_P1);
const V_EXP_P2: v128 = hoisted(EXP_P2);
const V_EXP_P3: v128 = hoisted(EXP_P3);
const V_EXP_P4: v128 = hoisted(EXP_P4);
const V_EXP_P5: v128 = hoisted(EXP_P5);
const V_BIAS127: v128 = i32x4.splat(<i32>(<f32>127 * RUNTIME_ONE)); // the f32 exponent bias
const V_INF: v128 = hoisted(<f32>Infinity);

// e^r for the reduced argument r = x − n·ln2 (|r| ≤ ln2/2, ln2 split in two for precision): the
// polynomial both exps below scale by 2ⁿ. Its constants are arguments (the *With forms), so that
// a kernel V8 must revectorize can pass splats made before its loop (see the exported scalars).
// @ts-ignore: decorator
@inline function expMantissaWith(xc: v128, nf: v128, c1: v128, c2: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128): v128 {
  let r = f32x4.sub(xc, f32x4.mul(nf, c1));
  r = f32x4.sub(r, f32x4.mul(nf, c2));
  let p = f32x4.add(f32x4.mul(p0, r), p1);
  p = f32x4.add(f32x4.mul(p, r), p2);
  p = f32x4.add(f32x4.mul(p, r), p3);
  p = f32x4.add(f32x4.mul(p, r), p4);
  p = f32x4.add(f32x4.mul(p, r), p5);
  return f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), one);
}

// @ts-ignore: decorator
@inline function expMantissa(xc: v128, nf: v128): v128 {
  return expMantissaWith(xc, nf, V_EXP_C1, V_EXP_C2, V_EXP_P0, V_EXP_P1, V_EXP_P2, V_EXP_P3, V_EXP_P4, V_EXP_P5, V_ONE);
}

// @ts-ignore: decorator
@inline export function vexp(x: v128): v128 {
  // pmax/pmin (pseudo min/max) are single instructions on x86 and keep NaN: NaN < c is false.
  const xc = f32x4.pmin(f32x4.pmax(x, V_EXP_LO), V_EXP_HI);
  const t = f32x4.add(f32x4.mul(xc, V_LOG2E), V_ROUND_MAGIC);
  const nf = f32x4.sub(t, V_ROUND_MAGIC); // n as float, in [−126, 128]
  const ni = i32x4.sub(t, V_ROUND_MAGIC); // n as integer (difference of the bit patterns)
  const p = expMantissa(xc, nf);
  // 2ⁿ for n in [−126, 128]: 2¹²⁸ has no f32 encoding, so scale twice by 2^(n/2) (each half
  // in [−63, 64], always a normal number): the product then overflows or not exactly as exp does.
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, V_BIAS127), 23);
  const s2 = i32x4.shl(i32x4.add(n2, V_BIAS127), 23);
  let y = f32x4.mul(f32x4.mul(p, s1), s2);
  // Out-of-range inputs: exactly 0 below (so softmax of −∞ or of a −1e30 gap is a clean 0), +∞ above.
  y = v128.andnot(y, f32x4.lt(x, V_EXP_LO));
  y = v128.bitselect(V_INF, y, f32x4.gt(x, V_EXP_HI));
  return y;
}

/**
 * exp(x) for four lanes known to be ≤ 0 (the e^−|x| of sigmoid, silu and their derivatives): the
 * same result as vexp there in fewer instructions. n ∈ [−126, 0], so 2ⁿ is one normal number
 * (no two-step scaling) and nothing can overflow (no upper clamp, no +∞ select).
 */
// @ts-ignore: decorator
@inline export function vexpNonPositive(x: v128): v128 {
  return vexpNonPositiveWith(x, V_EXP_LO, V_LOG2E, V_ROUND_MAGIC, V_EXP_C1, V_EXP_C2,
    V_EXP_P0, V_EXP_P1, V_EXP_P2, V_EXP_P3, V_EXP_P4, V_EXP_P5, V_ONE, V_BIAS127);
}

/**
 * vexpNonPositive with its constants as arguments (splats of EXP_LO, EXP_LOG2E, EXP_ROUND_MAGIC,
 * EXP_C1, EXP_C2, EXP_P0…P5, 1, and the i32 127): the same operations, the same results.
 */
// @ts-ignore: decorator
@inline export function vexpNonPositiveWith(x: v128, lo: v128, log2e: v128, magic: v128, c1: v128, c2: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, bias: v128): v128 {
  const xc = f32x4.pmax(x, lo);
  const t = f32x4.add(f32x4.mul(xc, log2e), magic);
  const nf = f32x4.sub(t, magic);
  const ni = i32x4.sub(t, magic);
  const p = expMantissaWith(xc, nf, c1, c2, p0, p1, p2, p3, p4, p5, one);
  const y = f32x4.mul(p, i32x4.shl(i32x4.add(ni, bias), 23));
  return v128.andnot(y, f32x4.lt(x, lo)); // flush to 0 below ln(FLT_MIN), as vexp
}

// ---- sigmoid and tanh ---------------------------------------------------------------------------

// σ(x) = 1/(1+e^−x) is evaluated as 1/(1+z) for x ≥ 0 and z/(1+z) for x < 0, with z = e^−|x| ≤ 1:
// z never overflows, and for x ≪ 0 the result keeps its full relative accuracy (1 − σ(−x) would
// cancel). The same z and d = 1/(1+z) also give 1 − σ(x) = σ(−x) without cancellation (the gelu
// and silu derivatives use that).

/** σ(x) for four lanes. */
// @ts-ignore: decorator
@inline export function vsigmoid(x: v128): v128 {
  return vsigmoidWith(x, V_EXP_LO, V_LOG2E, V_ROUND_MAGIC, V_EXP_C1, V_EXP_C2,
    V_EXP_P0, V_EXP_P1, V_EXP_P2, V_EXP_P3, V_EXP_P4, V_EXP_P5, V_ONE, V_BIAS127, V_SIGN, V_ZERO);
}

/**
 * vsigmoid with its constants as arguments (those of vexpNonPositiveWith, then splats of −0.0 and
 * 0.0), for kernels V8 must revectorize (see the exported scalars). z = e^−|x| is exp of a
 * non-positive number, so vexpNonPositive gives it (the same bits as vexp there); −|x| is x with
 * its sign bit set (the same bits as neg(abs(x)), in one or).
 */
// @ts-ignore: decorator
@inline export function vsigmoidWith(x: v128, lo: v128, log2e: v128, magic: v128, c1: v128, c2: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, bias: v128, sign: v128, zero: v128): v128 {
  const z = vexpNonPositiveWith(v128.or(x, sign), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
  const d = f32x4.div(one, f32x4.add(one, z));
  return v128.bitselect(d, f32x4.mul(z, d), f32x4.ge(x, zero));
}

// tanh(x) = sign(x)·(1 − e^−2|x|)/(1 + e^−2|x|): e^−2|x| ≤ 1 never overflows, so tanh(±50) is ±1.
// For |x| < 0.3 the subtraction 1 − e^−2|x| would cancel (tanh(1e-4) would lose 3 digits), so
// there the odd Taylor series x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − 1382x¹¹/155925 is used
// (next term < 2e-9 relative at 0.3). Above 0.3 the exp path is within ~3 ulp.
export const TANH_SMALL: f32 = 0.3;
export const TANH_T11: f32 = -8.863235529902197e-3; // −1382/155925
export const TANH_T9: f32 = 2.1869488536155203e-2; // 62/2835
export const TANH_T7: f32 = -5.396825396825397e-2; // −17/315
export const TANH_T5: f32 = 1.3333333333333333e-1; // 2/15
export const TANH_T3: f32 = -3.3333333333333333e-1; // −1/3
const V_TANH_SMALL: v128 = hoisted(TANH_SMALL);
const V_MINUS_TWO: v128 = hoisted(-2.0);
const V_TANH_T11: v128 = hoisted(TANH_T11);
const V_TANH_T9: v128 = hoisted(TANH_T9);
const V_TANH_T7: v128 = hoisted(TANH_T7);
const V_TANH_T5: v128 = hoisted(TANH_T5);
const V_TANH_T3: v128 = hoisted(TANH_T3);

/** tanh(x) for four lanes. */
// @ts-ignore: decorator
@inline export function vtanh(x: v128): v128 {
  return vtanhWith(x, V_EXP_LO, V_LOG2E, V_ROUND_MAGIC, V_EXP_C1, V_EXP_C2,
    V_EXP_P0, V_EXP_P1, V_EXP_P2, V_EXP_P3, V_EXP_P4, V_EXP_P5, V_ONE, V_BIAS127, V_SIGN,
    V_MINUS_TWO, V_TANH_SMALL, V_TANH_T11, V_TANH_T9, V_TANH_T7, V_TANH_T5, V_TANH_T3);
}

/**
 * vtanh with its constants as arguments (those of vexpNonPositiveWith, then splats of −0.0,
 * −2, TANH_SMALL and TANH_T11…T3), for kernels V8 must revectorize. e^−2|x| is exp of a
 * non-positive number (vexpNonPositive: the same bits as vexp there); |x| is x with its sign bit
 * cleared (the same bits as abs(x), without a mask V8 would build in the loop).
 */
// @ts-ignore: decorator
@inline export function vtanhWith(x: v128, lo: v128, log2e: v128, magic: v128, c1: v128, c2: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128, bias: v128, sign: v128,
  minusTwo: v128, small: v128, t11: v128, t9: v128, t7: v128, t5: v128, t3: v128): v128 {
  const a = v128.andnot(x, sign);
  const e = vexpNonPositiveWith(f32x4.mul(a, minusTwo), lo, log2e, magic, c1, c2, p0, p1, p2, p3, p4, p5, one, bias);
  const big = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  const a2 = f32x4.mul(a, a);
  let q = f32x4.add(f32x4.mul(t11, a2), t9);
  q = f32x4.add(f32x4.mul(q, a2), t7);
  q = f32x4.add(f32x4.mul(q, a2), t5);
  q = f32x4.add(f32x4.mul(q, a2), t3);
  const tiny = f32x4.add(a, f32x4.mul(f32x4.mul(a, a2), q));
  const mag = v128.bitselect(tiny, big, f32x4.lt(a, small));
  // Put the sign of x back (tanh is odd); a NaN stays NaN.
  return v128.or(mag, v128.and(x, sign));
}

// ---- scalar natural log (f64) --------------------------------------------------------------------

const LN2_F64: f64 = 0.6931471805599453;
const SQRT2_F64: f64 = 1.4142135623730951;

/**
 * ln(x) in f64 to about 1e-15 relative. Used once per row (log of a softmax denominator), so it
 * is scalar. x = 2^e·m with m in [√½, √2); ln m = 2·atanh(s) = 2(s + s³/3 + s⁵/5 + …),
 * s = (m−1)/(m+1), |s| ≤ 0.172: the first omitted term, s¹⁹/19, is below 1e-15 relative.
 */
export function ln(x: f64): f64 {
  if (x != x) return x; // NaN
  if (x <= 0) return x == 0 ? -Infinity : NaN;
  if (x == Infinity) return x;
  let e: i32 = 0;
  if (x < 2.2250738585072014e-308) { x *= 18014398509481984.0; e = -54; } // denormal: scale by 2⁵⁴
  const bits = reinterpret<u64>(x);
  e += <i32>(bits >> 52) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000); // [1, 2)
  if (m > SQRT2_F64) { m *= 0.5; e++; }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  const p = s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 * (1.0 / 11 +
    s2 * (1.0 / 13 + s2 * (1.0 / 15 + s2 * (1.0 / 17))))))));
  return <f64>e * LN2_F64 + (2 * s + 2 * s * p);
}

// ---- ragged tails ------------------------------------------------------------------------------

// Kernels run a 4-wide body and finish the last k = n mod 4 elements (1..3) as one partial
// vector: lanes past the end are filled with `pad` (chosen so they cannot change a reduction:
// 0 for sums, −∞ for max and for exp-sums), and only k lanes are stored back. Reading lane by
// lane never touches memory past the end of the tensor.

// @ts-ignore: decorator
@inline export function loadTail(p: usize, k: i32, pad: f32): v128 {
  let v = f32x4.splat(pad);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (k > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (k > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// @ts-ignore: decorator
@inline export function storeTail(p: usize, v: v128, k: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (k > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (k > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// ---- horizontal reductions ------------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  // (l0+l2) + (l1+l3): a fixed order, so results do not depend on anything but the data.
  const h = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1);
}

// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const h = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  const a = f32x4.extract_lane(h, 0), b = f32x4.extract_lane(h, 1);
  return a < b ? b : a;
}

/** Σ p[0..n) in f32 (four independent vector accumulators, so adds overlap in the pipeline). */
// @ts-ignore: decorator
@inline export function rowSum(p: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = p + (<usize>i << 2);
    a0 = f32x4.add(a0, v128.load(q));
    a1 = f32x4.add(a1, v128.load(q, 16));
    a2 = f32x4.add(a2, v128.load(q, 32));
    a3 = f32x4.add(a3, v128.load(q, 48));
  }
  for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, v128.load(p + (<usize>i << 2)));
  if (i < n) a1 = f32x4.add(a1, loadTail(p + (<usize>i << 2), n - i, 0));
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** Σ a[i]·b[i] over [0, n) in f32. */
// @ts-ignore: decorator
@inline export function rowDot(a: usize, b: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(a + o, 32), v128.load(b + o, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(a + o, 48), v128.load(b + o, 48)));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  if (i < n) {
    const o = <usize>i << 2;
    a1 = f32x4.add(a1, f32x4.mul(loadTail(a + o, n - i, 0), loadTail(b + o, n - i, 0)));
  }
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** max p[0..n) (n ≥ 1); −∞ for n = 0. */
// @ts-ignore: decorator
@inline export function rowMax(p: usize, n: i32): f32 {
  let m0 = f32x4.splat(<f32>-Infinity), m1 = f32x4.splat(<f32>-Infinity);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const q = p + (<usize>i << 2);
    m0 = f32x4.pmax(m0, v128.load(q));
    m1 = f32x4.pmax(m1, v128.load(q, 16));
  }
  for (; i + 4 <= n; i += 4) m0 = f32x4.pmax(m0, v128.load(p + (<usize>i << 2)));
  if (i < n) m1 = f32x4.pmax(m1, loadTail(p + (<usize>i << 2), n - i, <f32>-Infinity));
  return hmax(f32x4.pmax(m0, m1));
}
