// The associative-memory recurrence op (Ops.memoryForward / memoryBackward; reference loops in
// src/backends/reference/memory-recurrence.ts, WASM kernel in assembly/memory_recurrence.ts): the WASM
// kernel against the float64 reference for every rule × inner optimiser × period {1, 4}, on ragged
// widths (1, 3, 5, 17, 14, …) and T = 11 (not a multiple of the period, so a partial chunk is never
// committed): outputs y, the stored committed states R, and dk, dv, dq, with every WASM tensor a
// misaligned view between sentinels (tests/backends/guarded-views.ts). The WASM backend split over
// sequences across threads (src/backends/wasm/batch-pool.ts) against one thread, bit for bit. The
// op's own registered gradient checks (float64 reference, no layer around it), and the argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { MemoryOptimizer, MemoryRule, MemoryShape, Ops } from '../../src/ops/types.js';
import { memoryAdamOffset, memorySavedSize, memoryWorkOffset } from '../../src/ops/memory-recurrence.js';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { MEMORY_SCRATCH_FLOATS } from '../../src/backends/wasm/batch-pool.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Rng } from '../../src/util/rng.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { expectClose, guardedViews } from '../backends/guarded-views.js';

const ref = new ReferenceOps('f64');
let wasm: Ops, wasm3: WasmOps; // one thread; three (more than the machine's two cores: B < threads happens)
beforeAll(async () => {
  wasm = await createOps({ backend: 'wasm', threads: 1 });
  wasm3 = await createWasmOps({ threads: 3 });
});
afterAll(() => { wasm.dispose(); wasm3.dispose(); });

function shapeOf(rule: MemoryRule, optimizer: MemoryOptimizer, period: number, B: number, T: number, dk: number, dv: number): MemoryShape {
  // η small enough that the unnormalised values keep every rule bounded over T steps; Adam's ε
  // well above float32 rounding of u, whose 1/D³ factor the backward multiplies by.
  const eta = optimizer === 'adam' ? 0.05 : rule === 'delta' ? 0.6 : 0.3;
  return { B, T, dk, dv, rule, optimizer, eta, beta: 0.7, beta1: 0.8, beta2: 0.9, eps: 1e-3, period };
}

/** Unit keys and queries (as the layer's `normalize` gives), Gaussian values and dy. */
function inputs(s: MemoryShape, seed: number): { k: Float64Array; v: Float64Array; q: Float64Array; dy: Float64Array } {
  const rng = new Rng(seed), n = s.B * s.T * (s.heads ?? 1);
  const unitRows = (a: Float64Array) => {
    rng.fillNormal(a);
    for (let r = 0; r < n; r++) {
      let ss = 0;
      for (let j = 0; j < s.dk; j++) ss += a[r * s.dk + j] ** 2;
      for (let j = 0; j < s.dk; j++) a[r * s.dk + j] /= Math.sqrt(ss);
    }
    return a;
  };
  const k = unitRows(new Float64Array(n * s.dk)), q = unitRows(new Float64Array(n * s.dk));
  const v = new Float64Array(n * s.dv), dy = new Float64Array(n * s.dv);
  rng.fillNormal(v); rng.fillNormal(dy);
  return { k, v, q, dy };
}

// WASM tensors are misaligned views into sentinel-filled buffers, checked after every test: a
// kernel that writes one float past an output (a partial last vector stored whole) fails.
const { wt } = guardedViews(() => wasm, 4321);
const { wt: wt3 } = guardedViews(() => wasm3, 4322);

/**
 * Runs forward then backward on one backend; returns y, R (with saveAll, all of `saved` before its
 * working area: R and the Adam blocks), dk, dv, dq as plain arrays.
 */
function run(ops: Ops, s: MemoryShape, x: ReturnType<typeof inputs>, saveAll = false): Record<'y' | 'R' | 'dk' | 'dv' | 'dq', number[]> {
  const make = (values: ArrayLike<number>, label: string) =>
    (ops === wasm ? wt(values, label) : ops === wasm3 ? wt3(values, label) : ops.tensorFrom(values));
  // Outputs are overwritten, not accumulated: start them from garbage.
  const out = (size: number, label: string) => make(new Float64Array(size).fill(7), label);
  const n = s.B * s.T * (s.heads ?? 1); // rows of every memory (MemoryShape.heads), packed
  const k = make(x.k, 'k'), v = make(x.v, 'v'), q = make(x.q, 'q'), dy = make(x.dy, 'dy');
  const y = out(n * s.dv, 'y'), saved = out(memorySavedSize(s), 'saved');
  const dk = out(n * s.dk, 'dk'), dv = out(n * s.dv, 'dv'), dq = out(n * s.dk, 'dq');
  ops.memoryForward(k, v, q, y, saved, s);
  ops.memoryBackward(k, v, q, saved, dy, dk, dv, dq, s);
  const R = Array.from(saved.data.subarray(0, saveAll ? memoryWorkOffset(s) : memoryAdamOffset(s)));
  return { y: Array.from(y.data), R, dk: Array.from(dk.data), dv: Array.from(dv.data), dq: Array.from(dq.data) };
}

