// One pool of worker threads for every threaded kernel of the WASM backend: the GEMM engine's
// products and recurrent cells (./gemm.ts), the batch jobs, attention, the memory recurrence and
// swiglu spans (./batch-pool.ts), and the row ops, layerNorm, sumRows, addBias, add, copy
// (./row-pool.ts). Each worker instantiates the same compiled module on the same
// shared memory and runs whichever family the current job is (./pool-protocol.mjs).
//
// Why one pool: with a pool per family a process had 2·(threads − 1) workers, and a GEMM worker
// spinning after a product (see SPIN_MS) took a core from the batch worker when attention ran
// right after it: three busy threads on a two-core machine. Now `threads` threads, the calling one
// included, share all the work.
//
// The caller publishes a job (a family and a task count; the family's client wrote the arguments
// into its own argument block first), takes tasks like any worker until none are left, then waits
// for the ones the workers took. Dynamic claiming matters on a loaded machine: a worker that is
// descheduled or slow simply takes fewer tasks instead of stalling every job. Nothing is allocated
// per job.
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';
import { CTL as GEMM_CTL } from './gemm-chunks.mjs';
import { CTL as BATCH_CTL } from './batch-items.mjs';
import { CTL as ROW_CTL } from './row-chunks.mjs';
import { FAMILY, MAX_TASKS, POOL, runTask, threadState, type ThreadState } from './pool-protocol.mjs';

export { FAMILY, MAX_TASKS } from './pool-protocol.mjs';

/**
 * How long a thread with nothing to do spins before it sleeps in Atomics.wait, in ms. Waking a
 * sleeping worker costs the caller's Atomics.notify tens of µs on a VM (measured ~40 µs: the
 * other vCPU has to be woken), as much as a whole 16×128·128×512 product; a spinning worker
 * starts at once. Measured with products 0.3–1 ms apart (other ops in between): 1 ms of spinning
 * gives 1.2–2.2× on two threads where 0.1 ms gave 0.3–1.5×. OpenBLAS spins far longer.
 */
export const SPIN_MS = 1;
/** The most bytes of a worker's error text that reach the caller's exception. */
const FAILURE_TEXT_BYTES = 4096;
const pause: () => void = typeof (Atomics as { pause?: () => void }).pause === 'function'
  ? (Atomics as unknown as { pause: () => void }).pause : () => {};

/**
 * The task count for a job that its size allows to cut into at most `most` equal tasks, on
 * `threads` threads: a multiple of the thread count where there are at least as many tasks as
 * threads (3 equal tasks on 2 threads take two task times, as 2 larger ones would, and the third
 * only adds a hand-off and, for a GEMM, one more repack of the other operand), else `most`. The
 * GEMM engine (./gemm.ts chunkCount) and the row ops (./row-pool.ts) cut their jobs with it; the
 * batch jobs are cut by their own items (heads, sequences).
 */
export function evenTasks(most: number, threads: number): number {
  return most < threads ? most : most - (most % threads);
}

export interface PoolSpec {
  module: WebAssembly.Module;
  /** The calling thread's instance of `module`. */
  kernels: Kernels;
  heap: WasmHeap;
  threads: number;
  /** The GEMM entry the engine's kernel path runs: gemmBlock, or gemmBlockRelaxed (relaxed build). */
  gemmFn: string;
  /** Its entry for products with a prepacked B: gemmBlockPackedB or gemmBlockPackedBRelaxed. */
  gemmPackedFn: string;
  /** Per-thread scratch of each family, in bytes. */
  gemmScratchBytes: number;
  batchScratchBytes: number;
}

export class WorkerPool {
  /** The calling thread's state: its kernels, the families' argument blocks and its scratch. */
  readonly caller: ThreadState;
  /** Per-thread scratch of each family, in bytes (as asked for). */
  readonly gemmScratchBytes: number;
  readonly batchScratchBytes: number;
  /** Tasks the workers ran, in all (tests: whether a job was split). */
  workerTasks = 0;
  private readonly ctl: Int32Array;
  /** Where a failing worker leaves its error's text for the caller's exception (see pool-worker.mjs). */
  private readonly failureText: Int32Array;
  private tag = 0;
  private disposed = false;

  private constructor(spec: PoolSpec, private readonly workers: Worker[], ctlPtr: number, caller: ThreadState,
    failureText: SharedArrayBuffer) {
    this.ctl = new Int32Array(spec.heap.memory.buffer, ctlPtr, POOL.INTS);
    this.failureText = new Int32Array(failureText);
    this.caller = caller;
    this.gemmScratchBytes = spec.gemmScratchBytes;
    this.batchScratchBytes = spec.batchScratchBytes;
  }

  /** Threads that run tasks, the calling one included. */
  get threads(): number { return this.workers.length + 1; }

