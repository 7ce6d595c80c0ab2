// Reverse: read a sequence of digits, then a delimiter, then write the digits back in reverse
// order, with a plain LSTM sequence labeller (no encoder-decoder, no attention: those are another
// chapter). All five digits have to be held in the hidden state at the delimiter and released in
// last-in-first-out order.
//
//   input  (one-hot over 0–9, DELIM, BLANK):  d0 d1 d2 d3 d4 DELIM BLANK BLANK BLANK BLANK
//   target (scored only after the digits):     ·  ·  ·  ·  ·  d4    d3    d2    d1    d0
//
// Scored by exact match (all five digits right) on 1000 held-out sequences that training never
// sees (they are drawn first, and any training draw equal to one of them is redrawn).
//
//   LSTM(12 → 64) + linear head 64 → 10 at every step, softmax cross-entropy where scored;
//   2500 steps of 32 fresh sequences, Adam at 2e-2 with cosine decay to 1e-4, clip 5.
import type { IntTensor, Ops, Tensor } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { RecurrentTagger } from './recurrent-net.js';
import { fitCosine, onTaskBackend } from './training.js';
import type { TaskSpec } from './types.js';

export const REVERSE_LENGTH = 5;
const DIGITS = 10, DELIM = 10, BLANK = 11, SYMBOLS = 12;

/** A batch of B sequences of `length` digits: x [T,B,12] one-hot, targets [T,B] (−1 while reading). */
export class ReverseBatch {
  readonly T: number;
  readonly x: Tensor;
  readonly targets: IntTensor;
  /** The digits of each sequence, [B, length]. */
  readonly digits: Int32Array;

  constructor(ops: Ops, readonly B: number, readonly length: number) {
    this.T = 2 * length;
    this.x = ops.tensor(this.T * B * SYMBOLS);
    this.targets = ops.ints(this.T * B);
    this.digits = new Int32Array(B * length);
  }

  /** Draws new sequences; `avoid` (keys from key()) are redrawn, to keep a held-out set unseen. */
  fill(rng: Rng, avoid?: Set<number>): this {
    const { B, T, length: L } = this;
    for (let b = 0; b < B; b++) {
      do {
        for (let i = 0; i < L; i++) this.digits[b * L + i] = rng.int(0, DIGITS);
      } while (avoid?.has(this.key(b)));
    }
    // Read the tensors' data only now (a backend's memory may move when it allocates).
    const x = this.x.data, tg = this.targets.data;
    x.fill(0);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const sym = t < L ? this.digits[b * L + t] : t === L ? DELIM : BLANK;
        x[(t * B + b) * SYMBOLS + sym] = 1;
        tg[t * B + b] = t < L ? -1 : this.digits[b * L + (2 * L - 1 - t)];
      }
    }
    return this;
  }

  /** The digits of sequence b as one number (its identity). */
  key(b: number): number {
    let k = 0;
    for (let i = 0; i < this.length; i++) k = k * DIGITS + this.digits[b * this.length + i];
    return k;
  }
}

export const REVERSE_STEPS = 2500;

export const REVERSE_TASK: TaskSpec = {
  name: 'reverse',
  description: `an LSTM reads ${REVERSE_LENGTH} digits and a delimiter, then writes them reversed (100% exact match on held-out sequences)`,
  defaultSteps: REVERSE_STEPS,
  async run({ seed, steps = REVERSE_STEPS }) {
    return onTaskBackend((ops) => {
      const rng = new Rng(seed);
      const hidden = 64;
      const model = new RecurrentTagger(ops, { cell: 'lstm', inDim: SYMBOLS, hidden, outDim: DIGITS }, rng.fork());
      const test = new ReverseBatch(ops, 1000, REVERSE_LENGTH).fill(rng.fork());
      const held = new Set(Array.from({ length: test.B }, (_, b) => test.key(b)));
      const train = new ReverseBatch(ops, 32, REVERSE_LENGTH);
      const dataRng = rng.fork();
      const result = fitCosine(ops, model, () => train.fill(dataRng, held), { steps, lr: 2e-2, minLr: 1e-4, clip: 5 });

      const pred = model.predict(test.x, test.T, test.B);
      const tg = test.targets.data;
      let exact = 0, digitsRight = 0;
      for (let b = 0; b < test.B; b++) {
        let all = true;
        for (let t = REVERSE_LENGTH; t < test.T; t++) {
          if (pred[t * test.B + b] === tg[t * test.B + b]) digitsRight++;
          else all = false;
        }
        if (all) exact++;
      }
      const accuracy = exact / test.B, digitAccuracy = digitsRight / (test.B * REVERSE_LENGTH);
      const example = Array.from(test.digits.subarray(0, REVERSE_LENGTH)).join('');
      const exampleOut = Array.from({ length: REVERSE_LENGTH }, (_, i) => pred[(REVERSE_LENGTH + i) * test.B]).join('');
      return {
        task: 'reverse',
        metric: `exact-match accuracy on ${test.B} held-out sequences of ${REVERSE_LENGTH} digits`,
        value: accuracy,
        goal: '= 1',
        passed: accuracy === 1,
        seed,
        steps,
        notes: [
          `LSTM(12 → ${hidden}) + softmax over 10 digits: ${(accuracy * 100).toFixed(1)}% of sequences exactly reversed, ${(digitAccuracy * 100).toFixed(2)}% of digits`,
          `e.g. ${example} → ${exampleOut}`,
        ],
        length: REVERSE_LENGTH,
        digitAccuracy,
        trainLoss: result.loss,
      };
    });
  },
};
