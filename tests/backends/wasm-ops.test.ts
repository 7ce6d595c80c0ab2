// Every non-GEMM op of the WASM backend against the reference backend in float64 (the
// specification), on random data and ragged sizes, plus extreme inputs and argument checks.
//
// How the comparison is made fair: inputs are rounded to f32 first and the reference gets the
// same rounded values, so the only difference left is the kernel's own f32 arithmetic.
// Every WASM tensor here is a view (t.view(offset, size)) 1–3 elements into a larger buffer whose
// other cells hold a sentinel: after each test the sentinels are checked, so a kernel that writes
// one element too many in a ragged tail fails, and misaligned starts are always exercised.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import type { Activation, FloatArray, IntTensor, Ops, Tensor } from '../../src/ops/types.js';
import { ACTIVATIONS } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { expectClose, guardedViews } from './guarded-views.js';

let W: Ops;
const R = new ReferenceOps('f64');


// ---- helpers ------------------------------------------------------------------------------------

const { uniform, random, wt, nextOffset } = guardedViews(() => W, 1234);
function rt(values: ArrayLike<number>): Tensor { return R.tensorFrom(values); }
/** The same values on both backends. */
function both(values: ArrayLike<number>, label?: string): [Tensor, Tensor] { return [wt(values, label), rt(values)]; }

/** Element by element: |a_i − e_i| ≤ tol·|e_i| + atol. */
function expectEach(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, atol: number, label: string): void {
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (!(Math.abs(a - e) <= tol * Math.abs(e) + atol)) {
      throw new Error(`${label}: element ${i} is ${a}, expected ${e} (tolerance ${tol} relative + ${atol})`);
    }
  }
}

const arr = (t: Tensor): FloatArray => t.data;

const SIZES = [0, 1, 3, 5, 17, 129, 1000];
const SHAPES: [number, number][] = [[1, 1], [3, 5], [17, 129], [7, 1000], [4, 8], [2, 3], [0, 5], [6, 16]];
const LINEAR = 1e-6; // tolerance for linear ops (relative to the result's magnitude)
const TRANSC = 1e-5; // tolerance for ops with exp/log/sqrt/division

// ---- elementwise ------------------------------------------------------------------------------------

