// Fused scaled-dot-product attention, forward and backward, flash style (contract: Ops.attention
// and Ops.attentionBackward in src/ops/types.ts; the reference backend fixes the semantics).
//
// Work is done per (batch b, head h, block of BR query rows). Key/value rows are visited in blocks
// of BC; the scores of one row block against one key block live in a small scratch that the JS
// side allocates once from the heap (attentionScratchBytes), so memory never grows with T:
//   forward   online softmax: per row a running max m and sum l; the output row itself is the
//             accumulator, rescaled by exp(m_old − m_new) when the max moves, divided by l at
//             the end; lse = m + ln l is written for the backward pass.
//   backward  P is recomputed from q, k and lse (exp(s − lse), no max/sum pass), with
//             Drow_i = dO_i·O_i, dP = dO·Vᵀ, dS = P ⊙ (dP − Drow). Phase 1 (per query row) stores
//             P and dS for the block and adds scale·dS·K into dQ; phase 2 (per key) adds Pᵀ·dO
//             into dV and scale·dSᵀ·Q into dK, four query rows per pass over the key's row.
// Dot products and axpys over the head width D run four keys (or four rows) at a time in f32x4,
// so one load of a q (or dO) chunk feeds four multiply-adds; a ragged D is finished with one
// partial vector (loadTail/storeTail), a ragged key count by repeating the last real row with a
// zero coefficient (or −∞ score), so no lane ever reads past a tensor.
//
// Masking: query i (0-based in its batch item) sees keys j ≤ i + qOffset when causal. Only the
// visible keys of each row are computed; masked entries are −∞ scores / exactly zero P and dS, so
// they add exactly nothing. A row with no visible key at all gets out = 0 and lse = −∞.
import { hoisted, hsum, ln, loadTail, rowDot, rowMax, storeTail, V_ONE, vexp } from './math';

const BR: i32 = 32; // query rows per block
const BC: i32 = 64; // keys per block (a multiple of 4: rows of the scratch are whole vectors)

// The tiled path (head width ≤ DMAX, see below) uses its own block sizes and scratch layout.
const FBR: i32 = 16; // query rows per block (a multiple of 8: two 8-row score tiles)
const FBC: i32 = 64; // keys per block (a multiple of 4)
const DMAX: i32 = 256; // widest head the tiled path packs; wider heads take the general path
// Scratch of the tiled path, in floats: QT and dOT [DMAX, FBR] (packed, transposed row blocks),
// ST and DST [FBC, FBR] (scores/P and dP/dS of one block, key-major), and five [FBR] row vectors.
const F_QT: i32 = 0;
const F_OT: i32 = F_QT + DMAX * FBR;
const F_ST: i32 = F_OT + DMAX * FBR;
const F_DST: i32 = F_ST + FBC * FBR;
const F_M: i32 = F_DST + FBC * FBR;
const F_L: i32 = F_M + FBR;
const F_A: i32 = F_L + FBR;
const F_LS: i32 = F_A + FBR;
const F_DR: i32 = F_LS + FBR;
const F_END: i32 = F_DR + FBR;
const G_END: i32 = 2 * BR * BC + 4 * BR; // the general path's P, dS blocks and row vectors

/** Bytes of scratch the kernels need (the larger of the two paths' layouts). */
export function attentionScratchBytes(): i32 {
  return (F_END > G_END ? F_END : G_END) << 2;
}

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

// @ts-ignore: decorator
@inline function minI(a: i32, b: i32): i32 { return a < b ? a : b; }
// @ts-ignore: decorator
@inline function maxI(a: i32, b: i32): i32 { return a > b ? a : b; }

/** Keys of the block [j0, j0+jn) that query row i sees. */
// @ts-ignore: decorator
@inline function visible(causal: i32, i: i32, qOffset: i32, j0: i32, jn: i32): i32 {
  return causal ? maxI(0, minI(jn, i + qOffset + 1 - j0)) : jn;
}

