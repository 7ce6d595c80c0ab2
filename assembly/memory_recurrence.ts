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
import { hsum, rowDot } from './math';

const RULE_DELTA = 0;
const OPT_GD = 0;
const OPT_MOMENTUM = 1;
const OPT_ADAM = 2;

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

// ---- fused row passes ---------------------------------------------------------------------------
// The optimisers act elementwise, so a commit of row i needs only row i of A: each step is one pass
// per row that accumulates, commits (or copies) and reads at once, instead of a pass per operation.

// mode of a row pass: what the step does besides accumulating A_i += e k.
const KEEP = 0; // no commit: M_i is carried over
const COMMIT_GD = 1; // M_i ← M_i − η A_i
const COMMIT_MOMENTUM = 2; // S_i ← β S_i − η A_i; M_i ← M_i + S_i

/**
 * One step of row i: a = A_i + e k; then KEEP: A_i = a, Mn_i = Mp_i; or commit: A_i ← 0,
 * d = −η a (momentum: S_i ← β S_i + d, d = S_i), Mn_i = Mp_i + d. Returns Mn_i · q (the read).
 */
// @ts-ignore: decorator
@inline function rowStep(mode: i32, e: f32, eta: f32, beta: f32, k: usize, A: usize, Sm: usize, Mp: usize, Mn: usize,
  q: usize, n: i32): f32 {
  const ve = f32x4.splat(e), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta), z = f32x4.splat(0);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const a = f32x4.add(v128.load(A + o), f32x4.mul(ve, v128.load(k + o)));
    let mn = v128.load(Mp + o);
    if (mode == KEEP) {
      v128.store(A + o, a);
    } else {
      v128.store(A + o, z);
      let d = f32x4.mul(vneg, a);
      if (mode == COMMIT_MOMENTUM) { d = f32x4.add(f32x4.mul(vbeta, v128.load(Sm + o)), d); v128.store(Sm + o, d); }
      mn = f32x4.add(mn, d);
    }
    v128.store(Mn + o, mn);
    acc = f32x4.add(acc, f32x4.mul(mn, v128.load(q + o)));
  }
  let s = hsum(acc);
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const a = load<f32>(A + o) + e * load<f32>(k + o);
    let mn = load<f32>(Mp + o);
    if (mode == KEEP) {
      store<f32>(A + o, a);
    } else {
      store<f32>(A + o, 0);
      let d = -eta * a;
      if (mode == COMMIT_MOMENTUM) { d = beta * load<f32>(Sm + o) + d; store<f32>(Sm + o, d); }
      mn += d;
    }
    store<f32>(Mn + o, mn);
    s += mn * load<f32>(q + o);
  }
  return s;
}

export function memoryForward(k: usize, v: usize, q: usize, y: usize, saved: usize, B: i32, T: i32, dk: i32, dv: i32,
  rule: i32, opt: i32, period: i32, eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, SB = <usize>S << 2;
  const eta = <f32>eta64, beta = <f32>beta64;
  const adamBlock = opt == OPT_ADAM ? <usize>B * <usize>T * SB : 0;
  const mBase = saved + <usize>B * <usize>(T + 1) * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const work = aBase + adamBlock;
  const A = work, Sm = A + SB, m = Sm + SB, u = m + SB;
  for (let b = 0; b < B; b++) {
    zero(A, 4 * S);
    let commits = 0;
    const Rb = saved + <usize>b * <usize>(T + 1) * SB;
    zero(Rb, S);
    for (let t = 1; t <= T; t++) {
      const row = <usize>(b * T + t - 1);
      const Mp = Rb + <usize>(t - 1) * SB, Mn = Mp + SB;
      const kp = k + row * rowBytes, vp = v + row * (<usize>dv << 2), qp = q + row * rowBytes;
      const yp = y + row * (<usize>dv << 2);
      const commit = t % period == 0;
      if (commit) commits++;
      // Row i: e_i = M_i·k − v_i (delta) or −v_i (hebbian); A_i += e_i k; commit (or keep) M_i; y_i = M_i·q.
      if (opt != OPT_ADAM || !commit) {
        const mode = !commit ? KEEP : opt == OPT_GD ? COMMIT_GD : COMMIT_MOMENTUM;
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          let ei = -load<f32>(vp + (<usize>i << 2));
          if (rule == RULE_DELTA) ei += rowDot(Mp + Mi, kp, dk);
          store<f32>(yp + (<usize>i << 2), rowStep(mode, ei, eta, beta, kp, A + Mi, Sm + Mi, Mp + Mi, Mn + Mi, qp, dk));
        }
      } else {
        // Adam's commit needs the step's bias corrections and saves m, u, A: a pass of its own.
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          let ei = -load<f32>(vp + (<usize>i << 2));
          if (rule == RULE_DELTA) ei += rowDot(Mp + Mi, kp, dk);
          axpyRow(ei, kp, A + Mi, dk);
        }
        const c1 = <f32>(1 / (1 - powi(beta1, commits))), c2 = <f32>(1 / (1 - powi(beta2, commits)));
        const so = row * SB;
        adamCommit(Mp, Mn, A, m, u, mBase + so, uBase + so, aBase + so, S, eta, <f32>beta1, <f32>beta2, <f32>eps64, c1, c2);
        zero(A, S);
        for (let i = 0; i < dv; i++) store<f32>(yp + (<usize>i << 2), rowDot(Mn + <usize>i * rowBytes, qp, dk));
      }
    }
  }
}