// dk mod 4 = 1, 3, 1, 1, 2, 2, 0: every length of a row's partial last vector, and none; 13, 14
// and 16 take the kernel's register paths for 12 < dk ≤ 16 (last vector of 1, 2, 4 lanes).
const WIDTHS: [number, number][] = [[1, 3], [3, 5], [5, 17], [17, 1], [14, 6], [6, 2], [8, 4], [13, 5], [16, 3]];
const CASES = (['delta', 'hebbian'] as const).flatMap((rule) => (['gd', 'momentum', 'adam'] as const).flatMap(
  (optimizer) => [1, 4].map((period) => [rule, optimizer, period] as const)));

describe('memory recurrence op: WASM kernel vs the float64 reference', () => {
  it.each(CASES)('%s / %s / period %i: y, states R, dk, dv, dq on ragged widths, T = 11', (rule, optimizer, period) => {
    for (const [dk, dv] of WIDTHS) {
      const s = shapeOf(rule, optimizer, period, 2, 11, dk, dv);
      const x = inputs(s, 100 * dk + dv);
      const r = run(ref, s, x), w = run(wasm, s, x);
      for (const key of ['y', 'R', 'dk', 'dv', 'dq'] as const) {
        expect(Math.max(...r[key].map(Math.abs)), `${key} is not all zero (dk ${dk}, dv ${dv})`).toBeGreaterThan(0);
        expectClose(w[key], r[key], 2e-5, `${key}, dk ${dk}, dv ${dv}`);
      }
    }
  });

  it('a level whose period exceeds T never commits: y = 0, R = 0, and every gradient is 0 but dq', () => {
    const s = shapeOf('delta', 'momentum', 16, 1, 5, 3, 2);
    const w = run(wasm, s, inputs(s, 3));
    for (const key of ['y', 'R', 'dk', 'dv', 'dq'] as const) expect(w[key].every((x) => x === 0), key).toBe(true);
  });
});

