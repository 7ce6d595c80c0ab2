// The fused recurrent cell ops of the WASM backend against the float64 reference backend (the
// specification), on random data and every ragged combination of B, H in {1, 3, 5, 17, 129}.
//
// As in wasm-ops.test.ts (tests/backends/guarded-views.ts): inputs are rounded to f32 and the
// reference gets the same values, and every WASM tensor is a misaligned view into a sentinel-filled
// buffer, so a kernel that writes one element past a tensor (or past a row's gate block) fails.
// The comparison stays per element, |a − e| ≤ tol·(|e| + 1): the values here are O(1).
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import type { Ops, Tensor } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { guardedViews } from './guarded-views.js';

let W: Ops;
const R = new ReferenceOps('f64');
const g = guardedViews(() => W, 1234);

/** n values uniform in [lo, hi), rounded to f32. */
const uniform = (n: number, lo = -3, hi = 3): number[] => g.uniform(n, lo, hi);
/** The same values as a misaligned WASM view (sentinels around it) and a reference tensor. */
function both(values: number[], label: string): [Tensor, Tensor] {
  return [g.wt(values, label), R.tensorFrom(values)];
}
/** |a − e| ≤ tol·(|e| + 1) element by element (values here are O(1)). */
function expectClose(w: Tensor, r: Tensor, tol: number, label: string): void {
  const a = w.data, e = r.data;
  expect(a.length, `${label}: length`).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= tol * (Math.abs(e[i]) + 1))) {
      throw new Error(`${label}: element ${i} is ${a[i]}, expected ${e[i]}`);
    }
  }
}

const DIMS = [1, 3, 5, 17, 129];
const SHAPES = DIMS.flatMap((B) => DIMS.map((H) => [B, H] as const));
const TOL = 2e-6;

