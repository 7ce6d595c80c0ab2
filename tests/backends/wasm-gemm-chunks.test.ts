// How the GEMM engine cuts a product across threads (chunkCount in src/backends/wasm/gemm.ts): the
// counts that decide whether a thread idles. Results do not depend on the cut (tested in
// gemm-suite.ts: split products give the same bits as whole ones); speed does.
import { describe, expect, it } from 'vitest';
import { chunkCount, DEFAULT_TUNING } from '../../src/backends/wasm/gemm.js';
import { evenTasks } from '../../src/backends/wasm/worker-pool.js';

const T = DEFAULT_TUNING;
const NR = 16;
const colUnits = (n: number) => Math.ceil(n / NR);
const minCols = Math.ceil(T.minChunkCols / NR);

describe('chunkCount', () => {
  it('gives every thread a chunk of a large product narrower than minChunkCols per thread', () => {
    // A transformer weight gradient Xᵀ·dY: 128×128 over k = 4096 (8 panels; minChunkCols 128 = 8 panels).
    expect(chunkCount(colUnits(128), minCols, 128 * 128 * 4096, 2, T)).toBe(2);
    expect(chunkCount(colUnits(128), minCols, 128 * 128 * 4096, 3, T)).toBe(3);
  });

  it('cuts into a multiple of the thread count', () => {
    // 128×384 over k = 4096: 24 panels, 3 chunks of minChunkCols would leave one thread a chunk more.
    const c = chunkCount(colUnits(384), minCols, 128 * 384 * 4096, 2, T);
    expect(c % 2).toBe(0);
    for (const threads of [2, 3, 4]) {
      for (const units of [5, 7, 24, 33, 64, 200]) {
        const n = chunkCount(units, 1, 2 ** 30, threads, T);
        expect(n % threads, `${units} units on ${threads} threads: ${n} chunks`).toBe(0);
      }
    }
  });

  it('keeps the counts it had where they were already whole per thread', () => {
    // 512³: 32 panels, at most 4 chunks of minChunkCols; the LSTM's recurrent step 32×1024: 64 panels.
    expect(chunkCount(colUnits(512), minCols, 512 ** 3, 2, T)).toBe(Math.min(2 * T.chunksPerThread, 32 / minCols));
    expect(chunkCount(colUnits(1024), minCols, 32 * 1024 * 256, 2, T)).toBe(Math.min(2 * T.chunksPerThread, 64 / minCols));
  });

  it('never makes more chunks than units, than the work allows, or than one', () => {
    expect(chunkCount(1, minCols, 2 ** 30, 2, T)).toBe(1);
    expect(chunkCount(64, 1, T.minChunkWork, 2, T)).toBe(1); // work for one chunk only
    expect(chunkCount(64, 1, 2 * T.minChunkWork, 4, T)).toBe(2); // for two: fewer than the threads
    expect(chunkCount(0, 1, 0, 2, T)).toBe(1);
    for (let units = 1; units < 80; units++) {
      const n = chunkCount(units, 1, 2 ** 40, 3, { ...T, chunksPerThread: 64 });
      expect(n).toBeLessThanOrEqual(Math.max(1, units));
      expect(n).toBeLessThanOrEqual(64);
    }
  });
});

describe('evenTasks', () => {
  it('rounds down to a multiple of the threads, and leaves fewer tasks than threads as they are', () => {
    expect([1, 2, 3, 4, 5, 7, 8].map((n) => evenTasks(n, 2))).toEqual([1, 2, 2, 4, 4, 6, 8]);
    expect([2, 3, 4, 5, 7].map((n) => evenTasks(n, 3))).toEqual([2, 3, 3, 3, 6]);
    expect(evenTasks(5, 1)).toBe(5);
  });
});