/**
 * Read of row i backward (y_i = R_i·q): dM_i += g q; dq += g R_i; then the commit's backward:
 * COMMIT_GD: dA_i = −η dM_i; COMMIT_MOMENTUM: dS_i += dM_i, dA_i = −η dS_i, dS_i ← β dS_i.
 */
// @ts-ignore: decorator
@inline function rowRead(mode: i32, g: f32, eta: f32, beta: f32, q: usize, dM: usize, R: usize, dq: usize, dA: usize,
  dS: usize, n: i32): void {
  const vg = f32x4.splat(g), vneg = f32x4.splat(-eta), vbeta = f32x4.splat(beta);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const d = f32x4.add(v128.load(dM + o), f32x4.mul(vg, v128.load(q + o)));
    v128.store(dM + o, d);
    v128.store(dq + o, f32x4.add(v128.load(dq + o), f32x4.mul(vg, v128.load(R + o))));
    if (mode == COMMIT_GD) v128.store(dA + o, f32x4.mul(vneg, d));
    else if (mode == COMMIT_MOMENTUM) {
      const sv = f32x4.add(v128.load(dS + o), d);
      v128.store(dA + o, f32x4.mul(vneg, sv));
      v128.store(dS + o, f32x4.mul(vbeta, sv));
    }
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const d = load<f32>(dM + o) + g * load<f32>(q + o);
    store<f32>(dM + o, d);
    store<f32>(dq + o, load<f32>(dq + o) + g * load<f32>(R + o));
    if (mode == COMMIT_GD) store<f32>(dA + o, -eta * d);
    else if (mode == COMMIT_MOMENTUM) {
      const sv = load<f32>(dS + o) + d;
      store<f32>(dA + o, -eta * sv);
      store<f32>(dS + o, beta * sv);
    }
  }
}

/** dotPair's second result (AssemblyScript returns one value; this instance runs on one thread). */
let pairSecond: f32 = 0;

/** Returns a·c and leaves b·c in pairSecond: two dot products sharing the loads of c. */
// @ts-ignore: decorator
@inline function dotPair(a: usize, b: usize, c: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const cv = v128.load(c + o);
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), cv));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(b + o), cv));
  }
  let r0 = hsum(s0), r1 = hsum(s1);
  for (; j < n; j++) {
    const o = <usize>j << 2, cj = load<f32>(c + o);
    r0 += load<f32>(a + o) * cj;
    r1 += load<f32>(b + o) * cj;
  }
  pairSecond = r1;
  return r0;
}

