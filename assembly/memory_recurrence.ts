// The associative-memory recurrence (Ops.memoryForward / memoryBackward in src/ops/types.ts; the
// maths of both passes is in the header of src/layers/linear-memory.ts, the reference loops in
// src/backends/reference/memory-ops.ts). One call runs all B sequences × T steps, so a token costs
// arithmetic, not a JS↔WASM crossing. (assembly/memory.ts is the heap base, not this.)
//
// Every per-step product is a row operation on a [dv, dk] matrix: a dot of a row with a dk-vector
// (M k, M q, dA k) or a row update by a multiple of a dk-vector (A += e kᵀ, dM += dy qᵀ,
// dq += R ᵀdy as Σ_i dy_i R_i). Those run f32x4 over dk with a scalar tail (dk is often not a
// multiple of 4: 14 in memory-lm at dModel 56 with 4 heads); whole-matrix commits run f32x4 over
// the flat dv·dk state. Everything is float32; Adam's bias corrections are worked out in float64.
//
// `saved` (layout: Ops.memoryForward): R [B, T+1, S] (S = dv·dk), for Adam m, u, A [B·T, S] each,
// then a working area of 5·S + 2·dv floats. The forward writes M_t straight into R[b, t] (built
// from R[b, t−1]), so its working area holds only A, the momentum S, m and u; the backward's holds
// dM, dA, dS, dm, du.
//
// rule: 0 delta, 1 hebbian. opt: 0 gd, 1 momentum, 2 adam.

const RULE_DELTA = 0;
const OPT_GD = 0;
const OPT_MOMENTUM = 1;

/** Σ_j a[j]·b[j] over n floats (two vector accumulators, scalar tail). */
// @ts-ignore: decorator
@inline function dotRow(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const o = <usize>j << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  if (j + 4 <= n) {
    const o = <usize>j << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    j += 4;
  }
  const h = f32x4.add(s0, s1);
  const h2 = f32x4.add(h, v128.shuffle<f32>(h, h, 2, 3, 0, 1));
  let s = f32x4.extract_lane(h2, 0) + f32x4.extract_lane(h2, 1);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(b + (<usize>j << 2));
  return s;
}

/** y[j] += alpha·x[j] over n floats. */
// @ts-ignore: decorator
@inline function axpyRow(alpha: f32, x: usize, y: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(va, v128.load(x + o))));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** n floats of p set to 0. */
// @ts-ignore: decorator
@inline function zero(p: usize, n: i32): void {
  memory.fill(p, 0, <usize>n << 2);
}

/** b^n for a small integer n ≥ 0, by repeated multiplication (no std Math: see assembly/math.ts). */
function powi(b: f64, n: i32): f64 {
  let r = 1.0;
  for (let i = 0; i < n; i++) r *= b;
  return r;
}

/**
 * The Adam commit over the flat state: m ← β1 m + (1−β1) A; u ← β2 u + (1−β2) A²;
 * Mn = Mp − η c1 m / √(c2 u + ε); stores m, u, A at sm, su, sa.
 */
function adamCommit(Mp: usize, Mn: usize, A: usize, m: usize, u: usize, sm: usize, su: usize, sa: usize, S: i32,
  eta: f32, b1: f32, b2: f32, eps: f32, c1: f32, c2: f32): void {
  const vb1 = f32x4.splat(b1), vob1 = f32x4.splat(1 - b1), vb2 = f32x4.splat(b2), vob2 = f32x4.splat(1 - b2);
  const vstep = f32x4.splat(eta * c1), vc2 = f32x4.splat(c2), veps = f32x4.splat(eps);
  let x = 0;
  for (; x + 4 <= S; x += 4) {
    const o = <usize>x << 2;
    const a = v128.load(A + o);
    const mv = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vob1, a));
    const uv = f32x4.add(f32x4.mul(vb2, v128.load(u + o)), f32x4.mul(vob2, f32x4.mul(a, a)));
    v128.store(m + o, mv); v128.store(u + o, uv);
    v128.store(sm + o, mv); v128.store(su + o, uv); v128.store(sa + o, a);
    const d = f32x4.sqrt(f32x4.add(f32x4.mul(vc2, uv), veps));
    v128.store(Mn + o, f32x4.sub(v128.load(Mp + o), f32x4.div(f32x4.mul(vstep, mv), d)));
  }
  for (; x < S; x++) {
    const o = <usize>x << 2;
    const a = load<f32>(A + o);
    const mv = b1 * load<f32>(m + o) + (1 - b1) * a;
    const uv = b2 * load<f32>(u + o) + (1 - b2) * a * a;
    store<f32>(m + o, mv); store<f32>(u + o, uv);
    store<f32>(sm + o, mv); store<f32>(su + o, uv); store<f32>(sa + o, a);
    store<f32>(Mn + o, load<f32>(Mp + o) - eta * c1 * mv / sqrt<f32>(c2 * uv + eps));
  }
}