/** Lane mask: lanes < n all ones (n in 0..4). */
// @ts-ignore: decorator
@inline function laneMask(n: i32): v128 {
  return i32x4.gt_s(i32x4.splat(n), i32x4(0, 1, 2, 3));
}

function attentionGeneral(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
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
            for (j = 0; j < vis; j += 4) {
              const p = vexp(f32x4.sub(v128.load(srow + (<usize>j << 2)), vm));
              v128.store(srow + (<usize>j << 2), p);
              sum = f32x4.add(sum, p);
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

function attentionBackwardGeneral(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
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

// ==== tiled path (D ≤ DMAX) ========================================================================
//
// The general kernels above work in dot-product form (one query row against four keys, a
// horizontal sum per score) and run at a fraction of the GEMM's speed. Here every product is an
// outer-product register tile, as in the GEMM micro-kernel: a broadcast scalar times two vectors
// into eight accumulators, no horizontal sums, and multiply-adds fused in the relaxed build:
//   scores   ST[j, i] = Σ_d k[j, d] · QT[d, i]: QT is the row block's q, packed transposed once
//            per row block; a 4-key × 8-row tile; the result is key-major, so the online softmax
//            is vertical (lanes = four query rows): no horizontal max or sum either.
//   rows     out[i, d] = α_i·out[i, d] + Σ_j ST[j, i] · v[j, d]  (forward P·V; backward dQ += dS·K)
//   keys     dv[j, d] += Σ_i ST[j, i] · dO[i, d]  (backward dV += Pᵀ·dO; dK += dSᵀ·Q)
// Tiles past the end of the block compute on clamped (repeated) rows or zero-padded columns and
// are not stored; a head width that is not a multiple of 8 finishes with partial vectors.

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Transposes rows [0, r) of a strided row block (D columns from p) into dst[d·FBR + i], zero-padding rows r…FBR. */
// @ts-ignore: decorator
@inline function packT(dst: usize, p: usize, strideBytes: usize, r: i32, D: i32): void {
  for (let i = 0; i < FBR; i++) {
    let q = p + <usize>i * strideBytes;
    let o = dst + (<usize>i << 2);
    if (i < r) {
      for (let d = 0; d < D; d++) { store<f32>(o, load<f32>(q)); q += 4; o += <usize>FBR << 2; }
    } else {
      for (let d = 0; d < D; d++) { store<f32>(o, 0); o += <usize>FBR << 2; }
    }
  }
}

/**
 * A 4-key × 8-row score tile: dst[x·FBR + c] = scale · Σ_d key_x[d] · yt[d·FBR + c] for
 * x < 4, c < 8 (k0…k3: the four key rows; yt: the packed QT or dOT at the tile's first row).
 */
// @ts-ignore: decorator
@inline function tileScores(k0: usize, k1: usize, k2: usize, k3: usize, yt: usize, D: i32, dst: usize, vscale: v128): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let d = 0; d < D; d++) {
    const y0 = v128.load(yt), y1 = v128.load(yt, 16);
    let a = v128.load32_splat(k0);
    c00 = madd(a, y0, c00); c01 = madd(a, y1, c01);
    a = v128.load32_splat(k1);
    c10 = madd(a, y0, c10); c11 = madd(a, y1, c11);
    a = v128.load32_splat(k2);
    c20 = madd(a, y0, c20); c21 = madd(a, y1, c21);
    a = v128.load32_splat(k3);
    c30 = madd(a, y0, c30); c31 = madd(a, y1, c31);
    k0 += 4; k1 += 4; k2 += 4; k3 += 4; yt += <usize>FBR << 2;
  }
  const row = <usize>FBR << 2;
  v128.store(dst, f32x4.mul(c00, vscale)); v128.store(dst, f32x4.mul(c01, vscale), 16);
  v128.store(dst + row, f32x4.mul(c10, vscale)); v128.store(dst + row, f32x4.mul(c11, vscale), 16);
  v128.store(dst + 2 * row, f32x4.mul(c20, vscale)); v128.store(dst + 2 * row, f32x4.mul(c21, vscale), 16);
  v128.store(dst + 3 * row, f32x4.mul(c30, vscale)); v128.store(dst + 3 * row, f32x4.mul(c31, vscale), 16);
}

// Loads of the two halves of an 8-column chunk with cw (1…8) columns left: partial vectors read
// lane by lane, so nothing past the row's end is touched.
// @ts-ignore: decorator
@inline function ldLo(p: usize, cw: i32): v128 { return cw >= 4 ? v128.load(p) : loadTail(p, cw, 0); }
// @ts-ignore: decorator
@inline function ldHi(p: usize, cw: i32): v128 {
  return cw >= 8 ? v128.load(p, 16) : (cw > 4 ? loadTail(p + 16, cw - 4, 0) : f32x4.splat(0));
}
// @ts-ignore: decorator
@inline function stPair(p: usize, lo: v128, hi: v128, cw: i32): void {
  if (cw >= 8) { v128.store(p, lo); v128.store(p, hi, 16); return; }
  if (cw >= 4) v128.store(p, lo); else storeTail(p, lo, cw);
  if (cw > 4) storeTail(p + 16, hi, cw - 4);
}

/**
 * A 4 × 8 accumulation tile: acc_x[c] = Σ_t coef_x(t) · src_t[c] over t < steps, where coef_x(t)
 * is the f32 at c_x + t·cstep and src_t the row at src + t·sstride (columns d0…d0+cw); then
 * o_x = alpha_x · o_x + acc_x for x < nout (alpha: one lane per output row).
 */
// @ts-ignore: decorator
@inline function tileAcc(c0: usize, c1: usize, c2: usize, c3: usize, cstep: usize, src: usize, sstride: usize,
  steps: i32, cw: i32, o0: usize, o1: usize, o2: usize, o3: usize, nout: i32, alpha: v128): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  if (cw == 8) {
    for (let t = 0; t < steps; t++) {
      const y0 = v128.load(src), y1 = v128.load(src, 16);
      let a = v128.load32_splat(c0);
      a00 = madd(a, y0, a00); a01 = madd(a, y1, a01);
      a = v128.load32_splat(c1);
      a10 = madd(a, y0, a10); a11 = madd(a, y1, a11);
      a = v128.load32_splat(c2);
      a20 = madd(a, y0, a20); a21 = madd(a, y1, a21);
      a = v128.load32_splat(c3);
      a30 = madd(a, y0, a30); a31 = madd(a, y1, a31);
      c0 += cstep; c1 += cstep; c2 += cstep; c3 += cstep; src += sstride;
    }
  } else {
    for (let t = 0; t < steps; t++) {
      const y0 = ldLo(src, cw), y1 = ldHi(src, cw);
      let a = v128.load32_splat(c0);
      a00 = madd(a, y0, a00); a01 = madd(a, y1, a01);
      a = v128.load32_splat(c1);
      a10 = madd(a, y0, a10); a11 = madd(a, y1, a11);
      a = v128.load32_splat(c2);
      a20 = madd(a, y0, a20); a21 = madd(a, y1, a21);
      a = v128.load32_splat(c3);
      a30 = madd(a, y0, a30); a31 = madd(a, y1, a31);
      c0 += cstep; c1 += cstep; c2 += cstep; c3 += cstep; src += sstride;
    }
  }
  let al = f32x4.splat(f32x4.extract_lane(alpha, 0));
  stPair(o0, madd(al, ldLo(o0, cw), a00), madd(al, ldHi(o0, cw), a01), cw);
  if (nout > 1) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 1));
    stPair(o1, madd(al, ldLo(o1, cw), a10), madd(al, ldHi(o1, cw), a11), cw);
  }
  if (nout > 2) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 2));
    stPair(o2, madd(al, ldLo(o2, cw), a20), madd(al, ldHi(o2, cw), a21), cw);
  }
  if (nout > 3) {
    al = f32x4.splat(f32x4.extract_lane(alpha, 3));
    stPair(o3, madd(al, ldLo(o3, cw), a30), madd(al, ldHi(o3, cw), a31), cw);
  }
}

