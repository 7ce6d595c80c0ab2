// Drives the packed GEMM of assembly/gemm*.ts: picks the micro-kernel for the kernel path and
// splits large products across the threads of the worker pool (./worker-pool.ts).
//
// Threads. Every pool thread has the same compiled module on the same shared memory and its own
// packing scratch, so it can run gemmBlock on any buffer of the heap. A large product is cut into
// chunks: column ranges of C (whole NR-wide panels) or row ranges (whole 4-row panels). Chunks are
// disjoint blocks of C, so the only shared state is the engine's argument block (the product's
// arguments and the chunk bounds, ./gemm-chunks.mjs) and the pool's claim word. Nothing is
// allocated per call. A product with a prepacked B (ops.gemmPackedB, JOB.GEMM_PACKED_B) is split
// the same way; the packed panels are read by every thread and written by none.
//
// The same threads also run the LSTM and GRU cells (forward and backward) split by batch rows
// (KIND says which kernel a job runs). A recurrent step alternates a product and a cell; the cell is
// 10–25 % of a step's time at hidden 256, batch 32 (3 sigmoids and 2 tanh per unit), and left on
// the calling thread it runs while the spinning GEMM worker idles. Rows are independent and each
// is computed by the same code whichever thread takes it, so a split cell is bit-identical to a
// whole one.
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';
import type { KernelPath } from './runtime.js';
import { CTL, JOB, MAX_CHUNKS } from './gemm-chunks.mjs';
import { evenTasks, FAMILY, type WorkerPool } from './worker-pool.js';

export { CTL, JOB } from './gemm-chunks.mjs';

export interface GemmEngine {
  readonly threads: number;
  /** When and how products are split across threads; mutable (tests force tiny splits). */
  tuning: GemmTuning;
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, a: number, b: number, beta: number, c: number): void;
  /** The tile width of this engine's micro-kernel: what a packed B for gemmPackedB is packed for. */
  readonly nr: number;
  /**
   * ops.gemmPackedB on byte pointers: bp holds op(B) packed by the gemmPackB kernel for `nr`
   * (read-only, shared by every thread); split across threads as gemm is.
   */
  gemmPackedB(transA: boolean, m: number, n: number, k: number,
    alpha: number, a: number, bp: number, beta: number, c: number): void;
  /** ops.lstmCell (contract in src/ops/types.ts) on byte pointers, split by rows of the batch. */
  lstmCell(gates: number, cPrev: number, c: number, tanhC: number, h: number, B: number, H: number): void;
  /** ops.lstmCellBackward on byte pointers, split by rows of the batch. */
  lstmCellBackward(gates: number, cPrev: number, tanhC: number, dh: number, dc: number, dgates: number,
    B: number, H: number): void;
  /** ops.gruCell on byte pointers, split by rows of the batch. */
  gruCell(xp: number, hp: number, hPrev: number, h: number, B: number, H: number): void;
  /** ops.gruCellBackward on byte pointers, split by rows of the batch. */
  gruCellBackward(gates: number, hp: number, hPrev: number, dh: number, dxp: number, dhp: number, dhPrev: number,
    B: number, H: number): void;
  dispose(): void;
}

export interface GemmTuning {
  /** Products with m·n·k below this run on the calling thread alone. */
  minParallelWork: number;
  /**
   * Chunks per thread at most: more than one, so that a thread that is descheduled or slow (a
   * loaded machine) costs little: the others take its share. Not many more: every chunk repacks
   * the other operand and costs a claim and a hand-off. Measured on whole
   * training steps (Zen 5, 2 threads, quiet, 10 alternating pairs in one process): 2 instead of 4
   * made the LSTM (hidden 256, batch 32) 4.0 % and the transformer (d 128) 1.5 % faster; 1 was no
   * faster than 2.
   */
  chunksPerThread: number;
  /**
   * The narrowest column chunk and the shortest row chunk. Each chunk packs the whole of the other
   * operand: a column chunk w wide repacks A (m·k) for m·w·k of work, a row chunk h high B. Not a
   * hard floor: a product too narrow for one such chunk per thread is still cut once per thread
   * (see chunkCount).
   */
  minChunkCols: number;
  minChunkRows: number;
  /** The fewest multiply-adds (m·n·k) in one chunk. */
  minChunkWork: number;
  /**
   * Recurrent cells (LSTM, GRU) with fewer units (B·H) than this, or fewer than 4 rows, run on
   * the calling thread alone. The forward LSTM cell costs ~25 ns a unit on one Zen core
   * (B·H = 8192: ~200 µs; the GRU cell's 2 sigmoids and a tanh are in the same range); handing
   * rows to a spinning worker costs a few µs.
   */
  minCellUnits: number;
  /** The fewest batch rows in one cell chunk. */
  minCellRows: number;
}

