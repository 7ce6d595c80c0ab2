// The WASM recurrent cells (LSTM and GRU, forward and backward) split by batch rows across the
// worker-pool threads (src/backends/wasm/gemm.ts, JOB.*_CELL*): every row is computed by the same kernel
// whichever thread takes it, so two threads must give exactly what one gives, for ragged sizes (H
// not a multiple of 4, B not a multiple of the chunk count) and for the medium models' shape.
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

/** A forward then backward cell pass on `ops` over fixed inputs; returns every output. */
type CellPass = (ops: WasmOps, B: number, H: number) => Float32Array[];

const lstmPass: CellPass = (ops, B, H) => {
  const t = (v: number[]): Tensor => ops.tensorFrom(v);
  const gates = t(values(B * 4 * H, 1, -6, 6)), cPrev = t(values(B * H, 2, -2, 2));
  const c = ops.tensor(B * H), tanhC = ops.tensor(B * H), h = ops.tensor(B * H);
  ops.lstmCell(gates, cPrev, c, tanhC, h, B, H);
  const dh = t(values(B * H, 3, -1, 1)), dc = t(values(B * H, 4, -1, 1)), dgates = ops.tensor(B * 4 * H);
  ops.lstmCellBackward(gates, cPrev, tanhC, dh, dc, dgates, B, H);
  return [gates, c, tanhC, h, dc, dgates].map((x) => Float32Array.from(x.data));
};

// xp holds the activations after the forward; dhPrev accumulates.
const gruPass: CellPass = (ops, B, H) => {
  const t = (v: number[]): Tensor => ops.tensorFrom(v);
  const xp = t(values(B * 3 * H, 1, -6, 6)), hp = t(values(B * 3 * H, 2, -4, 4)), hPrev = t(values(B * H, 3, -1, 1));
  const h = ops.tensor(B * H);
  ops.gruCell(xp, hp, hPrev, h, B, H);
  const dh = t(values(B * H, 4, -1, 1)), dhPrev = t(values(B * H, 5, -1, 1));
  const dxp = ops.tensor(B * 3 * H), dhp = ops.tensor(B * 3 * H);
  ops.gruCellBackward(xp, hp, hPrev, dh, dxp, dhp, dhPrev, B, H);
  return [xp, h, dxp, dhp, dhPrev].map((x) => Float32Array.from(x.data));
};

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x.buffer).equals(Buffer.from(b[i].buffer)));
}

/** Two threads against one, ROUNDS times over the same inputs, compared as bytes. */
function expectSameAsOneThread(pass: CellPass, B: number, H: number): void {
  const want = pass(one, B, H);
  for (let round = 0; round < ROUNDS; round++) {
    const got = pass(two, B, H), where = `B ${B}, H ${H}, round ${round}`;
    if (!sameBits(got, want)) expect(got, where).toEqual(want); // shows where they differ
    expect(sameBits(got, want), where).toBe(true);
  }
}

describe.each([['LSTM', lstmPass], ['GRU', gruPass]] as const)('wasm %s cell split across threads', (_name, pass) => {
  it('is bit-identical to one thread when every row is its own chunk (ragged B and H)', () => {
    const saved = two.gemmEngine.tuning;
    two.gemmEngine.tuning = { ...DEFAULT_TUNING, chunksPerThread: 32, minCellUnits: 0, minCellRows: 1 };
    try {
      for (const [B, H] of [[4, 1], [13, 301], [7, 37], [33, 64]]) expectSameAsOneThread(pass, B, H);
    } finally {
      two.gemmEngine.tuning = saved;
    }
  });

  it('is bit-identical to one thread at the medium model shape with the default split', () => {
    expectSameAsOneThread(pass, 32, 256);
  });
});
