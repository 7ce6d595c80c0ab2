// Runs the fused attention kernels (assembly/attention.ts) on several threads: batch items are
// independent (each reads its own q/k/v rows and writes its own out/lse/dq/dk/dv rows), so a call
// is split into one chunk per batch item, the kernel run on each with B = 1 and moved pointers.
// Each thread has its own block scratch; the calling thread works too.
//
// Protocol (as the GEMM engine's, src/backends/wasm/gemm.ts, with its own control block):
//   CLAIM  (job tag << 16) | index of the next unclaimed item. The caller writes the job's
//          arguments, resets DONE, then stores (tag + 1, 0) and notifies; every thread claims
//          items with compareExchange on the whole word, so a worker that wakes up late can only
//          claim items of the current job, and reads its arguments after the claim succeeded.
//   DONE   items finished; the caller waits for it to reach the item count.
// Workers sleep in Atomics.wait between jobs (no spinning: attention calls are milliseconds
// apart and long, so a futex wake-up of tens of µs is noise, and a spinning thread would take a
// core from the GEMM workers on a two-core machine).
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './heap.js';
import type { Kernels } from './kernels.js';

export const ATT_CTL = {
  CLAIM: 0, QUIT: 1, // line 0: what idle workers wait on
  DONE: 16, ERROR: 17, // line 1: what the caller waits on
  KIND: 32, CHUNKS: 33, // 0 forward, 1 backward; batch items
  // q, k, v, out, lse, dout, dq, dk, dv (byte pointers), H, D, Tq, Tk, causal, qOffset,
  // qStride, kvStride, oStride (ints), scale (f32 bits)
  ARGS: 34,
  INTS: 64,
} as const;

const MAX_ITEMS = 0xffff; // the claim word keeps the item index in its low 16 bits

export interface AttentionArgs {
  q: number; k: number; v: number; out: number; lse: number;
  dout: number; dq: number; dk: number; dv: number;
  B: number; H: number; D: number; Tq: number; Tk: number; causal: number; qOffset: number;
  qStride: number; kvStride: number; oStride: number; scale: number;
}

export class AttentionPool {
  private readonly ctl: Int32Array;
  private readonly ctlF: Float32Array;
  private disposed = false;

  private constructor(private readonly k: Kernels, private readonly workers: Worker[],
    private readonly scratch: number, ctlPtr: number, heap: WasmHeap) {
    // A shared memory only grows, never detaches: views made now stay valid.
    this.ctl = new Int32Array(heap.memory.buffer, ctlPtr, ATT_CTL.INTS);
    this.ctlF = new Float32Array(heap.memory.buffer, ctlPtr, ATT_CTL.INTS);
  }

  get threads(): number { return this.workers.length + 1; }

