// The LSTM layer (src/layers/lstm.ts) and its fused cell: registered gradient checks, WASM against
// the reference, truncated-BPTT chunking, and that a broken cell backward is caught.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops, Tensor } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { LSTM } from '../../src/layers/lstm.js';
import { gradCheck } from '../../src/gradcheck/harness.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { stackCheck } from '../../src/gradcheck/recurrent-checks.js';
import { Rng } from '../../src/util/rng.js';
import { expectChunksEqualWhole, expectWasmMatchesReference, type BuildStack } from './recurrent-helpers.js';

const build: BuildStack = (ops, I, H, rng) => new LSTM(ops, 'lstm', I, H, rng, { layers: 2 });
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('LSTM layer', () => {
  it("passes the registered gradient check 'lstm' (2 layers, T=4, B=2, non-zero h0 and c0)", () => {
    const [r] = runGradChecks(['lstm']);
    expect(r.tensors.map((t) => t.name)).toEqual(
      ['lstm.0.Wx', 'lstm.0.Wh', 'lstm.0.b', 'lstm.1.Wx', 'lstm.1.Wh', 'lstm.1.b', 'x', 'h0', 'c0']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it("passes the cell op's own gradient check 'lstm-cell'", () => {
    const [r] = runGradChecks(['lstm-cell']);
    expect(r.passed).toBe(true);
    expect(r.tensors.map((t) => t.name)).toEqual(['gates (pre-activation)', 'cPrev']);
  });

  it('the layer check catches a wrong forget-gate gradient in the cell backward', () => {
    class Broken extends ReferenceOps {
      override lstmCellBackward(gates: Tensor, cPrev: Tensor, tanhC: Tensor, dh: Tensor, dc: Tensor, dgates: Tensor, B: number, H: number): void {
        super.lstmCellBackward(gates, cPrev, tanhC, dh, dc, dgates, B, H);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) dgates.data[b * 4 * H + H + j] *= 0.5;
      }
    }
    const def = stackCheck('broken', build);
    const r = gradCheck(def.make(new Broken('f64'), new Rng(1)));
    expect(r.passed).toBe(false);
  });

  it('matches the reference on the WASM backend, forward and backward (ragged sizes)', () => {
    expectWasmMatchesReference(wasm, build, 6, 3, 5, 17);
    expectWasmMatchesReference(wasm, build, 3, 1, 1, 3);
  });

  it('two chunks of T with the carried state (h and c) equal one chunk of 2T', () => {
    expectChunksEqualWhole(new ReferenceOps('f64'), build, 3, 2, 4, 5);
  });

  it('starts with forget-gate biases at 1 and the other biases at 0', () => {
    const l = new LSTM(new ReferenceOps('f64'), 'lstm', 2, 3, new Rng(1));
    const b = Array.from(l.params.find((p) => p.name === 'lstm.0.b')!.value.data);
    expect(b).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  });
});
