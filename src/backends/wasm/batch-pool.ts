// Runs kernels whose batch items are independent on several threads: the fused attention kernels
// (assembly/attention.ts; each batch item reads its own q/k/v rows and writes its own
// out/lse/dq/dk/dv rows) and the memory recurrence (assembly/memory_recurrence.ts; each sequence
// has its own rows and its own slices of `saved`). A call is split into one item per batch item
// or sequence, each run as the kernel on that item alone (./batch-items.mjs, the same code on
// every thread, so a split call is bit-identical to a whole one). Each thread, the calling one
// included, has its own scratch: the attention kernel's block scratch, or the memory kernel's
// working area, which `saved` holds only one of.
//
// Protocol (as the GEMM engine's, src/backends/wasm/gemm.ts, with its own control block):
//   CLAIM  (job tag << 16) | index of the next unclaimed item. The caller writes the job's
//          arguments, resets DONE, then stores (tag + 1, 0) and notifies; every thread claims
//          items with compareExchange on the whole word, so a worker that wakes up late can only
//          claim items of the current job, and reads its arguments after the claim succeeded.
//   DONE   items finished; the caller waits for it to reach the item count.
// Workers sleep in Atomics.wait between jobs (no spinning: these calls are milliseconds apart and
// long, so a futex wake-up of tens of µs is noise, and a spinning thread would take a core from
// the GEMM workers on a two-core machine).
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';
import { CTL, JOB, runItem } from './batch-items.mjs';
import { memoryWorkSize } from '../../ops/memory-recurrence.js';


const MAX_ITEMS = 0xffff; // the claim word keeps the item index in its low 16 bits

/**
 * The widest memory whose working area the per-thread scratch holds: dk = dv = 128 (5·dk·dv +
 * 2·dv floats, 321 KiB). A wider memory runs on the calling thread alone, in `saved`'s own area.
 */
export const MEMORY_SCRATCH_FLOATS = memoryWorkSize(128, 128);

export interface AttentionArgs {
  q: number; k: number; v: number; out: number; lse: number;
  dout: number; dq: number; dk: number; dv: number;
  B: number; H: number; D: number; Tq: number; Tk: number; causal: number; qOffset: number;
  qStride: number; kvStride: number; oStride: number; scale: number;
  /** Dropout on P: the uint32 threshold (0: none), 1/(1 − p), the mask's seed. */
  dropThr: number; dropScale: number; seed: number;
}

/** A memory recurrence call: byte pointers (dy, dK, dV, dQ: backward only), sizes, kernel codes. */
export interface MemoryArgs {
  k: number; v: number; q: number; y: number; saved: number; dy: number; dK: number; dV: number; dQ: number;
  B: number; T: number; dk: number; dv: number; rule: number; opt: number; period: number;
  eta: number; beta: number; beta1: number; beta2: number; eps: number;
}

/** Which pass of an op a job runs. */
export type Pass = 'forward' | 'backward';

export class BatchPool {
  private readonly ctl: Int32Array;
  private readonly ctlF: Float32Array;
  private readonly ctlD: Float64Array;
  private disposed = false;
  /**
   * Tests only: false leaves every item of a split call to the workers (the calling thread only
   * waits), so that a test knows they ran it.
   */
  callerClaims = true;
  /**
   * Memory recurrence calls with B·T·dk·dv below this run on the calling thread alone: waking a
   * worker costs tens of µs. Measured (B 16, dk = dv = 14, delta/gd forward, 2 cores, loaded):
   * B·T·dk·dv 50k took 58 µs on one thread and as long on two; 200k 232 against 141 µs.
   * Mutable: tests split tiny calls.
   */
  memoryMinWork = 2 ** 16;
  /**
   * A swiglu call over one row (the transformer's feed-forward gate: [h1 | h3] as one row of
   * n·F, src/layers/feedforward.ts) is cut into spans of this many floats, one item each, when it
   * has at least two. Below that, waking a worker would cost about what the span saves (a span
   * of 2¹⁶ floats is ~0.1 ms of work). Mutable: tests split tiny calls.
   */
  swigluSpan = 2 ** 16;
  /**
   * Attention register tiles: 16 wide (true) where V8 revectorizes the kernels to 256-bit AVX2
   * (eight independent FMA chains per step, as the GEMM's 4×16 kernel), else 8 wide (16-wide tiles
   * spill the 16 XMM registers of plain 128-bit code). The same results either way: each element's
   * sum runs in the same order (tests compare both with the reference). Set by the backend from its
   * kernel path; mutable: tests run both.
   */
  wideTiles = false;
  /** Items the workers ran, in all (tests: whether a call was split). */
  workerItems = 0;

  private constructor(private readonly k: Kernels, private readonly workers: Worker[],
    private readonly scratch: number, private readonly scratchBytes: number, ctlPtr: number, heap: WasmHeap) {
    // A shared memory only grows, never detaches: views made now stay valid.
    this.ctl = new Int32Array(heap.memory.buffer, ctlPtr, CTL.INTS);
    this.ctlF = new Float32Array(heap.memory.buffer, ctlPtr, CTL.INTS);
    this.ctlD = new Float64Array(heap.memory.buffer, ctlPtr, CTL.INTS / 2);
  }

