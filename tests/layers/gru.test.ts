// The GRU layer (src/layers/gru.ts) in both conventions: registered gradient checks, WASM against
// the reference, truncated-BPTT chunking, and that the two variants really compute different things.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { GRU, GruLayer, GruPaperLayer, type GruVariant } from '../../src/layers/gru.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';
import { expectChunksEqualWhole, expectWasmMatchesReference, relErr, type BuildStack } from './recurrent-helpers.js';

const builder = (variant: GruVariant): BuildStack => (ops, I, H, rng) => new GRU(ops, 'gru', I, H, rng, { layers: 2, variant });
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe.each(['pytorch', 'paper'] as const)('GRU layer, %s convention', (variant) => {
  it(`passes the registered gradient check 'gru-${variant}' (2 layers, T=4, B=2, non-zero h0)`, () => {
    const [r] = runGradChecks([`gru-${variant}`]);
    expect(r.tensors.length).toBe(variant === 'pytorch' ? 4 * 2 + 2 : 6 * 2 + 2);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it(`passes the cell op check '${variant === 'pytorch' ? 'gru-cell' : 'gru-paper-cell'}'`, () => {
    const [r] = runGradChecks([variant === 'pytorch' ? 'gru-cell' : 'gru-paper-cell']);
    expect(r.passed).toBe(true);
  });

  it('matches the reference on the WASM backend, forward and backward (ragged sizes)', () => {
    expectWasmMatchesReference(wasm, builder(variant), 6, 3, 5, 17);
    expectWasmMatchesReference(wasm, builder(variant), 3, 1, 1, 3);
  });

  it('two chunks of T with the carried state equal one chunk of 2T', () => {
    expectChunksEqualWhole(new ReferenceOps('f64'), builder(variant), 3, 2, 4, 5);
  });
});

describe('GRU variants', () => {
  it('builds the layer class of its variant (default pytorch)', () => {
    const ops = new ReferenceOps('f64');
    expect(new GRU(ops, 'g', 2, 3, new Rng(1)).layers[0]).toBeInstanceOf(GruLayer);
    expect(new GRU(ops, 'g', 2, 3, new Rng(1), { variant: 'paper' }).layers[0]).toBeInstanceOf(GruPaperLayer);
    expect(() => new GRU(ops, 'g', 2, 3, new Rng(1), { variant: 'x' as GruVariant })).toThrow(/variant/);
  });

  it('differ: with the same weights (and zero biases) the reset gate before vs after the product gives other outputs', () => {
    const ops = new ReferenceOps('f64');
    const I = 3, H = 4, T = 5, B = 2;
    const pt = new GRU(ops, 'g', I, H, new Rng(1), { variant: 'pytorch' });
    const pp = new GRU(ops, 'g', I, H, new Rng(1), { variant: 'paper' });
    const a = pt.layers[0] as GruLayer, b = pp.layers[0] as GruPaperLayer;
    // Copy the same weights into both layouts: Wx [I,3H] = [Wrz | Wn], Wh [H,3H] = [Urz | Un].
    const rng = new Rng(2);
    rng.fillNormal(a.Wx.value.data, 0, 0.8);
    rng.fillNormal(a.Wh.value.data, 0, 0.8);
    for (let i = 0; i < I; i++) for (let j = 0; j < 3 * H; j++) {
      const v = a.Wx.value.data[i * 3 * H + j];
      if (j < 2 * H) b.Wrz.value.data[i * 2 * H + j] = v; else b.Wn.value.data[i * H + j - 2 * H] = v;
    }
    for (let i = 0; i < H; i++) for (let j = 0; j < 3 * H; j++) {
      const v = a.Wh.value.data[i * 3 * H + j];
      if (j < 2 * H) b.Urz.value.data[i * 2 * H + j] = v; else b.Un.value.data[i * H + j - 2 * H] = v;
    }
    const xs = Array.from({ length: T * B * I }, () => rng.normal());
    const s1 = pt.newState(B), s2 = pp.newState(B);
    const h0 = Array.from({ length: B * H }, () => rng.normal());
    s1.h.data.set(h0); s2.h.data.set(h0);
    const y1 = Array.from(pt.forward(ops.tensorFrom(xs), T, B, s1).data);
    const y2 = Array.from(pp.forward(ops.tensorFrom(xs), T, B, s2).data);
    expect(relErr(y2, y1)).toBeGreaterThan(1e-3);
    // …but with the reset gate forced open (r = 1: huge r biases) they agree exactly.
    a.bx.value.data.fill(50, 0, H);
    b.brz.value.data.fill(50, 0, H);
    s1.h.data.set(h0); s2.h.data.set(h0);
    const z1 = Array.from(pt.forward(ops.tensorFrom(xs), T, B, s1).data);
    const z2 = Array.from(pp.forward(ops.tensorFrom(xs), T, B, s2).data);
    expect(relErr(z2, z1)).toBeLessThan(1e-12);
  });
});
