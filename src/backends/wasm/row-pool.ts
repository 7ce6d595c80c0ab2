// Runs the row ops of the WASM backend on the threads of the worker pool (./worker-pool.ts) when a
// call is large enough: layerNorm, layerNormBackward, sumRows, addBias, add and copy. In a
// transformer training step these take ~6 % of the time (x is batch·ctx rows, thousands), and on
// the calling thread alone they leave the other threads idle (spinning) between the products.
//
// Every split keeps each output element's arithmetic, in order, as the whole op's, so a split
// call is bit-identical to a whole one whatever thread takes which chunk (training runs must not
// depend on the thread count):
//   - row-wise ops (layerNorm, addBias, layerNormBackward's dx) are cut into ranges of rows, each
//     the same kernel on its rows alone;
//   - add and copy into spans of the flat array;
//   - the sums over rows (sumRows, layerNormBackward's dgamma and dbeta) into ranges of COLUMNS:
//     a split by rows would add partial sums in another order. One thread sums a column over all
//     rows in row order, exactly as the whole kernel does (assembly/rows.ts sumRowsRange,
//     assembly/layernorm.ts layerNormBackwardParams).
// The chunks' code is ./row-chunks.mjs, shared with the workers.
import type { Kernels } from './kernels.js';
import { CTL, JOB } from './row-chunks.mjs';
import { evenTasks, FAMILY, MAX_TASKS, type WorkerPool } from './worker-pool.js';

/** When and how row ops are split; mutable (tests force tiny splits). */
export interface RowTuning {
  /**
   * Calls over fewer floats (rows·cols, or n) than this run on the calling thread alone. Handing
   * chunks to a spinning worker costs a few µs; the cheapest of these ops (add, copy, addBias,
   * sumRows) stream ~0.1 ns a float on one Zen 5 core, so 2¹⁶ floats is ~7 µs of work.
   */
  minSplitFloats: number;
  /** The fewest floats (rows·cols of a chunk's share) in one chunk. */
  minChunkFloats: number;
  /**
   * Chunks per thread at most: more than one, so that a thread that is descheduled or slow (a
   * loaded machine) costs little: the others take its share.
   */
  chunksPerThread: number;
}

export const DEFAULT_ROW_TUNING: Readonly<RowTuning> = {
  minSplitFloats: 2 ** 16,
  minChunkFloats: 2 ** 14,
  chunksPerThread: 4,
};

/**
 * Column chunks are whole multiples of this many columns (the last one ragged): the kernels' 16-wide
 * blocks, and 64 bytes, so that two threads' sums do not share a cache line of out.
 */
const COL_BLOCK = 16;
/** Spans of add and copy are multiples of 16 floats (64 bytes) for the same reason. */
const SPAN_BLOCK = 16;

export class RowPool {
  tuning: RowTuning = { ...DEFAULT_ROW_TUNING };
  /**
   * Tests only: false leaves every chunk of a split call to the workers (the calling thread only
   * waits), so that a test knows they ran it.
   */
  callerClaims = true;
  /** Chunks the workers ran, in all (tests: whether a call was split). */
  workerChunks = 0;
  private readonly ctl: Int32Array;
  private readonly ctlD: Float64Array;
  private disposed = false;

  constructor(private readonly k: Kernels, private readonly pool: WorkerPool) {
    ({ rowCtl: this.ctl, rowCtlD: this.ctlD } = pool.caller);
  }

