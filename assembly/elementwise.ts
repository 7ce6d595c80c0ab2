// Elementwise kernels: fill/copy/scale/axpy/add/mul and the activations with their derivatives.
// Pointers are byte offsets of f32 arrays in the shared memory, n is an element count. Every
// kernel runs a 4-lane (f32x4) body (two vectors per step for the cheap ops, so V8's
// revectorizer can fuse them into one 256-bit AVX2 op) and finishes the last n mod 4 elements
// with scalar code or one partial vector. Loads and stores are unaligned-safe: views
// (t.view(offset, size)) start at any element.
import { hoisted, loadTail, storeTail, V_ONE, vexp, vsigmoid, vtanh } from './math';

// x: n floats. x[i] = value.
export function fill(x: usize, n: i32, value: f32): void {
  const v = f32x4.splat(value);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + (<usize>i << 2);
    v128.store(p, v);
    v128.store(p, v, 16);
  }
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), value);
}

// src, dst: n floats. dst[i] = src[i]. memory.copy is V8's memmove: as fast as copying gets.
export function copy(src: usize, dst: usize, n: i32): void {
  if (n > 0) memory.copy(dst, src, <usize>n << 2);
}

// x: n floats. x[i] *= alpha.
export function scale(x: usize, n: i32, alpha: f32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + (<usize>i << 2);
    v128.store(p, f32x4.mul(v128.load(p), a));
    v128.store(p, f32x4.mul(v128.load(p, 16), a), 16);
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * alpha);
  }
}

// x, y: n floats. y[i] += alpha · x[i].
export function axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(a, v128.load(x + o))));
    v128.store(y + o, f32x4.add(v128.load(y + o, 16), f32x4.mul(a, v128.load(x + o, 16))), 16);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

// a, b, out: n floats. out[i] = a[i] + b[i] (out may alias a or b: each element is read before
// it is written, and only its own position).
export function add(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const s0 = f32x4.add(v128.load(a + o), v128.load(b + o));
    const s1 = f32x4.add(v128.load(a + o, 16), v128.load(b + o, 16));
    v128.store(out + o, s0);
    v128.store(out + o, s1, 16);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// a, b, out: n floats. out[i] = a[i]·b[i], or out[i] += a[i]·b[i] when accumulate ≠ 0.
export function mul(a: usize, b: usize, out: usize, n: i32, accumulate: i32): void {
  let i = 0;
  if (accumulate) {
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      const s0 = f32x4.add(v128.load(out + o), f32x4.mul(v128.load(a + o), v128.load(b + o)));
      const s1 = f32x4.add(v128.load(out + o, 16), f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
      v128.store(out + o, s0);
      v128.store(out + o, s1, 16);
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(out + o, load<f32>(out + o) + load<f32>(a + o) * load<f32>(b + o));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      const o = <usize>i << 2;
      const s0 = f32x4.mul(v128.load(a + o), v128.load(b + o));
      const s1 = f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16));
      v128.store(out + o, s0);
      v128.store(out + o, s1, 16);
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
    }
  }
}

// ---- activations --------------------------------------------------------------------------------
// Kinds, by index into ACTIVATIONS: identity 0, relu 1, sigmoid 2, tanh 3, gelu 4, silu 5.
// The loops below are @inline and called with a literal kind, so each kind gets its own loop:
// binaryen propagates the constant and drops the other kinds' code (checked in the .wat: one
// loop per kind, no dispatch inside a loop).

const GELU_K: f32 = 0.7978845608028654; // √(2/π)
const GELU_C: f32 = 0.044715;
// Vector constants as run-time globals, so V8 does not rebuild them in every loop iteration
// (see "hoisted" in math.ts).
const V_GELU_2K: v128 = hoisted(2 * GELU_K);
const V_GELU_K: v128 = hoisted(GELU_K);
const V_GELU_C: v128 = hoisted(GELU_C);
const V_GELU_3C: v128 = hoisted(3 * GELU_C);
const V_TWO: v128 = hoisted(2);

