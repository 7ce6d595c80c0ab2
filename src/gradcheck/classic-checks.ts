// Gradient checks for the classic feed-forward models: the perceptron (sigmoid + binary
// cross-entropy), the MLP with each hidden activation (3 linear layers, softmax cross-entropy,
// input gradient included), the MLP regressor (mean squared error) and the Bengio MLP LM.
// The loss is each model's own forwardBackward(batch, false); the analytic gradients are what
// forwardBackward(batch, true) accumulates, so the checks cover exactly what training runs.
import type { Activation, Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { Perceptron } from '../models/perceptron.js';
import { MlpClassifier, MlpRegressor } from '../models/mlp.js';
import { MlpLM } from '../models/mlp-lm.js';
import { randomCheckTensor, type Checkable, type CheckTensor } from './harness.js';
import type { GradCheckDef } from './types.js';
import { modelCheck, randomBatch } from './model-checks.js';

/** Overwrites every parameter with Normal(0, std²): zero-initialised weights would hide mistakes. */
function randomize(params: CheckTensor[], rng: Rng, std = 0.5): void {
  for (const p of params) rng.fillNormal(p.value.data, 0, std);
}

function perceptronCheck(ops: Ops, rng: Rng): Checkable {
  const n = 6, d = 5;
  const model = new Perceptron(ops, d, rng);
  randomize(model.params, rng, 1);
  const x = randomCheckTensor(ops, 'x', n * d, rng);
  // Soft targets as well as 0/1 ones: dL/dz = p − y holds for any y in [0, 1].
  const y = ops.tensorFrom([0, 1, 1, 0, 0.3, 1]);
  const batch = { x: x.value, y, n };
  return {
    name: 'perceptron',
    params: model.params,
    loss: () => model.forwardBackward(batch, false),
    backward: () => { model.forwardBackward(batch, true); },
  };
}

/** A 3-layer classifier [5 → 6 → 4 → 3] with the given hidden activation; also checks dL/dx. */
function mlpCheck(activation: Activation) {
  return (ops: Ops, rng: Rng): Checkable => {
    const n = 7, sizes = [5, 6, 4, 3];
    const model = new MlpClassifier(ops, sizes, rng, { activation });
    randomize(model.params, rng, 0.7);
    const x = randomCheckTensor(ops, 'x', n * sizes[0], rng);
    const targets = ops.intsFrom(Array.from({ length: n }, (_, i) => (i === 2 ? -1 : rng.int(0, 3))));
    return {
      name: `mlp-${activation}`,
      params: model.params,
      inputs: [x],
      loss: () => model.forwardBackward({ x: x.value, targets, n }, false),
      backward: () => { model.forwardBackward({ x: x.value, targets, n, dx: x.grad }, true); },
    };
  };
}

function mlpMseCheck(ops: Ops, rng: Rng): Checkable {
  const n = 5, sizes = [4, 6, 5, 2];
  const model = new MlpRegressor(ops, sizes, rng, { activation: 'tanh' });
  randomize(model.params, rng, 0.7);
  const x = randomCheckTensor(ops, 'x', n * sizes[0], rng);
  const y = randomCheckTensor(ops, 'y', n * sizes[3], rng).value;
  return {
    name: 'mlp-mse',
    params: model.params,
    inputs: [x],
    loss: () => model.forwardBackward({ x: x.value, y, n }, false),
    backward: () => { model.forwardBackward({ x: x.value, y, n, dx: x.grad }, true); },
  };
}

const MLP_ACTIVATIONS: Activation[] = ['relu', 'sigmoid', 'tanh', 'gelu'];

export const CLASSIC_CHECKS: GradCheckDef[] = [
  { name: 'perceptron', make: perceptronCheck },
  ...MLP_ACTIVATIONS.map((a): GradCheckDef => ({ name: `mlp-${a}`, make: mlpCheck(a) })),
  { name: 'mlp-mse', make: mlpMseCheck },
  // V = 7, context 3 over rows of 5 steps: the first two positions of each row see PAD, and a
  // token may appear twice in one context (the scatter-add must sum both).
  modelCheck('mlp-lm', (ops, rng) => ({
    model: new MlpLM(ops, { vocabSize: 7, context: 3, embed: 4, hidden: 5 }, rng),
    batch: randomBatch(ops, rng, 7, 2, 5),
  })),
];
