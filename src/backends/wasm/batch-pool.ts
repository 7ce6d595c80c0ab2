// Runs kernels whose batch items are independent on the threads of the worker pool
// (./worker-pool.ts): the fused attention kernels (assembly/attention.ts; each batch item reads its
// own q/k/v rows and writes its own out/lse/dq/dk/dv rows), the memory recurrence
// (assembly/memory_recurrence.ts; each sequence has its own rows and its own slices of `saved`; a
// call of H memories has H·B sequences) and one long swiglu row cut into spans. A call is split
// into one item per batch item, sequence or span, each run as the kernel on that item alone
// (./batch-items.mjs, the same code on every thread, so a split call is bit-identical to a whole
// one). Each thread, the calling one included,
// has its own batch scratch: the attention kernel's block scratch, or the memory kernel's working
// area, which `saved` holds only one of.
import type { Kernels } from './kernels.js';
import { CTL, JOB } from './batch-items.mjs';
import { FAMILY, MAX_TASKS, type WorkerPool } from './worker-pool.js';
import { memoryWorkSize } from '../../ops/memory-recurrence.js';

const MAX_ITEMS = MAX_TASKS;

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
  /** Row strides (elements) of k/q/dk/dq, v/dv, y/dy; normalize and accumulate (0/1). */
  ks: number; vs: number; ys: number; norm: number; acc: number;
  /** Memories in the call (MemoryShape.heads) and their head strides (elements). */
  H: number; khs: number; vhs: number; yhs: number;
}

/** Which pass of an op a job runs. */
export type Pass = 'forward' | 'backward';

export class BatchPool {
  private readonly ctl: Int32Array;
  private readonly ctlF: Float32Array;
  private readonly ctlD: Float64Array;
  private readonly scratch: number;
  private readonly scratchBytes: number;
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

  /** The batch scratch each thread needs, in bytes (the worker pool allocates it). */
  static scratchBytes(k: Kernels, threads: number): number {
    // One thread needs no scratch of its own for the memory kernel (it runs in `saved`'s area).
    return Math.max(k.attentionScratchBytes(), threads > 1 ? 4 * MEMORY_SCRATCH_FLOATS : 0);
  }

  constructor(private readonly k: Kernels, private readonly pool: WorkerPool) {
    ({ batchCtl: this.ctl, batchCtlF: this.ctlF, batchCtlD: this.ctlD, batchScratch: this.scratch } = pool.caller);
    this.scratchBytes = pool.batchScratchBytes;
  }

  get threads(): number { return this.pool.threads; }

  /** Whether calls can be split: a second thread exists. */
  private get split(): boolean { return this.pool.threads > 1; }

  /** The forward or backward attention pass over all batch items. */
  attention(pass: Pass, a: AttentionArgs): void {
    this.checkLive();
    const { k, scratch } = this;
    // One item, or one thread: no hand-over (decoding runs B = 1 on the calling thread alone).
    if (!this.split || a.B <= 1 || a.B > MAX_ITEMS) {
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
    const slots = a.B * a.H; // the items: one per sequence of each memory
    if (!this.split || slots <= 1 || slots > MAX_ITEMS || slots * a.T * a.dk * a.dv < this.memoryMinWork ||
      4 * memoryWorkSize(a.dk, a.dv) > this.scratchBytes) {
      if (pass === 'forward') {
        k.memoryForward(a.k, a.v, a.q, a.y, a.saved, a.B, a.T, a.dk, a.dv, a.rule, a.opt, a.period,
          a.eta, a.beta, a.beta1, a.beta2, a.eps, a.ks, a.vs, a.ys, a.norm, a.acc, a.H, a.khs, a.vhs, a.yhs);
      } else {
        k.memoryBackward(a.k, a.v, a.q, a.saved, a.dy, a.dK, a.dV, a.dQ, a.B, a.T, a.dk, a.dv, a.rule, a.opt, a.period,
          a.eta, a.beta, a.beta1, a.beta2, a.eps, a.ks, a.vs, a.ys, a.norm, a.H, a.khs, a.vhs, a.yhs);
      }
      return;
    }
    const { ctl, ctlD } = this;
    const A = CTL.ARGS, F = CTL.F64;
    ctl[A] = a.k; ctl[A + 1] = a.v; ctl[A + 2] = a.q; ctl[A + 3] = a.y; ctl[A + 4] = a.saved;
    ctl[A + 5] = a.dy; ctl[A + 6] = a.dK; ctl[A + 7] = a.dV; ctl[A + 8] = a.dQ;
    ctl[A + 9] = a.B; ctl[A + 10] = a.T; ctl[A + 11] = a.dk; ctl[A + 12] = a.dv;
    ctl[A + 13] = a.rule; ctl[A + 14] = a.opt; ctl[A + 15] = a.period;
    ctl[A + 16] = a.ks; ctl[A + 17] = a.vs; ctl[A + 18] = a.ys; ctl[A + 19] = a.norm; ctl[A + 20] = a.acc;
    ctl[A + 21] = a.H; ctl[A + 22] = a.khs; ctl[A + 23] = a.vhs; ctl[A + 24] = a.yhs;
    ctlD[F] = a.eta; ctlD[F + 1] = a.beta; ctlD[F + 2] = a.beta1; ctlD[F + 3] = a.beta2; ctlD[F + 4] = a.eps;
    this.runJob(pass === 'forward' ? JOB.MEMORY : JOB.MEMORY_BACKWARD, slots);
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
    if (!this.split || rows !== 1 || spans < 2 || spans > MAX_ITEMS) {
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

  /** Runs the job whose arguments are in the argument block on the pool's threads. */
  private runJob(kind: number, items: number): void {
    this.ctl[CTL.KIND] = kind;
    const mine = this.pool.run(FAMILY.BATCH, items, this.callerClaims);
    this.workerItems += items - mine;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('wasm backend: attention, memory recurrence or swiglu after dispose()');
  }

  dispose(): void {
    this.disposed = true; // the pool's threads are its owner's to stop
  }
}