/** The score tiles of one block: dst[jj·FBR + ii] for jj < jn (rounded up to 4), ii < r (rounded up to 8). */
// @ts-ignore: decorator
@inline function blockScores(x: usize, firstRow: i32, jn: i32, strideBytes: usize, col: usize, yt: usize, D: i32,
  dst: usize, vscale: v128, r: i32): void {
  const lastRow = firstRow + jn - 1;
  for (let jj = 0; jj < jn; jj += 4) {
    const r0 = firstRow + jj;
    const p0 = x + <usize>r0 * strideBytes + col;
    const p1 = x + <usize>minI(r0 + 1, lastRow) * strideBytes + col;
    const p2 = x + <usize>minI(r0 + 2, lastRow) * strideBytes + col;
    const p3 = x + <usize>minI(r0 + 3, lastRow) * strideBytes + col;
    for (let ii = 0; ii < r; ii += 8) { // only the tiles that hold real rows (r = 1 when decoding)
      tileScores(p0, p1, p2, p3, yt + (<usize>ii << 2), D, dst + (<usize>(jj * FBR + ii) << 2), vscale);
    }
  }
}

/** Lanes (query rows i0+g … i0+g+3) that may see key j: all ones where visible, zero where masked. */
// @ts-ignore: decorator
@inline function visMask(causal: i32, j: i32, iv: v128): v128 {
  // causal: visible iff j ≤ i + qOffset, i.e. (i + qOffset) ≥ j; iv holds i + qOffset per lane
  return causal ? i32x4.ge_s(iv, i32x4.splat(j)) : i32x4.splat(-1);
}

