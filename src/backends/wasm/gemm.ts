// Drives the packed GEMM of assembly/gemm*.ts: picks the micro-kernel for the kernel path, owns
// the per-thread packing scratch, and splits large products across worker threads.
//
// Threads. Each worker instantiates the same compiled module on the same shared memory, so it can
// run gemmBlock on any buffer of the heap. A large product is cut into chunks: column ranges of C
// (whole NR-wide panels) or row ranges (whole 4-row panels). Chunks are disjoint blocks of C and
// each thread packs into its own scratch, so the only shared state is a small control block (in
// the heap, allocated once):
//   CLAIM  (job tag << 8) | index of the next unclaimed chunk. The caller publishes a job by
//          storing (tag, 0); every thread, the caller included, claims chunks by bumping it.
//          Workers claim with compareExchange on the whole word, so a worker that wakes up late
//          can only ever claim chunks of the job that is current, and reads that job's arguments
//          after its claim succeeded (they cannot change until every chunk is done).
//   DONE   chunks finished; the caller waits for it to reach the chunk count.
// A product with a prepacked B (ops.gemmPackedB, JOB.GEMM_PACKED_B) is split the same way; the
// packed panels are read by every thread and written by none.
// Dynamic claiming matters on a loaded machine: a worker that is descheduled or slow simply
// takes fewer chunks (the caller does the rest) instead of stalling every product.
// Nothing is allocated per call: arguments and chunk bounds go into the control block.
//
// The same threads also run the LSTM and GRU cells (forward and backward) split by batch rows
// (KIND says which kernel a job runs). A recurrent step alternates a product and a cell; the cell is
// 10–25 % of a step's time at hidden 256, batch 32 (3 sigmoids and 2 tanh per unit), and left on
// the calling thread it runs while the spinning GEMM worker idles. Rows are independent and each
// is computed by the same code whichever thread takes it, so a split cell is bit-identical to a
// whole one.
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';
import type { KernelPath } from './runtime.js';
import { CTL, JOB, MAX_CHUNKS, runChunk } from './gemm-chunks.mjs';

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
   * loaded machine) costs little: the others take its share.
   */
  chunksPerThread: number;
  /**
   * The narrowest column chunk and the shortest row chunk. Each chunk packs the whole of the other
   * operand: a column chunk w wide repacks A (m·k) for m·w·k of work, a row chunk h high B.
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
  chunksPerThread: 4,
  minChunkCols: 128,
  minChunkRows: 64,
  minChunkWork: 2 ** 17,
  minCellUnits: 2048,
  minCellRows: 4,
};

export interface GemmContext {
  module: WebAssembly.Module;
  kernels: Kernels;
  heap: WasmHeap;
  path: KernelPath;
  threads: number;
  /** revec4x16: use its fused multiply-add kernel (`module` must then be the relaxed build). */
  fma?: boolean;
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
const MR = 4; // rows of a micro-tile (assembly/gemm_core.ts): row chunks are whole 4-row panels
/**
 * How long a thread with nothing to do spins before it sleeps in Atomics.wait, in ms. Waking a
 * sleeping worker costs the caller's Atomics.notify tens of µs on a VM (measured ~40 µs: the
 * other vCPU has to be woken), as much as a whole 16×128·128×512 product; a spinning worker
 * starts at once. Measured with products 0.3–1 ms apart (other ops in between): 1 ms of spinning
 * gives 1.2–2.2× on two threads where 0.1 ms gave 0.3–1.5×. OpenBLAS spins far longer.
 */
export const SPIN_MS = 1;
const pause: () => void = typeof (Atomics as { pause?: () => void }).pause === 'function'
  ? (Atomics as unknown as { pause: () => void }).pause : () => {};

