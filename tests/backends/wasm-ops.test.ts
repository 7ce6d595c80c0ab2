// What the WASM kernels promise beyond the conformance table (src/backends/conformance.ts, run on
// this backend by conformance.test.ts: every op on random data and ragged sizes): accuracy element
// by element (the exp polynomial on a dense grid, small inputs, tails), extreme inputs, and
// sumSquares' double-precision accumulation, and the recurrent cells' saturation and their bit-for-bit
// agreement between the 8-unit, 4-unit and partial paths.
//
// How the comparison is made fair: inputs are rounded to f32 first and the reference gets the
// same rounded values, so the only difference left is the kernel's own f32 arithmetic.
// Every WASM tensor here is a view (t.view(offset, size)) 1–3 elements into a larger buffer whose
// other cells hold a sentinel: after each test the sentinels are checked, so a kernel that writes
// one element too many in a ragged tail fails, and misaligned starts are always exercised.
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import type { Activation, FloatArray, IntTensor, Ops, Tensor } from '../../src/ops/types.js';
import { ACTIVATIONS } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { expectClose, guardedViews } from './guarded-views.js';

let W: Ops;
const R = new ReferenceOps('f64');


// ---- helpers ------------------------------------------------------------------------------------

const { uniform, wt, nextOffset } = guardedViews(() => W, 1234);
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
const TRANSC = 1e-5; // tolerance for ops with exp/log/sqrt/division

// ---- elementwise ------------------------------------------------------------------------------------

// Every kernel path this process can run: the paths run different builds (plain SIMD or relaxed)
// of the same kernels. wasm-*-norevec.test.ts re-runs this file with revectorization off.
for (const path of availablePaths(true)) describe(`kernel path ${path}`, () => {
  // One thread: only GEMM uses worker threads, and none of the ops tested here is a GEMM.
  beforeAll(async () => { W?.dispose(); W = await createWasmOps({ path, threads: 1 }); });

  describe('wasm elementwise ops', () => {
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

    function intsBoth(v: number[]): [IntTensor, IntTensor] {
      const off = nextOffset();
      const w = W.ints(v.length + off + 2).view(off, v.length);
      w.data.set(v);
      return [w, R.intsFrom(v)];
    }

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
  });

  describe('wasm recurrent cells (the conformance table compares every cell op on ragged B, H)', () => {
    it('saturates cleanly: huge pre-activations give exact 0/1 gates and finite states', () => {
      const B = 2, H = 5;
      const g = W.tensorFrom(Array.from({ length: B * 4 * H }, (_, i) => (i % 2 ? 1e4 : -1e4)));
      const cp = W.tensorFrom(uniform(B * H, -3, 3)), c = W.tensor(B * H), tc = W.tensor(B * H), h = W.tensor(B * H);
      W.lstmCell(g, cp, c, tc, h, B, H);
      for (const v of [...g.data, ...c.data, ...tc.data, ...h.data]) expect(Number.isFinite(v)).toBe(true);
      for (const v of g.data) expect([0, 1, -1]).toContain(v);
    });

    // The kernels run eight units at a time, then four, then a partial vector, with the same
    // operations on every element: so each unit of a wide row must equal, bit for bit, the same
    // unit run alone (H = 1, the partial path). H = 31 takes all three paths (8·3 + 4 + 3).
    it('every unit gives the same bits on the 8-unit, 4-unit and partial paths', () => {
      const B = 2, H = 31;
      /** Unit j of row b of a [B, blocks·H] tensor: its `blocks` values. */
      const unit = (d: ArrayLike<number>, blocks: number, b: number, j: number): number[] =>
        Array.from({ length: blocks }, (_, k) => d[b * blocks * H + k * H + j]);
      /** Runs `run` on the whole batch and on each unit alone; compares every output unit. */
      const check = (name: string, inputs: [number, number, number][], outputs: number[],
        run: (ts: Tensor[], B: number, H: number) => void): void => {
        const data = inputs.map(([blocks, lo, hi]) => uniform(B * blocks * H, lo, hi));
        const whole = data.map((d) => wt(d));
        run(whole, B, H);
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) {
          const alone = inputs.map(([blocks], i) => wt(unit(data[i], blocks, b, j)));
          run(alone, 1, 1);
          for (const i of outputs) {
            expect(Array.from(alone[i].data), `${name}: tensor ${i}, row ${b}, unit ${j}`).toEqual(unit(whole[i].data, inputs[i][0], b, j));
          }
        }
      };
      check('lstmCell', [[4, -4, 4], [1, -3, 3], [1, 0, 0], [1, 0, 0], [1, 0, 0]], [0, 2, 3, 4],
        ([g, cp, c, tc, h], B, H) => W.lstmCell(g, cp, c, tc, h, B, H));
      check('lstmCellBackward', [[4, 0.02, 0.98], [1, -3, 3], [1, -0.99, 0.99], [1, -1, 1], [1, -1, 1], [4, 0, 0]], [4, 5],
        ([g, cp, tc, dh, dc, dg], B, H) => W.lstmCellBackward(g, cp, tc, dh, dc, dg, B, H));
      check('gruCell', [[3, -3, 3], [3, -3, 3], [1, -1, 1], [1, 0, 0]], [0, 3],
        ([xp, hp, hPrev, h], B, H) => W.gruCell(xp, hp, hPrev, h, B, H));
      check('gruCellBackward', [[3, 0.02, 0.98], [3, -3, 3], [1, -1, 1], [1, -1, 1], [3, 0, 0], [3, 0, 0], [1, -1, 1]], [4, 5, 6],
        ([g, hp, hPrev, dh, dxp, dhp, dhPrev], B, H) => W.gruCellBackward(g, hp, hPrev, dh, dxp, dhp, dhPrev, B, H));
      check('gruPaperGates', [[2, -3, 3], [2, -3, 3], [1, -1, 1], [1, 0, 0]], [0, 3],
        ([xrz, hrz, hPrev, rh], B, H) => W.gruPaperGates(xrz, hrz, hPrev, rh, B, H));
      check('gruPaperOutput', [[2, 0.02, 0.98], [1, -3, 3], [1, -1, 1], [1, 0, 0]], [1, 3],
        ([rz, xn, hPrev, h], B, H) => W.gruPaperOutput(rz, xn, hPrev, h, B, H));
      check('gruPaperOutputBackward', [[2, 0.02, 0.98], [1, -0.99, 0.99], [1, -1, 1], [1, -1, 1], [2, 0, 0], [1, 0, 0], [1, -1, 1]], [4, 5, 6],
        ([rz, n, hPrev, dh, drz, dn, dhPrev], B, H) => W.gruPaperOutputBackward(rz, n, hPrev, dh, drz, dn, dhPrev, B, H));
      check('gruPaperGatesBackward', [[2, 0.02, 0.98], [1, -1, 1], [1, -1, 1], [2, 0, 0], [1, -1, 1]], [3, 4],
        ([rz, hPrev, drh, drz, dhPrev], B, H) => W.gruPaperGatesBackward(rz, hPrev, drh, drz, dhPrev, B, H));
    });
  });
});