const LANE_IDX: v128 = i32x4(0, 1, 2, 3);

// exp for the tiled path's softmax arguments (s − m ≤ 0 forward, s − lse ≲ 0 backward): math.ts's
// vexp (same Cephes reduction and polynomial) without its overflow handling, which costs a third of
// its instructions: the input is clamped to [ln FLT_MIN, 88], where 2ⁿ (n ≤ 127) is one normal
// number, and the multiply-adds fuse in the relaxed build. Below ln FLT_MIN (−∞ included) it
// returns exactly 0, like vexp; at most one ulp or so from vexp elsewhere.
const X_LO: v128 = hoisted(-87.33654);
const X_HI: v128 = hoisted(88.0);
const X_LOG2E: v128 = hoisted(1.44269504088896341);
const X_NC1: v128 = hoisted(-0.693359375);
const X_NC2: v128 = hoisted(2.12194440e-4);
const X_MAGIC: v128 = hoisted(12582912.0);
const X_P0: v128 = hoisted(1.9875691500e-4);
const X_P1: v128 = hoisted(1.3981999507e-3);
const X_P2: v128 = hoisted(8.3334519073e-3);
const X_P3: v128 = hoisted(4.1665795894e-2);
const X_P4: v128 = hoisted(1.6666665459e-1);
const X_P5: v128 = hoisted(5.0000001201e-1);
const X_BIAS: v128 = i32x4.trunc_sat_f32x4_s(hoisted(127.0)); // i32 127 (a run-time value, see hoisted)

