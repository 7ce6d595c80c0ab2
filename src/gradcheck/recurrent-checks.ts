// Gradient checks for the recurrent family: the fused cell ops, the stacked layers (through every
// time step, 2 layers, a non-zero initial state whose gradient is checked too), and the full
// language models' forwardBackward (from a zero state, and on a second chunk that starts from the
// state carried over from a first one).
//
// Sizes are small and odd (T = 4 or 5, B = 2, I = 3, H = 5, V = 7) so that a transposed index or
// a gate block mixed up with another cannot hide, and every check runs in milliseconds in float64.
import type { Ops } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RandomProjection, randomCheckTensor, type CheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';
import { modelCheck, randomBatch, randomizeParams } from './model-checks.js';
import type { RecurrentStack } from '../layers/recurrent.js';
import { RNN } from '../layers/rnn.js';
import { LSTM } from '../layers/lstm.js';
import { GRU } from '../layers/gru.js';
import { RecurrentLM, type CellKind, type RecurrentLMConfig } from '../models/recurrent-lm.js';

// ---- the cell ops -------------------------------------------------------------------------------

/** lstmCell: checks dL/d(pre-activation gates) and dL/dcPrev for L = w1·h + w2·c. */
function lstmCellCheck(ops: Ops, rng: Rng): Checkable {
  const B = 2, H = 5;
  const gates = randomCheckTensor(ops, 'gates (pre-activation)', B * 4 * H, rng, 1.5);
  const cPrev = randomCheckTensor(ops, 'cPrev', B * H, rng);
  const g = ops.tensor(B * 4 * H), c = ops.tensor(B * H), tanhC = ops.tensor(B * H), h = ops.tensor(B * H);
  const ph = new RandomProjection(ops, B * H, rng), pc = new RandomProjection(ops, B * H, rng);
  const dh = ops.tensor(B * H), dc = ops.tensor(B * H);
  return {
    name: 'lstm-cell',
    params: [],
    inputs: [gates, cPrev],
    loss() {
      ops.copy(gates.value, g); // the op overwrites its gates: keep loss() pure
      ops.lstmCell(g, cPrev.value, c, tanhC, h, B, H);
      return ph.loss(h) + pc.loss(c);
    },
    backward() {
      ph.backward(dh);
      pc.backward(dc); // dL/dc_t arriving "from step t+1": here, the loss's own weight on c
      ops.lstmCellBackward(g, cPrev.value, tanhC, dh, dc, gates.grad, B, H);
      ops.copy(dc, cPrev.grad);
    },
  };
}

/** gruCell (PyTorch convention): dL/dxp, dL/dhp and dL/dhPrev for L = w·h. */
function gruCellCheck(ops: Ops, rng: Rng): Checkable {
  const B = 2, H = 5;
  const xp = randomCheckTensor(ops, 'xp', B * 3 * H, rng, 1.5);
  const hp = randomCheckTensor(ops, 'hp', B * 3 * H, rng, 1.5);
  const hPrev = randomCheckTensor(ops, 'hPrev', B * H, rng);
  const g = ops.tensor(B * 3 * H), h = ops.tensor(B * H), dh = ops.tensor(B * H);
  const proj = new RandomProjection(ops, B * H, rng);
  return {
    name: 'gru-cell',
    params: [],
    inputs: [xp, hp, hPrev],
    loss() {
      ops.copy(xp.value, g);
      ops.gruCell(g, hp.value, hPrev.value, h, B, H);
      return proj.loss(h);
    },
    backward() {
      proj.backward(dh);
      ops.gruCellBackward(g, hp.value, hPrev.value, dh, xp.grad, hp.grad, hPrev.grad, B, H); // hPrev.grad accumulates from 0
    },
  };
}

/**
 * The paper-convention cell as a layer uses it: gates, the product (r⊙hPrev)·Un, output.
 * Checks dL/dxrz, dL/dhrz, dL/dxn, dL/dhPrev and dL/dUn.
 */
function gruPaperCellCheck(ops: Ops, rng: Rng): Checkable {
  const B = 2, H = 5;
  const xrz = randomCheckTensor(ops, 'xrz', B * 2 * H, rng, 1.5);
  const hrz = randomCheckTensor(ops, 'hrz', B * 2 * H, rng, 1.5);
  const xn = randomCheckTensor(ops, 'xn', B * H, rng);
  const hPrev = randomCheckTensor(ops, 'hPrev', B * H, rng);
  const Un = randomCheckTensor(ops, 'Un', H * H, rng, 0.7);
  const rz = ops.tensor(B * 2 * H), n = ops.tensor(B * H), rh = ops.tensor(B * H), h = ops.tensor(B * H);
  const dh = ops.tensor(B * H), drz = ops.tensor(B * 2 * H), dn = ops.tensor(B * H), drh = ops.tensor(B * H);
  const proj = new RandomProjection(ops, B * H, rng);
  return {
    name: 'gru-paper-cell',
    params: [Un],
    inputs: [xrz, hrz, xn, hPrev],
    loss() {
      ops.copy(xrz.value, rz);
      ops.gruPaperGates(rz, hrz.value, hPrev.value, rh, B, H);
      ops.copy(xn.value, n);
      ops.gemm(false, false, B, H, H, 1, rh, Un.value, 1, n);
      ops.gruPaperOutput(rz, n, hPrev.value, h, B, H);
      return proj.loss(h);
    },
    backward() {
      proj.backward(dh);
      ops.gruPaperOutputBackward(rz, n, hPrev.value, dh, drz, dn, hPrev.grad, B, H);
      ops.copy(dn, xn.grad);
      ops.gemm(true, false, H, H, B, 1, rh, dn, 1, Un.grad); // dUn += rhᵀ·dn
      ops.gemm(false, true, B, H, H, 1, dn, Un.value, 0, drh); // d(r⊙h) = dn·Unᵀ
      ops.gruPaperGatesBackward(rz, hPrev.value, drh, drz, hPrev.grad, B, H);
      ops.copy(drz, xrz.grad);
      ops.copy(drz, hrz.grad); // xrz and hrz enter as a sum
    },
  };
}

