// Reference matrix products (Ops.gemm, Ops.groupedGemm; the same family as assembly/gemm.ts and
// native/gemm.cu), on raw typed arrays (the conventions of every reference family file: ./index.ts).
import type { FloatArray } from '../../ops/types.js';

/** C[m×n] = alpha · op(A) · op(B) + beta · C (see Ops.gemm). */
export function gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: FloatArray, b: FloatArray, beta: number, c: FloatArray): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const aip = transA ? a[p * m + i] : a[i * k + p];
        const bpj = transB ? b[j * k + p] : b[p * n + j];
        s += aip * bpj;
      }
      // beta = 0 must overwrite even NaN, as BLAS does.
      c[i * n + j] = beta === 0 ? alpha * s : alpha * s + beta * c[i * n + j];
    }
  }
}

/**
 * packed[k×n] = op(B) row-major (see Ops.packGemmB): the reference's packed form is a copy of op(B)
 * made at packGemmB, so gemm(transA, false, …, packed, …) is Ops.gemmPackedB. A copy is the
 * strictest reading of the contract: a layer that forgot to pack again after B changed computes
 * with the old B here, and the gradient checks (which run on this backend) fail.
 */
export function packGemmB(transB: boolean, k: number, n: number, b: FloatArray, packed: FloatArray): void {
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) packed[p * n + j] = transB ? b[j * k + p] : b[p * n + j];
  }
}

/**
 * The reference gemm's maths on sub-ranges of raw arrays: C[cOff…] = op(A)·op(B) (+ C when
 * beta = 1), op(A) m×k, op(B) k×n, A stored m×k (or k×m when transA), B k×n (or n×k when transB).
 * beta = 0 overwrites, NaN included, as the reference gemm does.
 */
function gemmAt(transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: FloatArray, aOff: number, b: FloatArray, bOff: number, beta: 0 | 1, c: FloatArray, cOff: number): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const aip = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
        const bpj = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
        s += aip * bpj;
      }
      c[cOff + i * n + j] = beta === 0 ? s : s + c[cOff + i * n + j];
    }
  }
}

/**
 * Grouped GEMM over G groups of rows [offsets[g], offsets[g+1]) (see Ops.groupedGemm):
 *   'nn': C[rows_g] = A[rows_g] · B_g (B_g k×n);  'nt': C[rows_g] = A[rows_g] · B_gᵀ (B_g n×k);
 *   'tn': C_g[k, n] += A[rows_g]ᵀ · B[rows_g] (always accumulates).
 */
export function groupedGemm(mode: 'nn' | 'nt' | 'tn', G: number, offsets: Int32Array, n: number, k: number,
  A: FloatArray, B: FloatArray, beta: 0 | 1, C: FloatArray): void {
  for (let g = 0; g < G; g++) {
    const r0 = offsets[g], m = offsets[g + 1] - r0;
    if (m <= 0) continue;
    if (mode === 'tn') {
      // A's group rows are an m×k block from row r0; C_g (k×n) += that blockᵀ · B's m×n block.
      gemmAt(true, false, k, n, m, A, r0 * k, B, r0 * n, 1, C, g * k * n);
    } else {
      gemmAt(false, mode === 'nt', m, n, k, A, r0 * k, B, g * k * n, beta, C, r0 * n);
    }
  }
}