  /** Everything allocated once, first (so no caller's mark/release can hand it out again), then the workers. */
  static async create(spec: PoolSpec): Promise<WorkerPool> {
    const { heap, kernels } = spec;
    const threads = Math.max(1, Math.floor(spec.threads));
    const block = kernels[spec.gemmFn as `gemm${string}`];
    if (typeof block !== 'function') throw new Error(`wasm backend: this build has no ${spec.gemmFn} export`);
    const packedBlock = kernels[spec.gemmPackedFn as `gemm${string}`];
    if (typeof packedBlock !== 'function') throw new Error(`wasm backend: this build has no ${spec.gemmPackedFn} export`);
    const ctlPtr = heap.alloc(POOL.INTS * 4);
    const gemmCtl = heap.alloc(GEMM_CTL.INTS * 4);
    const batchCtl = heap.alloc(BATCH_CTL.INTS * 4); // 64-byte aligned: its Float64Array view needs 8
    const rowCtl = heap.alloc(ROW_CTL.INTS * 4); // the same
    for (const [p, n] of [[ctlPtr, POOL.INTS], [gemmCtl, GEMM_CTL.INTS], [batchCtl, BATCH_CTL.INTS], [rowCtl, ROW_CTL.INTS]] as const) {
      new Int32Array(heap.memory.buffer, p, n).fill(0);
    }
    const gemmScratch: number[] = [], batchScratch: number[] = [];
    for (let t = 0; t < threads; t++) {
      gemmScratch.push(heap.alloc(spec.gemmScratchBytes));
      batchScratch.push(heap.alloc(spec.batchScratchBytes));
    }
    // A worker's exception cannot travel to the caller, which waits synchronously in run(): the
    // worker writes its text here (length, then UTF-8 bytes; the first failure of a job wins) and
    // run() throws it, instead of the worker printing to stderr.
    const failureText = new SharedArrayBuffer(FAILURE_TEXT_BYTES + 4);
    const workers: Worker[] = [];
    for (let w = 1; w < threads; w++) {
      workers.push(new Worker(new URL('./pool-worker.mjs', import.meta.url), {
        workerData: { module: spec.module, memory: heap.memory, ctl: ctlPtr, spinMs: SPIN_MS, gemmFn: spec.gemmFn, gemmPackedFn: spec.gemmPackedFn,
          gemmCtl, gemmScratch: gemmScratch[w], batchCtl, batchScratch: batchScratch[w], rowCtl, failureText },
      }));
    }
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('message', (msg) => (msg === 'ready' ? resolve() : reject(new Error(String(msg)))));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`pool worker exited with code ${code} during start-up`)));
      })));
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    for (const w of workers) {
      w.removeAllListeners();
      w.on('error', (e) => console.error('handgrad: pool worker failed:', e));
      w.unref(); // a process that forgets dispose() still exits
    }
    const caller = threadState(kernels as unknown as ThreadState['x'], block as (...args: number[]) => void,
      packedBlock as (...args: number[]) => void, heap.memory,
      gemmCtl, gemmScratch[0], batchCtl, batchScratch[0], rowCtl);
    return new WorkerPool(spec, workers, ctlPtr, caller, failureText);
  }

  /**
   * Runs tasks 0 … count−1 of a job of `family`, whose client has written the arguments into its
   * argument block, on every thread; returns when all are done. callerClaims = false (tests only)
   * leaves every task to the workers, so that a test knows they ran it. Returns how many tasks the
   * calling thread ran.
   */
  run(family: number, count: number, callerClaims = true): number {
    if (this.disposed) throw new Error('wasm backend: a threaded kernel after dispose()');
    if (count <= 0) return 0;
    if (count > MAX_TASKS) throw new RangeError(`worker pool: ${count} tasks in one job (at most ${MAX_TASKS})`);
    const { ctl } = this;
    ctl[POOL.FAMILY] = family;
    ctl[POOL.COUNT] = count;
    ctl[POOL.DONE] = 0;
    this.tag = (this.tag + 1) & 0x7fff;
    Atomics.store(ctl, POOL.CLAIM, this.tag << 16); // publishes everything written above
    Atomics.notify(ctl, POOL.CLAIM); // wakes sleeping workers (spinning ones see the store)

    // Take tasks like any worker until none are left. Should a kernel throw, keep claiming
    // (without running) so that the job still completes before this call returns: the next job
    // must not start while a worker is still counting tasks of this one.
    let mine = 0;
    let failure: unknown = null;
    while (callerClaims) {
      const i = Atomics.add(ctl, POOL.CLAIM, 1) & 0xffff;
      if (i >= count) break;
      mine++;
      if (failure !== null) continue;
      try {
        runTask(family, i, this.caller);
      } catch (e) {
        failure = e;
      }
    }
    // Wait for the tasks the workers took: spin first, they usually finish within microseconds.
    let done = Atomics.load(ctl, POOL.DONE) + mine;
    if (done < count) {
      const deadline = performance.now() + SPIN_MS;
      while ((done = Atomics.load(ctl, POOL.DONE) + mine) < count && performance.now() < deadline) pause();
    }
    while (done < count) {
      Atomics.wait(ctl, POOL.DONE, done - mine);
      done = Atomics.load(ctl, POOL.DONE) + mine;
    }
    this.workerTasks += count - mine;
    if (failure !== null) throw failure;
    if (ctl[POOL.ERROR] !== 0) {
      ctl[POOL.ERROR] = 0;
      const text = this.takeFailureText();
      throw new Error(`handgrad: a pool worker failed: ${text}`);
    }
    return mine;
  }

  /** The text a failing worker left (see create()), and the slot cleared for the next failure. */
  private takeFailureText(): string {
    const len = Atomics.load(this.failureText, 0);
    const bytes = new Uint8Array(this.failureText.buffer, 4, Math.max(0, Math.min(len, FAILURE_TEXT_BYTES)));
    const text = len > 0 ? new TextDecoder().decode(bytes.slice()) : '(no message)';
    Atomics.store(this.failureText, 0, 0);
    return text;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, POOL.QUIT, 1);
    Atomics.add(this.ctl, POOL.CLAIM, 1 << 16); // a new tag: wakes the workers, who see QUIT
    Atomics.notify(this.ctl, POOL.CLAIM);
    for (const w of this.workers) void w.terminate();
  }
}