// ---- the layers ----------------------------------------------------------------------------------

/**
 * A 2-layer stack over T = 4 steps, B = 2, I = 3, H = 5, from a random (non-zero) initial state:
 * L = Σ w ⊙ y over every output. Checks every parameter, dx, dh0 (and dc0 for the LSTM).
 */
export function stackCheck(name: string, build: (ops: Ops, I: number, H: number, rng: Rng) => RecurrentStack): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const T = 4, B = 2, I = 3, H = 5;
      const stack = build(ops, I, H, rng);
      for (const p of stack.params) rng.fillNormal(p.value.data, 0, 0.5);
      const x = randomCheckTensor(ops, 'x', T * B * I, rng);
      const L = stack.depth;
      const h0 = randomCheckTensor(ops, 'h0', L * B * H, rng, 0.5);
      const c0: CheckTensor | null = stack.hasCell ? randomCheckTensor(ops, 'c0', L * B * H, rng, 0.5) : null;
      const state = stack.newState(B), dState = stack.newState(B);
      const proj = new RandomProjection(ops, T * B * H, rng);
      return {
        name,
        params: stack.params,
        inputs: [x, h0, ...(c0 ? [c0] : [])],
        loss() {
          ops.copy(h0.value, state.h); // forward overwrites the state with the final one
          if (c0) ops.copy(c0.value, state.c!);
          return proj.loss(stack.forward(x.value, T, B, state));
        },
        backward() {
          proj.backward(stack.outputGrad(T, B));
          stack.backward(x.grad, T, B, dState);
          ops.copy(dState.h, h0.grad);
          if (c0) ops.copy(dState.c!, c0.grad);
        },
      };
    },
  };
}

// ---- the models ----------------------------------------------------------------------------------

const V = 7;
function lmConfig(kind: CellKind, variant?: 'pytorch' | 'paper'): RecurrentLMConfig {
  return { vocabSize: V, hidden: 5, layers: 2, embed: 3, ...(kind === 'gru' ? { gruVariant: variant } : {}) };
}

/**
 * The model's second chunk, starting from the state its first chunk left: the carried state is a
 * constant of the second chunk's loss (truncated BPTT), so it is snapshotted once and restored
 * before every forward pass.
 */
function secondChunkCheck(name: string, kind: CellKind, variant?: 'pytorch' | 'paper'): GradCheckDef {
  return {
    name,
    make(ops: Ops, rng: Rng): Checkable {
      const B = 2, T = 4;
      const model = new RecurrentLM(ops, kind, lmConfig(kind, variant), rng);
      randomizeParams(model, rng);
      const first = randomBatch(ops, rng, V, B, T), second = randomBatch(ops, rng, V, B, T);
      model.resetState();
      model.forwardBackward(first, false);
      const state = model.stateFor(B);
      const h = Float64Array.from(state.h.data), c = state.c ? Float64Array.from(state.c.data) : null;
      let nonZero = 0;
      for (const v of h) if (v !== 0) nonZero++;
      if (nonZero === 0) throw new Error(`${name}: the first chunk left a zero state`);
      const restore = () => {
        state.h.data.set(h);
        if (c) state.c!.data.set(c);
      };
      return {
        name,
        params: model.params,
        loss() { restore(); return model.forwardBackward(second, false); },
        backward() { restore(); model.forwardBackward(second, true); },
      };
    },
  };
}

function lmCheck(name: string, kind: CellKind, variant?: 'pytorch' | 'paper'): GradCheckDef {
  // B = 2 rows of T = 5 steps from a zero state; randomBatch pads one target.
  return modelCheck(name, (ops, rng) => ({ model: new RecurrentLM(ops, kind, lmConfig(kind, variant), rng), batch: randomBatch(ops, rng, V, 2, 5) }));
}

export const RECURRENT_CHECKS: GradCheckDef[] = [
  { name: 'lstm-cell', make: lstmCellCheck },
  { name: 'gru-cell', make: gruCellCheck },
  { name: 'gru-paper-cell', make: gruPaperCellCheck },
  stackCheck('rnn', (ops, I, H, rng) => new RNN(ops, 'rnn', I, H, rng, { layers: 2 })),
  stackCheck('lstm', (ops, I, H, rng) => new LSTM(ops, 'lstm', I, H, rng, { layers: 2 })),
  stackCheck('gru-pytorch', (ops, I, H, rng) => new GRU(ops, 'gru', I, H, rng, { layers: 2, variant: 'pytorch' })),
  stackCheck('gru-paper', (ops, I, H, rng) => new GRU(ops, 'gru', I, H, rng, { layers: 2, variant: 'paper' })),
  lmCheck('rnn-lm', 'rnn'),
  lmCheck('lstm-lm', 'lstm'),
  lmCheck('gru-lm', 'gru', 'pytorch'),
  lmCheck('gru-paper-lm', 'gru', 'paper'),
  secondChunkCheck('rnn-lm-chunk2', 'rnn'),
  secondChunkCheck('lstm-lm-chunk2', 'lstm'),
  secondChunkCheck('gru-lm-chunk2', 'gru', 'pytorch'),
  secondChunkCheck('gru-paper-lm-chunk2', 'gru', 'paper'),
];
