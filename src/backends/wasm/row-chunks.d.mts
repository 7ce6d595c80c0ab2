// Types of ./row-chunks.mjs (plain JavaScript, shared with the worker threads).
import type { Kernels } from './kernels.js';

export declare const CTL: Readonly<{
  KIND: 0; PTRS: 16; ROWS: 24; COLS: 25; ROW_STEP: 26; COL_STEP: 27; COL_CHUNKS: 28; F64: 20; INTS: 48;
}>;

export declare const JOB: Readonly<{ LAYER_NORM: 0; LAYER_NORM_BACKWARD: 1; SUM_ROWS: 2; ADD_BIAS: 3; ADD: 4; COPY: 5 }>;

/** What a row chunk can run. */
export type RowKernels = Pick<Kernels, 'layerNorm' | 'layerNormBackwardDx' | 'layerNormBackwardParams' | 'sumRowsRange'
  | 'addBias' | 'add' | 'copy'>;

export declare function runRowChunk(x: RowKernels, ctl: Int32Array, ctlD: Float64Array, i: number): void;