// gelu(x) = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), is computed as x·σ(2u): the same
// function (½(1 + tanh u) = σ(2u)), but for x ≪ 0 it keeps its relative accuracy where
// 1 + tanh u would cancel to 0.
// @ts-ignore: decorator
@inline function geluArg2(x: v128): v128 {
  // 2u = 2√(2/π)·(x + C·x³)
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  return f32x4.mul(V_GELU_2K, f32x4.add(x, f32x4.mul(V_GELU_C, x3)));
}

/** f(x) for one vector. */
// @ts-ignore: decorator
@inline function forward(kind: i32, x: v128): v128 {
  if (kind == 1) return v128.and(x, f32x4.gt(x, f32x4.splat(0))); // x > 0 ? x : 0 (NaN → 0, as in the reference)
  if (kind == 2) return vsigmoid(x);
  if (kind == 3) return vtanh(x);
  if (kind == 4) return f32x4.mul(x, vsigmoid(geluArg2(x)));
  if (kind == 5) return f32x4.mul(x, vsigmoid(x));
  return x;
}

// y = f(x) over n elements; y may alias x.
// @ts-ignore: decorator
@inline function activationLoop(kind: i32, x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, forward(kind, v128.load(x + o)));
  }
  if (i < n) {
    const o = <usize>i << 2;
    storeTail(y + o, forward(kind, loadTail(x + o, n - i, 0)), n - i);
  }
}

// x, y: n floats. y[i] = f(x[i]) for the activation `kind`; y may alias x.
export function activation(kind: i32, x: usize, y: usize, n: i32): void {
  switch (kind) {
    case 1: activationLoop(1, x, y, n); break;
    case 2: activationLoop(2, x, y, n); break;
    case 3: activationLoop(3, x, y, n); break;
    case 4: activationLoop(4, x, y, n); break;
    case 5: activationLoop(5, x, y, n); break;
    default: if (x != y) copy(x, y, n); // identity
  }
}

/**
 * dy·f'(x) for one vector, given x and y = f(x). As in the reference: sigmoid and tanh use y
 * (σ' = y(1−y), tanh' = 1−y²); relu, gelu and silu use x.
 */
// @ts-ignore: decorator
@inline function derivative(kind: i32, x: v128, y: v128, dy: v128): v128 {
  if (kind == 1) {
    // (x > 0 ? 1 : 0)·dy, a multiply rather than a mask so that dy = NaN/∞ behaves as in the reference.
    return f32x4.mul(dy, v128.and(f32x4.gt(x, f32x4.splat(0)), V_ONE));
  } else if (kind == 2) {
    return f32x4.mul(dy, f32x4.mul(y, f32x4.sub(V_ONE, y)));
  } else if (kind == 3) {
    return f32x4.mul(dy, f32x4.sub(V_ONE, f32x4.mul(y, y)));
  } else if (kind == 4) {
    // With s = σ(2u): gelu' = ½(1+t) + ½x(1−t²)u' (t = tanh u, the reference's form)
    //                       = s + 2x·s(1−s)·u',  u' = √(2/π)(1 + 3·0.044715x²),
    // since 1+t = 2s and 1−t = 2(1−s). s and 1−s both come from z = e^−2|u| without cancellation.
    const v = geluArg2(x);
    const z = vexp(f32x4.neg(f32x4.abs(v)));
    const d = f32x4.div(V_ONE, f32x4.add(V_ONE, z));
    const zd = f32x4.mul(z, d);
    const pos = f32x4.ge(v, f32x4.splat(0));
    const s = v128.bitselect(d, zd, pos); // σ(2u)
    const sc = v128.bitselect(zd, d, pos); // 1 − σ(2u) = σ(−2u)
    const du = f32x4.mul(V_GELU_K, f32x4.add(V_ONE, f32x4.mul(V_GELU_3C, f32x4.mul(x, x))));
    const g = f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.mul(V_TWO, x), f32x4.mul(s, sc)), du));
    return f32x4.mul(dy, g);
  } else if (kind == 5) {
    // silu' = s(1 + x(1−s)), s = σ(x); 1−s = σ(−x) from the same z without cancellation.
    const z = vexp(f32x4.neg(f32x4.abs(x)));
    const d = f32x4.div(V_ONE, f32x4.add(V_ONE, z));
    const zd = f32x4.mul(z, d);
    const pos = f32x4.ge(x, f32x4.splat(0));
    const s = v128.bitselect(d, zd, pos);
    const sc = v128.bitselect(zd, d, pos);
    return f32x4.mul(dy, f32x4.mul(s, f32x4.add(V_ONE, f32x4.mul(x, sc))));
  }
  return dy;
}

