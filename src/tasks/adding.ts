// The adding problem (Hochreiter & Schmidhuber 1997): a sequence of (value, marker) pairs, values
// U(0, 1), markers 0 except at exactly two steps — one in the first half, one in the second. At
// the end the network must output the sum of the two marked values, ignoring everything else.
//
// Predicting the mean sum (1) whatever the input gives the variance of the sum of two U(0, 1)
// values: MSE 2 · 1/12 = 0.167, the baseline any model must beat to show it found the markers.
//
//   x [50, B, 2]   LSTM(2 → 16)   head 16 → 1 at every step, scored at the last; MSE
//   2000 steps of 32 fresh sequences, Adam at 2e-2 with cosine decay to 2e-4, clip 1.
// Training sits on the baseline for a few hundred steps (the network has not yet found the
// markers), then drops by two orders of magnitude within a few hundred more.
import type { Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { RecurrentRegressor, type RegressionSeqBatch } from './recurrent-net.js';
import { fitCosine, onTaskBackend } from './training.js';
import type { TaskSpec } from './types.js';

export const ADDING_LENGTH = 50;
/** MSE of always answering 1 (the mean): Var(u1 + u2) = 1/6. */
export const ADDING_BASELINE = 1 / 6;

/** B sequences of T (value, marker) pairs, refilled in place; target: the marked sum at the last step. */
export class AddingBatch implements RegressionSeqBatch {
  readonly x: Tensor;
  readonly y: Tensor;
  readonly mask: Tensor;

  constructor(ops: Ops, readonly B: number, readonly T: number) {
    this.x = ops.tensor(T * B * 2);
    this.y = ops.tensor(T * B);
    this.mask = ops.tensor(T * B);
  }

  fill(rng: Rng): this {
    const { B, T } = this, half = Math.floor(T / 2);
    const x = this.x.data, y = this.y.data, mask = this.mask.data;
    x.fill(0);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) x[(t * B + b) * 2] = rng.next();
      const first = rng.int(0, half), second = rng.int(half, T);
      x[(first * B + b) * 2 + 1] = 1;
      x[(second * B + b) * 2 + 1] = 1;
      y[(T - 1) * B + b] = x[(first * B + b) * 2] + x[(second * B + b) * 2];
      mask[(T - 1) * B + b] = 1;
    }
    return this;
  }
}

export const ADDING_STEPS = 2000;

export const ADDING_TASK: TaskSpec = {
  name: 'adding',
  description: `the adding problem over ${ADDING_LENGTH} steps: an LSTM sums the two marked values (MSE far below the 0.167 baseline)`,
  defaultSteps: ADDING_STEPS,
  async run({ seed, steps = ADDING_STEPS }) {
    return onTaskBackend((ops) => {
      const rng = new Rng(seed);
      const hidden = 16;
      const model = new RecurrentRegressor(ops, { cell: 'lstm', inDim: 2, hidden, outDim: 1 }, rng.fork());
      const test = new AddingBatch(ops, 1000, ADDING_LENGTH).fill(rng.fork());
      const train = new AddingBatch(ops, 32, ADDING_LENGTH);
      const dataRng = rng.fork();
      const lr0 = 2e-2;
      const result = fitCosine(ops, model, () => train.fill(dataRng), { steps, lr: lr0, minLr: lr0 / 100, clip: 1 });
      const mse = model.forwardBackward(test, false);
      const goal = 0.01;
      return {
        task: 'adding',
        metric: `MSE of the sum on ${test.B} held-out sequences of ${ADDING_LENGTH} steps`,
        value: mse,
        goal: `≤ ${goal}, against a baseline of ${ADDING_BASELINE.toFixed(3)}`,
        passed: mse <= goal,
        seed,
        steps,
        notes: [
          `LSTM(2 → ${hidden}): MSE ${mse.toExponential(2)} against the baseline ${ADDING_BASELINE.toFixed(3)} of always answering 1 ` +
            `(${(ADDING_BASELINE / mse).toFixed(0)}× lower)`,
        ],
        length: ADDING_LENGTH,
        baseline: ADDING_BASELINE,
        trainMse: result.loss,
      };
    });
  },
};
