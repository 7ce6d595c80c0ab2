// The general attention path (any head width; the entry points in ./attention.ts send the heads
// wider than DMAX here): dot-product form, one query row against four keys, BR query rows × BC keys
// per block (the algorithm: the header of ./attention.ts).
import { hsum, ln, loadTail, rowDot, rowMax, storeTail, vexp } from './math';
import { dropFactor, dropRow, DROP_MUL_J, maxI, minI, visible } from './attention_common';

const BR: i32 = 32; // query rows per block
const BC: i32 = 64; // keys per block (a multiple of 4: rows of the scratch are whole vectors)
export const G_END: i32 = 2 * BR * BC + 4 * BR; // the general path's P, dS blocks and row vectors

// @ts-ignore: decorator
@inline function rowAt(base: usize, row: i32, stride: i32, col: i32): usize {
  return base + ((<usize>row * <usize>stride + <usize>col) << 2);
}

// @ts-ignore: decorator
@inline function scalarExp(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

/** [a·b0, a·b1, a·b2, a·b3] over D elements. */
// @ts-ignore: decorator
@inline function dot4(a: usize, b0: usize, b1: usize, b2: usize, b3: usize, D: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= D; d += 4) {
    const o = <usize>d << 2;
    const x = v128.load(a + o);
    s0 = f32x4.add(s0, f32x4.mul(x, v128.load(b0 + o)));
    s1 = f32x4.add(s1, f32x4.mul(x, v128.load(b1 + o)));
    s2 = f32x4.add(s2, f32x4.mul(x, v128.load(b2 + o)));
    s3 = f32x4.add(s3, f32x4.mul(x, v128.load(b3 + o)));
  }
  if (d < D) {
    const o = <usize>d << 2, t = D - d;
    const x = loadTail(a + o, t, 0);
    s0 = f32x4.add(s0, f32x4.mul(x, loadTail(b0 + o, t, 0)));
    s1 = f32x4.add(s1, f32x4.mul(x, loadTail(b1 + o, t, 0)));
    s2 = f32x4.add(s2, f32x4.mul(x, loadTail(b2 + o, t, 0)));
    s3 = f32x4.add(s3, f32x4.mul(x, loadTail(b3 + o, t, 0)));
  }
  // Transpose-and-add: lane j of the result is the horizontal sum of s_j.
  const t01 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 1, 4, 5), v128.shuffle<f32>(s0, s1, 2, 3, 6, 7));
  const t23 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 1, 4, 5), v128.shuffle<f32>(s2, s3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(t01, t23, 0, 2, 4, 6), v128.shuffle<f32>(t01, t23, 1, 3, 5, 7));
}

/** y = alpha·y + c0·x0 + c1·x1 + c2·x2 + c3·x3 over D elements (c = [c0..c3]). */
// @ts-ignore: decorator
@inline function axpy4(y: usize, alpha: f32, c: v128, x0: usize, x1: usize, x2: usize, x3: usize, D: i32): void {
  const va = f32x4.splat(alpha);
  const c0 = f32x4.splat(f32x4.extract_lane(c, 0)), c1 = f32x4.splat(f32x4.extract_lane(c, 1));
  const c2 = f32x4.splat(f32x4.extract_lane(c, 2)), c3 = f32x4.splat(f32x4.extract_lane(c, 3));
  let d = 0;
  for (; d + 4 <= D; d += 4) {
    const o = <usize>d << 2;
    let acc = f32x4.mul(va, v128.load(y + o));
    acc = f32x4.add(acc, f32x4.mul(c0, v128.load(x0 + o)));
    acc = f32x4.add(acc, f32x4.mul(c1, v128.load(x1 + o)));
    acc = f32x4.add(acc, f32x4.mul(c2, v128.load(x2 + o)));
    acc = f32x4.add(acc, f32x4.mul(c3, v128.load(x3 + o)));
    v128.store(y + o, acc);
  }
  if (d < D) {
    const o = <usize>d << 2, t = D - d;
    let acc = f32x4.mul(va, loadTail(y + o, t, 0));
    acc = f32x4.add(acc, f32x4.mul(c0, loadTail(x0 + o, t, 0)));
    acc = f32x4.add(acc, f32x4.mul(c1, loadTail(x1 + o, t, 0)));
    acc = f32x4.add(acc, f32x4.mul(c2, loadTail(x2 + o, t, 0)));
    acc = f32x4.add(acc, f32x4.mul(c3, loadTail(x3 + o, t, 0)));
    storeTail(y + o, acc, t);
  }
}

