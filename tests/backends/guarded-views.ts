// What the WASM-against-reference op tests (wasm-ops, wasm-transformer-ops, the memory recurrence, the
// GEMM suite) share: f32-rounded random inputs from a seeded generator, reseeded before every test
// so a failure reproduces on its own; and WASM tensors made as misaligned views (1–3 elements in)
// into buffers whose other cells hold a sentinel, checked after every test, so a kernel that
// writes one element past its view fails and misaligned starts are always exercised. Each test's
// tensors are released afterwards. And the comparison itself, expectClose. (sentinelView alone is
// the guarded tensor, for a suite that picks its own offsets and collects failures: gemm-suite.ts.)
import { afterEach, beforeEach, expect } from 'vitest';
import type { Ops, Tensor } from '../../src/ops/types.js';
import { rng } from './seeded.js';

/** The value every guard cell holds (exactly representable in f32). */
export const SENTINEL = 777.25;
/** Guard cells after a view: as wide as the widest store a kernel might spill (8 f32 lanes, less the last). */
const PAD_AFTER = 7;

export interface SentinelView {
  /** The view: `values` at `offset` in a buffer whose other cells hold SENTINEL. */
  t: Tensor;
  /** The first guard cell that no longer holds SENTINEL, said with the label; null when none. */
  check(): string | null;
}

/** A WASM tensor holding `values` as a view `offset` cells into a sentinel-filled buffer. */
export function sentinelView(ops: Ops, values: ArrayLike<number>, offset: number, label: string): SentinelView {
  const n = values.length;
  const buf = ops.tensor(offset + n + PAD_AFTER);
  buf.data.fill(SENTINEL);
  const t = buf.view(offset, n);
  t.data.set(values);
  return {
    t,
    check() {
      const d = buf.data;
      for (let i = 0; i < d.length; i++) {
        if ((i < offset || i >= offset + n) && d[i] !== SENTINEL) return `${label}: element ${i - offset} outside the view (size ${n}) was overwritten with ${d[i]}`;
      }
      return null;
    },
  };
}

export interface GuardedViews {
  /** n values uniform in [lo, hi), rounded to f32. */
  uniform(n: number, lo?: number, hi?: number): number[];
  /** The next draw of the test's generator, uniform in [0, 1). */
  random(): number;
  /** A WASM tensor holding `values`, made as a misaligned view into a sentinel-filled buffer. */
  wt(values: ArrayLike<number>, label?: string): Tensor;
  /** The next misaligned start, 1, 2 or 3 in turn (wt's; for views a test makes itself). */
  nextOffset(): number;
}

/**
 * Registers the beforeEach/afterEach hooks (call it at the top level of a test file) and returns
 * the helpers. `ops()` is the WASM backend in use (the files swap it per kernel path); every test
 * starts its generator from `seed`.
 */
export function guardedViews(ops: () => Ops, seed: number): GuardedViews {
  let rand = rng(1); // what draws outside a test (while collecting) use
  const guards: SentinelView[] = [];
  let viewCounter = 0;
  let mark = 0;

  function checkGuards(): void {
    for (const g of guards) {
      const err = g.check();
      if (err) throw new Error(err);
    }
    guards.length = 0;
  }

  beforeEach(() => { rand = rng(seed); mark = ops().mark(); });
  afterEach(() => {
    try { checkGuards(); } finally { guards.length = 0; ops().release(mark); }
  });

  return {
    uniform: (n, lo = -1, hi = 1) => Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * rand())),
    random: () => rand(),
    nextOffset: () => 1 + (viewCounter++ % 3),
    wt(values, label = 'tensor') {
      const g = sentinelView(ops(), values, 1 + (viewCounter++ % 3), label);
      guards.push(g);
      return g.t;
    },
  };
}

/**
 * Asserts max_i |a_i − e_i| ≤ tol · scale, where scale = max_i |e_i| (the result's magnitude)
 * unless given. Non-finite values must match exactly (NaN matching NaN), and so must cells the
 * reference left at SENTINEL (outside what the op may write, e.g. other heads' blocks of a fused
 * buffer); neither counts in the magnitude.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string, scale?: number): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let mag = 0;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isFinite(expected[i]) && expected[i] !== SENTINEL) mag = Math.max(mag, Math.abs(expected[i]));
  }
  const s = scale ?? (mag > 0 ? mag : 1);
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!Number.isFinite(e) || !Number.isFinite(a) || e === SENTINEL) {
      if (a !== e) throw new Error(`${label}: element ${i} is ${a}, expected ${e}`);
      continue;
    }
    const err = Math.abs(a - e) / s;
    if (!(err <= worst)) { worst = err; at = i; }
  }
  if (!(worst <= tol)) {
    throw new Error(`${label}: relative error ${worst.toExponential(2)} > ${tol} at element ${at} (got ${actual[at]}, expected ${expected[at]}, scale ${s})`);
  }
}
