// Types of ./pool-protocol.mjs (plain JavaScript, shared with the worker threads).
import type { CellKernels } from './gemm-chunks.mjs';
import type { BatchKernels } from './batch-items.mjs';
import type { RowKernels } from './row-chunks.mjs';

export declare const POOL: Readonly<{ CLAIM: 0; QUIT: 1; DONE: 16; ERROR: 17; FAMILY: 32; COUNT: 33; INTS: 48 }>;
export declare const MAX_TASKS: 0xff00;
export declare const FAMILY: Readonly<{ GEMM: 0; BATCH: 1; ROWS: 2 }>;

/** What one thread needs to run any task: its kernels, the argument blocks, its scratch. */
export interface ThreadState {
  x: CellKernels & BatchKernels & RowKernels;
  block: (...args: number[]) => void;
  packedBlock: (...args: number[]) => void;
  gemmCtl: Int32Array; gemmCtlF: Float32Array; gemmScratch: number;
  batchCtl: Int32Array; batchCtlF: Float32Array; batchCtlD: Float64Array; batchScratch: number;
  rowCtl: Int32Array; rowCtlD: Float64Array;
}

export declare function threadState(x: CellKernels & BatchKernels & RowKernels, block: (...args: number[]) => void,
  packedBlock: (...args: number[]) => void,
  memory: WebAssembly.Memory, gemmCtl: number, gemmScratch: number, batchCtl: number, batchScratch: number,
  rowCtl: number): ThreadState;

export declare function runTask(family: number, i: number, t: ThreadState): void;
