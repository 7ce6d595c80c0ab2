// Types of ./batch-items.mjs (plain JavaScript, shared with the worker threads).
import type { Kernels } from './kernels.js';

export declare const CTL: Readonly<{
  KIND: 0; ARGS: 16; F64: 21; DROP: 52; WIDE: 55; INTS: 64;
}>;

export declare const JOB: Readonly<{ ATTENTION: 0; ATTENTION_BACKWARD: 1; MEMORY: 2; MEMORY_BACKWARD: 3; SWIGLU: 4; SWIGLU_BACKWARD: 5 }>;

/** What a batch item can run. */
export type BatchKernels = Pick<Kernels, 'attention' | 'attentionBackward' | 'memoryForwardRange' | 'memoryBackwardRange'
  | 'swigluSpan' | 'swigluBackwardSpan'>;

export declare function runItem(x: BatchKernels, ctl: Int32Array, ctlF: Float32Array, ctlD: Float64Array,
  i: number, scratch: number): void;
