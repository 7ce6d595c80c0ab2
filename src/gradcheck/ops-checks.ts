// Gradient checks for every op that has a backward: each builds a tiny problem from ops alone,
// with the backward written the way a layer would write it, and lets the harness compare it
// against central differences. Sizes are deliberately small and odd (no square matrices where a
// transpose mistake could hide) so that every check runs in milliseconds on the f64 reference.
import type { Activation, Ops } from '../ops/types.js';
import { ACTIVATIONS } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { RandomProjection, randomCheckTensor, type Checkable } from './harness.js';
import type { GradCheckDef } from './types.js';

// ---- gemm --------------------------------------------------------------------------------------

/**
 * C = alpha · op(A) · op(B) + beta · C0 for one transpose combination; checks dA, dB and dC0.
 * The backward uses gemm itself, in the forms backprop needs:
 *   op(A) = A:  dA[m×k] += dC · op(B)ᵀ        op(A) = Aᵀ (A stored k×m): dA += op(B) · dCᵀ
 *   op(B) = B:  dB[k×n] += op(A)ᵀ · dC        op(B) = Bᵀ (B stored n×k): dB += dCᵀ · op(A)
 * each with the factor alpha; and dC0 = beta · dC.
 */
function gemmCheck(ops: Ops, rng: Rng, transA: boolean, transB: boolean): Checkable {
  const m = 3, n = 4, k = 5, alpha = 0.7, beta = 0.3;
  const A = randomCheckTensor(ops, transA ? 'A (k×m)' : 'A (m×k)', m * k, rng);
  const B = randomCheckTensor(ops, transB ? 'B (n×k)' : 'B (k×n)', k * n, rng);
  const C0 = randomCheckTensor(ops, 'C0 (m×n)', m * n, rng);
  const C = ops.tensor(m * n);
  const proj = new RandomProjection(ops, m * n, rng);
  const dC = ops.tensor(m * n);
  return {
    name: `gemm-${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`,
    params: [A, B],
    inputs: [C0],
    loss() {
      ops.copy(C0.value, C);
      ops.gemm(transA, transB, m, n, k, alpha, A.value, B.value, beta, C);
      return proj.loss(C);
    },
    backward() {
      proj.backward(dC);
      // dA
      if (!transA) {
        // dA (m×k) = dC (m×n) · op(B)ᵀ (n×k); op(B)ᵀ is Bᵀ when B is k×n, B itself when n×k.
        ops.gemm(false, !transB, m, k, n, alpha, dC, B.value, 1, A.grad);
      } else {
        // dA (k×m) = op(B) (k×n) · dCᵀ (n×m).
        ops.gemm(transB, true, k, m, n, alpha, B.value, dC, 1, A.grad);
      }
      // dB
      if (!transB) {
        // dB (k×n) = op(A)ᵀ (k×m) · dC (m×n); op(A)ᵀ is Aᵀ when A is m×k, A itself when k×m.
        ops.gemm(!transA, false, k, n, m, alpha, A.value, dC, 1, B.grad);
      } else {
        // dB (n×k) = dCᵀ (n×m) · op(A) (m×k).
        ops.gemm(true, transA, n, k, m, alpha, dC, A.value, 1, B.grad);
      }
      ops.axpy(beta, dC, C0.grad);
    },
  };
}

// ---- activations -------------------------------------------------------------------------------

/**
 * y = f(x). The backward exercises both modes of activationBackward: half of dy through the
 * overwriting form (into a NaN-filled scratch, so a form that reads its output fails), half
 * through the accumulating form straight into dx.
 */
function activationCheck(ops: Ops, rng: Rng, kind: Activation): Checkable {
  const n = 13;
  const x = randomCheckTensor(ops, 'x', n, rng, 1.5);
  if (kind === 'relu') {
    // Keep every entry at least 0.1 away from the kink at 0, where relu has no derivative.
    const d = x.value.data;
    for (let i = 0; i < n; i++) d[i] = Math.sign(d[i] || 1) * (0.1 + Math.abs(d[i]));
  }
  const y = ops.tensor(n);
  const proj = new RandomProjection(ops, n, rng);
  const dy = ops.tensor(n), halfDy = ops.tensor(n), scratch = ops.tensor(n);
  return {
    name: `activation-${kind}`,
    params: [],
    inputs: [x],
    loss() {
      ops.activation(kind, x.value, y);
      return proj.loss(y);
    },
    backward() {
      proj.backward(dy);
      ops.copy(dy, halfDy);
      ops.scale(halfDy, 0.5);
      ops.fill(scratch, NaN);
      ops.activationBackward(kind, x.value, y, halfDy, scratch, false);
      ops.axpy(1, scratch, x.grad);
      ops.activationBackward(kind, x.value, y, halfDy, x.grad, true);
    },
  };
}

// ---- row-wise ----------------------------------------------------------------------------------