/** Delta-rule write, row i backward: dk += e dA_i + de R_i; dM_i += de k. */
// @ts-ignore: decorator
@inline function rowDeltaGrad(e: f32, de: f32, dA: usize, R: usize, k: usize, dkp: usize, dM: usize, n: i32): void {
  const ve = f32x4.splat(e), vde = f32x4.splat(de);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    v128.store(dkp + o, f32x4.add(v128.load(dkp + o),
      f32x4.add(f32x4.mul(ve, v128.load(dA + o)), f32x4.mul(vde, v128.load(R + o)))));
    v128.store(dM + o, f32x4.add(v128.load(dM + o), f32x4.mul(vde, v128.load(k + o))));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(dkp + o, load<f32>(dkp + o) + (e * load<f32>(dA + o) + de * load<f32>(R + o)));
    store<f32>(dM + o, load<f32>(dM + o) + de * load<f32>(k + o));
  }
}

export function memoryBackward(k: usize, v: usize, q: usize, saved: usize, dy: usize, dK: usize, dV: usize, dQ: usize,
  B: i32, T: i32, dk: i32, dv: i32, rule: i32, opt: i32, period: i32,
  eta64: f64, beta64: f64, beta1: f64, beta2: f64, eps64: f64): void {
  const S = dk * dv, rowBytes = <usize>dk << 2, vBytes = <usize>dv << 2, SB = <usize>S << 2;
  const eta = <f32>eta64, beta = <f32>beta64, b1 = <f32>beta1, b2 = <f32>beta2, eps = <f32>eps64;
  const adamBlock = opt == OPT_ADAM ? <usize>B * <usize>T * SB : 0;
  const mBase = saved + <usize>B * <usize>(T + 1) * SB, uBase = mBase + adamBlock, aBase = uBase + adamBlock;
  const work = aBase + adamBlock;
  // e and de [dv] of the layout are not needed: the loops below keep e_i and de_i in registers.
  const dM = work, dA = dM + SB, dS = dA + SB, dm = dS + SB, du = dm + SB;
  for (let b = 0; b < B; b++) {
    zero(dM, 5 * S);
    let commits = T / period;
    const Rb = saved + <usize>b * <usize>(T + 1) * SB;
    for (let t = T; t >= 1; t--) {
      const row = <usize>(b * T + t - 1);
      const Rt = Rb + <usize>t * SB, Rp = Rt - SB;
      const kp = k + row * rowBytes, qp = q + row * rowBytes, vp = v + row * vBytes;
      const dkp = dK + row * rowBytes, dqp = dQ + row * rowBytes, dvp = dV + row * vBytes, dyp = dy + row * vBytes;
      const commit = t % period == 0;
      // read y_t = R_t q_t: dM += dy qᵀ, dq = R_tᵀ dy; then the commit's backward (A was reset after
      // it, so the dA of later steps is dropped): gd and momentum row by row, fused with the read.
      zero(dqp, dk);
      const mode = !commit || opt == OPT_ADAM ? KEEP : opt == OPT_GD ? COMMIT_GD : COMMIT_MOMENTUM;
      for (let i = 0; i < dv; i++) {
        const Mi = <usize>i * rowBytes;
        rowRead(mode, load<f32>(dyp + (<usize>i << 2)), eta, beta, qp, dM + Mi, Rt + Mi, dqp, dA + Mi, dS + Mi, dk);
      }
      if (commit && opt == OPT_ADAM) {
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
      if (commit) commits--;
      // A += G_t, dG = dA
      zero(dkp, dk);
      if (rule == RULE_DELTA) {
        // e = R_{t−1} k − v; de = dA k; dk = dAᵀ e + R_{t−1}ᵀ de; dv = −de; dM += de kᵀ
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          const ei = dotPair(Rp + Mi, dA + Mi, kp, dk) - load<f32>(vp + (<usize>i << 2));
          const dei = pairSecond;
          store<f32>(dvp + (<usize>i << 2), -dei);
          rowDeltaGrad(ei, dei, dA + Mi, Rp + Mi, kp, dkp, dM + Mi, dk);
        }
      } else {
        // dv = −dA k; dk = −dAᵀ v
        for (let i = 0; i < dv; i++) {
          const Mi = <usize>i * rowBytes;
          store<f32>(dvp + (<usize>i << 2), -rowDot(dA + Mi, kp, dk));
          axpyRow(-load<f32>(vp + (<usize>i << 2)), dA + Mi, dkp, dk);
        }
      }
    }
  }
}
