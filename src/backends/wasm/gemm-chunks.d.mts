// Types of ./gemm-chunks.mjs (plain JavaScript, shared with the GEMM worker threads).
import type { Kernels } from './kernels.js';

export declare const MAX_CHUNKS: 64;

export declare const CTL: Readonly<{
  CLAIM: 0; QUIT: 1; DONE: 16; ERROR: 17; ARGS: 32; BY_COLS: 43; CHUNKS: 44; KIND: 45; BOUNDS: 48; INTS: 128;
}>;

export declare const JOB: Readonly<{
  GEMM: 0; LSTM_CELL: 1; LSTM_CELL_BACKWARD: 2; GRU_CELL: 3; GRU_CELL_BACKWARD: 4; GEMM_PACKED_B: 5;
}>;

/** The recurrent cells a chunk can run. */
export type CellKernels = Pick<Kernels, 'lstmCell' | 'lstmCellBackward' | 'gruCell' | 'gruCellBackward'>;

export declare function runChunk(x: CellKernels, block: (...args: number[]) => void, packedBlock: (...args: number[]) => void,
  ctl: Int32Array, ctlF: Float32Array, i: number, scratch: number): void;