// Every kernel path this process can run: the paths run different builds (plain SIMD or relaxed)
// of the same kernels. wasm-*-norevec.test.ts re-runs this file with revectorization off.
for (const path of availablePaths(true)) describe(`kernel path ${path}`, () => {
  // One thread: only GEMM uses worker threads, and none of the ops tested here is a GEMM.
  beforeAll(async () => { W?.dispose(); W = await createWasmOps({ path, threads: 1 }); });

  describe('wasm elementwise ops', () => {
    it('fill, copy, scale', () => {
      for (const n of SIZES) {
        const x = wt(uniform(n), 'fill');
        W.fill(x, 0.3);
        expect(Array.from(arr(x))).toEqual(new Array(n).fill(Math.fround(0.3)));

        const src = uniform(n);
        const [ws, rs] = both(src, 'copy.src');
        const [wd, rd] = both(uniform(n), 'copy.dst');
        W.copy(ws, wd); R.copy(rs, rd);
        expectClose(arr(wd), arr(rd), 0, `copy n=${n}`);

        const [wx, rx] = both(uniform(n, -5, 5), 'scale');
        W.scale(wx, -1.7); R.scale(rx, -1.7);
        expectClose(arr(wx), arr(rx), LINEAR, `scale n=${n}`);
      }
    });

    it('axpy, add (with aliasing), mul (overwrite, accumulate, aliasing)', () => {
      for (const n of SIZES) {
        const a = uniform(n, -3, 3), b = uniform(n, -3, 3), c = uniform(n, -3, 3);
        {
          const [wx, rx] = both(a), [wy, ry] = both(b, 'axpy.y');
          W.axpy(0.37, wx, wy); R.axpy(0.37, rx, ry);
          expectClose(arr(wy), arr(ry), LINEAR, `axpy n=${n}`);
        }
        {
          const [wa, ra] = both(a), [wb, rb] = both(b), [wo, ro] = both(c, 'add.out');
          W.add(wa, wb, wo); R.add(ra, rb, ro);
          expectClose(arr(wo), arr(ro), LINEAR, `add n=${n}`);
          W.add(wa, wb, wa); R.add(ra, rb, ra); // out = a
          expectClose(arr(wa), arr(ra), LINEAR, `add out=a n=${n}`);
          W.add(wa, wb, wb); R.add(ra, rb, rb); // out = b
          expectClose(arr(wb), arr(rb), LINEAR, `add out=b n=${n}`);
        }
        {
          const [wa, ra] = both(a), [wb, rb] = both(b), [wo, ro] = both(c, 'mul.out');
          W.mul(wa, wb, wo); R.mul(ra, rb, ro);
          expectClose(arr(wo), arr(ro), LINEAR, `mul n=${n}`);
          W.mul(wa, wb, wo, true); R.mul(ra, rb, ro, true);
          expectClose(arr(wo), arr(ro), LINEAR, `mul accumulate n=${n}`);
          W.mul(wa, wb, wa); R.mul(ra, rb, ra);
          expectClose(arr(wa), arr(ra), LINEAR, `mul out=a n=${n}`);
        }
      }
    });

    it('activation: every kind and size matches the reference, also in place (y = x)', () => {
      for (const kind of ACTIVATIONS) {
        for (const n of SIZES) {
          const x = uniform(n, -8, 8);
          const [wx, rx] = both(x), [wy, ry] = both(uniform(n), 'act.y');
          W.activation(kind, wx, wy); R.activation(kind, rx, ry);
          expectClose(arr(wy), arr(ry), TRANSC, `${kind} n=${n}`);
          W.activation(kind, wx, wx); // in place
          expectClose(arr(wx), arr(ry), TRANSC, `${kind} in place n=${n}`);
        }
      }
    });

    it('activation keeps relative accuracy element by element (small inputs, tails)', () => {
      // Magnitude-relative checks would hide a cancellation near 0 (tanh via 1 − e^−2x) or in the
      // negative tails of sigmoid/gelu/silu; these check each element against itself.
      const x = [1e-7, -1e-6, 1e-4, -3e-3, 0.01, -0.1, 0.25, 0.299, 0.3, 0.301, -0.5, 1, -2, 3.5, -5, -7, 9, -12, 15]
        .map(Math.fround);
      for (const kind of ['sigmoid', 'tanh', 'gelu', 'silu'] as Activation[]) {
        const [wx, rx] = both(x), [wy, ry] = both(x.map(() => 0), 'act.y');
        W.activation(kind, wx, wy); R.activation(kind, rx, ry);
        // The reference's gelu, ½x(1 + tanh u), cancels in f64 for x ≪ 0 (1 + tanh u ~ 1e-16 at
        // x = −7, so it is only good to ~1e-16 absolute there); the exact form x·σ(2u) is used here.
        const expected = kind === 'gelu' ? x.map(geluExact) : Array.from(arr(ry));
        // gelu(−7) ≈ −2.3e-15 and silu(−12) ≈ −7e-5 are tails; 3e-5 covers the f32 rounding of the
        // exponent argument (|2u|·2⁻²⁴) there.
        expectEach(arr(wy), expected, 3e-5, 1e-30, `${kind} elementwise`);
        expectClose(arr(wy), arr(ry), TRANSC, `${kind} against the reference`);
      }
    });

    it('exp-based activations are within a few ulp on a dense grid (checks the exp polynomial)', () => {
      // Per element, relative to the value itself: the magnitude-relative random tests above could
      // not see a polynomial coefficient off by 1e-4 (an error of ~1e-5 at |r| = ln2/2 only).
      const grid = (a: number, b: number, h: number) => Array.from({ length: Math.floor((b - a) / h) + 1 }, (_, i) => Math.fround(a + i * h));
      const cases: [Activation, number, number, number, (x: number) => number][] = [
        ['sigmoid', -87, 88, 5e-7, (v) => refActivate('sigmoid', v)], // exp(−87) ≈ 1.6e-38 is still a normal f32
        ['tanh', -10, 10, 5e-7, Math.tanh], // crosses the |x| = 0.3 switch to the series
        ['silu', -80, 80, 5e-7, (v) => refActivate('silu', v)],
        // gelu's σ argument 2u ≈ −25 at x = −6 carries an f32 rounding of |2u|·2⁻²⁴ ≈ 1.5e-6.
        ['gelu', -6, 10, 4e-6, geluExact],
      ];
      for (const [kind, a, b, tol, exact] of cases) {
        const x = grid(a, b, 0.0137);
        const wx = wt(x), wy = wt(x.map(() => 0), `${kind}.grid`);
        W.activation(kind, wx, wy);
        expectEach(arr(wy), x.map(exact), tol, 0, `${kind} on a grid over [${a}, ${b}]`);
      }
    });

    it('activationBackward: every kind, size, overwrite and accumulate, dx = dy in place', () => {
      for (const kind of ACTIVATIONS) {
        for (const n of SIZES) {
          const x = uniform(n, -6, 6);
          // y = f(x) as the forward pass would give it (rounded to f32), the same on both sides.
          const y = x.map((v) => Math.fround(refActivate(kind, v)));
          const dy = uniform(n, -2, 2), dx0 = uniform(n, -1, 1);
          const [wx, rx] = both(x), [wy, ry] = both(y), [wdy, rdy] = both(dy, 'bwd.dy');
          const [wdx, rdx] = both(dx0, 'bwd.dx');
          W.activationBackward(kind, wx, wy, wdy, wdx); R.activationBackward(kind, rx, ry, rdy, rdx);
          expectClose(arr(wdx), arr(rdx), TRANSC, `${kind}' n=${n}`);
          W.activationBackward(kind, wx, wy, wdy, wdx, true); R.activationBackward(kind, rx, ry, rdy, rdx, true);
          expectClose(arr(wdx), arr(rdx), TRANSC, `${kind}' accumulate n=${n}`);
          W.activationBackward(kind, wx, wy, wdy, wdy); R.activationBackward(kind, rx, ry, rdy, rdy);
          expectClose(arr(wdy), arr(rdy), TRANSC, `${kind}' dx = dy n=${n}`);
        }
      }
    });

    it('activations at extreme inputs are finite and correct', () => {
      const x = [-1000, -100, -50, -20, 20, 50, 100, 1000, -88, -87, 88, 89];
      for (const kind of ACTIVATIONS) {
        const [wx, rx] = both(x), [wy, ry] = both(x.map(() => 0), 'ext.y');
        W.activation(kind, wx, wy); R.activation(kind, rx, ry);
        for (const v of arr(wy)) expect(Number.isFinite(v), `${kind}: ${Array.from(arr(wy))}`).toBe(true);
        expectClose(arr(wy), arr(ry), TRANSC, `${kind} extremes`);
        const y = arr(ry).map(Math.fround);
        const [wy2, ry2] = both(y), [wdy, rdy] = both(x.map(() => 1)), [wdx, rdx] = both(x.map(() => 0), 'ext.dx');
        W.activationBackward(kind, wx, wy2, wdy, wdx); R.activationBackward(kind, rx, ry2, rdy, rdx);
        for (const v of arr(wdx)) expect(Number.isFinite(v), `${kind}': ${Array.from(arr(wdx))}`).toBe(true);
        expectClose(arr(wdx), arr(rdx), TRANSC, `${kind}' extremes`);
      }
      // The exact values that matter: saturation to ±1, and σ(−100) = 3.7e-44, a denormal in f32,
      // flushed to exactly 0; σ(−50) = 1.93e-22 is still a normal f32 and must come out right.
      const wx = wt([100, -100, 50, -50]), wy = wt([0, 0, 0, 0]);
      W.activation('sigmoid', wx, wy);
      expect(Array.from(arr(wy)).slice(0, 3)).toEqual([1, 0, 1]);
      expect(arr(wy)[3] / (1 / (1 + Math.exp(50)))).toBeCloseTo(1, 5);
      W.activation('tanh', wx, wy);
      expect(Array.from(arr(wy))).toEqual([1, -1, 1, -1]);
    });
  });

  /** gelu (tanh approximation) written as x·σ(2u), exact in f64 also for x ≪ 0. */
  function geluExact(x: number): number {
    const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
    return x / (1 + Math.exp(-2 * u));
  }

  function refActivate(kind: Activation, v: number): number {
    const t = R.tensorFrom([v]), o = R.tensor(1);
    R.activation(kind, t, o);
    return o.data[0];
  }

  // ---- rows ------------------------------------------------------------------------------------------

  describe('wasm row ops', () => {
    it('addBias, sumRows (accumulates), sumCols (overwrites)', () => {
      for (const [rows, cols] of SHAPES) {
        const x = uniform(rows * cols, -2, 2), bias = uniform(cols, -1, 1);
        {
          const [wy, ry] = both(x, 'addBias.y'), [wb, rb] = both(bias);
          W.addBias(wy, wb, rows, cols); R.addBias(ry, rb, rows, cols);
          expectClose(arr(wy), arr(ry), LINEAR, `addBias ${rows}x${cols}`);
        }
        {
          const [wx, rx] = both(x), [wo, ro] = both(uniform(cols, 5, 6), 'sumRows.out');
          W.sumRows(wx, wo, rows, cols); R.sumRows(rx, ro, rows, cols);
          expectClose(arr(wo), arr(ro), LINEAR, `sumRows ${rows}x${cols}`);
        }
        {
          const [wx, rx] = both(x), [wo, ro] = both(uniform(rows, 50, 60), 'sumCols.out');
          W.sumCols(wx, wo, rows, cols); R.sumCols(rx, ro, rows, cols);
          expectClose(arr(wo), arr(ro), LINEAR, `sumCols ${rows}x${cols}`);
        }
      }
    });

    it('softmax and logSoftmax, into y and in place', () => {
      for (const [rows, cols] of SHAPES) {
        const x = uniform(rows * cols, -10, 10);
        for (const op of ['softmax', 'logSoftmax'] as const) {
          const [wx, rx] = both(x), [wy, ry] = both(uniform(rows * cols), `${op}.y`);
          W[op](wx, wy, rows, cols); R[op](rx, ry, rows, cols);
          expectClose(arr(wy), arr(ry), TRANSC, `${op} ${rows}x${cols}`);
          W[op](wx, wx, rows, cols); // y = x
          expectClose(arr(wx), arr(ry), TRANSC, `${op} in place ${rows}x${cols}`);
        }
      }
    });

    it('softmax and logSoftmax of extreme rows', () => {
      const x = [1000, 0, -1000, /**/ -Infinity, 0, Math.log(2), /**/ 1e38, -1e38, 0, /**/ 88, 89, 90];
      const [wx, rx] = both(x), [wy, ry] = both(x.map(() => 0), 'y');
      W.softmax(wx, wy, 4, 3); R.softmax(rx, ry, 4, 3);
      expectClose(arr(wy), arr(ry), TRANSC, 'softmax extremes');
      expect(Array.from(arr(wy)).slice(0, 3)).toEqual([1, 0, 0]);
      W.logSoftmax(wx, wy, 4, 3); R.logSoftmax(rx, ry, 4, 3);
      // −∞ stays −∞; the rest relative to the magnitude of each row (row 2 spans −2e38..0).
      for (let r = 0; r < 4; r++) {
        expectClose(arr(wy).slice(r * 3, r * 3 + 3), arr(ry).slice(r * 3, r * 3 + 3), TRANSC, `logSoftmax extremes row ${r}`);
      }
      expect(Array.from(arr(wy)).slice(0, 3)).toEqual([0, -1000, -2000]);
    });

    it('logSoftmax and cross-entropy keep their accuracy for large logits (|x| ~ 1e4)', () => {
      // Near 1e4 the f32 spacing is 1e-3: forming x − (max + ln Σ) would round max + ln Σ first.
      const rows = 3, cols = 17;
      const offsets = [1e4, -1e4, 5e3];
      const x = uniform(rows * cols, -3, 3).map((v, i) => Math.fround(offsets[Math.floor(i / cols)] + v));
      const [wx, rx] = both(x), [wy, ry] = both(x.map(() => 0), 'lsm.y');
      W.logSoftmax(wx, wy, rows, cols); R.logSoftmax(rx, ry, rows, cols);
      expectEach(arr(wy), arr(ry), 2e-6, 1e-6, 'logSoftmax near 1e4');
      const [wt_, rt_] = intsBoth([3, 0, 16]);
      const [wd, rd] = both(x.map(() => 0), 'ce.d');
      const wl = W.softmaxCrossEntropy(wx, wt_, rows, cols, wd, 1);
      const rl = R.softmaxCrossEntropy(rx, rt_, rows, cols, rd, 1);
      expect(Math.abs(wl - rl) / rl).toBeLessThan(1e-6);
      expectClose(arr(wd), arr(rd), TRANSC, 'ce grad near 1e4');
    });

    it('softmaxBackward and logSoftmaxBackward (overwrite, dx = dy in place)', () => {
      for (const [rows, cols] of SHAPES) {
        const x = uniform(rows * cols, -4, 4), dy = uniform(rows * cols, -1, 1);
        const y = R.tensor(rows * cols), ly = R.tensor(rows * cols);
        R.softmax(rt(x), y, rows, cols); R.logSoftmax(rt(x), ly, rows, cols);
        for (const [op, yv] of [['softmaxBackward', y], ['logSoftmaxBackward', ly]] as const) {
          const yf = Array.from(yv.data, Math.fround);
          const [wy, ry] = both(yf), [wdy, rdy] = both(dy, `${op}.dy`), [wdx, rdx] = both(uniform(rows * cols, 7, 8), `${op}.dx`);
          W[op](wy, wdy, wdx, rows, cols); R[op](ry, rdy, rdx, rows, cols);
          expectClose(arr(wdx), arr(rdx), TRANSC, `${op} ${rows}x${cols}`);
          W[op](wy, wdy, wdy, rows, cols); R[op](ry, rdy, rdy, rows, cols);
          expectClose(arr(wdy), arr(rdy), TRANSC, `${op} dx = dy ${rows}x${cols}`);
        }
      }
    });

    function targetsFor(rows: number, cols: number, ignoreEvery = 3): number[] {
      return Array.from({ length: rows }, (_, r) => (r % ignoreEvery === 1 ? -1 : Math.floor(random() * cols)));
    }
    function intsBoth(v: number[]): [IntTensor, IntTensor] {
      const off = nextOffset();
      const w = W.ints(v.length + off + 2).view(off, v.length);
      w.data.set(v);
      return [w, R.intsFrom(v)];
    }

    it('softmaxCrossEntropy: loss and gradient, ignored rows, no-gradient call, dlogits = logits', () => {
      for (const [rows, cols] of SHAPES) {
        const x = uniform(rows * cols, -6, 6);
        const t = targetsFor(rows, cols);
        const [wt_, rt_] = intsBoth(t);
        const count = t.filter((v) => v >= 0).length;
        const scale = count > 0 ? 1 / count : 1;
        const [wx, rx] = both(x, 'ce.logits'), [wd, rd] = both(uniform(rows * cols, 3, 4), 'ce.dlogits');
        const wl = W.softmaxCrossEntropy(wx, wt_, rows, cols, wd, scale);
        const rl = R.softmaxCrossEntropy(rx, rt_, rows, cols, rd, scale);
        expect(Math.abs(wl - rl), `loss ${rows}x${cols}: ${wl} vs ${rl}`).toBeLessThanOrEqual(TRANSC * Math.max(Math.abs(rl), 1e-30));
        expectClose(arr(wd), arr(rd), TRANSC, `ce grad ${rows}x${cols}`);
        // Ignored rows are exactly zero.
        for (let r = 0; r < rows; r++) if (t[r] < 0) {
          for (let c = 0; c < cols; c++) expect(arr(wd)[r * cols + c]).toBe(0);
        }
        // Without a gradient: same loss, logits untouched.
        const before = Array.from(arr(wx));
        const wl2 = W.softmaxCrossEntropy(wx, wt_, rows, cols, null, scale);
        expect(wl2).toBe(wl);
        expect(Array.from(arr(wx))).toEqual(before);
        // dlogits aliasing logits.
        const wl3 = W.softmaxCrossEntropy(wx, wt_, rows, cols, wx, scale);
        expect(wl3).toBe(wl);
        expectClose(arr(wx), arr(rd), TRANSC, `ce grad in place ${rows}x${cols}`);
      }
    });

    it('softmaxCrossEntropy with huge logits stays finite and exact', () => {
      const x = [1e4, -1e4, 0, /**/ 1e30, -1e30, 5, /**/ 1000, 1000, 1000, /**/ -3e38, 3e38, 0];
      const t = [1, 0, 2, 1];
      const [wt_, rt_] = intsBoth(t);
      const [wx, rx] = both(x), [wd, rd] = both(x.map(() => 0), 'd');
      const wl = W.softmaxCrossEntropy(wx, wt_, 4, 3, wd, 0.25);
      const rl = R.softmaxCrossEntropy(rx, rt_, 4, 3, rd, 0.25);
      expect(Number.isFinite(wl)).toBe(true);
      expect(Math.abs(wl - rl) / rl).toBeLessThan(1e-7);
      expectClose(arr(wd), arr(rd), TRANSC, 'ce grad extremes');
      for (const v of arr(wd)) expect(Number.isFinite(v)).toBe(true);
      // Row 2: three equal logits → loss ln 3 (checked through the total), gradient (1/3 − onehot)/4.
      expect(arr(wd)[6]).toBeCloseTo(0.25 / 3, 7);
      expect(arr(wd)[8]).toBeCloseTo(0.25 / 3 - 0.25, 7);
    });

    it('layerNorm forward and backward (accumulating into dx, dgamma, dbeta)', () => {
      for (const [rows, cols] of SHAPES) {
        // An offset mean (3) makes a one-pass variance formula fail.
        const x = uniform(rows * cols, 1, 5), gamma = uniform(cols, 0.5, 1.5), beta = uniform(cols, -0.5, 0.5);
        const [wx, rx] = both(x), [wg, rg] = both(gamma), [wb, rb] = both(beta);
        const [wy, ry] = both(uniform(rows * cols), 'ln.y');
        const [wm, rm] = both(uniform(rows), 'ln.mean'), [ws, rs] = both(uniform(rows), 'ln.rstd');
        W.layerNorm(wx, wg, wb, wy, wm, ws, rows, cols, 1e-5);
        R.layerNorm(rx, rg, rb, ry, rm, rs, rows, cols, 1e-5);
        expectClose(arr(wy), arr(ry), TRANSC, `layerNorm y ${rows}x${cols}`);
        expectClose(arr(wm), arr(rm), LINEAR, `layerNorm mean ${rows}x${cols}`);
        expectClose(arr(ws), arr(rs), TRANSC, `layerNorm rstd ${rows}x${cols}`);

        // Backward from the same saved statistics (rounded to f32 on both sides).
        const mean = Array.from(arr(wm)), rstd = Array.from(arr(ws));
        const [wm2, rm2] = both(mean), [ws2, rs2] = both(rstd);
        const dy = uniform(rows * cols, -1, 1);
        const [wdy, rdy] = both(dy), [wdx, rdx] = both(uniform(rows * cols, -1, 1), 'ln.dx');
        const [wdg, rdg] = both(uniform(cols, -1, 1), 'ln.dgamma'), [wdb, rdb] = both(uniform(cols, -1, 1), 'ln.dbeta');
        W.layerNormBackward(wx, wg, wm2, ws2, wdy, wdx, wdg, wdb, rows, cols);
        R.layerNormBackward(rx, rg, rm2, rs2, rdy, rdx, rdg, rdb, rows, cols);
        expectClose(arr(wdx), arr(rdx), TRANSC, `layerNormBackward dx ${rows}x${cols}`);
        expectClose(arr(wdg), arr(rdg), TRANSC, `layerNormBackward dgamma ${rows}x${cols}`);
        expectClose(arr(wdb), arr(rdb), LINEAR, `layerNormBackward dbeta ${rows}x${cols}`);
      }
    });

    it('layerNorm of a constant row and of a large offset', () => {
      const x = [2, 2, 2, 2, 2, /**/ 1000.5, 1000.25, 1000.75, 1000, 1001];
      const [wx, rx] = both(x), [wg, rg] = both([1, 1, 1, 1, 1]), [wb, rb] = both([0, 0, 0, 0, 0]);
      const [wy, ry] = both(x.map(() => 0)), [wm, rm] = both([0, 0]), [ws, rs] = both([0, 0]);
      W.layerNorm(wx, wg, wb, wy, wm, ws, 2, 5, 1e-5);
      R.layerNorm(rx, rg, rb, ry, rm, rs, 2, 5, 1e-5);
      expectClose(arr(wy), arr(ry), TRANSC, 'layerNorm special rows');
      expect(Array.from(arr(wy)).slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    });
  });

  // ---- embeddings and optimisation ---------------------------------------------------------------------

  describe('wasm embedding and optimiser ops', () => {
    it('embedding gathers rows; embeddingBackward sums repeated ids', () => {
      for (const dim of [1, 3, 4, 5, 17, 129]) {
        const vocab = 7, n = 11;
        const ids = [3, 0, 6, 3, 3, 1, 6, 0, 2, 3, 5]; // 3 four times, 0 and 6 twice
        const [wids, rids] = (() => {
          const w = W.ints(n + 3).view(2, n); w.data.set(ids);
          return [w, R.intsFrom(ids)];
        })();
        const [wtab, rtab] = both(uniform(vocab * dim, -1, 1));
        const [wo, ro] = both(uniform(n * dim), 'emb.out');
        W.embedding(wtab, wids, wo, n, dim); R.embedding(rtab, rids, ro, n, dim);
        expectClose(arr(wo), arr(ro), 0, `embedding dim=${dim}`);
        const [wdo, rdo] = both(uniform(n * dim, -1, 1));
        const [wdt, rdt] = both(uniform(vocab * dim, -1, 1), 'emb.dtable');
        W.embeddingBackward(wdo, wids, wdt, n, dim); R.embeddingBackward(rdo, rids, rdt, n, dim);
        expectClose(arr(wdt), arr(rdt), LINEAR, `embeddingBackward dim=${dim}`);
      }
    });

    it('sumSquares on ragged sizes', () => {
      for (const n of [...SIZES, 7, 8, 9, 4099]) {
        const [wx, rx] = both(uniform(n, -3, 3));
        const w = W.sumSquares(wx), r = R.sumSquares(rx);
        expect(Math.abs(w - r), `sumSquares n=${n}: ${w} vs ${r}`).toBeLessThanOrEqual(1e-12 * Math.max(r, 1e-300));
      }
    });

    it('sumSquares of 1e7 elements keeps ~1e-7 relative accuracy', () => {
      const n = 10_000_000;
      const x = W.tensor(n);
      const d = x.data;
      let exact = 0;
      for (let i = 0; i < n; i++) {
        const v = Math.fround(0.1 + 0.01 * ((i * 2654435761) % 1000) / 1000);
        d[i] = v;
        exact += v * v;
      }
      const got = W.sumSquares(x);
      expect(Math.abs(got - exact) / exact).toBeLessThan(1e-7);
    });

    it('adam and adamw over three steps match the reference', () => {
      for (const n of SIZES) {
        for (const [decoupled, weightDecay] of [[false, 0], [false, 0.1], [true, 0.1], [true, 0]] as const) {
          const p0 = uniform(n, -1, 1);
          const [wp, rp] = both(p0, 'adam.param'), [wm, rm] = both(new Array(n).fill(0), 'adam.m');
          const [wv, rv] = both(new Array(n).fill(0), 'adam.v');
          for (let step = 1; step <= 3; step++) {
            const g = uniform(n, -2, 2);
            const [wg, rg] = both(g);
            const wBefore = Array.from(arr(wp)), rBefore = Array.from(arr(rp));
            const p = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupled, step };
            W.adam(wp, wg, wm, wv, p); R.adam(rp, rg, rm, rv, p);
            const label = `adam n=${n} decoupled=${decoupled} wd=${weightDecay} step ${step}`;
            // The update itself (θ_after − θ_before) relative to its size: comparing θ would hide it.
            const wDelta = Array.from(arr(wp), (v, i) => v - wBefore[i]);
            const rDelta = Array.from(arr(rp), (v, i) => v - rBefore[i]);
            expectClose(wDelta, rDelta, 2e-5, `${label} update`);
            expectClose(arr(wm), arr(rm), TRANSC, `${label} m`);
            expectClose(arr(wv), arr(rv), TRANSC, `${label} v`);
            // Continue both from the f32 state so that differences do not compound.
            rp.data.set(arr(wp)); rm.data.set(arr(wm)); rv.data.set(arr(wv));
          }
        }
      }
    });
  });

  // ---- argument checks -----------------------------------------------------------------------------------

  describe('wasm wrappers reject bad input with a clear RangeError', () => {
    it('ids, targets, sizes, kinds', () => {
      const table = W.tensor(4 * 3), out = W.tensor(2 * 3);
      expect(() => W.embedding(table, W.intsFrom([0, 4]), out, 2, 3)).toThrow(RangeError);
      expect(() => W.embedding(table, W.intsFrom([0, 4]), out, 2, 3)).toThrow(/id 4 at position 1 is outside 0\.\.3/);
      expect(() => W.embedding(table, W.intsFrom([-1, 0]), out, 2, 3)).toThrow(/id -1 at position 0/);
      expect(() => W.embedding(table, W.intsFrom([0]), out, 2, 3)).toThrow(/ids holds 1 ids, needs 2/);
      expect(() => W.embedding(table, W.intsFrom([0, 1]), W.tensor(5), 2, 3)).toThrow(/out holds 5 elements/);
      expect(() => W.embeddingBackward(out, W.intsFrom([7, 0]), table, 2, 3)).toThrow(RangeError);

      const logits = W.tensor(2 * 3);
      expect(() => W.softmaxCrossEntropy(logits, W.intsFrom([0, 3]), 2, 3, null, 1)).toThrow(/target 3 in row 1 is not below 3 classes/);
      expect(() => W.softmaxCrossEntropy(logits, W.intsFrom([0]), 2, 3, null, 1)).toThrow(/targets holds 1 ids, needs 2/);
      expect(() => W.softmaxCrossEntropy(logits, W.intsFrom([0, 1]), 2, 3, W.tensor(5), 1)).toThrow(/dlogits holds 5/);

      expect(() => W.softmax(W.tensor(6), W.tensor(5), 2, 3)).toThrow(/softmax: y holds 5 elements, needs 2×3 = 6/);
      expect(() => W.softmax(W.tensor(6), W.tensor(6), 2.5, 3)).toThrow(RangeError);
      expect(() => W.sumRows(W.tensor(6), W.tensor(2), 2, 3)).toThrow(/out holds 2/);
      expect(() => W.addBias(W.tensor(6), W.tensor(2), 2, 3)).toThrow(/bias holds 2/);
      expect(() => W.add(W.tensor(4), W.tensor(3), W.tensor(4))).toThrow(/add: b holds 3 elements, a holds 4/);
      expect(() => W.mul(W.tensor(4), W.tensor(4), W.tensor(3))).toThrow(RangeError);
      expect(() => W.copy(W.tensor(4), W.tensor(3))).toThrow(RangeError);
      expect(() => W.activation('swish' as Activation, W.tensor(4), W.tensor(4))).toThrow(/unknown activation 'swish'/);
      expect(() => W.activationBackward('relu', W.tensor(4), W.tensor(4), W.tensor(4), W.tensor(3))).toThrow(RangeError);
      expect(() => W.layerNorm(W.tensor(6), W.tensor(2), W.tensor(3), W.tensor(6), W.tensor(2), W.tensor(2), 2, 3, 1e-5))
        .toThrow(/gamma holds 2/);
      expect(() => W.layerNorm(W.tensor(6), W.tensor(3), W.tensor(3), W.tensor(6), W.tensor(1), W.tensor(2), 2, 3, 1e-5))
        .toThrow(/mean holds 1/);
      expect(() => W.adam(W.tensor(4), W.tensor(4), W.tensor(3), W.tensor(4),
        { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, decoupled: false, step: 1 })).toThrow(/adam: m holds 3/);
    });
  });
});
