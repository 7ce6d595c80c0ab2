// Binary memory: a vanilla RNN remembers one bit across a few steps. Step 0 carries the bit (±1)
// with a flag; the next steps carry random distractor bits (±1) without the flag; at the last
// step the network must say which bit came first. Scored by accuracy on held-out sequences.
//
// A tanh RNN has no gates: it must keep the bit in the sign of a saturated hidden unit (an
// attractor) while each distractor pushes on the state. Over a few steps that works; over many,
// the gradient that would teach it vanishes (the LSTM tasks show the cure).
//
//   x [1 + delay, B, 2] = (bit, flag)   RNN(2 → 16) tanh   head 16 → 2 at every step, scored at the last
//   500 steps of 32 fresh sequences, Adam at 1e-2 with cosine decay to 1e-4, clip 5.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { RecurrentTagger } from './recurrent-net.js';
import { fitCosine, onTaskBackend } from './training.js';
import type { TaskSpec } from './types.js';

export const BINARY_MEMORY_DELAY = 5;
export const BINARY_MEMORY_STEPS = 500;

/** B sequences of 1 + delay steps; targets [T,B] are −1 except the last step (the first bit, 0 or 1). */
export class BitBatch {
  readonly T: number;
  readonly x: Tensor;
  readonly targets: IntTensor;

  constructor(ops: Ops, readonly B: number, delay: number) {
    this.T = delay + 1;
    this.x = ops.tensor(this.T * B * 2);
    this.targets = ops.ints(this.T * B);
  }

  fill(rng: Rng): this {
    const { B, T } = this;
    const x = this.x.data, tg = this.targets.data;
    tg.fill(-1);
    for (let b = 0; b < B; b++) {
      let first = 0;
      for (let t = 0; t < T; t++) {
        const bit = rng.int(0, 2);
        if (t === 0) first = bit;
        x[(t * B + b) * 2] = bit === 1 ? 1 : -1;
        x[(t * B + b) * 2 + 1] = t === 0 ? 1 : 0;
      }
      tg[(T - 1) * B + b] = first;
    }
    return this;
  }
}

export const BINARY_MEMORY_TASK: TaskSpec = {
  name: 'binary-memory',
  description: `a vanilla RNN remembers a bit across ${BINARY_MEMORY_DELAY} distractor steps (100% on held-out sequences)`,
  defaultSteps: BINARY_MEMORY_STEPS,
  async run({ seed, steps = BINARY_MEMORY_STEPS }) {
    return onTaskBackend((ops) => {
      const rng = new Rng(seed);
      const hidden = 16;
      const model = new RecurrentTagger(ops, { cell: 'rnn', inDim: 2, hidden, outDim: 2 }, rng.fork());
      const test = new BitBatch(ops, 1000, BINARY_MEMORY_DELAY).fill(rng.fork());
      const train = new BitBatch(ops, 32, BINARY_MEMORY_DELAY);
      const dataRng = rng.fork();
      const lr0 = 1e-2;
      const result = fitCosine(ops, model, () => train.fill(dataRng), { steps, lr: lr0, minLr: lr0 / 100, clip: 5 });
      const { T, B } = test;
      const pred = model.predict(test.x, T, B);
      const tg = test.targets.data;
      let right = 0;
      for (let b = 0; b < B; b++) if (pred[(T - 1) * B + b] === tg[(T - 1) * B + b]) right++;
      const accuracy = right / B;
      return {
        task: 'binary-memory',
        metric: `accuracy of the recalled bit (${B} held-out sequences)`,
        value: accuracy,
        goal: '= 1',
        passed: accuracy === 1,
        seed,
        steps,
        notes: [
          `RNN(2 → ${hidden}, tanh) recalls the first bit after ${BINARY_MEMORY_DELAY} distractor bits: ${(accuracy * 100).toFixed(1)}% (chance: 50%)`,
        ],
        delay: BINARY_MEMORY_DELAY,
        trainLoss: result.loss,
        testLoss: model.forwardBackward(test, false),
      };
    });
  },
};
