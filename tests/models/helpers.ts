// What the model tests' "learns a short text" cases share: the text as a character stream, a few
// hundred Adam steps on random windows of it, and greedy decoding to see what was learnt.
import type { Ops } from '../../src/ops/types.js';
import type { SequenceModel, TokenBatch } from '../../src/models/types.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Adam } from '../../src/train/optimizers.js';
import { clipGradNorm } from '../../src/train/clip.js';
import { Rng } from '../../src/util/rng.js';

/** `text` repeated `repeats` times as ids into its sorted distinct characters `chars`. */
export function charStream(text: string, repeats: number): { chars: string[]; stream: number[] } {
  const chars = [...new Set(text)].sort();
  return { chars, stream: Array.from(text.repeat(repeats), (c) => chars.indexOf(c)) };
}

export interface MemoriseOptions {
  /** Windows per step and their length. */
  batch: number;
  time: number;
  maxSteps: number;
  lr: number;
  /** Global gradient-norm clip. */
  clip: number;
  /** Stop once past step 30 with a loss below this. */
  stopBelow: number;
  /** Seed of the window starts. */
  seed: number;
}

/**
 * Trains `model` with Adam on `batch` random windows of `stream` per step (targets: the next id),
 * until `stopBelow` or `maxSteps`. Returns the first and the last step's loss.
 */
export function memorise(ops: Ops, model: SequenceModel, stream: number[], o: MemoriseOptions): { first: number; last: number } {
  const { batch: B, time: T } = o;
  const opt = new Adam(ops);
  const refs = model.params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows }));
  const grads = model.params.map((p) => p.grad);
  const inputs = ops.ints(B * T), targets = ops.ints(B * T);
  const tb: TokenBatch = { inputs, targets, batch: B, time: T };
  const rng = new Rng(o.seed);
  let first = 0, last = Infinity;
  for (let step = 0; step < o.maxSteps; step++) {
    for (let b = 0; b < B; b++) {
      const s = rng.int(0, stream.length - T - 1);
      for (let t = 0; t < T; t++) {
        inputs.data[b * T + t] = stream[s + t];
        targets.data[b * T + t] = stream[s + t + 1];
      }
    }
    zeroGrads(ops, model.params);
    last = model.forwardBackward(tb, true);
    if (step === 0) first = last;
    clipGradNorm(ops, grads, o.clip);
    opt.step(refs, o.lr);
    if (step > 30 && last < o.stopBelow) break;
  }
  return { first, last };
}

/** Feeds `prompt` (after resetSampling), then `count` greedy picks, each fed back: the picks. */
export function greedyDecode(model: SequenceModel, prompt: number[], count: number): number[] {
  model.resetSampling();
  let logp = model.nextLogProbs(prompt);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = logp.indexOf(Math.max(...logp));
    out.push(id);
    logp = model.nextLogProbs([id]);
  }
  return out;
}