// Every kernel path this process can run: the paths run different builds (plain SIMD or relaxed)
// of the same kernels. wasm-*-norevec.test.ts re-runs this file with revectorization off.
for (const path of availablePaths(true)) describe(`kernel path ${path}`, () => {
  // One thread: only GEMM uses worker threads, and none of the ops tested here is a GEMM.
  beforeAll(async () => { W?.dispose(); W = await createWasmOps({ path, threads: 1 }); });

  describe('wasm recurrent cells match the reference', () => {
    it.each(SHAPES)('lstmCell and lstmCellBackward, B=%i H=%i', (B, H) => {
      const l = `lstm B=${B} H=${H}`;
      const [wg, rg] = both(uniform(B * 4 * H, -4, 4), `${l} gates`);
      const [wcp, rcp] = both(uniform(B * H), `${l} cPrev`);
      const [wc, rc] = both(uniform(B * H), `${l} c`);
      const [wtc, rtc] = both(uniform(B * H), `${l} tanhC`);
      const [wh, rh] = both(uniform(B * H), `${l} h`);
      W.lstmCell(wg, wcp, wc, wtc, wh, B, H);
      R.lstmCell(rg, rcp, rc, rtc, rh, B, H);
      expectClose(wg, rg, TOL, `${l} activated gates`);
      expectClose(wc, rc, TOL, `${l} c`);
      expectClose(wtc, rtc, TOL, `${l} tanhC`);
      expectClose(wh, rh, TOL, `${l} h`);

      // Backward from the (matching) forward results, with the reference fed the WASM values.
      R.copy(R.tensorFrom(wg.data), rg); R.copy(R.tensorFrom(wtc.data), rtc);
      const [wdh, rdh] = both(uniform(B * H), `${l} dh`);
      const [wdc, rdc] = both(uniform(B * H), `${l} dc`);
      const [wdg, rdg] = both(uniform(B * 4 * H), `${l} dgates`);
      W.lstmCellBackward(wg, wcp, wtc, wdh, wdc, wdg, B, H);
      R.lstmCellBackward(rg, rcp, rtc, rdh, rdc, rdg, B, H);
      expectClose(wdg, rdg, TOL, `${l} dgates`);
      expectClose(wdc, rdc, TOL, `${l} dcPrev`);
    });

    it.each(SHAPES)('gruCell and gruCellBackward (PyTorch), B=%i H=%i', (B, H) => {
      const l = `gru B=${B} H=${H}`;
      const [wx, rx] = both(uniform(B * 3 * H), `${l} xp`);
      const [wp, rp] = both(uniform(B * 3 * H), `${l} hp`);
      const [whp, rhp] = both(uniform(B * H), `${l} hPrev`);
      const [wh, rh] = both(uniform(B * H), `${l} h`);
      W.gruCell(wx, wp, whp, wh, B, H);
      R.gruCell(rx, rp, rhp, rh, B, H);
      expectClose(wx, rx, TOL, `${l} activated gates`);
      expectClose(wh, rh, TOL, `${l} h`);

      R.copy(R.tensorFrom(wx.data), rx);
      const [wdh, rdh] = both(uniform(B * H), `${l} dh`);
      const [wdx, rdx] = both(uniform(B * 3 * H), `${l} dxp`);
      const [wdp, rdp] = both(uniform(B * 3 * H), `${l} dhp`);
      const [wdhp, rdhp] = both(uniform(B * H), `${l} dhPrev`);
      W.gruCellBackward(wx, wp, whp, wdh, wdx, wdp, wdhp, B, H);
      R.gruCellBackward(rx, rp, rhp, rdh, rdx, rdp, rdhp, B, H);
      expectClose(wdx, rdx, TOL, `${l} dxp`);
      expectClose(wdp, rdp, TOL, `${l} dhp`);
      expectClose(wdhp, rdhp, TOL, `${l} dhPrev (accumulated)`);
    });

    it.each(SHAPES)('gruPaper{Gates,Output} and their backwards, B=%i H=%i', (B, H) => {
      const l = `gru-paper B=${B} H=${H}`;
      const [wxrz, rxrz] = both(uniform(B * 2 * H), `${l} xrz`);
      const [whrz, rhrz] = both(uniform(B * 2 * H), `${l} hrz`);
      const [whp, rhp] = both(uniform(B * H), `${l} hPrev`);
      const [wrh, rrh] = both(uniform(B * H), `${l} rh`);
      W.gruPaperGates(wxrz, whrz, whp, wrh, B, H);
      R.gruPaperGates(rxrz, rhrz, rhp, rrh, B, H);
      expectClose(wxrz, rxrz, TOL, `${l} r,z`);
      expectClose(wrh, rrh, TOL, `${l} r⊙hPrev`);
      R.copy(R.tensorFrom(wxrz.data), rxrz);

      const [wxn, rxn] = both(uniform(B * H), `${l} xn`);
      const [wh, rh] = both(uniform(B * H), `${l} h`);
      W.gruPaperOutput(wxrz, wxn, whp, wh, B, H);
      R.gruPaperOutput(rxrz, rxn, rhp, rh, B, H);
      expectClose(wxn, rxn, TOL, `${l} n`);
      expectClose(wh, rh, TOL, `${l} h`);
      R.copy(R.tensorFrom(wxn.data), rxn);

      const [wdh, rdh] = both(uniform(B * H), `${l} dh`);
      const [wdrz, rdrz] = both(uniform(B * 2 * H), `${l} drz`);
      const [wdn, rdn] = both(uniform(B * H), `${l} dn`);
      const [wdhp, rdhp] = both(uniform(B * H), `${l} dhPrev`);
      W.gruPaperOutputBackward(wxrz, wxn, whp, wdh, wdrz, wdn, wdhp, B, H);
      R.gruPaperOutputBackward(rxrz, rxn, rhp, rdh, rdrz, rdn, rdhp, B, H);
      expectClose(wdn, rdn, TOL, `${l} dn`);
      expectClose(wdhp, rdhp, TOL, `${l} dhPrev after output backward`);
      const [wdrh, rdrh] = both(uniform(B * H), `${l} drh`);
      W.gruPaperGatesBackward(wxrz, whp, wdrh, wdrz, wdhp, B, H);
      R.gruPaperGatesBackward(rxrz, rhp, rdrh, rdrz, rdhp, B, H);
      expectClose(wdrz, rdrz, TOL, `${l} drz`);
      expectClose(wdhp, rdhp, TOL, `${l} dhPrev after gates backward`);
    });

    it('saturates cleanly: huge pre-activations give exact 0/1 gates and finite states', () => {
      const B = 2, H = 5;
      const g = W.tensorFrom(Array.from({ length: B * 4 * H }, (_, i) => (i % 2 ? 1e4 : -1e4)));
      const cp = W.tensorFrom(uniform(B * H)), c = W.tensor(B * H), tc = W.tensor(B * H), h = W.tensor(B * H);
      W.lstmCell(g, cp, c, tc, h, B, H);
      for (const v of [...g.data, ...c.data, ...tc.data, ...h.data]) expect(Number.isFinite(v)).toBe(true);
      for (const v of g.data) expect([0, 1, -1]).toContain(v);
    });

    it('rejects tensors that are too small, naming the operand', () => {
      const B = 2, H = 3;
      const ok = (n: number) => W.tensor(n);
      expect(() => W.lstmCell(ok(B * 4 * H - 1), ok(B * H), ok(B * H), ok(B * H), ok(B * H), B, H)).toThrow(/lstmCell: gates/);
      expect(() => W.gruCell(ok(B * 3 * H), ok(B * 3 * H), ok(B * H), ok(B * H - 1), B, H)).toThrow(/gruCell: h/);
    });
  });
});