export function memoryForward(k: usize, v: usize, q: usize, y: usize, saved: usize, B: i32, T: i32, dk: i32, dv: i32,
  rule: i32, opt: i32, period: i32, eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, SB = <usize>S << 2;
  const eta = <f32>eta64, beta = <f32>beta64;
  const adamBlock = opt == 2 ? <usize>B * <usize>T * SB : 0;
  const mBase = saved + <usize>B * <usize>(T + 1) * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const work = aBase + adamBlock;
  const A = work, Sm = A + SB, m = Sm + SB, u = m + SB;
  const veta = f32x4.splat(eta), vbeta = f32x4.splat(beta);
  for (let b = 0; b < B; b++) {
    zero(A, 4 * S);
    let commits = 0;
    const Rb = saved + <usize>b * <usize>(T + 1) * SB;
    zero(Rb, S);
    for (let t = 1; t <= T; t++) {
      const row = <usize>(b * T + t - 1);
      const Mp = Rb + <usize>(t - 1) * SB, Mn = Mp + SB;
      const kp = k + row * rowBytes, vp = v + row * (<usize>dv << 2), qp = q + row * rowBytes;
      // A += G_t at the committed state: e = M k − v (delta) or −v (hebbian); A_i += e_i k.
      for (let i = 0; i < dv; i++) {
        const Mi = <usize>i * rowBytes;
        let ei = -load<f32>(vp + (<usize>i << 2));
        if (rule == RULE_DELTA) ei += dotRow(Mp + Mi, kp, dk);
        axpyRow(ei, kp, A + Mi, dk);
      }
      if (t % period == 0) {
        commits++;
        if (opt == OPT_GD) {
          let x = 0;
          for (; x + 4 <= S; x += 4) {
            const o = <usize>x << 2;
            v128.store(Mn + o, f32x4.sub(v128.load(Mp + o), f32x4.mul(veta, v128.load(A + o))));
          }
          for (; x < S; x++) { const o = <usize>x << 2; store<f32>(Mn + o, load<f32>(Mp + o) - eta * load<f32>(A + o)); }
        } else if (opt == OPT_MOMENTUM) {
          let x = 0;
          for (; x + 4 <= S; x += 4) {
            const o = <usize>x << 2;
            const sv = f32x4.sub(f32x4.mul(vbeta, v128.load(Sm + o)), f32x4.mul(veta, v128.load(A + o)));
            v128.store(Sm + o, sv);
            v128.store(Mn + o, f32x4.add(v128.load(Mp + o), sv));
          }
          for (; x < S; x++) {
            const o = <usize>x << 2;
            const sv = beta * load<f32>(Sm + o) - eta * load<f32>(A + o);
            store<f32>(Sm + o, sv);
            store<f32>(Mn + o, load<f32>(Mp + o) + sv);
          }
        } else {
          const c1 = <f32>(1 / (1 - powi(beta1, commits))), c2 = <f32>(1 / (1 - powi(beta2, commits)));
          const so = row * SB;
          adamCommit(Mp, Mn, A, m, u, mBase + so, uBase + so, aBase + so, S, eta, <f32>beta1, <f32>beta2, <f32>eps64, c1, c2);
        }
        zero(A, S);
      } else {
        memory.copy(Mn, Mp, SB);
      }
      // y_t = M_t q_t
      const yp = y + row * (<usize>dv << 2);
      for (let i = 0; i < dv; i++) store<f32>(yp + (<usize>i << 2), dotRow(Mn + <usize>i * rowBytes, qp, dk));
    }
  }
}