// @ts-ignore: decorator
@inline function expSoft(x: v128): v128 {
  const xc = f32x4.pmin(f32x4.pmax(x, X_LO), X_HI);
  const t = madd(xc, X_LOG2E, X_MAGIC); // round(x·log2 e) in the low mantissa bits
  const nf = f32x4.sub(t, X_MAGIC);
  const ni = i32x4.sub(t, X_MAGIC);
  const r = madd(nf, X_NC2, madd(nf, X_NC1, xc));
  let p = madd(X_P0, r, X_P1);
  p = madd(p, r, X_P2);
  p = madd(p, r, X_P3);
  p = madd(p, r, X_P4);
  p = madd(p, r, X_P5);
  p = f32x4.add(madd(p, f32x4.mul(r, r), r), V_ONE);
  const y = f32x4.mul(p, i32x4.shl(i32x4.add(ni, X_BIAS), 23));
  return v128.andnot(y, f32x4.lt(x, X_LO));
}

function attentionTiled(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
  const QT = scratch + (<usize>F_QT << 2), ST = scratch + (<usize>F_ST << 2);
  const M = scratch + (<usize>F_M << 2), L = scratch + (<usize>F_L << 2), A = scratch + (<usize>F_A << 2);
  const vscale = f32x4.splat(scale);
  const NEG_INF = f32x4.splat(<f32>-Infinity);
  const qsb = <usize>qStride << 2, kvsb = <usize>kvStride << 2, osb = <usize>oStride << 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = <usize>(h * D) << 2;
      for (let i0 = 0; i0 < Tq; i0 += FBR) {
        const r = minI(FBR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        const qRow0 = q + <usize>(b * Tq + i0) * qsb + col, oRow0 = out + <usize>(b * Tq + i0) * osb + col;
        packT(QT, qRow0, qsb, r, D);
        for (let g = 0; g < FBR; g += 4) {
          v128.store(M + (<usize>g << 2), NEG_INF);
          v128.store(L + (<usize>g << 2), f32x4.splat(0));
        }
        for (let ii = 0; ii < r; ii++) memory.fill(oRow0 + <usize>ii * osb, 0, <usize>D << 2);
        for (let j0 = 0; j0 < jEnd; j0 += FBC) {
          const jn = minI(FBC, jEnd - j0);
          blockScores(k, b * Tk + j0, jn, kvsb, col, QT, D, ST, vscale, r);
          // Online softmax, four query rows per vector: mask, block max, rescale, exp, sums.
          for (let g = 0; g < r; g += 4) {
            const iv = i32x4.add(i32x4.splat(i0 + g + qOffset), LANE_IDX);
            let mb = NEG_INF;
            for (let jj = 0; jj < jn; jj++) {
              const p = ST + (<usize>(jj * FBR + g) << 2);
              const sv = v128.bitselect(v128.load(p), NEG_INF, visMask(causal, j0 + jj, iv));
              v128.store(p, sv);
              mb = f32x4.pmax(mb, sv);
            }
            const mOld = v128.load(M + (<usize>g << 2));
            const mNew = f32x4.pmax(mOld, mb);
            // A row that has seen no key yet keeps m = −∞: subtract 0 instead, so exp gives 0, not NaN.
            const mSafe = v128.bitselect(f32x4.splat(0), mNew, f32x4.eq(mNew, NEG_INF));
            const alpha = expSoft(f32x4.sub(mOld, mSafe));
            let sum = f32x4.splat(0);
            for (let jj = 0; jj < jn; jj++) {
              const p = ST + (<usize>(jj * FBR + g) << 2);
              const e = expSoft(f32x4.sub(v128.load(p), mSafe));
              v128.store(p, e);
              sum = f32x4.add(sum, e);
            }
            v128.store(L + (<usize>g << 2), f32x4.add(f32x4.mul(v128.load(L + (<usize>g << 2)), alpha), sum));
            v128.store(M + (<usize>g << 2), mNew);
            v128.store(A + (<usize>g << 2), alpha);
          }
          // out = α·out + P·V, four rows × eight columns per tile; keys past a group's last
          // visible one have P = 0 and are skipped.
          const vRow0 = v + <usize>(b * Tk + j0) * kvsb + col;
          for (let ii = 0; ii < r; ii += 4) {
            const nout = minI(4, r - ii);
            const steps = causal ? maxI(0, minI(jn, i0 + ii + nout + qOffset - j0)) : jn;
            const c = ST + (<usize>ii << 2);
            const o = oRow0 + <usize>ii * osb;
            const alpha = v128.load(A + (<usize>ii << 2));
            for (let d0 = 0; d0 < D; d0 += 8) {
              const cw = minI(8, D - d0), dOff = <usize>d0 << 2;
              tileAcc(c, c + 4, c + 8, c + 12, <usize>FBR << 2, vRow0 + dOff, kvsb, steps, cw,
                o + dOff, o + osb + dOff, o + 2 * osb + dOff, o + 3 * osb + dOff, nout, alpha);
            }
          }
        }
        for (let ii = 0; ii < r; ii++) {
          const l = load<f32>(L + (<usize>ii << 2));
          const lp = lse + (<usize>((b * H + h) * Tq + i0 + ii) << 2);
          if (l > 0) {
            const orow = oRow0 + <usize>ii * osb;
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

function attentionBackwardTiled(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
  const QT = scratch + (<usize>F_QT << 2), OT = scratch + (<usize>F_OT << 2);
  const ST = scratch + (<usize>F_ST << 2), DST = scratch + (<usize>F_DST << 2);
  const LS = scratch + (<usize>F_LS << 2), DR = scratch + (<usize>F_DR << 2);
  const vscale = f32x4.splat(scale), one = f32x4.splat(1);
  const qsb = <usize>qStride << 2, kvsb = <usize>kvStride << 2, osb = <usize>oStride << 2;
  const rowB = <usize>FBR << 2;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const col = <usize>(h * D) << 2;
      // Overwrite semantics: clear only this (b, h)'s blocks, then accumulate into them.
      for (let i = 0; i < Tq; i++) memory.fill(dq + <usize>(b * Tq + i) * qsb + col, 0, <usize>D << 2);
      for (let j = 0; j < Tk; j++) {
        memory.fill(dk + <usize>(b * Tk + j) * kvsb + col, 0, <usize>D << 2);
        memory.fill(dv + <usize>(b * Tk + j) * kvsb + col, 0, <usize>D << 2);
      }
      for (let i0 = 0; i0 < Tq; i0 += FBR) {
        const r = minI(FBR, Tq - i0);
        const jEnd = causal ? maxI(0, minI(Tk, i0 + r + qOffset)) : Tk;
        const qRow0 = q + <usize>(b * Tq + i0) * qsb + col, dqRow0 = dq + <usize>(b * Tq + i0) * qsb + col;
        const oRow0 = out + <usize>(b * Tq + i0) * osb + col, doRow0 = dout + <usize>(b * Tq + i0) * osb + col;
        packT(QT, qRow0, qsb, r, D);
        packT(OT, doRow0, osb, r, D);
        for (let ii = 0; ii < FBR; ii++) {
          // Padding rows: lse = +∞ gives P = 0 (their q and dO are zero, so nothing else moves).
          const valid = ii < r;
          store<f32>(LS + (<usize>ii << 2), valid ? load<f32>(lse + (<usize>((b * H + h) * Tq + i0 + ii) << 2)) : <f32>Infinity);
          store<f32>(DR + (<usize>ii << 2), valid ? rowDot(doRow0 + <usize>ii * osb, oRow0 + <usize>ii * osb, D) : 0);
        }
        for (let j0 = 0; j0 < jEnd; j0 += FBC) {
          const jn = minI(FBC, jEnd - j0);
          const kRow0 = k + <usize>(b * Tk + j0) * kvsb + col, vRow0 = v + <usize>(b * Tk + j0) * kvsb + col;
          blockScores(k, b * Tk + j0, jn, kvsb, col, QT, D, ST, vscale, r); // S = scale·K·Qᵀ
          blockScores(v, b * Tk + j0, jn, kvsb, col, OT, D, DST, one, r); // dP = V·dOᵀ
          // P = exp(S − lse) and scale·dS = scale·P ⊙ (dP − Drow), exactly 0 where masked.
          for (let g = 0; g < r; g += 4) {
            const iv = i32x4.add(i32x4.splat(i0 + g + qOffset), LANE_IDX);
            const vl = v128.load(LS + (<usize>g << 2)), vD = v128.load(DR + (<usize>g << 2));
            for (let jj = 0; jj < jn; jj++) {
              const o = <usize>(jj * FBR + g) << 2;
              const m = visMask(causal, j0 + jj, iv);
              const p = v128.and(expSoft(f32x4.sub(v128.load(ST + o), vl)), m);
              v128.store(ST + o, p);
              v128.store(DST + o, v128.and(f32x4.mul(f32x4.mul(p, f32x4.sub(v128.load(DST + o), vD)), vscale), m));
            }
          }
          // dQ += (scale·dS)·K: four rows × eight columns, over the keys the rows can see.
          for (let ii = 0; ii < r; ii += 4) {
            const nout = minI(4, r - ii);
            const steps = causal ? maxI(0, minI(jn, i0 + ii + nout + qOffset - j0)) : jn;
            const c = DST + (<usize>ii << 2);
            const o = dqRow0 + <usize>ii * qsb;
            for (let d0 = 0; d0 < D; d0 += 8) {
              const cw = minI(8, D - d0), dOff = <usize>d0 << 2;
              tileAcc(c, c + 4, c + 8, c + 12, rowB, kRow0 + dOff, kvsb, steps, cw,
                o + dOff, o + qsb + dOff, o + 2 * qsb + dOff, o + 3 * qsb + dOff, nout, one);
            }
          }
          // dV += Pᵀ·dO and dK += (scale·dS)ᵀ·Q: four keys × eight columns, over the rows that
          // see the tile's first key (causal: i ≥ j − qOffset).
          for (let jj = 0; jj < jn; jj += 4) {
            const nout = minI(4, jn - jj);
            const first = causal ? maxI(0, j0 + jj - qOffset - i0) : 0;
            if (first >= r) continue;
            const steps = r - first;
            const c = ST + (<usize>(jj * FBR + first) << 2), dc = DST + (<usize>(jj * FBR + first) << 2);
            const ov = vRow0 + <usize>jj * kvsb, ok = kRow0 + <usize>jj * kvsb;
            const dvo = dv + (ov - v), dko = dk + (ok - k);
            for (let d0 = 0; d0 < D; d0 += 8) {
              const cw = minI(8, D - d0), dOff = <usize>d0 << 2;
              tileAcc(c, c + rowB, c + 2 * rowB, c + 3 * rowB, 4, doRow0 + <usize>first * osb + dOff, osb, steps, cw,
                dvo + dOff, dvo + kvsb + dOff, dvo + 2 * kvsb + dOff, dvo + 3 * kvsb + dOff, nout, one);
              tileAcc(dc, dc + rowB, dc + 2 * rowB, dc + 3 * rowB, 4, qRow0 + <usize>first * qsb + dOff, qsb, steps, cw,
                dko + dOff, dko + kvsb + dOff, dko + 2 * kvsb + dOff, dko + 3 * kvsb + dOff, nout, one);
            }
          }
        }
      }
    }
  }
}

// ==== entry points ==================================================================================

export function attention(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
  if (D <= DMAX) attentionTiled(q, k, v, out, lse, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale, scratch);
  else attentionGeneral(q, k, v, out, lse, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale, scratch);
}

export function attentionBackward(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32, scratch: usize): void {
  if (D <= DMAX) {
    attentionBackwardTiled(q, k, v, out, lse, dout, dq, dk, dv, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale, scratch);
  } else {
    attentionBackwardGeneral(q, k, v, out, lse, dout, dq, dk, dv, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale, scratch);
  }
}