describe('memory recurrence op: WASM split over sequences across threads', () => {
  const KEYS = ['y', 'R', 'dk', 'dv', 'dq'] as const;
  /** Exact equality, saying where the first difference is (toEqual would print both arrays). */
  function expectSame(a: number[], b: number[], label: string): void {
    expect(a.length, `${label}: length`).toBe(b.length);
    const i = a.findIndex((x, j) => !Object.is(x, b[j]));
    expect(i, `${label}: element ${i} is ${a[i]}, one thread gives ${b[i]}`).toBe(-1);
  }
  // [B, T, dk, dv, period]: B odd, B < threads, B = 1 (not split), periods 1 to 4 with T not a
  // multiple of them, ragged widths.
  const SHAPES = [[5, 13, 14, 14, 1], [2, 11, 5, 17, 4], [3, 10, 8, 4, 3], [7, 9, 3, 5, 2], [1, 6, 6, 2, 1]] as const;
  const RULE_OPT = (['delta', 'hebbian'] as const).flatMap((rule) => (['gd', 'momentum', 'adam'] as const).map((o) => [rule, o] as const));

  it.each(RULE_OPT)('%s / %s: three threads give bit for bit what one does (y, saved, dk, dv, dq)', (rule, optimizer) => {
    try {
      wasm3.pool.memoryMinWork = 0; // split these small calls too
      // Workers alone (each item on a worker's scratch, two workers at once), then with the
      // calling thread claiming items too (the default).
      for (const callerClaims of [false, true]) {
        wasm3.pool.callerClaims = callerClaims;
        for (const [B, T, dk, dv, period] of SHAPES) {
          const s = shapeOf(rule, optimizer, period, B, T, dk, dv);
          const x = inputs(s, 7 * B + dk);
          const before = wasm3.pool.workerItems;
          const one = run(wasm, s, x, true), three = run(wasm3, s, x, true);
          // Forward and backward each split into B items (B = 1: not split at all).
          if (!callerClaims) expect(wasm3.pool.workerItems - before, `B ${B}: items the workers ran`).toBe(B > 1 ? 2 * B : 0);
          for (const key of KEYS) expectSame(three[key], one[key], `${key}, B ${B} T ${T} dk ${dk} dv ${dv} period ${period}`);
        }
      }
    } finally {
      wasm3.pool.callerClaims = true;
      wasm3.pool.memoryMinWork = 2 ** 16;
    }
  });

  it('several memories in one call (heads), normalising inside: three threads give bit for bit what one does', () => {
    try {
      wasm3.pool.memoryMinWork = 0;
      wasm3.pool.callerClaims = false; // every item on a worker: they must have run them all
      for (const [B, H, dk, dv, period] of [[3, 4, 14, 14, 4], [2, 3, 5, 17, 1], [1, 2, 6, 2, 3]] as const) {
        const s: MemoryShape = { ...shapeOf('delta', 'momentum', period, B, 9, dk, dv), heads: H, normalize: true };
        const x = inputs(s, 31 * B + H);
        const before = wasm3.pool.workerItems;
        const one = run(wasm, s, x, true), three = run(wasm3, s, x, true);
        expect(wasm3.pool.workerItems - before, `B ${B} H ${H}: items the workers ran`).toBe(2 * B * H);
        for (const key of KEYS) expectSame(three[key], one[key], `${key}, B ${B} H ${H} dk ${dk} dv ${dv} period ${period}`);
        // and the float64 reference agrees
        const r = run(ref, s, x);
        for (const key of KEYS) expectClose(one[key].slice(0, r[key].length), r[key], 2e-5, `${key} vs reference, B ${B} H ${H}`);
      }
    } finally {
      wasm3.pool.callerClaims = true;
      wasm3.pool.memoryMinWork = 2 ** 16;
    }
  });

  it('a small call, or a memory wider than the per-thread scratch, runs whole on the calling thread', () => {
    const dk = 129, dv = 129; // 5·dk·dv + 2·dv floats: more than the scratch
    expect(5 * dk * dv + 2 * dv).toBeGreaterThan(MEMORY_SCRATCH_FLOATS);
    const small = shapeOf('delta', 'gd', 1, 4, 8, 14, 14); // B·T·dk·dv = 6272, below memoryMinWork
    const wide = shapeOf('delta', 'momentum', 2, 2, 3, dk, dv), x = inputs(wide, 5);
    const before = wasm3.pool.workerItems;
    try {
      wasm3.pool.callerClaims = false; // a split call would be run by the workers alone
      run(wasm3, small, inputs(small, 9));
      expect(wasm3.pool.workerItems, 'items the workers ran (small call)').toBe(before);
      wasm3.pool.memoryMinWork = 0;
      const one = run(wasm, wide, x, true), three = run(wasm3, wide, x, true);
      expect(wasm3.pool.workerItems, 'items the workers ran (wide memory)').toBe(before);
      for (const key of KEYS) expectSame(three[key], one[key], key);
    } finally {
      wasm3.pool.callerClaims = true;
      wasm3.pool.memoryMinWork = 2 ** 16;
    }
  });

});

describe('memory recurrence op: gradients (float64 reference)', () => {
  it.each(['memory-op-delta-momentum', 'memory-op-hebbian-adam', 'memory-op-delta-normalize-heads'])("passes the registered gradient check '%s'", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.map((t) => t.name)).toEqual(['k', 'v', 'q']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });
});

describe('memory recurrence op: argument checks', () => {
  it.each([['reference', () => ref], ['wasm', () => wasm]] as const)('%s: says what is wrong', (_, get) => {
    const ops = get(), s = shapeOf('delta', 'gd', 1, 2, 3, 4, 2);
    const mark = ops.mark();
    try {
      const n = s.B * s.T, k = ops.tensor(n * 4), v = ops.tensor(n * 2), q = ops.tensor(n * 4), y = ops.tensor(n * 2);
      const saved = ops.tensor(memorySavedSize(s));
      expect(() => ops.memoryForward(k, v, q, y, ops.tensor(memorySavedSize(s) - 1), s)).toThrow(/saved holds .* needs memorySavedSize/);
      expect(() => ops.memoryForward(k, v, ops.tensor(n * 4 - 1), y, saved, s)).toThrow(/q holds 23 elements, needs B·T·dk = 24/);
      expect(() => ops.memoryForward(k, v, q, y, saved, { ...s, period: 0 })).toThrow(/period must be an integer ≥ 1/);
      expect(() => ops.memoryForward(k, v, q, y, saved, { ...s, rule: 'oja' as MemoryRule })).toThrow(/rule must be delta or hebbian/);
      expect(() => ops.memoryBackward(k, v, q, saved, y, k, ops.tensor(1), q, s)).toThrow(/dv holds 1 elements/);
      expect(() => ops.memoryForward(k, v, q, y, saved, { ...s, optimizer: 'adam', beta1: 1 })).toThrow(/adam needs/);
    } finally {
      ops.release(mark);
    }
  });
});
