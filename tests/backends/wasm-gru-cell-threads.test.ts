// The WASM GRU cell (forward and backward) split by batch rows across the GEMM threads
// (src/backends/wasm/gemm.ts, JOB.GRU_CELL*): every row is computed by the same kernel whichever
// thread takes it, so two threads must give exactly what one gives, for ragged sizes (H not a
// multiple of 4, B not a multiple of the chunk count) and for the medium GRU's shape.
// Whether the worker takes any chunk of a given call depends on scheduling (on a loaded machine
// the caller may run them all), so each comparison is repeated, back to back, while the worker
// is still spinning: a worker that mis-addresses rows is then caught in practice on every run.
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

const ROUNDS = 8;

/** Inputs of one cell pass, made once per shape. */
function inputs(B: number, H: number): number[][] {
  return [values(B * 3 * H, 1, -6, 6), values(B * 3 * H, 2, -4, 4), values(B * H, 3, -1, 1),
    values(B * H, 4, -1, 1), values(B * H, 5, -1, 1)];
}

/** Forward then backward cell on `ops`; returns every output (xp holds the activations after forward). */
function cellPass(ops: WasmOps, B: number, H: number, [xv, pv, hv, dv, dpv]: number[][]): Float32Array[] {
  const t = (v: number[]): Tensor => ops.tensorFrom(v);
  const xp = t(xv), hp = t(pv), hPrev = t(hv), h = ops.tensor(B * H);
  ops.gruCell(xp, hp, hPrev, h, B, H);
  const dh = t(dv), dhPrev = t(dpv); // dhPrev accumulates
  const dxp = ops.tensor(B * 3 * H), dhp = ops.tensor(B * 3 * H);
  ops.gruCellBackward(xp, hp, hPrev, dh, dxp, dhp, dhPrev, B, H);
  return [xp, h, dxp, dhp, dhPrev].map((x) => Float32Array.from(x.data));
}

/** Two threads against one, ROUNDS times over the same inputs. */
function expectSameAsOneThread(B: number, H: number): void {
  const input = inputs(B, H);
  const want = cellPass(one, B, H, input);
  for (let round = 0; round < ROUNDS; round++) {
    const got = cellPass(two, B, H, input), where = `B ${B}, H ${H}, round ${round}`;
    // Compared as bytes (bit-identical, and fast); toEqual only to show where they differ.
    if (!sameBits(got, want)) expect(got, where).toEqual(want);
    expect(sameBits(got, want), where).toBe(true);
  }
}

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x.buffer).equals(Buffer.from(b[i].buffer)));
}

describe('wasm GRU cell split across threads', () => {
  it('is bit-identical to one thread when every row is its own chunk (ragged B and H)', () => {
    const saved = two.gemmEngine.tuning;
    two.gemmEngine.tuning = { ...DEFAULT_TUNING, chunksPerThread: 32, minCellUnits: 0, minCellRows: 1 };
    try {
      for (const [B, H] of [[4, 1], [13, 301], [7, 37], [33, 64]]) expectSameAsOneThread(B, H);
    } finally {
      two.gemmEngine.tuning = saved;
    }
  });

  it('is bit-identical to one thread at the medium GRU shape with the default split', () => {
    expectSameAsOneThread(32, 256);
  });
});
