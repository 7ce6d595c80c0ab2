// The shared worker pool's control block and the code that runs task i of a job, used by the
// calling thread (./worker-pool.ts) and the workers (./pool-worker.mjs) alike. Plain JavaScript so
// that a worker imports it without a TypeScript loader (types: ./pool-protocol.d.mts).
//
// A job belongs to one of three families, each with its own argument block (and, for the first
// two, per-thread scratch):
//   GEMM   chunks of a product or a recurrent cell (./gemm-chunks.mjs, driven by ./gemm.ts)
//   BATCH  batch items of attention, the memory recurrence or spans of swiglu (./batch-items.mjs,
//          driven by ./batch-pool.ts)
//   ROWS   row, column or span chunks of the row ops: layerNorm and its backward, sumRows,
//          addBias, add, copy (./row-chunks.mjs, driven by ./row-pool.ts)
// All run on the same threads, so a process never has more busy threads than `threads`.
import { CTL as GEMM_CTL, runChunk } from './gemm-chunks.mjs';
import { CTL as BATCH_CTL, runItem } from './batch-items.mjs';
import { CTL as ROW_CTL, runRowChunk } from './row-chunks.mjs';

/**
 * The control block, in 32-bit words. Idle workers spin and wait on line 0, the caller waits on
 * line 1, and the job's description is on line 2, so publishing a job or counting a task done
 * does not disturb the line someone is spinning on.
 *   CLAIM  (job tag << 16) | index of the next unclaimed task. The caller writes FAMILY and COUNT,
 *          resets DONE, then stores (tag, 0) and notifies; every thread claims tasks by bumping
 *          the index (workers with compareExchange on the whole word, so one that wakes up late can
 *          only ever claim tasks of the current job, and reads its arguments after the claim).
 *   DONE   tasks the workers finished; the caller waits until it and its own make COUNT.
 */
export const POOL = Object.freeze({ CLAIM: 0, QUIT: 1, DONE: 16, ERROR: 17, FAMILY: 32, COUNT: 33, INTS: 48 });

/** The most tasks in one job: the claim word keeps the index in its low 16 bits (with room to overrun). */
export const MAX_TASKS = 0xff00;

export const FAMILY = Object.freeze({ GEMM: 0, BATCH: 1, ROWS: 2 });

/**
 * What one thread needs to run any task: its kernels `x`, the GEMM entries `block` (gemmBlock) and
 * `packedBlock` (gemmBlockPackedB), views of the
 * families' argument blocks (at byte offsets gemmCtl, batchCtl and rowCtl of the shared memory) and
 * this thread's scratch for GEMM and batch jobs. A shared memory only grows, never detaches: the
 * views stay valid.
 */
export function threadState(x, block, packedBlock, memory, gemmCtl, gemmScratch, batchCtl, batchScratch, rowCtl) {
  const buf = memory.buffer;
  return {
    x, block, packedBlock,
    gemmCtl: new Int32Array(buf, gemmCtl, GEMM_CTL.INTS), gemmCtlF: new Float32Array(buf, gemmCtl, GEMM_CTL.INTS), gemmScratch,
    batchCtl: new Int32Array(buf, batchCtl, BATCH_CTL.INTS), batchCtlF: new Float32Array(buf, batchCtl, BATCH_CTL.INTS),
    batchCtlD: new Float64Array(buf, batchCtl, BATCH_CTL.INTS / 2), batchScratch,
    rowCtl: new Int32Array(buf, rowCtl, ROW_CTL.INTS), rowCtlD: new Float64Array(buf, rowCtl, ROW_CTL.INTS / 2),
  };
}

/**
 * Runs task i of the current job on thread `t` (threadState above).
 */
export function runTask(family, i, t) {
  if (family === FAMILY.GEMM) runChunk(t.x, t.block, t.packedBlock, t.gemmCtl, t.gemmCtlF, i, t.gemmScratch);
  else if (family === FAMILY.BATCH) runItem(t.x, t.batchCtl, t.batchCtlF, t.batchCtlD, i, t.batchScratch);
  else runRowChunk(t.x, t.rowCtl, t.rowCtlD, i);
}