/** y = softmax(x) or logSoftmax(x) row-wise; dx from the matching backward op. */
function softmaxCheck(ops: Ops, rng: Rng, log: boolean): Checkable {
  const rows = 3, cols = 7;
  const x = randomCheckTensor(ops, 'x (rows×cols)', rows * cols, rng, 2);
  const y = ops.tensor(rows * cols);
  const proj = new RandomProjection(ops, rows * cols, rng);
  const dy = ops.tensor(rows * cols);
  return {
    name: log ? 'logSoftmax' : 'softmax',
    params: [],
    inputs: [x],
    loss() {
      if (log) ops.logSoftmax(x.value, y, rows, cols);
      else ops.softmax(x.value, y, rows, cols);
      return proj.loss(y);
    },
    backward() {
      proj.backward(dy);
      // Both backward ops overwrite dx; the harness has zeroed it, so this equals accumulating.
      if (log) ops.logSoftmaxBackward(y, dy, x.grad, rows, cols);
      else ops.softmaxBackward(y, dy, x.grad, rows, cols);
    },
  };
}

/**
 * The mean cross-entropy over the non-ignored rows, L = Σ_r CE_r / count, with one row whose
 * target is −1 (padding): its numeric gradient is 0, and the fused op must write 0 there too.
 */
function crossEntropyCheck(ops: Ops, rng: Rng): Checkable {
  const rows = 5, cols = 6;
  const logits = randomCheckTensor(ops, 'logits (rows×cols)', rows * cols, rng, 2);
  const targets = ops.intsFrom([2, 0, -1, 5, 2]);
  const count = 4; // rows with a target ≥ 0
  return {
    name: 'softmaxCrossEntropy',
    params: [],
    inputs: [logits],
    loss() {
      return ops.softmaxCrossEntropy(logits.value, targets, rows, cols, null, 0) / count;
    },
    backward() {
      ops.softmaxCrossEntropy(logits.value, targets, rows, cols, logits.grad, 1 / count);
    },
  };
}

/** y = LayerNorm(x; gamma, beta); dx, dgamma, dbeta all accumulate. */
function layerNormCheck(ops: Ops, rng: Rng): Checkable {
  const rows = 4, cols = 9, eps = 1e-5;
  const x = randomCheckTensor(ops, 'x (rows×cols)', rows * cols, rng, 2);
  const gamma = randomCheckTensor(ops, 'gamma (cols)', cols, rng);
  const beta = randomCheckTensor(ops, 'beta (cols)', cols, rng);
  const y = ops.tensor(rows * cols), mean = ops.tensor(rows), rstd = ops.tensor(rows);
  const proj = new RandomProjection(ops, rows * cols, rng);
  const dy = ops.tensor(rows * cols);
  return {
    name: 'layerNorm',
    params: [gamma, beta],
    inputs: [x],
    loss() {
      ops.layerNorm(x.value, gamma.value, beta.value, y, mean, rstd, rows, cols, eps);
      return proj.loss(y);
    },
    backward() {
      proj.backward(dy);
      ops.layerNormBackward(x.value, gamma.value, mean, rstd, dy, x.grad, gamma.grad, beta.grad, rows, cols);
    },
  };
}

/** y = x + bias broadcast over rows (addBias); dbias is the column sum of dy (sumRows). */
function biasCheck(ops: Ops, rng: Rng): Checkable {
  const rows = 5, cols = 3;
  const x = randomCheckTensor(ops, 'x (rows×cols)', rows * cols, rng);
  const bias = randomCheckTensor(ops, 'bias (cols)', cols, rng);
  const y = ops.tensor(rows * cols);
  const proj = new RandomProjection(ops, rows * cols, rng);
  const dy = ops.tensor(rows * cols);
  return {
    name: 'addBias-sumRows',
    params: [bias],
    inputs: [x],
    loss() {
      ops.copy(x.value, y);
      ops.addBias(y, bias.value, rows, cols);
      return proj.loss(y);
    },
    backward() {
      proj.backward(dy);
      ops.axpy(1, dy, x.grad);
      ops.sumRows(dy, bias.grad, rows, cols);
    },
  };
}

// ---- embeddings, elementwise -------------------------------------------------------------------

/** out[i,:] = table[ids[i],:] with repeated ids, so the scatter-add must sum; unused rows get 0. */
function embeddingCheck(ops: Ops, rng: Rng): Checkable {
  const vocab = 6, dim = 4;
  const ids = ops.intsFrom([3, 1, 3, 0, 3, 1, 5]); // 3 three times, 1 twice, 2 and 4 never
  const n = ids.size;
  const table = randomCheckTensor(ops, 'table (vocab×dim)', vocab * dim, rng);
  const out = ops.tensor(n * dim);
  const proj = new RandomProjection(ops, n * dim, rng);
  const dout = ops.tensor(n * dim);
  return {
    name: 'embedding',
    params: [table],
    loss() {
      ops.embedding(table.value, ids, out, n, dim);
      return proj.loss(out);
    },
    backward() {
      proj.backward(dout);
      ops.embeddingBackward(dout, ids, table.grad, n, dim);
    },
  };
}

