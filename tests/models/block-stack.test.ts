// StackBuffers (src/models/block-stack.ts), the trunk the transformer, the MoE transformer and
// memory-lm share: its backward through Norm_f and the blocks and its head passes (untied Linear or
// tied to the embedding table), gradient-checked on their own against float64 central differences
// with two small affine blocks, and a wrong block order caught.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { gradCheck, randomCheckTensor, RandomProjection, type Checkable } from '../../src/gradcheck/harness.js';
import { Embedding } from '../../src/layers/embedding.js';
import { Linear } from '../../src/layers/linear.js';
import { Norm } from '../../src/layers/layernorm.js';
import type { Param } from '../../src/layers/param.js';
import { StackBuffers, type StackBlock } from '../../src/models/block-stack.js';
import type { Tensor } from '../../src/ops/types.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

/** A block y = tanh(x·W + b): enough to make the order of the blocks matter. */
class TanhBlock implements StackBlock {
  readonly lin: Linear;
  private readonly pre: Tensor;
  constructor(name: string, C: number, n: number, rng: Rng) {
    this.lin = new Linear(ops, name, C, C, rng);
    this.pre = ops.tensor(n * C);
  }
  forward(x: Tensor, y: Tensor, n: number): void {
    this.lin.forward(x, this.pre, n);
    for (let i = 0; i < y.size; i++) y.data[i] = Math.tanh(this.pre.data[i]);
  }
  backward(x: Tensor, dy: Tensor, dx: Tensor, B: number, T: number): void {
    const n = B * T, dpre = ops.tensor(dy.size);
    for (let i = 0; i < dy.size; i++) { const t = Math.tanh(this.pre.data[i]); dpre.data[i] = dy.data[i] * (1 - t * t); }
    this.lin.forward(x, this.pre, n); // the pre-activation of THIS x (backward may follow other forwards)
    this.lin.backward(x, dpre, dx, n);
  }
}

function stackCheck(tied: boolean, reverseBackward = false): Checkable {
  const B = 2, T = 3, n = B * T, C = 5, V = 7, L = 2, rng = new Rng(17);
  const stack = new StackBuffers(ops, L, C, V);
  const blocks = Array.from({ length: L }, (_, l) => new TanhBlock(`block${l}`, C, n, rng));
  const normF = new Norm(ops, 'normF', C, rng, { kind: 'layernorm' });
  const embedding = new Embedding(ops, 'embed', V, C, rng, { std: 0.5 });
  const head = tied ? null : new Linear(ops, 'head', C, V, rng, { bias: false });
  const x0 = randomCheckTensor(ops, 'x0', n * C, rng);
  const proj = new RandomProjection(ops, n * V, rng);
  const dlogits = ops.tensor(n * V);
  const params: Param[] = [...blocks.flatMap((b) => b.lin.params), ...normF.params, ...(head ? head.params : embedding.params)];
  const order = reverseBackward ? [...blocks].reverse() : blocks;
  return {
    name: `block-stack ${tied ? 'tied' : 'untied'}`,
    params: params.map((p) => ({ name: p.name, value: p.value, grad: p.grad })),
    inputs: [x0],
    loss() {
      ops.copy(x0.value, stack.xs[0].rows(n));
      for (let l = 0; l < L; l++) blocks[l].forward(stack.xs[l].rows(n), stack.xs[l + 1].rows(n), n);
      normF.forward(stack.xs[L].rows(n), stack.hF.rows(n), n);
      return proj.loss(stack.headForward(ops, head, embedding, n));
    },
    backward() {
      proj.backward(dlogits);
      stack.headBackward(ops, head, embedding, dlogits, n);
      const dx0 = stack.backward(ops, normF, order, B, T);
      ops.copy(dx0, x0.grad);
    },
  };
}

describe('StackBuffers gradient check', () => {
  for (const tied of [false, true]) {
    it(`the head (${tied ? 'tied to the embedding table' : 'untied'}), Norm_f and the blocks pass against float64 central differences`, () => {
      const r = gradCheck(stackCheck(tied));
      expect(r.passed, JSON.stringify(r.tensors.map((t) => [t.name, t.relError]))).toBe(true);
      expect(r.tensors.map((t) => t.name)).toContain('x0');
      expect(r.tensors.map((t) => t.name)).toContain(tied ? 'embed.table' : 'head.W');
    });
  }
  it('fails when the blocks are walked in the wrong order', () => {
    expect(gradCheck(stackCheck(false, true)).passed).toBe(false);
  });
});
