// Types of ./gemm-chunks.mjs (plain JavaScript, shared with the pool's worker threads).
import type { Kernels } from './kernels.js';

export declare const MAX_CHUNKS: 64;

export declare const CTL: Readonly<{
  KIND: 0; BY_COLS: 1; ARGS: 16; BOUNDS: 32; INTS: 112;
}>;

export declare const JOB: Readonly<{
  GEMM: 0; LSTM_CELL: 1; LSTM_CELL_BACKWARD: 2; GRU_CELL: 3; GRU_CELL_BACKWARD: 4; GEMM_PACKED_B: 5;
}>;

/** The recurrent cells a chunk can run. */
export type CellKernels = Pick<Kernels, 'lstmCell' | 'lstmCellBackward' | 'gruCell' | 'gruCellBackward'>;

export declare function runChunk(x: CellKernels, block: (...args: number[]) => void, packedBlock: (...args: number[]) => void,
  ctl: Int32Array, ctlF: Float32Array, i: number, scratch: number): void;
