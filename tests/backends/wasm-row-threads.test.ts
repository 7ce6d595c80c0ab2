// The WASM row ops split across the worker-pool threads (src/backends/wasm/row-pool.ts): layerNorm,
// addBias (by rows), add, copy (by spans), sumRows and layerNormBackward's dgamma/dbeta (by
// columns, so that every column is still summed over its rows in order). Two threads with tiny
// chunks must give exactly the bits of one thread, for ragged shapes (cols not a multiple of 4 or
// 16, rows not a multiple of the chunk count). The inputs span several binary orders of magnitude,
// so that summing in another order changes the result: the last test checks that a split by rows
// (partial sums added together) is told apart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { DEFAULT_ROW_TUNING } from '../../src/backends/wasm/row-pool.js';

let one: WasmOps, two: WasmOps;
beforeAll(async () => {
  one = await createWasmOps({ threads: 1 });
  two = await createWasmOps({ threads: 2 });
  // Split anything: a chunk per few floats, up to 5 per thread.
  two.rowPool.tuning = { minSplitFloats: 1, minChunkFloats: 1, chunksPerThread: 5 };
});
afterAll(() => { one?.dispose(); two?.dispose(); });

/** Deterministic values in ±[lo, hi)·2^(−3…3) (a multiplicative hash: no dependency on an RNG). */
function values(n: number, seed: number, lo = 0.1, hi = 1): number[] {
  return Array.from({ length: n }, (_, i) => {
    const h = ((i + 1) * 2654435761 + seed * 40503) % 1000003;
    const sign = h & 1 ? -1 : 1;
    return sign * (lo + (hi - lo) * h / 1000003) * 2 ** ((h % 7) - 3);
  });
}

/** One op on `ops` over fixed inputs; returns every tensor it writes (accumulated ones included). */
type RowPass = (ops: WasmOps, rows: number, cols: number) => Float32Array[];

const copyOut = (...xs: { data: Float32Array }[]): Float32Array[] => xs.map((x) => Float32Array.from(x.data));

const passes: Record<string, RowPass> = {
  layerNorm(ops, rows, cols) {
    const x = ops.tensorFrom(values(rows * cols, 1)), g = ops.tensorFrom(values(cols, 2)), b = ops.tensorFrom(values(cols, 3));
    const y = ops.tensor(rows * cols), mean = ops.tensor(rows), rstd = ops.tensor(rows);
    ops.layerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5);
    return copyOut(y, mean, rstd);
  },
  layerNormBackward(ops, rows, cols) {
    const x = ops.tensorFrom(values(rows * cols, 1)), g = ops.tensorFrom(values(cols, 2)), b = ops.tensorFrom(values(cols, 3));
    const y = ops.tensor(rows * cols), mean = ops.tensor(rows), rstd = ops.tensor(rows);
    ops.layerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5);
    const dy = ops.tensorFrom(values(rows * cols, 4)), dx = ops.tensorFrom(values(rows * cols, 5));
    const dg = ops.tensorFrom(values(cols, 6)), db = ops.tensorFrom(values(cols, 7));
    ops.layerNormBackward(x, g, mean, rstd, dy, dx, dg, db, rows, cols);
    return copyOut(dx, dg, db);
  },
  sumRows(ops, rows, cols) {
    const x = ops.tensorFrom(values(rows * cols, 1)), out = ops.tensorFrom(values(cols, 2));
    ops.sumRows(x, out, rows, cols);
    return copyOut(out);
  },
  addBias(ops, rows, cols) {
    const y = ops.tensorFrom(values(rows * cols, 1)), b = ops.tensorFrom(values(cols, 2));
    ops.addBias(y, b, rows, cols);
    return copyOut(y);
  },
  // add and copy over rows·cols floats: out separate, and out aliasing a.
  add(ops, rows, cols) {
    const a = ops.tensorFrom(values(rows * cols, 1)), b = ops.tensorFrom(values(rows * cols, 2)), out = ops.tensor(rows * cols);
    ops.add(a, b, out);
    ops.add(a, out, a);
    return copyOut(out, a);
  },
  copy(ops, rows, cols) {
    const a = ops.tensorFrom(values(rows * cols, 1)), out = ops.tensor(rows * cols);
    ops.copy(a, out);
    return copyOut(out);
  },
};

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x.buffer).equals(Buffer.from(b[i].buffer)));
}

/**
 * Whether a call can be split at all: sumRows needs two 16-column blocks, add and copy two 16-float
 * spans, the others two rows.
 */
function splits(name: string, rows: number, cols: number): boolean {
  if (name === 'sumRows') return cols > 16;
  if (name === 'add' || name === 'copy') return rows * cols > 16;
  return rows > 1;
}

/** Runs `pass` on one thread and on two (split where it can be: then the worker must run chunks). */
function expectSameAsOneThread(name: string, rows: number, cols: number, callerClaims: boolean): void {
  const pass = passes[name];
  const m1 = one.mark(), m2 = two.mark();
  try {
    const want = pass(one, rows, cols);
    const before = two.rowPool.workerChunks;
    two.rowPool.callerClaims = callerClaims;
    const got = pass(two, rows, cols), where = `${rows}×${cols}, callerClaims ${callerClaims}`;
    const ran = two.rowPool.workerChunks - before;
    if (!callerClaims) expect(ran > 0, `${where}: whether the worker ran chunks`).toBe(splits(name, rows, cols));
    if (!sameBits(got, want)) expect(got, where).toEqual(want); // shows where they differ
    expect(sameBits(got, want), where).toBe(true);
  } finally {
    two.rowPool.callerClaims = true;
    one.release(m1); two.release(m2);
  }
}

