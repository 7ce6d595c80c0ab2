// The task models' own code (linear head, masked MSE, per-step softmax CE) on top of the
// recurrent layers, checked against central differences on the float64 reference backend.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { gradCheck } from '../../src/gradcheck/harness.js';
import { RecurrentRegressor, RecurrentTagger, type CellKind } from '../../src/tasks/recurrent-net.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');
const T = 4, B = 3, I = 2, H = 5;

function randomize(params: { value: { data: Float64Array | Float32Array } }[], rng: Rng): void {
  for (const p of params) rng.fillNormal(p.value.data, 0, 0.5);
}

describe('RecurrentRegressor and RecurrentTagger gradients (float64 reference)', () => {
  for (const cell of ['rnn', 'lstm'] as CellKind[]) {
    it(`${cell} regressor: masked MSE over 2 outputs`, () => {
      const rng = new Rng(1);
      const m = new RecurrentRegressor(ops, { cell, inDim: I, hidden: H, outDim: 2 }, rng);
      randomize(m.params, rng);
      const x = ops.tensor(T * B * I), y = ops.tensor(T * B * 2);
      rng.fillNormal(x.data);
      rng.fillNormal(y.data);
      const mask = ops.tensorFrom(Array.from({ length: T * B }, (_, i) => (i % 3 === 1 ? 0 : 1)));
      const batch = { x, y, mask, T, B };
      const r = gradCheck({
        name: `${cell}-regressor`, params: m.params,
        loss: () => m.forwardBackward(batch, false), backward: () => { m.forwardBackward(batch, true); },
      });
      expect(r.maxRelError).toBeLessThanOrEqual(1e-6);
    });

    it(`${cell} tagger: softmax cross-entropy at the scored steps`, () => {
      const rng = new Rng(2);
      const m = new RecurrentTagger(ops, { cell, inDim: I, hidden: H, outDim: 3 }, rng);
      randomize(m.params, rng);
      const x = ops.tensor(T * B * I);
      rng.fillNormal(x.data);
      const targets = ops.intsFrom(Array.from({ length: T * B }, (_, i) => (i < B ? -1 : rng.int(0, 3))));
      const batch = { x, targets, T, B };
      const r = gradCheck({
        name: `${cell}-tagger`, params: m.params,
        loss: () => m.forwardBackward(batch, false), backward: () => { m.forwardBackward(batch, true); },
      });
      expect(r.maxRelError).toBeLessThanOrEqual(1e-6);
    });
  }

  it('each forward pass starts from a zero state (sequences in a batch are independent)', () => {
    const rng = new Rng(3);
    const m = new RecurrentRegressor(ops, { cell: 'lstm', inDim: I, hidden: H, outDim: 1 }, rng);
    const x = ops.tensor(T * B * I);
    rng.fillNormal(x.data);
    expect(Array.from(m.predict(x, T, B))).toEqual(Array.from(m.predict(x, T, B)));
  });

  it('sets the LSTM gate biases it is asked for', () => {
    const m = new RecurrentRegressor(ops, { cell: 'lstm', inDim: 1, hidden: 2, outDim: 1, inputGateBias: -5, forgetGateBias: 3 }, new Rng(1));
    const b = m.params.find((p) => p.name.endsWith('.b') && p.shape[0] === 8)!;
    expect(Array.from(b.value.data)).toEqual([-5, -5, 3, 3, 0, 0, 0, 0]);
  });
});
