// Logic gates: AND, OR, NAND, NOR and XOR, each learned by a perceptron and by an MLP from its
// four-row truth table. The perceptron's decision boundary is a straight line, which separates
// the ones from the zeros of every gate but XOR; the MLP's hidden layer bends it, so it gets all
// five. (Minsky & Papert's point, and the reason hidden layers exist.)
//
// Default: 300 full-batch Adam steps per model; perceptron lr 0.1 from zero weights (convex),
// MLP [2 → 8 tanh → 2] softmax classifier, lr 0.05, Xavier init. The MLP's shape is an option of
// both classifier tasks (gates, xor): --depth hidden layers of --hidden units, --activation, and
// --init he|xavier (auto: He for the ReLU family, Xavier otherwise).
import { ReferenceOps } from '../backends/reference/index.js';
import type { Ops } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { Perceptron } from '../models/perceptron.js';
import { MlpClassifier } from '../models/mlp.js';
import { fit } from '../train/fit.js';
import type { TaskOption, TaskSpec } from './types.js';
import type { Activation } from '../ops/types.js';
import { defaultInit, type MlpInit } from '../layers/mlp.js';

/** The classifier tasks' MLP: hidden layers, their width, non-linearity and initialisation. */
export interface MlpShape {
  depth: number;
  hidden: number;
  activation: Activation;
  /** 'auto': He for relu, gelu and silu, Xavier otherwise. */
  init: MlpInit | 'auto';
}

export const MLP_SHAPE_DEFAULTS: MlpShape = { depth: 1, hidden: 8, activation: 'tanh', init: 'auto' };

export const MLP_TASK_OPTIONS: readonly TaskOption[] = [
  { key: 'depth', type: 'int', min: 1, max: 16, description: 'classifier tasks: hidden layers of the MLP' },
  { key: 'hidden', type: 'int', min: 1, max: 4096, description: 'classifier tasks: units per hidden layer' },
  { key: 'activation', type: 'choice', choices: ['tanh', 'relu', 'sigmoid', 'gelu', 'silu'], description: 'classifier tasks: the hidden layers\' non-linearity' },
  { key: 'init', type: 'choice', choices: ['auto', 'he', 'xavier'], description: 'classifier tasks: hidden weight init (auto: he for the relu family, xavier otherwise)' },
];

/** The MLP shape from a task's resolved options. */
export function mlpShape(options: Record<string, unknown>): MlpShape {
  return { ...MLP_SHAPE_DEFAULTS, ...options } as MlpShape;
}

/** "[2 → 8 tanh → 8 tanh → 2], xavier init": the shape in words. */
export function describeMlp(shape: MlpShape): string {
  const hidden = Array.from({ length: shape.depth }, () => `${shape.hidden} ${shape.activation}`);
  return `[2 → ${hidden.join(' → ')} → 2], ${shape.init === 'auto' ? defaultInit(shape.activation) : shape.init} init`;
}

/** The inputs (a, b) of a truth table, in the order 00, 01, 10, 11. */
export const GATE_INPUTS: readonly number[] = [0, 0, 0, 1, 1, 0, 1, 1];

/** Each gate's outputs for the inputs 00, 01, 10, 11. */
export const GATES: Readonly<Record<string, readonly number[]>> = {
  AND: [0, 0, 0, 1],
  OR: [0, 1, 1, 1],
  NAND: [1, 1, 1, 0],
  NOR: [1, 0, 0, 0],
  XOR: [0, 1, 1, 0],
};

export interface GateFit {
  /** Fraction of the 4 rows predicted right. */
  accuracy: number;
  /** The final training loss (binary or softmax cross-entropy, nats). */
  loss: number;
  /** The predicted outputs for 00, 01, 10, 11. */
  predictions: number[];
}

export const GATE_STEPS = 300;

/** A perceptron (sigmoid + BCE) trained on a truth table. */
export function fitPerceptron(ops: Ops, truth: readonly number[], rng: Rng, steps: number): GateFit {
  const x = ops.tensorFrom(GATE_INPUTS);
  const batch = { x, y: ops.tensorFrom(truth), n: 4 };
  const model = new Perceptron(ops, 2, rng);
  fit(ops, model, () => batch, { steps, lr: 0.1 });
  const predictions = model.predict(x, 4);
  return { accuracy: accuracyOf(predictions, truth), loss: model.forwardBackward(batch, false), predictions };
}

/** An MLP classifier ([2 → 8 tanh → 2] by default) trained on a truth table. */
export function fitMlp(ops: Ops, truth: readonly number[], rng: Rng, steps: number, shape: MlpShape = MLP_SHAPE_DEFAULTS): GateFit & { shape: string } {
  const x = ops.tensorFrom(GATE_INPUTS);
  const batch = { x, targets: ops.intsFrom(truth), n: 4 };
  const sizes = [2, ...Array.from({ length: shape.depth }, () => shape.hidden), 2];
  const model = new MlpClassifier(ops, sizes, rng, { activation: shape.activation, init: shape.init === 'auto' ? undefined : shape.init });
  fit(ops, model, () => batch, { steps, lr: 0.05 });
  const predictions = model.predict(x, 4);
  return { accuracy: accuracyOf(predictions, truth), loss: model.forwardBackward(batch, false), predictions, shape: describeMlp(shape) };
}

function accuracyOf(pred: readonly number[], truth: readonly number[]): number {
  let right = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) right++;
  return right / truth.length;
}

export const GATES_TASK: TaskSpec = {
  name: 'gates',
  description: 'AND, OR, NAND, NOR, XOR with a perceptron and an MLP: the MLP learns all five, the perceptron all but XOR',
  defaultSteps: GATE_STEPS,
  options: MLP_TASK_OPTIONS,
  defaults: { ...MLP_SHAPE_DEFAULTS },
  run({ seed, steps = GATE_STEPS, options = {} }) {
    const ops = new ReferenceOps('f64');
    const rng = new Rng(seed);
    const shape = mlpShape(options);
    const gates: Record<string, { perceptron: GateFit; mlp: GateFit }> = {};
    const notes: string[] = [];
    let minMlp = 1, ok = true;
    for (const [name, truth] of Object.entries(GATES)) {
      const perceptron = fitPerceptron(ops, truth, rng.fork(), steps);
      const mlp = fitMlp(ops, truth, rng.fork(), steps, shape);
      gates[name] = { perceptron, mlp };
      minMlp = Math.min(minMlp, mlp.accuracy);
      const separable = name !== 'XOR';
      // The curriculum: the MLP gets every gate; the perceptron every linearly separable one,
      // and at most 3 of XOR's 4 rows.
      ok &&= mlp.accuracy === 1 && (separable ? perceptron.accuracy === 1 : perceptron.accuracy <= 0.75);
      notes.push(`${name.padEnd(4)}  perceptron ${pct(perceptron.accuracy).padStart(4)}  mlp ${pct(mlp.accuracy).padStart(4)}` +
        (separable ? '' : '   (not linearly separable: no perceptron can exceed 75%)'));
    }
    return {
      task: 'gates',
      metric: 'lowest MLP accuracy over the five gates',
      value: minMlp,
      goal: '1, with the perceptron 100% on all but XOR and ≤ 75% on XOR',
      passed: ok,
      seed,
      steps,
      notes: [`mlp ${describeMlp(shape)}`, ...notes],
      mlp: shape,
      gates,
    };
  },
};

export function pct(v: number): string {
  return `${Math.round(v * 100)}%`;
}