export function memoryBackward(k: usize, v: usize, q: usize, saved: usize, dy: usize, dK: usize, dV: usize, dQ: usize,
  B: i32, T: i32, dk: i32, dv: i32, rule: i32, opt: i32, period: i32,
  eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, vBytes = <usize>dv << 2, SB = <usize>S << 2;
  const eta = <f32>eta64, beta = <f32>beta64, b1 = <f32>beta1, b2 = <f32>beta2, eps = <f32>eps64;
  const adamBlock = opt == 2 ? <usize>B * <usize>T * SB : 0;
  const mBase = saved + <usize>B * <usize>(T + 1) * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const work = aBase + adamBlock;
  // e and de [dv] of the layout are not needed: the loops below keep e_i and de_i in registers.
  const dM = work, dA = dM + SB, dS = dA + SB, dm = dS + SB, du = dm + SB;
  const vnegeta = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  for (let b = 0; b < B; b++) {
    zero(dM, 5 * S);
    let commits = T / period;
    const Rb = saved + <usize>b * <usize>(T + 1) * SB;
    for (let t = T; t >= 1; t--) {
      const row = <usize>(b * T + t - 1);
      const Rt = Rb + <usize>t * SB, Rp = Rt - SB;
      const kp = k + row * rowBytes, qp = q + row * rowBytes, vp = v + row * vBytes;
      const dkp = dK + row * rowBytes, dqp = dQ + row * rowBytes, dvp = dV + row * vBytes, dyp = dy + row * vBytes;
      // read y_t = R_t q_t: dM += dy qᵀ; dq = R_tᵀ dy
      zero(dqp, dk);
      for (let i = 0; i < dv; i++) {
        const g = load<f32>(dyp + (<usize>i << 2)), Mi = <usize>i * rowBytes;
        axpyRow(g, qp, dM + Mi, dk);
        axpyRow(g, Rt + Mi, dqp, dk);
      }
      // commit (A was reset after it, so the dA of later steps is dropped)
      if (t % period == 0) {
        if (opt == OPT_GD) {
          let x = 0;
          for (; x + 4 <= S; x += 4) { const o = <usize>x << 2; v128.store(dA + o, f32x4.mul(vnegeta, v128.load(dM + o))); }
          for (; x < S; x++) { const o = <usize>x << 2; store<f32>(dA + o, -eta * load<f32>(dM + o)); }
        } else if (opt == OPT_MOMENTUM) {
          let x = 0;
          for (; x + 4 <= S; x += 4) {
            const o = <usize>x << 2;
            const sv = f32x4.add(v128.load(dS + o), v128.load(dM + o));
            v128.store(dA + o, f32x4.mul(vnegeta, sv));
            v128.store(dS + o, f32x4.mul(vbeta, sv));
          }
          for (; x < S; x++) {
            const o = <usize>x << 2;
            const sv = load<f32>(dS + o) + load<f32>(dM + o);
            store<f32>(dA + o, -eta * sv);
            store<f32>(dS + o, beta * sv);
          }
        } else {
          // dm += dM·(−η c1/D); du += dM·(η c1 m c2 / (2D³)), D = √(c2 u + ε);
          // dA = (1−β1) dm + 2(1−β2) A du; dm ← β1 dm; du ← β2 du. Scalar: Adam memories are rare.
          const c1 = <f32>(1 / (1 - powi(beta1, commits))), c2 = <f32>(1 / (1 - powi(beta2, commits)));
          const so = row * SB;
          for (let x = 0; x < S; x++) {
            const o = <usize>x << 2;
            const mx = load<f32>(mBase + so + o), ux = load<f32>(uBase + so + o), ax = load<f32>(aBase + so + o);
            const D = sqrt<f32>(c2 * ux + eps), g = load<f32>(dM + o);
            const dmx = load<f32>(dm + o) + g * (-eta * c1 / D);
            const dux = load<f32>(du + o) + g * (eta * c1 * mx * c2 / (2 * D * D * D));
            store<f32>(dA + o, (1 - b1) * dmx + 2 * (1 - b2) * ax * dux);
            store<f32>(dm + o, b1 * dmx);
            store<f32>(du + o, b2 * dux);
          }
        }
        commits--;
      }
      // A += G_t, dG = dA
      if (rule == RULE_DELTA) {
        // e = R_{t−1} k − v; de = dA k; dk = dAᵀ e + R_{t−1}ᵀ de; dv = −de; dM += de kᵀ
        zero(dkp, dk);
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          const ei = dotRow(Rp + Mi, kp, dk) - load<f32>(vp + (<usize>i << 2));
          const dei = dotRow(dA + Mi, kp, dk);
          store<f32>(dvp + (<usize>i << 2), -dei);
          axpyRow(ei, dA + Mi, dkp, dk);
          axpyRow(dei, Rp + Mi, dkp, dk);
          axpyRow(dei, kp, dM + Mi, dk);
        }
      } else {
        // dv = −dA k; dk = −dAᵀ v
        zero(dkp, dk);
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          store<f32>(dvp + (<usize>i << 2), -dotRow(dA + Mi, kp, dk));
          axpyRow(-load<f32>(vp + (<usize>i << 2)), dA + Mi, dkp, dk);
        }
      }
    }
  }
}
