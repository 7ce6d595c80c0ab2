// The bf16 copies CudaOps keeps for the GEMMs (src/backends/cuda/bf16-copies.ts,
// HANDGRAD_CUDA_BF16_WEIGHTS=1), over the emulated addon: there the reference GEMM is fp32, so a
// product that read a copy comes out bf16-rounded, and the tests can see exactly when a copy was
// passed. What must hold: adam's copy is used until ANY other write to the weight (an op, a host
// write), the gather writes a copy only for rows a grouped GEMM wanted, and a mark() scope's copies
// are forgotten at its release(). (On the GPU a copy never changes a result: native/tests/gemm_check.cu.)
import { describe, expect, it } from 'vitest';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { emulatedAddon } from './cuda-emulated-addon.js';
import type { Tensor } from '../../src/ops/types.js';

const ADAM = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: true, step: 1 };
const bf16 = (x: number): number => {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return new Float32Array(new Uint32Array([((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16]).buffer)[0];
};
// x [1×k] · W [k×n] on the host, with W's values as given.
const rowTimes = (x: number[], w: ArrayLike<number>, k: number, n: number): number[] =>
  Array.from({ length: n }, (_, j) => Math.fround(x.reduce((s, xi, i) => Math.fround(s + Math.fround(xi * w[i * n + j])), 0)));

function setup(bf16Copies = true) {
  const emu = emulatedAddon(8 << 20);
  const ops = new CudaOps(emu, 'Emulated', false, false, bf16Copies);
  const k = 3, n = 2;
  // Weights far from bf16-representable, so a product from the copy differs visibly.
  const W = ops.tensorFrom([1 / 3, 2 / 3, 1 / 7, 3 / 7, 1 / 11, 5 / 13]);
  const zeros = () => ops.tensorFrom(new Array(k * n).fill(0));
  const grad = zeros(), m = zeros(), v = zeros();
  const x = ops.tensorFrom([1, 1, 1]), y = ops.tensor(n);
  const product = (): number[] => { ops.gemm(false, false, 1, n, k, 1, x, W, 0, y); return Array.from(y.data); };
  // W's values read through a device copy: `.data` on W itself would count as a possible host
  // write (the mirror protocol's rule) and so, rightly, retire its bf16 copy.
  const Wc = ops.tensor(k * n);
  const weights = (): Float32Array => { ops.copy(W, Wc); return Float32Array.from(Wc.data); };
  return { ops, emu, W, grad, m, v, x, y, k, n, product, weights };
}

describe('CudaOps bf16 copies for the GEMMs', () => {
  it('adam writes a copy the next GEMM reads, until the weight is written any other way', () => {
    const { ops, W, grad, m, v, k, n, product, weights } = setup();
    expect(product()).toEqual(rowTimes([1, 1, 1], weights(), k, n)); // before any adam: no copy
    ops.adam(W, grad, m, v, ADAM);
    const w = weights();
    expect(product()).toEqual(rowTimes([1, 1, 1], Array.from(w, bf16), k, n)); // read through the copy
    expect(product()).not.toEqual(rowTimes([1, 1, 1], w, k, n));
    ops.scale(W, 1); // any op that writes W makes the copy stale
    expect(product()).toEqual(rowTimes([1, 1, 1], weights(), k, n));
    ops.adam(W, grad, m, v, { ...ADAM, step: 2 });
    expect(product()).toEqual(rowTimes([1, 1, 1], Array.from(weights(), bf16), k, n));
    W.data[0] = 0.3; // a host write (e.g. a checkpoint load) too, and even a read of W.data
    expect(product()).toEqual(rowTimes([1, 1, 1], weights(), k, n));
    ops.dispose();
  });

  it('passes no copy when off (the default)', () => {
    const { ops, W, grad, m, v, k, n, product, weights } = setup(false);
    expect(ops.bf16).toBeNull();
    ops.adam(W, grad, m, v, ADAM);
    expect(product()).toEqual(rowTimes([1, 1, 1], weights(), k, n));
    ops.dispose();
  });

  it('a view of a weight reads the copy only inside the range adam wrote', () => {
    const { ops, W, grad, m, v, x, product, weights } = setup();
    ops.adam(W.view(0, 4), grad.view(0, 4), m.view(0, 4), v.view(0, 4), ADAM);
    // Rows 0–1 of W (4 elements) as a 2×2 B: inside the copy's range.
    const y2 = ops.tensor(2), w = weights();
    ops.gemm(false, false, 1, 2, 2, 1, x.view(0, 2), W.view(0, 4), 0, y2);
    expect(Array.from(y2.data)).toEqual(rowTimes([1, 1], Array.from(w.subarray(0, 4), bf16), 2, 2));
    // All of W: past the range, so the fp32 operand.
    expect(product()).toEqual(rowTimes([1, 1, 1], w, 3, 2));
    ops.dispose();
  });

  it('the gather writes a copy of its rows only once a grouped GEMM wanted one', () => {
    const emu = emulatedAddon(8 << 20);
    const ops = new CudaOps(emu, 'Emulated', false, false, true);
    const C = 2, F = 2, rows = 2;
    const table = ops.tensorFrom([1 / 3, 1 / 7, 2 / 3, 3 / 7]); // 2 tokens × C
    const ids = ops.intsFrom([1, 0]), offsets = ops.intsFrom([0, 2]);
    const xd = ops.tensor(rows * C), B = ops.tensorFrom([1, 0, 0, 1]), out = ops.tensor(rows * F);
    const run = (): number[] => {
      ops.embedding(table, ids, xd, rows, C);
      ops.groupedGemm('nn', 1, offsets, F, C, xd, B, 0, out);
      return Array.from(out.data);
    };
    const exact = [2 / 3, 3 / 7, 1 / 3, 1 / 7].map(Math.fround);
    expect(run()).toEqual(exact); // first pass: no copy yet, but now wanted
    expect(ops.bf16!.count).toBe(0);
    expect(run()).toEqual(exact.map(bf16)); // the gather wrote one; the GEMM read it
    expect(ops.bf16!.count).toBe(1);
    const other = ops.tensor(rows * C); // an embedding output no GEMM wanted: no copy
    ops.embedding(table, ids, other, rows, C);
    expect(ops.bf16!.count).toBe(1);
    ops.dispose();
  });

  it('forgets the copies of a released scope', () => {
    const { ops, W, grad, m, v, k, n, product, weights } = setup();
    const mark = ops.mark();
    ops.adam(W, grad, m, v, ADAM);
    expect(ops.bf16!.count).toBe(1);
    ops.release(mark);
    expect(ops.bf16!.count).toBe(0);
    expect(product()).toEqual(rowTimes([1, 1, 1], weights(), k, n));
    const scratch: Tensor = ops.tensorFrom([9, 9, 9, 9]); // reuses the freed bytes
    expect(Array.from(scratch.data)).toEqual([9, 9, 9, 9]);
    ops.dispose();
  });
});
