// The conformance table (src/backends/conformance.ts: every op, random inputs, ragged shapes) on the
// WASM backend against the float64 reference, on every kernel path this process can run, with every
// WASM tensor a misaligned view between sentinels (a kernel that writes past its view fails). Quick
// mode: shapes up to 40k elements (the larger ones are sized for the GPU's multi-block paths and
// cost seconds of reference time here; the WASM kernels' tails and bodies are all below that).
// conformance-norevec.test.ts runs this file again with V8 revectorization off, so the plain
// 128-bit compile of every kernel is covered too. The CUDA backend runs the same table in
// cuda.test.ts (on a GPU) and cuda-emulated.test.ts (its glue, on the CPU).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import { availablePaths } from '../../src/backends/wasm/runtime.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { conformanceCases, runConformance } from '../../src/backends/conformance.js';
import { OP_NAMES } from '../../src/ops/checked.js';
import type { Tensor } from '../../src/ops/types.js';

const ref = new ReferenceOps('f64');

for (const path of availablePaths(true)) {
  describe(`conformance of the WASM backend, kernel path ${path}`, () => {
    let ops: WasmOps;
    beforeAll(async () => { ops = await createWasmOps({ path, threads: 1 }); });
    afterAll(() => ops.dispose());
    for (const c of conformanceCases()) {
      it(c.name, () => {
        const [r] = runConformance(ops, ref, { filter: (name) => name === c.name, guard: 'misaligned', quick: true });
        expect(r.pass, `${r.name}: normwise ${r.normwise} (tol ${r.tol}), elementwise ${r.elementwise} (tol ${r.elemTol}): ${r.detail}`).toBe(true);
      });
    }
  });
}

describe('the conformance harness', () => {
  it('fails a backend that writes one element past a view (the sentinel guards)', () => {
    class Overrun extends ReferenceOps {
      override scale(x: Tensor, alpha: number): void {
        super.scale(x, alpha);
        const d = x.data; // a view of a bigger buffer: the element after it belongs to the guard
        if (d.length > 100) new Float32Array(d.buffer, d.byteOffset, d.length + 1)[d.length] = 1;
      }
    }
    const [bad] = runConformance(new Overrun('f32'), ref, { filter: 'scale', guard: 'misaligned', quick: true });
    expect(bad.pass).toBe(false);
    expect(bad.detail).toMatch(/element \d+ outside the view was overwritten with 1/);
    const [good] = runConformance(new ReferenceOps('f32'), ref, { filter: 'scale', guard: 'misaligned', quick: true });
    expect(good.pass, good.detail).toBe(true);
  });

  it('has a case for every op of the interface', () => {
    const names = conformanceCases().map((c) => c.name).join('\n');
    for (const op of OP_NAMES) expect(names, op).toContain(op);
  });
});
