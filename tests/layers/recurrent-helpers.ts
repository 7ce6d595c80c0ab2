// Shared by the recurrent layer tests (rnn, lstm, gru): the WASM backend against the float64
// reference on the same layer, forward and backward, and the chunking property of truncated BPTT.
import { expect } from 'vitest';
import type { Ops, Tensor } from '../../src/ops/types.js';
import type { RecurrentStack } from '../../src/layers/recurrent.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Rng } from '../../src/util/rng.js';

export type BuildStack = (ops: Ops, I: number, H: number, rng: Rng) => RecurrentStack;

/** max |a − e| / max |e|. */
export function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < e.length; i++) { num = Math.max(num, Math.abs(a[i] - e[i])); den = Math.max(den, Math.abs(e[i])); }
  return den === 0 ? num : num / den;
}

/** Random values rounded to f32, so both backends start from identical numbers. */
function f32s(n: number, rng: Rng, std = 1): number[] {
  return Array.from({ length: n }, () => Math.fround(rng.normal(0, std)));
}

/**
 * Runs forward and backward of the same stack (same seed, so the same f32-rounded weights) on the
 * WASM backend and the f64 reference, from the same non-zero state, and compares the outputs, the
 * final state, dx, the initial-state gradient and every parameter gradient.
 */
export function expectWasmMatchesReference(wasm: Ops, build: BuildStack, T: number, B: number, I: number, H: number, tol = 2e-5): void {
  const ref = new ReferenceOps('f64');
  const mark = wasm.mark();
  try {
    const run = (ops: Ops) => {
      const stack = build(ops, I, H, new Rng(7));
      for (const p of stack.params) {
        const d = p.value.data;
        for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i]); // identical starting weights
      }
      const rng = new Rng(11);
      const x = ops.tensorFrom(f32s(T * B * I, rng));
      const state = stack.newState(B);
      state.h.data.set(f32s(state.h.size, rng, 0.5));
      if (state.c) state.c.data.set(f32s(state.c.size, rng, 0.5));
      const y = stack.forward(x, T, B, state);
      const out = Array.from(y.data);
      stack.outputGrad(T, B).data.set(f32s(T * B * H, rng));
      const dx = ops.tensor(T * B * I), dState = stack.newState(B);
      stack.backward(dx, T, B, dState);
      return {
        out, hT: Array.from(state.h.data), cT: state.c ? Array.from(state.c.data) : [],
        dx: Array.from(dx.data), dh0: Array.from(dState.h.data), dc0: dState.c ? Array.from(dState.c.data) : [],
        grads: stack.params.map((p) => [p.name, Array.from(p.grad.data)] as const),
      };
    };
    const w = run(wasm), r = run(ref);
    const cmp = (label: string, a: number[], e: number[]) => {
      expect(a.length, label).toBe(e.length);
      expect(relErr(a, e), label).toBeLessThan(tol);
    };
    cmp('output', w.out, r.out);
    cmp('final h', w.hT, r.hT);
    cmp('final c', w.cT, r.cT);
    cmp('dx', w.dx, r.dx);
    cmp('dh0', w.dh0, r.dh0);
    cmp('dc0', w.dc0, r.dc0);
    w.grads.forEach(([name, g], i) => cmp(`grad ${name}`, g, r.grads[i][1]));
  } finally {
    wasm.release(mark);
  }
}

/** Two chunks of T steps, carrying the state, give the same outputs as one chunk of 2T. */
export function expectChunksEqualWhole(ops: Ops, build: BuildStack, T: number, B: number, I: number, H: number): void {
  const stack = build(ops, I, H, new Rng(3));
  const rng = new Rng(5);
  const xs = Array.from({ length: 2 * T * B * I }, () => rng.normal());
  const whole = stack.newState(B);
  const all = Array.from(stack.forward(ops.tensorFrom(xs), 2 * T, B, whole).data);
  const carried = stack.newState(B);
  const a = Array.from(stack.forward(ops.tensorFrom(xs.slice(0, T * B * I)), T, B, carried).data);
  const b = Array.from(stack.forward(ops.tensorFrom(xs.slice(T * B * I)), T, B, carried).data);
  expect(relErr([...a, ...b], all)).toBeLessThan(1e-12);
  expect(relErr(Array.from(carried.h.data), Array.from(whole.h.data))).toBeLessThan(1e-12);
  if (whole.c) expect(relErr(Array.from(carried.c!.data), Array.from(whole.c.data))).toBeLessThan(1e-12);
}

export function values(t: Tensor): number[] { return Array.from(t.data); }