// @ts-ignore: decorator
@inline function zeroRow(p: usize, D: i32): void {
  memory.fill(p, 0, <usize>D << 2);
}

/** Lane mask: lanes < n all ones (n in 0..4). */
// @ts-ignore: decorator
@inline function laneMask(n: i32): v128 {
  return i32x4.gt_s(i32x4.splat(n), i32x4(0, 1, 2, 3));
}

export function attentionGeneral(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize): void {
  const drop = dropThr != 0;
  const vthr = i32x4.splat(dropThr), vks = f32x4.splat(dropScale), vmulJ = i32x4.splat(DROP_MUL_J);
  const LANES = i32x4(0, 1, 2, 3);
  const S = scratch; // [BR, BC] scores, then probabilities
  const M = scratch + (<usize>(2 * BR * BC) << 2); // [BR] running max
  const L = M + (<usize>BR << 2); // [BR] running sum
  const vscale = f32x4.splat(scale);
  const NEG_INF = f32x4.splat(<f32>-Infinity);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = h * D;
      for (let i0 = 0; i0 < Tq; i0 += BR) {
        const r = minI(BR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        for (let ii = 0; ii < r; ii++) {
          store<f32>(M + (<usize>ii << 2), <f32>-Infinity);
          store<f32>(L + (<usize>ii << 2), 0);
          zeroRow(rowAt(out, b * Tq + i0 + ii, oStride, col), D);
        }
        for (let j0 = 0; j0 < jEnd; j0 += BC) {
          const jn = minI(BC, jEnd - j0);
          for (let ii = 0; ii < r; ii++) {
            const i = i0 + ii;
            const vis = visible(causal, i, qOffset, j0, jn);
            if (vis <= 0) continue;
            const qr = rowAt(q, b * Tq + i, qStride, col);
            const srow = S + (<usize>(ii * BC) << 2);
            const last = b * Tk + j0 + vis - 1; // the last visible key row: padding repeats it
            // scores s_j = scale·q·k_j; lanes past vis get −∞ (exp → exactly 0)
            let j = 0;
            for (; j < vis; j += 4) {
              const kr = b * Tk + j0 + j;
              const s = f32x4.mul(dot4(qr,
                rowAt(k, kr, kvStride, col), rowAt(k, minI(kr + 1, last), kvStride, col),
                rowAt(k, minI(kr + 2, last), kvStride, col), rowAt(k, minI(kr + 3, last), kvStride, col), D), vscale);
              v128.store(srow + (<usize>j << 2), v128.bitselect(s, NEG_INF, laneMask(vis - j)));
            }
            const mOld = load<f32>(M + (<usize>ii << 2));
            const mBlk = rowMax(srow, vis);
            const mNew = mOld > mBlk ? mOld : mBlk;
            const alpha = scalarExp(mOld - mNew); // mOld = −∞: exactly 0
            const vm = f32x4.splat(mNew);
            let sum = f32x4.splat(0);
            if (drop) {
              // The sum (so lse) is over the undropped P; P·V takes the dropped, rescaled P.
              const rowKey = i32x4.splat(dropRow(seed, (b0 + b) * H + h, i));
              for (j = 0; j < vis; j += 4) {
                const p = vexp(f32x4.sub(v128.load(srow + (<usize>j << 2)), vm));
                sum = f32x4.add(sum, p);
                const jv = i32x4.add(i32x4.splat(j0 + j), LANES);
                v128.store(srow + (<usize>j << 2), f32x4.mul(p, dropFactor(v128.xor(rowKey, i32x4.mul(jv, vmulJ)), vthr, vks)));
              }
            } else {
              for (j = 0; j < vis; j += 4) {
                const p = vexp(f32x4.sub(v128.load(srow + (<usize>j << 2)), vm));
                v128.store(srow + (<usize>j << 2), p);
                sum = f32x4.add(sum, p);
              }
            }
            store<f32>(L + (<usize>ii << 2), load<f32>(L + (<usize>ii << 2)) * alpha + hsum(sum));
            store<f32>(M + (<usize>ii << 2), mNew);
            // out_i = alpha·out_i + Σ_j p_j v_j (padding lanes have p = 0)
            const orow = rowAt(out, b * Tq + i, oStride, col);
            let a = alpha;
            for (j = 0; j < vis; j += 4) {
              const vr = b * Tk + j0 + j;
              axpy4(orow, a, v128.load(srow + (<usize>j << 2)),
                rowAt(v, vr, kvStride, col), rowAt(v, minI(vr + 1, last), kvStride, col),
                rowAt(v, minI(vr + 2, last), kvStride, col), rowAt(v, minI(vr + 3, last), kvStride, col), D);
              a = 1;
            }
          }
        }
        for (let ii = 0; ii < r; ii++) {
          const i = i0 + ii;
          const l = load<f32>(L + (<usize>ii << 2));
          const lp = lse + (<usize>((b * H + h) * Tq + i) << 2);
          if (l > 0) {
            const orow = rowAt(out, b * Tq + i, oStride, col);
            const inv = f32x4.splat(<f32>1 / l);
            let d = 0;
            for (; d + 4 <= D; d += 4) v128.store(orow + (<usize>d << 2), f32x4.mul(v128.load(orow + (<usize>d << 2)), inv));
            if (d < D) storeTail(orow + (<usize>d << 2), f32x4.mul(loadTail(orow + (<usize>d << 2), D - d, 0), inv), D - d);
            store<f32>(lp, load<f32>(M + (<usize>ii << 2)) + <f32>ln(<f64>l));
          } else {
            store<f32>(lp, <f32>-Infinity);
          }
        }
      }
    }
  }
}