// dx = dy·f'(x) (accumulate = 0) or dx += dy·f'(x) (accumulate = 1) over n elements.
// @ts-ignore: decorator
@inline function backwardLoop(kind: i32, accumulate: bool, x: usize, y: usize, dy: usize, dx: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let g = derivative(kind, v128.load(x + o), v128.load(y + o), v128.load(dy + o));
    if (accumulate) g = f32x4.add(v128.load(dx + o), g);
    v128.store(dx + o, g);
  }
  if (i < n) {
    const o = <usize>i << 2, k = n - i;
    let g = derivative(kind, loadTail(x + o, k, 0), loadTail(y + o, k, 0), loadTail(dy + o, k, 0));
    if (accumulate) g = f32x4.add(loadTail(dx + o, k, 0), g);
    storeTail(dx + o, g, k);
  }
}

// One function per kind. They are separate (not inlined into one switch) on purpose: binaryen's
// code folding merges loops that differ only in a constant set before them, which turned a
// switch of specialised loops into one loop with a per-vector kind dispatch. Inside its own
// function the kind constant is propagated first. (The accumulate/overwrite pair may still be
// merged into one loop with a per-vector branch on acc: that branch always goes the same way.)
function backwardIdentity(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(0, true, x, y, dy, dx, n); else backwardLoop(0, false, x, y, dy, dx, n);
}
function backwardRelu(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(1, true, x, y, dy, dx, n); else backwardLoop(1, false, x, y, dy, dx, n);
}
function backwardSigmoid(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(2, true, x, y, dy, dx, n); else backwardLoop(2, false, x, y, dy, dx, n);
}
function backwardTanh(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(3, true, x, y, dy, dx, n); else backwardLoop(3, false, x, y, dy, dx, n);
}
function backwardGelu(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(4, true, x, y, dy, dx, n); else backwardLoop(4, false, x, y, dy, dx, n);
}
function backwardSilu(x: usize, y: usize, dy: usize, dx: usize, n: i32, acc: i32): void {
  if (acc) backwardLoop(5, true, x, y, dy, dx, n); else backwardLoop(5, false, x, y, dy, dx, n);
}

// x, y, dy, dx: n floats (y = f(x)). dx[i] = dy[i]·f'(x[i]), or += when accumulate ≠ 0.
// dx may alias dy when not accumulating (each element is read before it is written).
export function activationBackward(kind: i32, x: usize, y: usize, dy: usize, dx: usize, n: i32, accumulate: i32): void {
  switch (kind) {
    case 1: backwardRelu(x, y, dy, dx, n, accumulate); break;
    case 2: backwardSigmoid(x, y, dy, dx, n, accumulate); break;
    case 3: backwardTanh(x, y, dy, dx, n, accumulate); break;
    case 4: backwardGelu(x, y, dy, dx, n, accumulate); break;
    case 5: backwardSilu(x, y, dy, dx, n, accumulate); break;
    default: backwardIdentity(x, y, dy, dx, n, accumulate);
  }
}
