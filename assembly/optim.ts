// Optimiser kernels: Σx² (for gradient-norm clipping) and one Adam/AdamW step.

// x: n floats. Returns Σ x[i]² in f64. Each f32 is widened to f64 (f64x2.promote_low_f32x4)
// before squaring: the square of a 24-bit mantissa fits exactly in 53 bits, and the f64 sum of
// 1e7 terms stays within ~1e-12 relative, far better than f32 accumulation (whose error would
// grow to ~1e-4 with n). Four f64x2 accumulators keep the adds independent.
export function sumSquares(x: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + (<usize>i << 2);
    const v0 = v128.load(p), v1 = v128.load(p, 16);
    // Lanes 0,1 widen directly; lanes 2,3 are first swapped down into the low half.
    const l0 = f64x2.promote_low_f32x4(v0);
    const h0 = f64x2.promote_low_f32x4(v128.shuffle<f32>(v0, v0, 2, 3, 0, 1));
    const l1 = f64x2.promote_low_f32x4(v1);
    const h1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(v1, v1, 2, 3, 0, 1));
    a0 = f64x2.add(a0, f64x2.mul(l0, l0));
    a1 = f64x2.add(a1, f64x2.mul(h0, h0));
    a2 = f64x2.add(a2, f64x2.mul(l1, l1));
    a3 = f64x2.add(a3, f64x2.mul(h1, h1));
  }
  const a = f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3));
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

// param, grad, m, v: n floats each. One Adam step with bias correction, exactly the reference's:
//   g  = grad (+ weightDecay·θ for classic Adam, decoupled = 0)
//   m  = β1·m + (1−β1)·g,   v = β2·v + (1−β2)·g²
//   m̂ = m/c1, v̂ = v/c2      (c1 = 1−β1ᵗ, c2 = 1−β2ᵗ, computed in JS in f64)
//   θ −= lr·weightDecay·θ    (AdamW only, decoupled = 1: decay applied to the weight directly)
//   θ −= lr·m̂/(√v̂ + eps)
// The scalar coefficients are formed in f64 and rounded to f32 once: 1−β2 computed in f32 from
// f32(0.999) would already be 1.3e-5 off in relative terms.
export function adam(param: usize, grad: usize, m: usize, v: usize, n: i32, lr: f64, beta1: f64, beta2: f64,
  eps: f64, weightDecay: f64, decoupled: i32, c1: f64, c2: f64): void {
  const b1 = <f32>beta1, ob1 = <f32>(1 - beta1), b2 = <f32>beta2, ob2 = <f32>(1 - beta2);
  const ic1 = <f32>(1 / c1), ic2 = <f32>(1 / c2), lrf = <f32>lr, epsf = <f32>eps;
  // Exactly one of these is non-zero (or neither): an L2 term in the gradient or a direct decay.
  const l2 = decoupled ? <f32>0 : <f32>weightDecay;
  const lrwd = decoupled ? <f32>(lr * weightDecay) : <f32>0;
  const vb1 = f32x4.splat(b1), vob1 = f32x4.splat(ob1), vb2 = f32x4.splat(b2), vob2 = f32x4.splat(ob2);
  const vic1 = f32x4.splat(ic1), vic2 = f32x4.splat(ic2), vlr = f32x4.splat(lrf), veps = f32x4.splat(epsf);
  const vl2 = f32x4.splat(l2), vlrwd = f32x4.splat(lrwd);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let w = v128.load(param + o);
    const g = f32x4.add(v128.load(grad + o), f32x4.mul(vl2, w));
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vob1, g));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vob2, f32x4.mul(g, g)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const mhat = f32x4.mul(mi, vic1), vhat = f32x4.mul(vi, vic2);
    w = f32x4.sub(w, f32x4.mul(vlrwd, w));
    w = f32x4.sub(w, f32x4.div(f32x4.mul(vlr, mhat), f32x4.add(f32x4.sqrt(vhat), veps)));
    v128.store(param + o, w);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let w = load<f32>(param + o);
    const g = load<f32>(grad + o) + l2 * w;
    const mi = b1 * load<f32>(m + o) + ob1 * g;
    const vi = b2 * load<f32>(v + o) + ob2 * (g * g);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const mhat = mi * ic1, vhat = vi * ic2;
    w = w - lrwd * w;
    w = w - (lrf * mhat) / (sqrt<f32>(vhat) + epsf);
    store<f32>(param + o, w);
  }
}
