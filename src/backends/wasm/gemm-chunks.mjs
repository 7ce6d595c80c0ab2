// One chunk of a job of the GEMM engine (./gemm.ts): the argument block's layout, the kinds of job
// and the code that runs chunk i, shared by the calling thread and the pool's workers
// (./pool-worker.mjs), so that both run exactly the same code. Plain JavaScript so that a worker
// imports it without a TypeScript loader (types: ./gemm-chunks.d.mts).

/** The most chunks in one job (the size of BOUNDS). */
export const MAX_CHUNKS = 64;

/**
 * The GEMM engine's argument block (Int32 indices): what a job runs and on what. The claim word
 * and the counters live in the worker pool's own control block (./pool-protocol.mjs).
 */
export const CTL = Object.freeze({
  KIND: 0, // which kernel the job runs: JOB below
  BY_COLS: 1, // 1: chunk bounds are column ranges, 0: row ranges
  // gemmBlock arguments: variant, ta, tb, m, n, k, alpha (f32 bits), a, b, beta (f32 bits), c
  // (a cell job keeps its pointers in ARGS + 0..5 (a seventh in ARGS + 8), B in ARGS + 6, H in
  // ARGS + 7, and row ranges in BOUNDS)
  ARGS: 16,
  BOUNDS: 32, // chunk i covers [BOUNDS + i, BOUNDS + i + 1)
  INTS: 32 + MAX_CHUNKS + 1 + 15,
});

/** Kinds of job (CTL.KIND). */
export const JOB = Object.freeze({
  GEMM: 0, LSTM_CELL: 1, LSTM_CELL_BACKWARD: 2, GRU_CELL: 3, GRU_CELL_BACKWARD: 4, GEMM_PACKED_B: 5,
});

/**
 * Runs chunk i of the job described in the control block, with this thread's scratch. `block` is
 * the build's gemmBlock entry, `packedBlock` its gemmBlockPackedB entry (same arguments, less tb:
 * a GEMM_PACKED_B job's ARGS + 8 is the packed B, and ARGS + 2 is unused).
 */
export function runChunk(x, block, packedBlock, ctl, ctlF, i, scratch) {
  const lo = ctl[CTL.BOUNDS + i], hi = ctl[CTL.BOUNDS + i + 1];
  const A = CTL.ARGS, kind = ctl[CTL.KIND];
  if (kind === JOB.GEMM || kind === JOB.GEMM_PACKED_B) {
    const m = ctl[A + 3], n = ctl[A + 4];
    const byCols = ctl[CTL.BY_COLS] !== 0;
    const m0 = byCols ? 0 : lo, m1 = byCols ? m : hi, n0 = byCols ? lo : 0, n1 = byCols ? hi : n;
    if (kind === JOB.GEMM) {
      block(ctl[A], ctl[A + 1], ctl[A + 2], m, n, ctl[A + 5], ctlF[A + 6], ctl[A + 7], ctl[A + 8], ctlF[A + 9], ctl[A + 10],
        m0, m1, n0, n1, scratch);
    } else {
      packedBlock(ctl[A], ctl[A + 1], m, n, ctl[A + 5], ctlF[A + 6], ctl[A + 7], ctl[A + 8], ctlF[A + 9], ctl[A + 10],
        m0, m1, n0, n1, scratch);
    }
    return;
  }
  // Cell rows [lo, hi): LSTM gate rows are 4H floats, GRU gate rows (xp, hp, dxp, dhp) 3H,
  // state rows H; byte offsets of row lo below.
  const H = ctl[A + 7], s4 = lo * 16 * H, s3 = lo * 12 * H, s1 = lo * 4 * H;
  if (kind === JOB.LSTM_CELL) {
    x.lstmCell(ctl[A] + s4, ctl[A + 1] + s1, ctl[A + 2] + s1, ctl[A + 3] + s1, ctl[A + 4] + s1, hi - lo, H);
  } else if (kind === JOB.LSTM_CELL_BACKWARD) {
    x.lstmCellBackward(ctl[A] + s4, ctl[A + 1] + s1, ctl[A + 2] + s1, ctl[A + 3] + s1, ctl[A + 4] + s1, ctl[A + 5] + s4, hi - lo, H);
  } else if (kind === JOB.GRU_CELL) {
    x.gruCell(ctl[A] + s3, ctl[A + 1] + s3, ctl[A + 2] + s1, ctl[A + 3] + s1, hi - lo, H);
  } else {
    x.gruCellBackward(ctl[A] + s3, ctl[A + 1] + s3, ctl[A + 2] + s1, ctl[A + 3] + s1, ctl[A + 4] + s3, ctl[A + 5] + s3,
      ctl[A + 8] + s1, hi - lo, H);
  }
}
