// XOR: the function a single neuron cannot learn. Its ones (01, 10) and zeros (00, 11) sit on the
// two diagonals of the unit square, so any straight line leaves at least one of the four points
// on the wrong side: a perceptron gets at most 75%. Trained with cross-entropy it does worse —
// by symmetry the best logistic fit is w = 0, b = 0, p = 0.5 everywhere — and its predictions
// end at 50%. An MLP with one hidden layer draws two lines and combines them: 100%.
//
// The task reports both, plus the best any line can do, found by searching a grid of lines.
import { ReferenceOps } from '../backends/reference/index.js';
import { Rng } from '../util/rng.js';
import { GATES, GATE_INPUTS, GATE_STEPS, MLP_SHAPE_DEFAULTS, MLP_TASK_OPTIONS, fitMlp, fitPerceptron, mlpShape, pct } from './gates.js';
import type { TaskSpec } from './types.js';

/**
 * The best accuracy of any line w1·a + w2·b + c > 0 on a truth table, by search over directions
 * (every 1°) and offsets (every 0.01 over [−2, 2]): a brute-force check of the 75% bound.
 */
export function bestLineAccuracy(truth: readonly number[]): number {
  let best = 0;
  for (let deg = 0; deg < 360; deg++) {
    const w1 = Math.cos((deg * Math.PI) / 180), w2 = Math.sin((deg * Math.PI) / 180);
    for (let k = -200; k <= 200; k++) {
      const c = k / 100;
      let right = 0;
      for (let i = 0; i < 4; i++) {
        const out = w1 * GATE_INPUTS[2 * i] + w2 * GATE_INPUTS[2 * i + 1] + c > 0 ? 1 : 0;
        if (out === truth[i]) right++;
      }
      best = Math.max(best, right / 4);
    }
  }
  return best;
}

export const XOR_TASK: TaskSpec = {
  name: 'xor',
  description: 'an MLP learns XOR (100%); a perceptron cannot (at most 75%, and 50% in practice)',
  defaultSteps: GATE_STEPS,
  options: MLP_TASK_OPTIONS,
  defaults: { ...MLP_SHAPE_DEFAULTS },
  run({ seed, steps = GATE_STEPS, options = {} }) {
    const ops = new ReferenceOps('f64');
    const rng = new Rng(seed);
    const truth = GATES.XOR;
    const perceptron = fitPerceptron(ops, truth, rng.fork(), steps);
    const mlp = fitMlp(ops, truth, rng.fork(), steps, mlpShape(options));
    const bestLine = bestLineAccuracy(truth);
    const passed = mlp.accuracy === 1 && perceptron.accuracy <= 0.75;
    return {
      task: 'xor',
      metric: 'MLP accuracy on XOR',
      value: mlp.accuracy,
      goal: '1, with the perceptron ≤ 0.75',
      passed,
      seed,
      steps,
      notes: [
        `mlp ${mlp.shape}: ${pct(mlp.accuracy)}, predictions ${mlp.predictions.join(' ')} for 00 01 10 11 (loss ${mlp.loss.toFixed(4)})`,
        `perceptron: ${pct(perceptron.accuracy)}, predictions ${perceptron.predictions.join(' ')} (loss ${perceptron.loss.toFixed(4)}; ln 2 = 0.6931 is p = 0.5 everywhere)`,
        `best straight line found by exhaustive search: ${pct(bestLine)} — no perceptron can learn XOR`,
      ],
      mlp,
      perceptron,
      perceptronBound: 0.75,
      bestLineAccuracy: bestLine,
    };
  },
};