/** out = a ⊙ b; da += dout ⊙ b and db += dout ⊙ a through mul's accumulating form. */
function mulCheck(ops: Ops, rng: Rng): Checkable {
  const n = 11;
  const a = randomCheckTensor(ops, 'a', n, rng), b = randomCheckTensor(ops, 'b', n, rng);
  const out = ops.tensor(n);
  const proj = new RandomProjection(ops, n, rng);
  const dout = ops.tensor(n);
  return {
    name: 'mul',
    params: [],
    inputs: [a, b],
    loss() {
      ops.mul(a.value, b.value, out);
      return proj.loss(out);
    },
    backward() {
      proj.backward(dout);
      ops.mul(dout, b.value, a.grad, true);
      ops.mul(dout, a.value, b.grad, true);
    },
  };
}

// ---- a stack: linear → tanh → linear → cross-entropy -------------------------------------------

/**
 * A two-layer classifier built from ops only, proving the harness checks a composition:
 *   pre = X·W1 + b1   (batch×hidden)      h = tanh(pre)
 *   logits = h·W2 + b2 (batch×classes)    L = mean cross-entropy over non-ignored rows
 */
function mlpCheck(ops: Ops, rng: Rng): Checkable {
  const batch = 5, inDim = 4, hidden = 6, classes = 3;
  const targets = ops.intsFrom([0, 2, -1, 1, 2]);
  const count = 4;
  const X = randomCheckTensor(ops, 'X (batch×in)', batch * inDim, rng);
  const W1 = randomCheckTensor(ops, 'W1 (in×hidden)', inDim * hidden, rng, 0.5);
  const b1 = randomCheckTensor(ops, 'b1 (hidden)', hidden, rng, 0.1);
  const W2 = randomCheckTensor(ops, 'W2 (hidden×classes)', hidden * classes, rng, 0.5);
  const b2 = randomCheckTensor(ops, 'b2 (classes)', classes, rng, 0.1);
  const pre = ops.tensor(batch * hidden), h = ops.tensor(batch * hidden);
  const logits = ops.tensor(batch * classes);
  const dlogits = ops.tensor(batch * classes), dh = ops.tensor(batch * hidden), dpre = ops.tensor(batch * hidden);
  return {
    name: 'mlp-tanh-crossentropy',
    params: [W1, b1, W2, b2],
    inputs: [X],
    loss() {
      ops.gemm(false, false, batch, hidden, inDim, 1, X.value, W1.value, 0, pre);
      ops.addBias(pre, b1.value, batch, hidden);
      ops.activation('tanh', pre, h);
      ops.gemm(false, false, batch, classes, hidden, 1, h, W2.value, 0, logits);
      ops.addBias(logits, b2.value, batch, classes);
      return ops.softmaxCrossEntropy(logits, targets, batch, classes, null, 0) / count;
    },
    backward() {
      ops.softmaxCrossEntropy(logits, targets, batch, classes, dlogits, 1 / count);
      ops.gemm(true, false, hidden, classes, batch, 1, h, dlogits, 1, W2.grad); // dW2 += hᵀ·dlogits
      ops.sumRows(dlogits, b2.grad, batch, classes);                           // db2 += Σ_rows dlogits
      ops.gemm(false, true, batch, hidden, classes, 1, dlogits, W2.value, 0, dh); // dh = dlogits·W2ᵀ
      ops.activationBackward('tanh', pre, h, dh, dpre);                          // dpre = dh ⊙ (1 − h²)
      ops.gemm(true, false, inDim, hidden, batch, 1, X.value, dpre, 1, W1.grad); // dW1 += Xᵀ·dpre
      ops.sumRows(dpre, b1.grad, batch, hidden);
      ops.gemm(false, true, batch, inDim, hidden, 1, dpre, W1.value, 1, X.grad); // dX += dpre·W1ᵀ
    },
  };
}

/** Every op check, in a stable order; the registry registers them under these names. */
export const OPS_CHECKS: GradCheckDef[] = [
  ...([[false, false], [false, true], [true, false], [true, true]] as const).map(([ta, tb]): GradCheckDef => ({
    name: `gemm-${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`,
    make: (ops, rng) => gemmCheck(ops, rng, ta, tb),
  })),
  ...ACTIVATIONS.map((kind): GradCheckDef => ({
    name: `activation-${kind}`,
    make: (ops, rng) => activationCheck(ops, rng, kind),
  })),
  { name: 'softmax', make: (ops, rng) => softmaxCheck(ops, rng, false) },
  { name: 'logSoftmax', make: (ops, rng) => softmaxCheck(ops, rng, true) },
  { name: 'softmaxCrossEntropy', make: crossEntropyCheck },
  { name: 'layerNorm', make: layerNormCheck },
  { name: 'addBias-sumRows', make: biasCheck },
  { name: 'embedding', make: embeddingCheck },
  { name: 'mul', make: mulCheck },
  { name: 'mlp-tanh-crossentropy', make: mlpCheck },
];