  get threads(): number { return this.workers.length + 1; }

  /** `threads` − 1 workers on the module and memory of `k`; scratch for every thread from `heap`. */
  static async create(module: WebAssembly.Module, k: Kernels, heap: WasmHeap, threads: number): Promise<BatchPool> {
    // One thread needs no scratch of its own for the memory kernel (it runs in `saved`'s area).
    const bytes = Math.max(k.attentionScratchBytes(), threads > 1 ? 4 * MEMORY_SCRATCH_FLOATS : 0);
    const scratch = heap.alloc(bytes); // the calling thread's
    const ctlPtr = heap.alloc(CTL.INTS * 4); // 64-byte aligned: the Float64Array view needs 8
    new Int32Array(heap.memory.buffer, ctlPtr, CTL.INTS).fill(0);
    const workers: Worker[] = [];
    for (let w = 1; w < threads; w++) {
      workers.push(new Worker(new URL('./batch-worker.mjs', import.meta.url), {
        workerData: { module, memory: heap.memory, ctl: ctlPtr, scratch: heap.alloc(bytes) },
      }));
    }
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('message', (msg) => (msg === 'ready' ? resolve() : reject(new Error(String(msg)))));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`batch worker exited with code ${code} during start-up`)));
      })));
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    for (const w of workers) {
      w.removeAllListeners();
      w.on('error', (e) => console.error('handgrad: batch worker failed:', e));
      w.unref(); // a process that forgets dispose() still exits
    }
    return new BatchPool(k, workers, scratch, bytes, ctlPtr, heap);
  }

  /** The forward or backward attention pass over all batch items. */
  attention(pass: Pass, a: AttentionArgs): void {
    this.checkLive();
    const { k, scratch } = this;
    // One item, or one thread: no hand-over (decoding runs B = 1 on the calling thread alone).
    if (this.workers.length === 0 || a.B <= 1 || a.B > MAX_ITEMS) {
      if (pass === 'forward') {
        k.attention(a.q, a.k, a.v, a.out, a.lse, a.B, a.H, a.D, a.Tq, a.Tk, a.causal, a.qOffset,
          a.qStride, a.kvStride, a.oStride, a.scale, a.dropThr, a.dropScale, a.seed, 0, scratch, this.wideTiles ? 1 : 0);
      } else {
        k.attentionBackward(a.q, a.k, a.v, a.out, a.lse, a.dout, a.dq, a.dk, a.dv, a.B, a.H, a.D, a.Tq, a.Tk,
          a.causal, a.qOffset, a.qStride, a.kvStride, a.oStride, a.scale, a.dropThr, a.dropScale, a.seed, 0, scratch,
          this.wideTiles ? 1 : 0);
      }
      return;
    }
    const { ctl, ctlF } = this;
    const A = CTL.ARGS;
    ctl[A] = a.q; ctl[A + 1] = a.k; ctl[A + 2] = a.v; ctl[A + 3] = a.out; ctl[A + 4] = a.lse;
    ctl[A + 5] = a.dout; ctl[A + 6] = a.dq; ctl[A + 7] = a.dk; ctl[A + 8] = a.dv;
    ctl[A + 9] = a.B; ctl[A + 10] = a.H; ctl[A + 11] = a.D; ctl[A + 12] = a.Tq; ctl[A + 13] = a.Tk;
    ctl[A + 14] = a.causal; ctl[A + 15] = a.qOffset;
    ctl[A + 16] = a.qStride; ctl[A + 17] = a.kvStride; ctl[A + 18] = a.oStride; ctlF[A + 19] = a.scale;
    ctl[CTL.DROP] = a.dropThr | 0; ctlF[CTL.DROP + 1] = a.dropScale; ctl[CTL.DROP + 2] = a.seed | 0;
    ctl[CTL.WIDE] = this.wideTiles ? 1 : 0;
    this.runJob(pass === 'forward' ? JOB.ATTENTION : JOB.ATTENTION_BACKWARD, a.B);
  }

  /** The forward or backward memory-recurrence pass over all sequences. */
  memory(pass: Pass, a: MemoryArgs): void {
    this.checkLive();
    const { k } = this;
    // One sequence, one thread, a small call, or a working area larger than the scratch: the
    // whole call here.
    if (this.workers.length === 0 || a.B <= 1 || a.B > MAX_ITEMS || a.B * a.T * a.dk * a.dv < this.memoryMinWork ||
      4 * memoryWorkSize(a.dk, a.dv) > this.scratchBytes) {
      if (pass === 'forward') {
        k.memoryForward(a.k, a.v, a.q, a.y, a.saved, a.B, a.T, a.dk, a.dv, a.rule, a.opt, a.period,
          a.eta, a.beta, a.beta1, a.beta2, a.eps);
      } else {
        k.memoryBackward(a.k, a.v, a.q, a.saved, a.dy, a.dK, a.dV, a.dQ, a.B, a.T, a.dk, a.dv, a.rule, a.opt, a.period,
          a.eta, a.beta, a.beta1, a.beta2, a.eps);
      }
      return;
    }
    const { ctl, ctlD } = this;
    const A = CTL.ARGS, F = CTL.F64;
    ctl[A] = a.k; ctl[A + 1] = a.v; ctl[A + 2] = a.q; ctl[A + 3] = a.y; ctl[A + 4] = a.saved;
    ctl[A + 5] = a.dy; ctl[A + 6] = a.dK; ctl[A + 7] = a.dV; ctl[A + 8] = a.dQ;
    ctl[A + 9] = a.B; ctl[A + 10] = a.T; ctl[A + 11] = a.dk; ctl[A + 12] = a.dv;
    ctl[A + 13] = a.rule; ctl[A + 14] = a.opt; ctl[A + 15] = a.period;
    ctlD[F] = a.eta; ctlD[F + 1] = a.beta; ctlD[F + 2] = a.beta1; ctlD[F + 3] = a.beta2; ctlD[F + 4] = a.eps;
    this.runJob(pass === 'forward' ? JOB.MEMORY : JOB.MEMORY_BACKWARD, a.B);
  }

  /**
   * The swiglu gate or its backward (contract: Ops.swiglu in src/ops/types.ts; byte pointers). One
   * long row (rows = 1) is split into spans across the threads: each element is computed by the
   * same code whichever thread runs it, so a split call is bit-identical to a whole one. Several
   * rows (the MoE experts' short rows) run here whole.
   */
  swiglu(pass: Pass, gu: number, dout: number, out: number, rows: number, F: number): void {
    this.checkLive();
    const { k } = this;
    const spans = Math.ceil(F / this.swigluSpan);
    if (this.workers.length === 0 || rows !== 1 || spans < 2 || spans > MAX_ITEMS) {
      if (pass === 'forward') k.swiglu(gu, out, rows, F);
      else k.swigluBackward(gu, dout, out, rows, F);
      return;
    }
    const { ctl } = this;
    const A = CTL.ARGS;
    // forward: a, b, out; backward: a, b, dout, da, db (out = dgu, [da | db]).
    ctl[A] = gu; ctl[A + 1] = gu + 4 * F;
    if (pass === 'forward') { ctl[A + 2] = out; } else { ctl[A + 2] = dout; ctl[A + 3] = out; ctl[A + 4] = out + 4 * F; }
    ctl[A + 5] = F; ctl[A + 6] = this.swigluSpan;
    this.runJob(pass === 'forward' ? JOB.SWIGLU : JOB.SWIGLU_BACKWARD, spans);
  }

  /** Publishes the job whose arguments are in the control block, works on it, waits for the rest. */
  private runJob(kind: number, items: number): void {
    const { k, ctl, ctlF, ctlD, scratch } = this;
    ctl[CTL.KIND] = kind;
    ctl[CTL.ITEMS] = items;
    Atomics.store(ctl, CTL.DONE, 0);
    // Publish: a new tag with index 0 (the Atomics store orders the plain writes above before it).
    const tag = ((Atomics.load(ctl, CTL.CLAIM) >>> 16) + 1) & 0x7fff;
    Atomics.store(ctl, CTL.CLAIM, tag << 16);
    Atomics.notify(ctl, CTL.CLAIM);
    let mine = 0, failure: unknown = null;
    while (this.callerClaims) {
      const word = Atomics.load(ctl, CTL.CLAIM);
      const i = word & 0xffff;
      if ((word >>> 16) !== tag || i >= items) break;
      if (Atomics.compareExchange(ctl, CTL.CLAIM, word, word + 1) !== word) continue;
      try {
        runItem(k, ctl, ctlF, ctlD, i, scratch);
      } catch (e) {
        failure ??= e;
      }
      mine++;
    }
    // Wait for the items the workers took (DONE counts theirs only).
    let done = Atomics.load(ctl, CTL.DONE) + mine;
    while (done < items) {
      Atomics.wait(ctl, CTL.DONE, done - mine);
      done = Atomics.load(ctl, CTL.DONE) + mine;
    }
    this.workerItems += items - mine;
    if (failure !== null) throw failure;
    if (ctl[CTL.ERROR] !== 0) {
      ctl[CTL.ERROR] = 0;
      throw new Error('handgrad: a batch worker failed (see the message above)');
    }
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('wasm backend: attention, memory recurrence or swiglu after dispose()');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, CTL.QUIT, 1);
    Atomics.add(this.ctl, CTL.CLAIM, 1 << 16); // a new tag: wakes the workers, who see QUIT
    Atomics.notify(this.ctl, CTL.CLAIM);
    for (const w of this.workers) void w.terminate();
  }
}
