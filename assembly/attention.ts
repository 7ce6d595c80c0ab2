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
//
// Two paths: ./attention_tiled.ts (head width ≤ DMAX = 256: outer-product register tiles, as the
// GEMM micro-kernel) and ./attention_general.ts (any width: dot-product form); ./attention_common.ts
// holds what both use. This file sizes their shared scratch and picks one per call.
import { attentionBackwardGeneral, attentionGeneral, G_END } from './attention_general';
import { attentionBackwardTiled, attentionTiled, DMAX, F_END } from './attention_tiled';

/** Bytes of scratch the kernels need (the larger of the two paths' layouts). */
export function attentionScratchBytes(): i32 {
  return (F_END > G_END ? F_END : G_END) << 2;
}

// ==== entry points ==================================================================================

// Dropout on P (the mask: attentionDropKeep in src/ops/types.ts; ./attention_common.ts): dropThr
// is the uint32 threshold (0: no dropout, the dropout-free loops run), dropScale = 1/(1 − p), seed
// the mask's seed, b0 the index of this call's first batch item in the whole call (the batch pool
// runs one item per call), so the mask of (b, h) is the same whichever thread computes it.
// wide (tiled path): 1 for 16-wide register tiles, the shape V8's revectorizer turns into 256-bit
// AVX2 (the backend passes 1 on its revec4x16 path); 0 for 8-wide ones, which fit the 16 XMM
// registers of plain 128-bit code (16-wide tiles spill there: measured 25% slower).
export function attention(q: usize, k: usize, v: usize, out: usize, lse: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize, wide: i32): void {
  if (D <= DMAX) {
    attentionTiled(q, k, v, out, lse, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale,
      dropThr, dropScale, seed, b0, scratch, wide);
  } else {
    attentionGeneral(q, k, v, out, lse, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale,
      dropThr, dropScale, seed, b0, scratch);
  }
}

export function attentionBackward(q: usize, k: usize, v: usize, out: usize, lse: usize, dout: usize,
  dq: usize, dk: usize, dv: usize,
  B: i32, H: i32, D: i32, Tq: i32, Tk: i32, causal: i32, qOffset: i32,
  qStride: i32, kvStride: i32, oStride: i32, scale: f32,
  dropThr: u32, dropScale: f32, seed: u32, b0: i32, scratch: usize, wide: i32): void {
  if (D <= DMAX) {
    attentionBackwardTiled(q, k, v, out, lse, dout, dq, dk, dv, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale,
      dropThr, dropScale, seed, b0, scratch, wide);
  } else {
    attentionBackwardGeneral(q, k, v, out, lse, dout, dq, dk, dv, B, H, D, Tq, Tk, causal, qOffset, qStride, kvStride, oStride, scale,
      dropThr, dropScale, seed, b0, scratch);
  }
}
