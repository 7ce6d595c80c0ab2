// Types of ./batch-items.mjs (plain JavaScript, shared with the worker threads).
import type { Kernels } from './kernels.js';

export declare const CTL: Readonly<{
  CLAIM: 0; QUIT: 1; DONE: 16; ERROR: 17; KIND: 32; ITEMS: 33; ARGS: 34; F64: 28; INTS: 80;
}>;

export declare const JOB: Readonly<{ ATTENTION: 0; ATTENTION_BACKWARD: 1; MEMORY: 2; MEMORY_BACKWARD: 3 }>;

/**
 * The sequence-range entries of assembly/memory_recurrence.ts: memoryForward / memoryBackward on
 * sequences b0 ≤ b < b1 with the working area at `work` (memoryWorkSize floats).
 */
export interface MemoryRangeKernels {
  memoryForwardRange(k: number, v: number, q: number, y: number, saved: number, B: number, T: number, dk: number,
    dv: number, rule: number, opt: number, period: number, eta: number, beta: number, beta1: number, beta2: number,
    eps: number, b0: number, b1: number, work: number): void;
  memoryBackwardRange(k: number, v: number, q: number, saved: number, dy: number, dK: number, dV: number, dQ: number,
    B: number, T: number, dk: number, dv: number, rule: number, opt: number, period: number,
    eta: number, beta: number, beta1: number, beta2: number, eps: number, b0: number, b1: number, work: number): void;
}

/** What a batch item can run. */
export type BatchKernels = Pick<Kernels, 'attention' | 'attentionBackward'> & MemoryRangeKernels;

export declare function runItem(x: BatchKernels, ctl: Int32Array, ctlF: Float32Array, ctlD: Float64Array,
  i: number, scratch: number): void;
