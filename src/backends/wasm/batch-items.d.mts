// Types of ./batch-items.mjs (plain JavaScript, shared with the worker threads).
import type { Kernels } from './kernels.js';

export declare const CTL: Readonly<{
  CLAIM: 0; QUIT: 1; DONE: 16; ERROR: 17; KIND: 32; ITEMS: 33; ARGS: 34; F64: 28; DROP: 66; WIDE: 69; INTS: 80;
}>;

export declare const JOB: Readonly<{ ATTENTION: 0; ATTENTION_BACKWARD: 1; MEMORY: 2; MEMORY_BACKWARD: 3; SWIGLU: 4; SWIGLU_BACKWARD: 5 }>;

/** What a batch item can run. */
export type BatchKernels = Pick<Kernels, 'attention' | 'attentionBackward' | 'memoryForwardRange' | 'memoryBackwardRange'
  | 'swigluSpan' | 'swigluBackwardSpan'>;

export declare function runItem(x: BatchKernels, ctl: Int32Array, ctlF: Float32Array, ctlD: Float64Array,
  i: number, scratch: number): void;