  /** `threads` − 1 workers on the module and memory of `k`; scratch for every thread from `heap`. */
  static async create(module: WebAssembly.Module, k: Kernels, heap: WasmHeap, threads: number): Promise<AttentionPool> {
    const bytes = k.attentionScratchBytes();
    const scratch = heap.alloc(bytes); // the calling thread's
    const ctlPtr = heap.alloc(ATT_CTL.INTS * 4);
    new Int32Array(heap.memory.buffer, ctlPtr, ATT_CTL.INTS).fill(0);
    const workers: Worker[] = [];
    for (let w = 1; w < threads; w++) {
      workers.push(new Worker(new URL('./attention-worker.mjs', import.meta.url), {
        workerData: { module, memory: heap.memory, ctl: ctlPtr, layout: ATT_CTL, scratch: heap.alloc(bytes) },
      }));
    }
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('message', (msg) => (msg === 'ready' ? resolve() : reject(new Error(String(msg)))));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`attention worker exited with code ${code} during start-up`)));
      })));
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    for (const w of workers) {
      w.removeAllListeners();
      w.on('error', (e) => console.error('handgrad: attention worker failed:', e));
      w.unref(); // a process that forgets dispose() still exits
    }
    return new AttentionPool(k, workers, scratch, ctlPtr, heap);
  }

  /** Forward (kind 0) or backward (kind 1) over all batch items. */
  run(kind: 0 | 1, a: AttentionArgs): void {
    if (this.disposed) throw new Error('wasm backend: attention after dispose()');
    const { k, scratch } = this;
    // One item, or one thread: no hand-over (decoding runs B = 1 on the calling thread alone).
    if (this.workers.length === 0 || a.B <= 1 || a.B > MAX_ITEMS) {
      if (kind === 0) {
        k.attention(a.q, a.k, a.v, a.out, a.lse, a.B, a.H, a.D, a.Tq, a.Tk, a.causal, a.qOffset,
          a.qStride, a.kvStride, a.oStride, a.scale, scratch);
      } else {
        k.attentionBackward(a.q, a.k, a.v, a.out, a.lse, a.dout, a.dq, a.dk, a.dv, a.B, a.H, a.D, a.Tq, a.Tk,
          a.causal, a.qOffset, a.qStride, a.kvStride, a.oStride, a.scale, scratch);
      }
      return;
    }
    const { ctl, ctlF } = this;
    const A = ATT_CTL.ARGS;
    ctl[A] = a.q; ctl[A + 1] = a.k; ctl[A + 2] = a.v; ctl[A + 3] = a.out; ctl[A + 4] = a.lse;
    ctl[A + 5] = a.dout; ctl[A + 6] = a.dq; ctl[A + 7] = a.dk; ctl[A + 8] = a.dv;
    ctl[A + 9] = a.B; ctl[A + 10] = a.H; ctl[A + 11] = a.D; ctl[A + 12] = a.Tq; ctl[A + 13] = a.Tk;
    ctl[A + 14] = a.causal; ctl[A + 15] = a.qOffset;
    ctl[A + 16] = a.qStride; ctl[A + 17] = a.kvStride; ctl[A + 18] = a.oStride; ctlF[A + 19] = a.scale;
    ctl[ATT_CTL.KIND] = kind;
    ctl[ATT_CTL.CHUNKS] = a.B;
    Atomics.store(ctl, ATT_CTL.DONE, 0);
    // Publish: a new tag with index 0 (the Atomics store orders the plain writes above before it).
    const tag = ((Atomics.load(ctl, ATT_CTL.CLAIM) >>> 16) + 1) & 0x7fff;
    Atomics.store(ctl, ATT_CTL.CLAIM, tag << 16);
    Atomics.notify(ctl, ATT_CTL.CLAIM);
    const qsb = a.qStride * 4, kvsb = a.kvStride * 4, osb = a.oStride * 4;
    let mine = 0, failure: unknown = null;
    for (;;) {
      const word = Atomics.load(ctl, ATT_CTL.CLAIM);
      const i = word & 0xffff;
      if ((word >>> 16) !== tag || i >= a.B) break;
      if (Atomics.compareExchange(ctl, ATT_CTL.CLAIM, word, word + 1) !== word) continue;
      const qo = i * a.Tq * qsb, ko = i * a.Tk * kvsb, oo = i * a.Tq * osb, lo = i * a.H * a.Tq * 4;
      try {
        if (kind === 0) {
          k.attention(a.q + qo, a.k + ko, a.v + ko, a.out + oo, a.lse + lo, 1, a.H, a.D, a.Tq, a.Tk, a.causal,
            a.qOffset, a.qStride, a.kvStride, a.oStride, a.scale, scratch);
        } else {
          k.attentionBackward(a.q + qo, a.k + ko, a.v + ko, a.out + oo, a.lse + lo, a.dout + oo,
            a.dq + qo, a.dk + ko, a.dv + ko, 1, a.H, a.D, a.Tq, a.Tk, a.causal, a.qOffset,
            a.qStride, a.kvStride, a.oStride, a.scale, scratch);
        }
      } catch (e) {
        failure ??= e;
      }
      mine++;
    }
    // Wait for the items the workers took (DONE counts theirs only).
    let done = Atomics.load(ctl, ATT_CTL.DONE) + mine;
    while (done < a.B) {
      Atomics.wait(ctl, ATT_CTL.DONE, done - mine);
      done = Atomics.load(ctl, ATT_CTL.DONE) + mine;
    }
    if (failure !== null) throw failure;
    if (ctl[ATT_CTL.ERROR] !== 0) {
      ctl[ATT_CTL.ERROR] = 0;
      throw new Error('handgrad: an attention worker failed (see the message above)');
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, ATT_CTL.QUIT, 1);
    Atomics.add(this.ctl, ATT_CTL.CLAIM, 1 << 16); // a new tag: wakes the workers, who see QUIT
    Atomics.notify(this.ctl, ATT_CTL.CLAIM);
    for (const w of this.workers) void w.terminate();
  }
}
