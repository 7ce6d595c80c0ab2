// The WASM GRU cell (forward and backward) split by batch rows across the GEMM threads
// (src/backends/wasm/gemm.ts, JOB.GRU_CELL*): every row is computed by the same kernel whichever
// thread takes it, so two threads must give exactly what one gives, for ragged sizes (H not a
// multiple of 4, B not a multiple of the chunk count) and for the medium GRU's shape.
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

/** Forward then backward cell on `ops`; returns every output (xp holds the activations after forward). */
function cellPass(ops: WasmOps, B: number, H: number): Float32Array[] {
  const t = (v: number[]): Tensor => ops.tensorFrom(v);
  const xp = t(values(B * 3 * H, 1, -6, 6)), hp = t(values(B * 3 * H, 2, -4, 4)), hPrev = t(values(B * H, 3, -1, 1));
  const h = ops.tensor(B * H);
  ops.gruCell(xp, hp, hPrev, h, B, H);
  const dh = t(values(B * H, 4, -1, 1)), dhPrev = t(values(B * H, 5, -1, 1)); // dhPrev accumulates
  const dxp = ops.tensor(B * 3 * H), dhp = ops.tensor(B * 3 * H);
  ops.gruCellBackward(xp, hp, hPrev, dh, dxp, dhp, dhPrev, B, H);
  return [xp, h, dxp, dhp, dhPrev].map((x) => Float32Array.from(x.data));
}

describe('wasm GRU cell split across threads', () => {
  it('is bit-identical to one thread when every row is its own chunk (ragged B and H)', () => {
    const saved = two.gemmEngine.tuning;
    two.gemmEngine.tuning = { ...DEFAULT_TUNING, chunksPerThread: 32, minCellUnits: 0, minCellRows: 1 };
    try {
      for (const [B, H] of [[4, 1], [13, 301], [7, 37], [33, 64]]) {
        expect(cellPass(two, B, H), `B ${B}, H ${H}`).toEqual(cellPass(one, B, H));
      }
    } finally {
      two.gemmEngine.tuning = saved;
    }
  });

  it('is bit-identical to one thread at the medium GRU shape with the default split', () => {
    expect(cellPass(two, 32, 256)).toEqual(cellPass(one, 32, 256));
  });
});
