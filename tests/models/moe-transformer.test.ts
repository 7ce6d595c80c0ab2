// The MoE transformer (src/models/moe-transformer.ts): registry and config round trip, KV-cached
// decoding against uncached windows (also past the context), recompute on/off bit-identical
// gradients, statistics (MACs, loads, drops), FLOPs per token, matched active parameters of the
// dense variant, learning on a tiny batch, and the WASM backend against the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { MoeTransformer, type MoeTransformerConfig } from '../../src/models/moe-transformer.js';
import { createModel, getModel, modelConfig } from '../../src/models/registry.js';
import { randomBatch } from '../../src/gradcheck/model-checks.js';
import { tinyMoeConfig } from '../../src/gradcheck/moe-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

function config(extra: Partial<MoeTransformerConfig> = {}): MoeTransformerConfig {
  return tinyMoeConfig({ vocabSize: 11, context: 8, dModel: 8, heads: 2, layers: 2, experts: 4, expertHidden: 6, ...extra });
}

function grads(model: MoeTransformer): number[] {
  return model.params.flatMap((p) => [...p.grad.data]);
}

describe('moe transformer', () => {
  it("registers 'moe' and 'moe-dense' with CPU-sized defaults; a config rebuilds the same model", () => {
    for (const name of ['moe', 'moe-dense']) {
      const spec = getModel(name);
      expect(spec.defaults).toMatchObject({ dModel: 128, layers: 4, heads: 4, experts: 8, topK: 2, expertHidden: 256, context: 128 });
      const cfg = modelConfig(spec, { dModel: '16', layers: '1', heads: '2', experts: '4', expertHidden: '8', context: '8', capacityFactor: '1.25' }, 13);
      const m = createModel(ops, name, cfg, new Rng(1)) as MoeTransformer;
      expect(m.kind).toBe(name);
      const again = createModel(ops, name, m.config, new Rng(1)) as MoeTransformer;
      expect(again.config).toEqual(m.config);
      expect(again.params.map((p) => [p.name, p.shape])).toEqual(m.params.map((p) => [p.name, p.shape]));
      expect(again.params.map((p) => [...p.value.data])).toEqual(m.params.map((p) => [...p.value.data]));
    }
    expect(() => modelConfig(getModel('moe'), { topK: '3' }, 10)).toThrow(/--top-k/);
  });

  it('rejects bad configs and inputs with clear errors', () => {
    expect(() => new MoeTransformer(ops, config({ dModel: 9 }), new Rng(1))).toThrow(/multiple of heads/);
    expect(() => new MoeTransformer(ops, config({ experts: 1 }), new Rng(1))).toThrow(/fewer than topK/);
    expect(() => new MoeTransformer(ops, config({ capacityFactor: -1 }), new Rng(1))).toThrow(/capacityFactor/);
    const m = new MoeTransformer(ops, config(), new Rng(1));
    expect(() => m.forwardBackward(randomBatch(ops, new Rng(2), 11, 1, 9), true)).toThrow(/longer than the context/);
    const bad = randomBatch(ops, new Rng(2), 11, 1, 4);
    bad.inputs.data[2] = 11;
    expect(() => m.forwardBackward(bad, true)).toThrow(/outside the vocabulary/);
    expect(() => m.nextLogProbs([12])).toThrow(/outside the vocabulary/);
    expect(() => m.windowLogProbs([1, 0.5])).toThrow('moe: token 0.5 is outside the vocabulary 0..10');
    expect(() => new MoeTransformer(ops, config({ experts: 0 }), new Rng(1))).toThrow('moe: experts must be an integer ≥ 1, got 0');
    expect(() => new MoeTransformer(ops, config({ dense: true, context: 2.5 }), new Rng(1))).toThrow('moe-dense: context must be an integer ≥ 1, got 2.5');
  });

  it.each(['moe', 'moe-dense'])('%s: KV-cached decoding gives the uncached logits, also once the window slides', (kind) => {
    const m = new MoeTransformer(ops, config({ dense: kind === 'moe-dense', capacityFactor: 0.5 }), new Rng(3));
    for (const p of m.params) new Rng(p.name.length).fillNormal(p.value.data, 0, 0.3);
    const rng = new Rng(4);
    const tokens = Array.from({ length: 13 }, () => rng.int(0, 11));
    // A prompt of 3, then one token at a time: positions 0..7 fill the cache, then it slides.
    let got = m.nextLogProbs(tokens.slice(0, 3));
    let want = m.windowLogProbs(tokens.slice(0, 3))[2];
    for (let j = 0; j < 11; j++) expect(got[j]).toBeCloseTo(want[j], 10);
    for (let i = 3; i < tokens.length; i++) {
      got = m.nextLogProbs([tokens[i]]);
      const win = tokens.slice(Math.max(0, i + 1 - 8), i + 1);
      want = m.windowLogProbs(win)[win.length - 1];
      for (let j = 0; j < 11; j++) expect(got[j], `token ${i}, class ${j}`).toBeCloseTo(want[j], 10);
    }
    m.resetSampling();
    got = m.nextLogProbs(tokens.slice(0, 2));
    want = m.windowLogProbs(tokens.slice(0, 2))[1];
    for (let j = 0; j < 11; j++) expect(got[j]).toBeCloseTo(want[j], 10);
  });

  it.each([
    ['moe top-2 capacity', { capacityFactor: 0.75, balanceCoef: 0.1, zLossCoef: 0.01 }],
    ['moe top-1 untied', { topK: 1, tiedEmbeddings: false }],
    ['moe-dense', { dense: true }],
  ] as const)('%s: recompute on and off give bit-identical loss and gradients', (_, extra) => {
    const run = (recompute: boolean) => {
      const m = new MoeTransformer(ops, config({ ...extra, recompute }), new Rng(5));
      const batch = randomBatch(ops, new Rng(6), 11, 3, 7);
      zeroGrads(ops, m.params);
      const loss = m.forwardBackward(batch, true);
      return [loss, m.lastAuxLoss, ...grads(m)];
    };
    const a = run(false), b = run(true);
    expect(b).toEqual(a);
    expect(a.slice(2).some((v) => v !== 0)).toBe(true);
  });

  it('counts expert MACs, per-expert tokens, drops and loads; dropless top-k runs k/E of all-experts MACs', () => {
    const C = 8, F = 6, E = 4, k = 2, B = 3, T = 7, n = B * T;
    const m = new MoeTransformer(ops, config(), new Rng(7));
    const batch = randomBatch(ops, new Rng(8), 11, B, T);
    m.forwardBackward(batch, false); // validation forwards are not counted
    expect(m.stats().tokens).toBe(0);
    for (let s = 0; s < 2; s++) m.forwardBackward(batch, true);
    const st = m.stats();
    expect(st.tokens).toBe(2 * n);
    expect(st.layers).toHaveLength(2);
    for (const l of st.layers) {
      expect(l.tokensPerExpert.reduce((a, b) => a + b, 0)).toBe(2 * n * k);
      expect(l.routedPerExpert).toEqual(l.tokensPerExpert);
      expect(l.dropped).toBe(0);
    }
    expect(st.allExpertsMacs).toBe(2 * 2 * 3 * C * F * E * n);
    expect(st.expertMacs).toBe(st.allExpertsMacs * k / E);
    expect(st.auxLoss).toBeGreaterThan(0);
    const load = m.expertLoad();
    expect(load).toHaveLength(2);
    for (const row of load) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(m.expertLoad().flat().every((v) => v === 0)).toBe(true); // reset by the call
    m.resetStats();
    expect(m.stats()).toMatchObject({ tokens: 0, expertMacs: 0, allExpertsMacs: 0, auxLoss: 0 });

    // With capacity, drops are counted and routed ≥ kept.
    const c = new MoeTransformer(ops, config({ capacityFactor: 0.5 }), new Rng(7));
    for (const b of c.blocks) new Rng(9).fillNormal(b.ffn.router!.W.value.data, 0, 3);
    c.forwardBackward(batch, true);
    const cs = c.stats();
    for (const l of cs.layers) {
      const kept = l.tokensPerExpert.reduce((a, b) => a + b, 0);
      expect(l.dropped).toBe(n * k - kept);
      expect(Math.max(...l.tokensPerExpert)).toBeLessThanOrEqual(Math.ceil(0.5 * n * k / E));
      l.routedPerExpert.forEach((r, e) => expect(r).toBeGreaterThanOrEqual(l.tokensPerExpert[e]));
    }
    expect(cs.layers.some((l) => l.dropped > 0)).toBe(true);
    expect(cs.expertMacs).toBe(3 * C * F * cs.layers.reduce((s, l) => s + l.tokensPerExpert.reduce((a, b) => a + b, 0), 0));
  });

  it('the dense variant matches the active parameters of top-k experts and runs all its MACs', () => {
    const moe = new MoeTransformer(ops, config(), new Rng(1));
    const dense = new MoeTransformer(ops, config({ dense: true }), new Rng(1));
    const size = (m: MoeTransformer, what: string) => m.params.filter((p) => p.name.includes(what)).reduce((s, p) => s + p.value.size, 0);
    // Per layer: k experts of 3·C·F = one FFN of 3·C·(k·F).
    expect(size(dense, '.ffn.W')).toBe(size(moe, '.moe.W') * 2 / 4);
    expect(dense.params.some((p) => p.name.includes('router'))).toBe(false);
    dense.forwardBackward(randomBatch(ops, new Rng(2), 11, 2, 5), true);
    const st = dense.stats();
    expect(st.expertMacs).toBe(st.allExpertsMacs);
    expect(st.expertMacs).toBe(2 * 3 * 8 * 12 * 10);
    expect(st.layers[0].tokensPerExpert).toEqual([10]);
    // Training FLOPs per token: 6 × (4C² + router + k·3CF per layer + C·V) + 12·L·C·context; equal
    // for both variants but for the router.
    const C = 8, L = 2, V = 11, ctx = 8;
    expect(moe.flopsPerToken()).toBe(6 * (L * (4 * C * C + C * 4 + 2 * 3 * C * 6) + C * V) + 12 * L * C * ctx);
    expect(moe.flopsPerToken() - dense.flopsPerToken()).toBe(6 * L * C * 4);
  });

  it('learns: 40 SGD steps on one batch lower the loss', () => {
    const m = new MoeTransformer(ops, config({ balanceCoef: 0.01 }), new Rng(11));
    const batch = randomBatch(ops, new Rng(12), 11, 2, 8);
    const first = m.forwardBackward(batch, false);
    for (let s = 0; s < 40; s++) {
      zeroGrads(ops, m.params);
      m.forwardBackward(batch, true);
      for (const p of m.params) ops.axpy(-0.5, p.grad, p.value);
    }
    const last = m.forwardBackward(batch, false);
    expect(last).toBeLessThan(first - 0.5);
  });

  it.each(['moe', 'moe-dense'])('%s on the WASM backend matches the reference: loss and every gradient', (kind) => {
    const cfg = config({ dense: kind === 'moe-dense', capacityFactor: 1, balanceCoef: 0.1, zLossCoef: 0.01 });
    const [r, w] = [ops, wasm].map((o) => {
      const m = new MoeTransformer(o, cfg, new Rng(13));
      const b = randomBatch(o, new Rng(14), 11, 2, 8);
      zeroGrads(o, m.params);
      const loss = m.forwardBackward(b, true);
      return [loss, m.lastAuxLoss, ...grads(m)];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(2e-4 * Math.max(1, Math.abs(v))));
  });
});
