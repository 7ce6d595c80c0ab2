// One chunk of a row-op job (src/backends/wasm/row-pool.ts): the argument block's layout, the
// kinds of job and the code that runs chunk i, shared by the calling thread and the pool's
// workers (./pool-worker.mjs), so that both run exactly the same code. Plain JavaScript so that a
// worker imports it without a TypeScript loader (types: ./row-chunks.d.mts).
//
// A chunk is the op's kernel on a range of rows (pointers moved to the range's first row), on a
// span of a flat array, or, for the sums over rows (sumRows, layerNormBackward's dgamma and
// dbeta), on a range of columns: each output element is then still summed by one thread over all
// rows in order, so a split call gives the bits of a whole one.

/**
 * The row jobs' argument block, in 32-bit words (F64: index in a Float64Array over the same block,
 * words 40–41). The claim word and the counters live in the worker pool's own control block
 * (./pool-protocol.mjs).
 */
export const CTL = Object.freeze({
  KIND: 0, // the job's kind (JOB)
  // byte pointers, in the order of the kernel's arguments:
  //   LAYER_NORM x, gamma, beta, y, mean, rstd    LAYER_NORM_BACKWARD x, gamma, mean, rstd, dy, dx, dgamma, dbeta
  //   SUM_ROWS x, out    ADD_BIAS y, bias    ADD a, b, out    COPY src, dst
  PTRS: 16,
  ROWS: 24, // rows (ADD, COPY: the element count)
  COLS: 25,
  ROW_STEP: 26, // rows in a row chunk (ADD, COPY: elements in a span)
  COL_STEP: 27, // columns in a column chunk
  COL_CHUNKS: 28, // LAYER_NORM_BACKWARD: chunks 0 … COL_CHUNKS − 1 are column ranges (dgamma, dbeta), the rest row ranges (dx)
  F64: 20, // LAYER_NORM: eps (float64, words 40–41: the kernel takes it so)
  INTS: 48,
});

/** Job kinds. */
export const JOB = Object.freeze({ LAYER_NORM: 0, LAYER_NORM_BACKWARD: 1, SUM_ROWS: 2, ADD_BIAS: 3, ADD: 4, COPY: 5 });

/** Runs chunk i of the current row job on kernels `x`. */
export function runRowChunk(x, ctl, ctlD, i) {
  const p = CTL.PTRS, kind = ctl[CTL.KIND], rows = ctl[CTL.ROWS], cols = ctl[CTL.COLS];
  if (kind === JOB.ADD || kind === JOB.COPY) {
    const span = ctl[CTL.ROW_STEP], off = i * span, len = Math.min(span, rows - off), o = off * 4;
    if (kind === JOB.ADD) x.add(ctl[p] + o, ctl[p + 1] + o, ctl[p + 2] + o, len);
    else x.copy(ctl[p] + o, ctl[p + 1] + o, len);
    return;
  }
  if (kind === JOB.SUM_ROWS) {
    const c0 = i * ctl[CTL.COL_STEP];
    x.sumRowsRange(ctl[p], ctl[p + 1], rows, cols, c0, Math.min(c0 + ctl[CTL.COL_STEP], cols));
    return;
  }
  if (kind === JOB.LAYER_NORM_BACKWARD) {
    const colChunks = ctl[CTL.COL_CHUNKS];
    if (i < colChunks) {
      const c0 = i * ctl[CTL.COL_STEP];
      x.layerNormBackwardParams(ctl[p], ctl[p + 2], ctl[p + 3], ctl[p + 4], ctl[p + 6], ctl[p + 7], rows, cols,
        c0, Math.min(c0 + ctl[CTL.COL_STEP], cols));
    } else {
      const r0 = (i - colChunks) * ctl[CTL.ROW_STEP];
      x.layerNormBackwardDx(ctl[p], ctl[p + 1], ctl[p + 2], ctl[p + 3], ctl[p + 4], ctl[p + 5],
        r0, Math.min(r0 + ctl[CTL.ROW_STEP], rows), cols);
    }
    return;
  }
  // Rows [r0, r1): the kernel on them alone, every row-indexed pointer moved to row r0.
  const r0 = i * ctl[CTL.ROW_STEP], n = Math.min(ctl[CTL.ROW_STEP], rows - r0), o = r0 * cols * 4;
  if (kind === JOB.LAYER_NORM) {
    x.layerNorm(ctl[p] + o, ctl[p + 1], ctl[p + 2], ctl[p + 3] + o, ctl[p + 4] + r0 * 4, ctl[p + 5] + r0 * 4,
      n, cols, ctlD[CTL.F64]);
  } else if (kind === JOB.ADD_BIAS) {
    x.addBias(ctl[p] + o, ctl[p + 1], n, cols);
  } else {
    throw new Error(`handgrad: row job: unknown kind ${kind}`);
  }
}
