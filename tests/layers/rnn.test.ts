// The tanh RNN layer (src/layers/rnn.ts): its registered gradient check, WASM against the
// reference, and the truncated-BPTT chunking property.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { RNN } from '../../src/layers/rnn.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';
import { expectChunksEqualWhole, expectWasmMatchesReference, type BuildStack } from './recurrent-helpers.js';

const build: BuildStack = (ops, I, H, rng) => new RNN(ops, 'rnn', I, H, rng, { layers: 2 });
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('RNN layer', () => {
  it("passes the registered gradient check 'rnn' (2 layers, T=4, B=2, non-zero h0; params, dx, dh0)", () => {
    const [r] = runGradChecks(['rnn']);
    expect(r.tensors.map((t) => t.name)).toEqual(['rnn.0.Wx', 'rnn.0.Wh', 'rnn.0.b', 'rnn.1.Wx', 'rnn.1.Wh', 'rnn.1.b', 'x', 'h0']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('matches the reference on the WASM backend, forward and backward (ragged sizes)', () => {
    expectWasmMatchesReference(wasm, build, 6, 3, 5, 17);
    expectWasmMatchesReference(wasm, build, 3, 1, 1, 3);
  });

  it('two chunks of T with the carried state equal one chunk of 2T', () => {
    expectChunksEqualWhole(new ReferenceOps('f64'), build, 3, 2, 4, 5);
  });

  it('computes h_t = tanh(x_t·Wx + b + h_{t−1}·Wh) (one layer, by hand)', () => {
    const ops = new ReferenceOps('f64');
    const rnn = new RNN(ops, 'rnn', 1, 1, new Rng(1));
    const [l] = rnn.layers as unknown as { Wx: { value: { data: Float64Array } }; Wh: { value: { data: Float64Array } }; b: { value: { data: Float64Array } } }[];
    l.Wx.value.data[0] = 0.5; l.Wh.value.data[0] = -0.8; l.b.value.data[0] = 0.1;
    const s = rnn.newState(1);
    s.h.data[0] = 0.3;
    const y = rnn.forward(ops.tensorFrom([1, -2]), 2, 1, s);
    const h1 = Math.tanh(0.5 + 0.1 - 0.8 * 0.3), h2 = Math.tanh(-1 + 0.1 - 0.8 * h1);
    expect(y.data[0]).toBeCloseTo(h1, 14);
    expect(y.data[1]).toBeCloseTo(h2, 14);
    expect(s.h.data[0]).toBeCloseTo(h2, 14);
  });
});