/**
 * Default tuning (2-core AMD Zen 3/4 machines): 2^18 multiply-adds take 5–8 µs on one core, a
 * few times what handing a chunk to a spinning worker costs (64×64×64: 13 µs on one thread,
 * 8 µs on two, measured back to back).
 */
export const DEFAULT_TUNING: Readonly<GemmTuning> = {
  minParallelWork: 2 ** 18,
  chunksPerThread: 2,
  minChunkCols: 128,
  minChunkRows: 64,
  minChunkWork: 2 ** 17,
  minCellUnits: 2048,
  minCellRows: 4,
};

export interface GemmContext {
  kernels: Kernels;
  heap: WasmHeap;
  path: KernelPath;
  /** revec4x16: use its fused multiply-add kernel (the pool must then run the relaxed build). */
  fma?: boolean;
  /** The threads, their packing scratch and the engine's argument block (made with kernelOf(path, fma).fn). */
  pool: WorkerPool;
}

interface Kernel {
  variant: number;
  /** The build's entries that run it: gemmBlock, and gemmBlockPackedB (B packed by gemmPackB). */
  fn: 'gemmBlock' | 'gemmBlockRelaxed';
  packedFn: 'gemmBlockPackedB' | 'gemmBlockPackedBRelaxed';
  nr: number;
}

/** The micro-kernel (`variant` argument of gemmBlock, see assembly/gemm.ts) a path runs. */
export function kernelOf(path: KernelPath, fma = false): Kernel {
  const plain = { fn: 'gemmBlock', packedFn: 'gemmBlockPackedB' } as const;
  const relaxed = { fn: 'gemmBlockRelaxed', packedFn: 'gemmBlockPackedBRelaxed' } as const;
  switch (path) {
    case 'revec4x16': return fma ? { variant: 3, ...relaxed, nr: 16 } : { variant: 0, ...plain, nr: 16 };
    case 'simd4x8': return { variant: 1, ...plain, nr: 8 };
    case 'relaxed4x8': return { variant: 2, ...relaxed, nr: 8 };
  }
}
/**
 * How many chunks a job of `units` units (panels of columns, 4-row panels, batch rows) and `work`
 * multiply-adds is cut into on `threads` threads: at most chunksPerThread per thread, none smaller
 * than minUnits units or minChunkWork, and then
 * - a multiple of the thread count: chunks are equal, so 3 of them on 2 threads take two chunk
 *   times, as 2 larger ones would, and the extra chunk only repacks the other operand once more;
 * - at least one per thread while the work allows it (minChunkWork each), even below minUnits: an
 *   idle thread costs more than one more repack of the other operand. The weight gradients of a
 *   transformer layer (Xᵀ·dY over k = 4096 tokens) are 128×128 and 128×384: minChunkCols 128 made
 *   them 1 and 3 chunks, measured (Zen 5, 2 threads) 94–100 and 130–138 GFLOP/s against 144–158
 *   and 164–184 as 2 and 2 or 4 chunks.
 */
export function chunkCount(units: number, minUnits: number, work: number, threads: number, tune: GemmTuning): number {
  const byWork = Math.max(1, Math.floor(work / Math.max(1, tune.minChunkWork)));
  const chunks = Math.max(1, Math.min(threads * tune.chunksPerThread, MAX_CHUNKS,
    Math.floor(units / Math.max(1, minUnits)), byWork));
  if (chunks < threads) return Math.max(1, Math.min(threads, units, byWork));
  return evenTasks(chunks, threads);
}

// Row chunks are multiples of 4 rows: whole panels for every kernel (assembly/gemm_core.ts: 4-row
// panels, or 6- and 4-row ones, which tile any even block without padding).
const MR = 4;