  /** y = layerNorm(x) row by row (byte pointers; contract: Ops.layerNorm). Split by rows. */
  layerNorm(x: number, gamma: number, beta: number, y: number, mean: number, rstd: number,
    rows: number, cols: number, eps: number): void {
    this.checkLive();
    const step = this.rowStep(rows, cols);
    if (step === 0) { this.k.layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps); return; }
    this.setPtrs(x, gamma, beta, y, mean, rstd);
    this.ctlD[CTL.F64] = eps;
    this.runJob(JOB.LAYER_NORM, rows, cols, step);
  }

  /**
   * Ops.layerNormBackward (byte pointers; accumulates into dx, dgamma, dbeta). One job of two kinds
   * of chunk: column ranges that update dgamma and dbeta, then row ranges that update dx.
   */
  layerNormBackward(x: number, gamma: number, mean: number, rstd: number, dy: number, dx: number,
    dgamma: number, dbeta: number, rows: number, cols: number): void {
    this.checkLive();
    const n = this.chunksFor(rows * cols);
    const rowChunks = Math.min(n, rows), colChunks = Math.min(n, Math.ceil(cols / COL_BLOCK));
    // A dx that overlaps x or dy runs whole: the column chunks read every row of x and dy while
    // the row chunks write dx (the whole kernel reads each row before it writes that row).
    const bytes = 4 * rows * cols;
    if (n < 2 || rowChunks < 2 || rowChunks + colChunks > MAX_TASKS || overlaps(dx, x, bytes) || overlaps(dx, dy, bytes)) {
      this.k.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols);
      return;
    }
    const { ctl } = this;
    this.setPtrs(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
    const rowStep = Math.ceil(rows / rowChunks), colStep = blocks(cols, colChunks, COL_BLOCK);
    const rowTasks = Math.ceil(rows / rowStep), colTasks = Math.ceil(cols / colStep);
    ctl[CTL.ROW_STEP] = rowStep;
    ctl[CTL.COL_STEP] = colStep;
    ctl[CTL.COL_CHUNKS] = colTasks;
    // The column chunks first: each walks all rows, the longest tasks, best not left for last.
    this.run(JOB.LAYER_NORM_BACKWARD, rows, cols, colTasks + rowTasks);
  }

  /** out[c] += Σ_r x[r, c] (byte pointers; contract: Ops.sumRows). Split by columns. */
  sumRows(x: number, out: number, rows: number, cols: number): void {
    this.checkLive();
    const n = Math.min(this.chunksFor(rows * cols), Math.ceil(cols / COL_BLOCK));
    if (n < 2) { this.k.sumRows(x, out, rows, cols); return; }
    this.setPtrs(x, out);
    const step = blocks(cols, n, COL_BLOCK);
    this.ctl[CTL.COL_STEP] = step;
    this.run(JOB.SUM_ROWS, rows, cols, Math.ceil(cols / step));
  }

  /** y[r, c] += bias[c] (byte pointers; contract: Ops.addBias). Split by rows. */
  addBias(y: number, bias: number, rows: number, cols: number): void {
    this.checkLive();
    const step = this.rowStep(rows, cols);
    if (step === 0) { this.k.addBias(y, bias, rows, cols); return; }
    this.setPtrs(y, bias);
    this.runJob(JOB.ADD_BIAS, rows, cols, step);
  }

  /** out = a + b over `count` floats (byte pointers; out may alias a or b). Split into spans. */
  add(a: number, b: number, out: number, count: number): void {
    this.checkLive();
    const n = this.chunksFor(count);
    this.setPtrs(a, b, out);
    if (n < 2 || !this.runSpans(JOB.ADD, count, n)) this.k.add(a, b, out, count);
  }

  /** dst = src over `count` floats (byte pointers). Split into spans. */
  copy(src: number, dst: number, count: number): void {
    this.checkLive();
    const n = this.chunksFor(count);
    // Overlapping spans of one array (a memmove) would depend on the order chunks run in.
    this.setPtrs(src, dst);
    if (n < 2 || overlaps(src, dst, 4 * count) || !this.runSpans(JOB.COPY, count, n)) this.k.copy(src, dst, count);
  }

  /** How many chunks a call over `floats` floats gets: 0 or 1 means "run it whole". */
  private chunksFor(floats: number): number {
    const t = this.tuning, threads = this.pool.threads;
    if (threads < 2 || !(floats >= t.minSplitFloats) || floats <= 0) return 0;
    return evenTasks(Math.min(threads * t.chunksPerThread, Math.floor(floats / Math.max(1, t.minChunkFloats)), MAX_TASKS), threads);
  }

  /** The rows per chunk of a row split, or 0 for "run it whole". */
  private rowStep(rows: number, cols: number): number {
    const n = Math.min(this.chunksFor(rows * cols), rows);
    return n < 2 ? 0 : Math.ceil(rows / n);
  }

  /** A row-range job: chunks of `rowStep` rows. */
  private runJob(kind: number, rows: number, cols: number, rowStep: number): void {
    this.ctl[CTL.ROW_STEP] = rowStep;
    this.run(kind, rows, cols, Math.ceil(rows / rowStep));
  }

  /** A span job over `count` floats in about n spans; false (nothing run) where that is one span. */
  private runSpans(kind: number, count: number, n: number): boolean {
    const span = blocks(count, n, SPAN_BLOCK), spans = Math.ceil(count / span);
    if (spans < 2) return false;
    this.ctl[CTL.ROW_STEP] = span;
    this.run(kind, count, 0, spans);
    return true;
  }

  /**
   * Writes an op's pointers (at most 8) into the argument block. Fixed parameters, not a rest
   * array: it runs on every large row op of a training step, and must not allocate there.
   */
  private setPtrs(p0: number, p1: number, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0): void {
    const { ctl } = this, at = CTL.PTRS;
    ctl[at] = p0; ctl[at + 1] = p1; ctl[at + 2] = p2; ctl[at + 3] = p3;
    ctl[at + 4] = p4; ctl[at + 5] = p5; ctl[at + 6] = p6; ctl[at + 7] = p7;
  }

  /** Runs the job whose pointers and steps are in the argument block on the pool's threads. */
  private run(kind: number, rows: number, cols: number, chunks: number): void {
    const { ctl } = this;
    ctl[CTL.KIND] = kind;
    ctl[CTL.ROWS] = rows;
    ctl[CTL.COLS] = cols;
    const mine = this.pool.run(FAMILY.ROWS, chunks, this.callerClaims);
    this.workerChunks += chunks - mine;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('wasm backend: a row op after dispose()');
  }

  dispose(): void {
    this.disposed = true; // the pool's threads are its owner's to stop
  }
}

/** Whether the byte ranges [a, a + bytes) and [b, b + bytes) overlap. */
function overlaps(a: number, b: number, bytes: number): boolean {
  return Math.abs(a - b) < bytes;
}

/** The chunk length that cuts `total` into about `n` chunks, a multiple of `block`. */
function blocks(total: number, n: number, block: number): number {
  return Math.ceil(Math.ceil(total / n) / block) * block;
}