export async function createGemmEngine(ctx: GemmContext): Promise<GemmEngine> {
  const { heap, path } = ctx;
  const threads = Math.max(1, Math.floor(ctx.threads));
  const { variant, fn, packedFn, nr } = kernelOf(path, ctx.fma);
  const k = ctx.kernels;
  const block = k[fn] as (...args: number[]) => void;
  if (typeof block !== 'function') throw new Error(`wasm backend: the ${path} build has no ${fn} export`);
  const packedBlock = k[packedFn] as (...args: number[]) => void;
  if (typeof packedBlock !== 'function') throw new Error(`wasm backend: the ${path} build has no ${packedFn} export`);

  // Everything this engine needs, allocated once: scratch per thread and the control block.
  const scratchBytes = (k.gemmScratchBytes as () => number)();
  const scratch: number[] = [];
  for (let t = 0; t < threads; t++) scratch.push(heap.alloc(scratchBytes));
  const ctlPtr = heap.alloc(CTL.INTS * 4);
  // Views over the shared buffer as it is now: a shared memory only grows, never detaches, so
  // they stay valid for the control block (which lies below the current end) for good.
  const ctl = new Int32Array(heap.memory.buffer, ctlPtr, CTL.INTS);
  const ctlF = new Float32Array(heap.memory.buffer, ctlPtr, CTL.INTS);
  ctl.fill(0);

  const workers: Worker[] = [];
  for (let w = 1; w < threads; w++) {
    workers.push(new Worker(new URL('./gemm-worker.mjs', import.meta.url), {
      workerData: { module: ctx.module, memory: heap.memory, fn, packedFn, ctl: ctlPtr, scratch: scratch[w], spinMs: SPIN_MS },
    }));
  }
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', (msg) => (msg === 'ready' ? resolve() : reject(new Error(String(msg)))));
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`gemm worker exited with code ${code} during start-up`)));
    })));
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw e;
  }
  for (const w of workers) {
    w.removeAllListeners();
    w.on('error', (e) => console.error('handgrad: gemm worker failed:', e));
    w.unref(); // a process that forgets dispose() still exits
  }

  /** Cuts [0, total) into chunks of whole `unit`s (written to BOUNDS); returns how many. */
  function cut(total: number, unit: number, minUnits: number, work: number): number {
    const units = Math.ceil(total / unit);
    const chunks = Math.max(1, Math.min(threads * engine.tuning.chunksPerThread, MAX_CHUNKS,
      Math.floor(units / Math.max(1, minUnits)), Math.floor(work / Math.max(1, engine.tuning.minChunkWork))));
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

  /** Publishes the job whose arguments and bounds are in the control block, works on it, waits. */
  function runJob(kind: number, chunks: number): void {
    ctl[CTL.KIND] = kind;
    ctl[CTL.CHUNKS] = chunks;
    ctl[CTL.DONE] = 0;
    tag = (tag + 1) & 0xffffff;
    Atomics.store(ctl, CTL.CLAIM, tag << 8); // publishes everything written above
    Atomics.notify(ctl, CTL.CLAIM); // wakes sleeping workers (spinning ones see the store)

    // Take chunks like any worker until none are left. Should a kernel throw, keep claiming
    // (without running) so that the job still completes before this call returns: the next
    // job must not start while a worker is still counting chunks of this one.
    let mine = 0;
    let failure: unknown = null;
    for (;;) {
      const i = Atomics.add(ctl, CTL.CLAIM, 1) & 0xff;
      if (i >= chunks) break;
      mine++;
      if (failure !== null) continue;
      try {
        runChunk(k, block, packedBlock, ctl, ctlF, i, scratch[0]);
      } catch (e) {
        failure = e;
      }
    }
    // Wait for the chunks the workers took: spin first, they usually finish within microseconds.
    let done = Atomics.load(ctl, CTL.DONE) + mine;
    if (done < chunks) {
      const deadline = performance.now() + SPIN_MS;
      while ((done = Atomics.load(ctl, CTL.DONE) + mine) < chunks && performance.now() < deadline) pause();
    }
    while (done < chunks) {
      Atomics.wait(ctl, CTL.DONE, done - mine);
      done = Atomics.load(ctl, CTL.DONE) + mine;
    }
    if (failure !== null) throw failure;
    if (ctl[CTL.ERROR] !== 0) {
      ctl[CTL.ERROR] = 0;
      throw new Error('handgrad: a gemm worker failed (see the message above)');
    }
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
      if (kind === JOB.GEMM) block(variant, ta, tb, m, n, kk, alpha, a, b, beta, c, 0, m, 0, n, scratch[0]);
      else packedBlock(variant, ta, m, n, kk, alpha, a, b, beta, c, 0, m, 0, n, scratch[0]);
      return;
    }
    const A = CTL.ARGS;
    ctl[A] = variant; ctl[A + 1] = ta; ctl[A + 2] = tb; ctl[A + 3] = m; ctl[A + 4] = n; ctl[A + 5] = kk;
    ctlF[A + 6] = alpha; ctl[A + 7] = a; ctl[A + 8] = b; ctlF[A + 9] = beta; ctl[A + 10] = c;
    ctl[CTL.BY_COLS] = byCols ? 1 : 0;
    runJob(kind, chunks);
  }

  let tag = 0;
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
      disposed = true;
      Atomics.store(ctl, CTL.QUIT, 1);
      Atomics.add(ctl, CTL.CLAIM, 1 << 8); // a new tag: wakes the workers, who see QUIT
      Atomics.notify(ctl, CTL.CLAIM);
      for (const w of workers) void w.terminate();
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
