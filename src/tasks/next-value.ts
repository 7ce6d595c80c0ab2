// Next value: a vanilla RNN predicts the next sample of a sine wave whose frequency and phase it
// has to infer from what it has seen so far. Each sequence is x_t = sin(ω·t + φ) with
// ω ~ U(0.1, 0.5) rad/step and φ ~ U(0, 2π); at every step the target is x_{t+1}. The first few
// steps are not scored (two samples are the least that pin down a sine's frequency and phase).
//
// The exact answer is linear in the last two samples, x_{t+1} = 2·cos ω · x_t − x_{t−1}, but ω
// differs between sequences, so the RNN must estimate it from the history it carries.
// Baseline: repeating the last value (x_{t+1} ≈ x_t), measured on the same held-out sequences.
//
//   x [30, B, 1]   RNN(1 → 32) tanh   head 32 → 1 at every step, MSE on steps ≥ 4
//   1000 steps of 32 fresh sequences, Adam at 1e-2 with cosine decay to 1e-4, clip 5.
import type { Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { RecurrentRegressor, type RegressionSeqBatch } from './recurrent-net.js';
import { fitCosine, onTaskBackend } from './training.js';
import type { TaskSpec } from './types.js';

export const NEXT_VALUE_LENGTH = 30;
/** Steps 0 … WARMUP−1 are not scored. */
export const NEXT_VALUE_WARMUP = 4;
export const NEXT_VALUE_STEPS = 1000;

/** B sine sequences of T steps, refilled in place; y[t] = x[t+1]; scored from step WARMUP on. */
export class SineBatch implements RegressionSeqBatch {
  readonly x: Tensor;
  readonly y: Tensor;
  readonly mask: Tensor;

  constructor(ops: Ops, readonly B: number, readonly T: number) {
    this.x = ops.tensor(T * B);
    this.y = ops.tensor(T * B);
    this.mask = ops.tensor(T * B);
  }

  fill(rng: Rng): this {
    const { B, T } = this;
    const x = this.x.data, y = this.y.data, mask = this.mask.data;
    for (let b = 0; b < B; b++) {
      const w = rng.uniform(0.1, 0.5), phi = rng.uniform(0, 2 * Math.PI);
      for (let t = 0; t < T; t++) {
        x[t * B + b] = Math.sin(w * t + phi);
        y[t * B + b] = Math.sin(w * (t + 1) + phi);
        mask[t * B + b] = t >= NEXT_VALUE_WARMUP ? 1 : 0;
      }
    }
    return this;
  }

  /** MSE of predicting x_{t+1} = x_t on the scored steps. */
  persistenceMse(): number {
    const x = this.x.data, y = this.y.data, mask = this.mask.data;
    let s = 0, n = 0;
    for (let i = 0; i < x.length; i++) {
      if (mask[i] === 0) continue;
      s += (y[i] - x[i]) ** 2;
      n++;
    }
    return s / n;
  }
}

export const NEXT_VALUE_TASK: TaskSpec = {
  name: 'next-value',
  description: 'a vanilla RNN predicts the next value of sine waves of unknown frequency and phase (MSE ≤ 1e-3)',
  defaultSteps: NEXT_VALUE_STEPS,
  async run({ seed, steps = NEXT_VALUE_STEPS }) {
    return onTaskBackend((ops) => {
      const rng = new Rng(seed);
      const hidden = 32;
      const model = new RecurrentRegressor(ops, { cell: 'rnn', inDim: 1, hidden, outDim: 1 }, rng.fork());
      const test = new SineBatch(ops, 500, NEXT_VALUE_LENGTH).fill(rng.fork());
      const train = new SineBatch(ops, 32, NEXT_VALUE_LENGTH);
      const dataRng = rng.fork();
      const lr0 = 1e-2;
      const result = fitCosine(ops, model, () => train.fill(dataRng), { steps, lr: lr0, minLr: lr0 / 100, clip: 5 });
      const mse = model.forwardBackward(test, false);
      const persistence = test.persistenceMse();
      const goal = 1e-3;
      return {
        task: 'next-value',
        metric: `MSE of the next value on ${test.B} held-out sine waves (steps ≥ ${NEXT_VALUE_WARMUP})`,
        value: mse,
        goal: '≤ 1e-3',
        passed: mse <= goal,
        seed,
        steps,
        notes: [
          `RNN(1 → ${hidden}, tanh): MSE ${mse.toExponential(2)}; repeating the last value gives ${persistence.toExponential(2)} ` +
            `(${(persistence / mse).toFixed(0)}× worse)`,
        ],
        persistenceMse: persistence,
        trainMse: result.loss,
      };
    });
  },
};