const SHAPES: [number, number][] = [[2, 3], [5, 37], [67, 53], [33, 130], [200, 19], [64, 128], [9, 517]];

describe.each(Object.keys(passes))('wasm %s split across two threads', (name) => {
  it('gives the bits of one thread on ragged shapes, every chunk on the worker and shared', () => {
    for (const [rows, cols] of SHAPES) {
      for (const callerClaims of [false, true]) expectSameAsOneThread(name, rows, cols, callerClaims);
    }
  });
});

describe('wasm row ops split across threads', () => {
  it('split a call above the default threshold (1024 × 128) with the default tuning, with the bits of one thread', () => {
    const saved = two.rowPool.tuning;
    two.rowPool.tuning = { ...DEFAULT_ROW_TUNING };
    try {
      for (const name of Object.keys(passes)) expectSameAsOneThread(name, 1024, 128, false);
    } finally {
      two.rowPool.tuning = saved;
    }
  });

  it('run small calls whole on the calling thread with the default tuning', () => {
    const saved = two.rowPool.tuning;
    two.rowPool.tuning = { ...DEFAULT_ROW_TUNING };
    const m = two.mark();
    try {
      const before = two.rowPool.workerChunks;
      two.rowPool.callerClaims = false; // a split call would be run by the worker alone
      for (const name of Object.keys(passes)) passes[name](two, 16, 128);
      expect(two.rowPool.workerChunks - before).toBe(0);
    } finally {
      two.rowPool.callerClaims = true;
      two.rowPool.tuning = saved;
      two.release(m);
    }
  });

  it('cut a call into a multiple of the thread count (3 equal chunks on 2 threads would take two chunk times)', () => {
    const saved = two.rowPool.tuning;
    // 3000 floats at 1000 a chunk at least: room for 3 chunks, cut into 2.
    two.rowPool.tuning = { minSplitFloats: 1, minChunkFloats: 1000, chunksPerThread: 4 };
    const m = two.mark();
    try {
      const a = two.tensorFrom(values(3000, 7)), b = two.tensorFrom(values(3000, 8)), out = two.tensor(3000);
      const before = two.rowPool.workerChunks;
      two.rowPool.callerClaims = false; // every chunk runs on the worker, so the count is the chunks'
      two.add(a, b, out);
      expect(two.rowPool.workerChunks - before).toBe(2);
    } finally {
      two.rowPool.callerClaims = true;
      two.rowPool.tuning = saved;
      two.release(m);
    }
  });

  it('run layerNormBackward whole when dx overlaps dy or x, and copy when its ranges overlap (a split would race)', () => {
    const rows = 40, cols = 24;
    const run = (ops: WasmOps, alias: 'dy' | 'x') => {
      const x = ops.tensorFrom(values(rows * cols, 1)), g = ops.tensorFrom(values(cols, 2)), b = ops.tensorFrom(values(cols, 3));
      const y = ops.tensor(rows * cols), mean = ops.tensor(rows), rstd = ops.tensor(rows);
      ops.layerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5);
      const dy = ops.tensorFrom(values(rows * cols, 4)), dg = ops.tensor(cols), db = ops.tensor(cols);
      const dx = alias === 'dy' ? dy : x;
      ops.layerNormBackward(x, g, mean, rstd, dy, dx, dg, db, rows, cols);
      // copy within one array, shifted by 5 floats (a memmove)
      const a = ops.tensorFrom(values(rows * cols + 5, 8));
      ops.copy(a.view(0, rows * cols), a.view(5, rows * cols));
      return copyOut(dx, dg, db, a);
    };
    const m1 = one.mark(), m2 = two.mark();
    try {
      for (const alias of ['dy', 'x'] as const) {
        const want = run(one, alias);
        const before = two.rowPool.workerChunks;
        two.rowPool.callerClaims = false; // a split call would be run by the worker alone
        const got = run(two, alias);
        two.rowPool.callerClaims = true;
        // layerNorm's own chunks: ⌈rows / step⌉ of them; nothing else on the worker
        expect(two.rowPool.workerChunks - before, `dx = ${alias}: chunks the worker ran`).toBe(10);
        expect(sameBits(got, want), `dx = ${alias}`).toBe(true);
      }
    } finally {
      two.rowPool.callerClaims = true;
      one.release(m1); two.release(m2);
    }
  });

  it('tell a sum over rows split by rows (partial sums added) from the whole sum: the inputs are order-sensitive', () => {
    // What a wrong split of sumRows would compute: each half's column sums from zero, then added.
    for (const [rows, cols] of [[67, 53], [64, 128]] as const) {
      const m = one.mark();
      try {
        const x = values(rows * cols, 1), out0 = values(cols, 2);
        const whole = one.tensorFrom(out0);
        one.sumRows(one.tensorFrom(x), whole, rows, cols);
        const half = rows >> 1, top = one.tensor(cols), bottom = one.tensor(cols), split = one.tensorFrom(out0);
        one.sumRows(one.tensorFrom(x.slice(0, half * cols)), top, half, cols);
        one.sumRows(one.tensorFrom(x.slice(half * cols)), bottom, rows - half, cols);
        one.add(top, bottom, top);
        one.add(split, top, split);
        expect(sameBits(copyOut(split), copyOut(whole)), `${rows}×${cols}`).toBe(false);
      } finally {
        one.release(m);
      }
    }
  });
});