export function attentionBackwardGeneral(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize): void {
  const drop = dropThr != 0;
  const vthr = i32x4.splat(dropThr), vks = f32x4.splat(dropScale), vmulJ = i32x4.splat(DROP_MUL_J);
  const LANES = i32x4(0, 1, 2, 3);
  const P = scratch; // [BR, BC]
  const dS = scratch + (<usize>(BR * BC) << 2); // [BR, BC]
  const Dr = dS + (<usize>(BR * BC) << 2); // [BR] rowsum(dO ⊙ O)
  const vscale = f32x4.splat(scale);
  const zero = f32x4.splat(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = h * D;
      // Overwrite semantics: clear only this (b, h)'s blocks, then accumulate into them.
      for (let i = 0; i < Tq; i++) zeroRow(rowAt(dq, b * Tq + i, qStride, col), D);
      for (let j = 0; j < Tk; j++) {
        zeroRow(rowAt(dk, b * Tk + j, kvStride, col), D);
        zeroRow(rowAt(dv, b * Tk + j, kvStride, col), D);
      }
      for (let i0 = 0; i0 < Tq; i0 += BR) {
        const r = minI(BR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        for (let ii = 0; ii < r; ii++) {
          const row = b * Tq + i0 + ii;
          store<f32>(Dr + (<usize>ii << 2), rowDot(rowAt(dout, row, oStride, col), rowAt(out, row, oStride, col), D));
        }
        for (let j0 = 0; j0 < jEnd; j0 += BC) {
          const jn = minI(BC, jEnd - j0);
          const jn4 = (jn + 3) & ~3;
          // Phase 1, per query row: P, dS for the block; dQ_i += scale·Σ_j dS_ij k_j.
          for (let ii = 0; ii < r; ii++) {
            const i = i0 + ii;
            const vis = visible(causal, i, qOffset, j0, jn);
            const prow = P + (<usize>(ii * BC) << 2), drow = dS + (<usize>(ii * BC) << 2);
            let j = 0;
            if (vis > 0) {
              const qi = b * Tq + i;
              const qr = rowAt(q, qi, qStride, col), dor = rowAt(dout, qi, oStride, col);
              const vl = f32x4.splat(load<f32>(lse + (<usize>((b * H + h) * Tq + i) << 2)));
              const vD = f32x4.splat(load<f32>(Dr + (<usize>ii << 2)));
              const last = b * Tk + j0 + vis - 1;
              const dqr = rowAt(dq, qi, qStride, col);
              const rowKey = drop ? i32x4.splat(dropRow(seed, (b0 + b) * H + h, i)) : zero;
              for (; j < vis; j += 4) {
                const kr = b * Tk + j0 + j;
                const k1 = minI(kr + 1, last), k2 = minI(kr + 2, last), k3 = minI(kr + 3, last);
                const kp0 = rowAt(k, kr, kvStride, col), kp1 = rowAt(k, k1, kvStride, col);
                const kp2 = rowAt(k, k2, kvStride, col), kp3 = rowAt(k, k3, kvStride, col);
                const s = f32x4.mul(dot4(qr, kp0, kp1, kp2, kp3, D), vscale);
                const mask = laneMask(vis - j);
                const p = v128.and(vexp(f32x4.sub(s, vl)), mask);
                const dp = dot4(dor,
                  rowAt(v, kr, kvStride, col), rowAt(v, k1, kvStride, col),
                  rowAt(v, k2, kvStride, col), rowAt(v, k3, kvStride, col), D);
                if (drop) {
                  // c = m/(1 − p): dV takes c·P, dS = P ⊙ (c·dP − Drow) (src/backends/reference/attention.ts).
                  const jv = i32x4.add(i32x4.splat(j0 + j), LANES);
                  const c = dropFactor(v128.xor(rowKey, i32x4.mul(jv, vmulJ)), vthr, vks);
                  const ds = v128.and(f32x4.mul(p, f32x4.sub(f32x4.mul(dp, c), vD)), mask);
                  v128.store(prow + (<usize>j << 2), f32x4.mul(p, c));
                  v128.store(drow + (<usize>j << 2), ds);
                  axpy4(dqr, 1, f32x4.mul(ds, vscale), kp0, kp1, kp2, kp3, D);
                  continue;
                }
                const ds = v128.and(f32x4.mul(p, f32x4.sub(dp, vD)), mask);
                v128.store(prow + (<usize>j << 2), p);
                v128.store(drow + (<usize>j << 2), ds);
                axpy4(dqr, 1, f32x4.mul(ds, vscale), kp0, kp1, kp2, kp3, D);
              }
            }
            for (; j < jn4; j += 4) {
              v128.store(prow + (<usize>j << 2), zero);
              v128.store(drow + (<usize>j << 2), zero);
            }
          }
          // Phase 2, per key: dV_j += Σ_i P_ij dO_i, dK_j += scale·Σ_i dS_ij q_i, over the rows
          // that see key j (causal: i ≥ j − qOffset), four rows at a time.
          for (let jj = 0; jj < jn; jj++) {
            const j = j0 + jj;
            const first = causal ? maxI(0, j - qOffset - i0) : 0;
            if (first >= r) continue;
            const kvRow = b * Tk + j;
            const dvr = rowAt(dv, kvRow, kvStride, col), dkr = rowAt(dk, kvRow, kvStride, col);
            const lastRow = b * Tq + i0 + r - 1;
            for (let ii = first; ii < r; ii += 4) {
              const n = minI(4, r - ii);
              const base = P + (<usize>(ii * BC + jj) << 2), dbase = dS + (<usize>(ii * BC + jj) << 2);
              const step = <usize>BC << 2;
              let pc = f32x4.splat(0), dc = f32x4.splat(0);
              pc = f32x4.replace_lane(pc, 0, load<f32>(base));
              dc = f32x4.replace_lane(dc, 0, load<f32>(dbase));
              if (n > 1) { pc = f32x4.replace_lane(pc, 1, load<f32>(base + step)); dc = f32x4.replace_lane(dc, 1, load<f32>(dbase + step)); }
              if (n > 2) { pc = f32x4.replace_lane(pc, 2, load<f32>(base + 2 * step)); dc = f32x4.replace_lane(dc, 2, load<f32>(dbase + 2 * step)); }
              if (n > 3) { pc = f32x4.replace_lane(pc, 3, load<f32>(base + 3 * step)); dc = f32x4.replace_lane(dc, 3, load<f32>(dbase + 3 * step)); }
              const q0 = b * Tq + i0 + ii;
              const q1 = minI(q0 + 1, lastRow), q2 = minI(q0 + 2, lastRow), q3 = minI(q0 + 3, lastRow);
              axpy4(dvr, 1, pc, rowAt(dout, q0, oStride, col), rowAt(dout, q1, oStride, col),
                rowAt(dout, q2, oStride, col), rowAt(dout, q3, oStride, col), D);
              axpy4(dkr, 1, f32x4.mul(dc, vscale), rowAt(q, q0, qStride, col), rowAt(q, q1, qStride, col),
                rowAt(q, q2, qStride, col), rowAt(q, q3, qStride, col), D);
            }
          }
        }
      }
    }
  }
}
