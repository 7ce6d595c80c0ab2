// The WASM LSTM cell (forward and backward) split by batch rows across the GEMM threads
// (src/backends/wasm/gemm.ts, JOB.LSTM_CELL*): every row is computed by the same kernel whichever
// thread takes it, so two threads must give exactly what one gives, for ragged sizes (H not a
// multiple of 4, B not a multiple of the chunk count) and for the medium LSTM's shape.
// Whether the worker takes any chunk of a given call depends on scheduling (on a loaded machine
// the caller may run them all), so each comparison is repeated back to back while the worker spins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { DEFAULT_TUNING } from '../../src/backends/wasm/gemm.js';
import type { Tensor } from '../../src/ops/types.js';

let one: WasmOps, two: WasmOps;
beforeAll(async () => {
  one = await createWasmOps({ threads: 1 });
  two = await createWasmOps({ threads: 2 });
});
afterAll(() => { one?.dispose(); two?.dispose(); });

/** Deterministic values in [lo, hi) (a multiplicative hash: no dependency on an RNG). */
function values(n: number, seed: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + (hi - lo) * (((i + 1) * 2654435761 + seed * 40503) % 1000003) / 1000003);
}

/** Forward then backward cell on `ops`; returns every output. */
function cellPass(ops: WasmOps, B: number, H: number): Float32Array[] {
  const t = (v: number[]): Tensor => ops.tensorFrom(v);
  const gates = t(values(B * 4 * H, 1, -6, 6)), cPrev = t(values(B * H, 2, -2, 2));
  const c = ops.tensor(B * H), tanhC = ops.tensor(B * H), h = ops.tensor(B * H);
  ops.lstmCell(gates, cPrev, c, tanhC, h, B, H);
  const dh = t(values(B * H, 3, -1, 1)), dc = t(values(B * H, 4, -1, 1)), dgates = ops.tensor(B * 4 * H);
  ops.lstmCellBackward(gates, cPrev, tanhC, dh, dc, dgates, B, H);
  return [gates, c, tanhC, h, dc, dgates].map((x) => Float32Array.from(x.data));
}

const ROUNDS = 8;

/** Two threads against one, ROUNDS times over the same inputs. */
function expectSameAsOneThread(B: number, H: number): void {
  const want = cellPass(one, B, H);
  for (let round = 0; round < ROUNDS; round++) expect(cellPass(two, B, H), `B ${B}, H ${H}, round ${round}`).toEqual(want);
}

describe('wasm LSTM cell split across threads', () => {
  it('is bit-identical to one thread when every row is its own chunk (ragged B and H)', () => {
    const saved = two.gemmEngine.tuning;
    two.gemmEngine.tuning = { ...DEFAULT_TUNING, chunksPerThread: 32, minCellUnits: 0, minCellRows: 1 };
    try {
      for (const [B, H] of [[4, 1], [13, 301], [7, 37], [33, 64]]) {
        expectSameAsOneThread(B, H);
      }
    } finally {
      two.gemmEngine.tuning = saved;
    }
  });

  it('is bit-identical to one thread at the medium LSTM shape with the default split', () => {
    expectSameAsOneThread(32, 256);
  });
});
