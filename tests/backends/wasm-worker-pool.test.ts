// The WASM backend runs every threaded kernel, GEMM chunks and recurrent cells as much as batch
// items of attention, the memory recurrence and swiglu, on ONE pool of `threads` − 1 workers
// (src/backends/wasm/worker-pool.ts): a second pool's threads would compete with the first for the
// same cores. Worker construction is counted through a wrapped node:worker_threads.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const started = vi.hoisted(() => ({ workers: [] as string[] }));
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class CountedWorker extends real.Worker {
    constructor(file: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      super(file, options);
      started.workers.push(String(file).split('/').pop() ?? '');
    }
  }
  return { ...real, Worker: CountedWorker, default: { ...real, Worker: CountedWorker } };
});

import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { FAMILY } from '../../src/backends/wasm/worker-pool.js';
import { CTL as BATCH_CTL } from '../../src/backends/wasm/batch-items.mjs';

let ops: WasmOps;
beforeAll(async () => {
  started.workers.length = 0;
  ops = await createWasmOps({ threads: 3 });
});
afterAll(() => ops?.dispose());

describe('one worker pool for every threaded kernel', () => {
  it('starts threads − 1 workers in all, shared by the GEMM engine and the batch jobs', () => {
    expect(started.workers).toEqual(['pool-worker.mjs', 'pool-worker.mjs']);
    expect(ops.workers.threads).toBe(3);
    expect(ops.gemmEngine.threads).toBe(3);
    expect(ops.pool.threads).toBe(3);
  });

  it('a task that throws on a worker fails its job with one error, and the pool goes on working', () => {
    // No such batch job: runItem throws on the worker; its message reaches the caller's error
    // (nothing is printed), and the next failure brings its own message, not a stale one.
    ops.workers.caller.batchCtl[BATCH_CTL.KIND] = 99;
    expect(() => ops.workers.run(FAMILY.BATCH, 4, false)).toThrow(/a pool worker failed: Error: handgrad: batch job: unknown kind 99/);
    ops.workers.caller.batchCtl[BATCH_CTL.KIND] = 98;
    expect(() => ops.workers.run(FAMILY.BATCH, 4, false)).toThrow(/unknown kind 98/);
    // The next job (a split product) runs normally and is right.
    const n = 96;
    const a = ops.tensorFrom(Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) - 6));
    const b = ops.tensorFrom(Array.from({ length: n * n }, (_, i) => ((i * 5) % 11) - 5));
    const c = ops.tensor(n * n);
    const before = ops.workers.workerTasks;
    ops.gemmEngine.tuning = { ...ops.gemmEngine.tuning, minParallelWork: 0, minChunkCols: 1, minChunkRows: 1, minChunkWork: 1 };
    for (let round = 0; round < 20 && ops.workers.workerTasks === before; round++) ops.gemm(false, false, n, n, n, 1, a, b, 0, c);
    const A = a.data, B = b.data, C = c.data;
    for (const [i, j] of [[0, 0], [5, 77], [95, 95], [40, 3]]) {
      let s = 0;
      for (let p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
      expect(C[i * n + j]).toBe(s); // small integers: exact in f32
    }
  });

  it('a task with the caller claiming none runs on the workers alone (both families)', () => {
    const before = ops.workers.workerTasks;
    // A swiglu row cut into spans is a batch job; every span goes to the workers.
    ops.pool.swigluSpan = 16;
    ops.pool.callerClaims = false;
    try {
      const F = 64;
      const gu = ops.tensorFrom(Array.from({ length: 2 * F }, (_, i) => Math.sin(i)));
      const out = ops.tensor(F);
      ops.swiglu(gu, out, 1, F);
      const g = gu.data;
      for (let j = 0; j < F; j++) {
        const a = g[j], silu = a / (1 + Math.exp(-a));
        expect(out.data[j]).toBeCloseTo(silu * g[F + j], 5);
      }
    } finally {
      ops.pool.callerClaims = true;
      ops.pool.swigluSpan = 2 ** 16;
    }
    expect(ops.workers.workerTasks - before).toBe(4);
  });
});