export function createGemmEngine(ctx: GemmContext): GemmEngine {
  const { heap, path, pool } = ctx;
  const threads = pool.threads;
  const { variant, fn, packedFn, nr } = kernelOf(path, ctx.fma);
  const k = ctx.kernels;
  const block = k[fn] as (...args: number[]) => void;
  if (typeof block !== 'function') throw new Error(`wasm backend: the ${path} build has no ${fn} export`);
  const packedBlock = k[packedFn] as (...args: number[]) => void;
  if (typeof packedBlock !== 'function') throw new Error(`wasm backend: the ${path} build has no ${packedFn} export`);
  if (pool.caller.block !== block || pool.caller.packedBlock !== packedBlock) {
    throw new Error(`wasm backend: the worker pool runs other GEMM entries than ${fn} and ${packedFn}`);
  }
  const { gemmCtl: ctl, gemmCtlF: ctlF, gemmScratch: scratch } = pool.caller;

  /** Cuts [0, total) into chunks of whole `unit`s (written to BOUNDS); returns how many. */
  function cut(total: number, unit: number, minUnits: number, work: number): number {
    const units = Math.ceil(total / unit);
    const chunks = chunkCount(units, minUnits, work, threads, engine.tuning);
    let start = 0;
    ctl[CTL.BOUNDS] = 0;
    for (let i = 0; i < chunks; i++) {
      const count = Math.floor(units / chunks) + (i < units % chunks ? 1 : 0);
      start = Math.min(total, start + count * unit);
      ctl[CTL.BOUNDS + i + 1] = start;
    }
    return chunks;
  }

  /** Row chunks (written to BOUNDS) of a cell over B rows of H units; 1: run it whole, here. */
  function cellChunks(B: number, H: number): number {
    const tune = engine.tuning;
    if (threads === 1 || B < 4 || B * H < tune.minCellUnits) return 1;
    return cut(B, 1, Math.max(1, tune.minCellRows), Number.MAX_SAFE_INTEGER);
  }

  /** Runs the job whose arguments and bounds are in the argument block on the pool's threads. */
  function runJob(kind: number, chunks: number): void {
    ctl[CTL.KIND] = kind;
    pool.run(FAMILY.GEMM, chunks);
  }

  /**
   * A product on this thread or split across the threads: JOB.GEMM (gemmBlock; b is B) or
   * JOB.GEMM_PACKED_B (gemmBlockPackedB; b is the packed B, tb unused).
   */
  function product(kind: number, ta: number, tb: number, m: number, n: number, kk: number,
    alpha: number, a: number, b: number, beta: number, c: number): void {
    const work = m * n * kk;
    const tune = engine.tuning;
    // Cut the larger of m and n: each chunk packs the whole of the other operand, so the
    // repacked one is the smaller (m·k per column chunk, k·n per row chunk; with B prepacked a
    // row chunk packs nothing of B, but the few rows of a recurrent step are cut by columns anyway).
    const byCols = n >= m;
    const chunks = threads === 1 || work < tune.minParallelWork || m * n === 0 ? 1 : byCols
      ? cut(n, nr, Math.ceil(tune.minChunkCols / nr), work)
      : cut(m, MR, Math.ceil(tune.minChunkRows / MR), work);
    if (chunks === 1) {
      if (kind === JOB.GEMM) block(variant, ta, tb, m, n, kk, alpha, a, b, beta, c, 0, m, 0, n, scratch);
      else packedBlock(variant, ta, m, n, kk, alpha, a, b, beta, c, 0, m, 0, n, scratch);
      return;
    }
    const A = CTL.ARGS;
    ctl[A] = variant; ctl[A + 1] = ta; ctl[A + 2] = tb; ctl[A + 3] = m; ctl[A + 4] = n; ctl[A + 5] = kk;
    ctlF[A + 6] = alpha; ctl[A + 7] = a; ctl[A + 8] = b; ctlF[A + 9] = beta; ctl[A + 10] = c;
    ctl[CTL.BY_COLS] = byCols ? 1 : 0;
    runJob(kind, chunks);
  }

  let disposed = false;
  const engine: GemmEngine = {
    threads,
    nr,
    tuning: { ...DEFAULT_TUNING },

    gemm(transA, transB, m, n, kk, alpha, a, b, beta, c) {
      if (disposed) throw new Error('wasm backend: gemm after dispose()');
      product(JOB.GEMM, transA ? 1 : 0, transB ? 1 : 0, m, n, kk, alpha, a, b, beta, c);
    },

    gemmPackedB(transA, m, n, kk, alpha, a, bp, beta, c) {
      if (disposed) throw new Error('wasm backend: gemmPackedB after dispose()');
      product(JOB.GEMM_PACKED_B, transA ? 1 : 0, 0, m, n, kk, alpha, a, bp, beta, c);
    },

    lstmCell(gates, cPrev, c, tanhC, h, B, H) {
      if (disposed) throw new Error('wasm backend: lstmCell after dispose()');
      const chunks = cellChunks(B, H);
      if (chunks <= 1) { k.lstmCell(gates, cPrev, c, tanhC, h, B, H); return; }
      const A = CTL.ARGS;
      ctl[A] = gates; ctl[A + 1] = cPrev; ctl[A + 2] = c; ctl[A + 3] = tanhC; ctl[A + 4] = h;
      ctl[A + 6] = B; ctl[A + 7] = H;
      runJob(JOB.LSTM_CELL, chunks);
    },

    lstmCellBackward(gates, cPrev, tanhC, dh, dc, dgates, B, H) {
      if (disposed) throw new Error('wasm backend: lstmCellBackward after dispose()');
      const chunks = cellChunks(B, H);
      if (chunks <= 1) { k.lstmCellBackward(gates, cPrev, tanhC, dh, dc, dgates, B, H); return; }
      const A = CTL.ARGS;
      ctl[A] = gates; ctl[A + 1] = cPrev; ctl[A + 2] = tanhC; ctl[A + 3] = dh; ctl[A + 4] = dc; ctl[A + 5] = dgates;
      ctl[A + 6] = B; ctl[A + 7] = H;
      runJob(JOB.LSTM_CELL_BACKWARD, chunks);
    },

    gruCell(xp, hp, hPrev, h, B, H) {
      if (disposed) throw new Error('wasm backend: gruCell after dispose()');
      const chunks = cellChunks(B, H);
      if (chunks <= 1) { k.gruCell(xp, hp, hPrev, h, B, H); return; }
      const A = CTL.ARGS;
      ctl[A] = xp; ctl[A + 1] = hp; ctl[A + 2] = hPrev; ctl[A + 3] = h;
      ctl[A + 6] = B; ctl[A + 7] = H;
      runJob(JOB.GRU_CELL, chunks);
    },

    gruCellBackward(gates, hp, hPrev, dh, dxp, dhp, dhPrev, B, H) {
      if (disposed) throw new Error('wasm backend: gruCellBackward after dispose()');
      const chunks = cellChunks(B, H);
      if (chunks <= 1) { k.gruCellBackward(gates, hp, hPrev, dh, dxp, dhp, dhPrev, B, H); return; }
      const A = CTL.ARGS;
      ctl[A] = gates; ctl[A + 1] = hp; ctl[A + 2] = hPrev; ctl[A + 3] = dh; ctl[A + 4] = dxp; ctl[A + 5] = dhp;
      ctl[A + 6] = B; ctl[A + 7] = H; ctl[A + 8] = dhPrev;
      runJob(JOB.GRU_CELL_BACKWARD, chunks);
    },

    dispose() {
      if (disposed) return;
      disposed = true; // the pool's threads are its owner's to stop
    },
  };

  // Warm-up: a fresh module runs in V8's baseline tier until a function has used up its tiering
  // budget; the optimised code then compiles in the background and is shared by every thread.
  // A few split 128³ products (2 ms) start that for the micro-kernels and the worker path; the
  // first one or two large products still run about 2× slower (measured at 512³). The same for
  // the products with a packed B (zeros: 128 columns are whole panels, so 128² floats).
  const mark = heap.mark();
  try {
    const dim = 128;
    const buf = heap.alloc(3 * dim * dim * 4);
    new Float32Array(heap.memory.buffer, buf, 3 * dim * dim).fill(0);
    engine.tuning = { ...DEFAULT_TUNING, minParallelWork: 0, chunksPerThread: 2, minChunkCols: 1, minChunkRows: 1, minChunkWork: 1 };
    for (let i = 0; i < 3; i++) {
      engine.gemm(false, false, dim, dim, dim, 1, buf, buf + dim * dim * 4, 0, buf + 2 * dim * dim * 4);
      engine.gemmPackedB(false, dim, dim, dim, 1, buf, buf + dim * dim * 4, 0, buf + 2 * dim * dim * 4);
    }
  } finally {
    engine.tuning = { ...DEFAULT_TUNING };
    heap.release(mark);
  }
  return engine;
}
