import { beforeAll, describe, expect, it } from 'vitest';
import type { Ops } from '../../src/ops/types.js';
import { createOps } from '../../src/backends/index.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Rng } from '../../src/util/rng.js';
import { AttentionLM, type AttentionPath } from '../../src/models/lstm-attention-lm.js';
import type { AttentionLMConfig } from '../../src/models/lstm-attention-lm.js';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { emulatedAddon } from '../backends/cuda-emulated-addon.js';
import { createModel, getModel, modelConfig } from '../../src/models/registry.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { randomBatch } from '../../src/gradcheck/model-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Adam } from '../../src/train/optimizers.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

const cfg = { vocabSize: 7, hidden: 12, layers: 2, embed: 5 };

function batchOn(ops: Ops, seed: number, B = 3, T = 9) {
  return randomBatch(ops, new Rng(seed), cfg.vocabSize, B, T);
}

describe('lstm-attention (src/models/lstm-attention-lm.ts)', () => {
  it('gradient check lstm-attention-lm passes (float64, 2 layers, every step)', () => {
    expect(listGradChecks()).toContain('lstm-attention-lm');
    const [r] = runGradChecks(['lstm-attention-lm']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('gradient check lstm-attention-host passes: the host-loop attention (CUDA widths > 128) has its own backward', () => {
    const [r] = runGradChecks(['lstm-attention-host']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('is registered and rebuilds from its saved config', () => {
    const spec = getModel('lstm-attention');
    expect(spec.stateful).toBe(false);
    const m = createModel(ref, 'lstm-attention', modelConfig(spec, { hidden: 6 }, 9), new Rng(1));
    const again = createModel(ref, 'lstm-attention', m.config, new Rng(1));
    expect(again.config).toEqual(m.config);
    expect(m.params.map((p) => p.name)).toEqual(expect.arrayContaining(['attn.Wa', 'attn.Wcc', 'attn.Wcs']));
  });

  it('is causal: position t attends to t + 1 states, and later tokens do not change earlier losses', () => {
    const m = new AttentionLM(ref, cfg, new Rng(3));
    const b = batchOn(ref, 4, 1, 8);
    b.targets.data.fill(-1); b.targets.data[2] = 1;
    const l1 = m.forwardBackward(b, false);
    for (let t = 0; t < 8; t++) {
      const w = m.attentionWeights(0, t);
      expect(w).toHaveLength(t + 1);
      expect(w.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 12);
    }
    b.inputs.data[5] = (b.inputs.data[5] + 1) % cfg.vocabSize; b.inputs.data[7] = (b.inputs.data[7] + 2) % cfg.vocabSize;
    expect(m.forwardBackward(b, false)).toBe(l1);
  });

  it('WASM agrees with the float64 reference: loss and every gradient', () => {
    const mr = new AttentionLM(ref, cfg, new Rng(5)), mw = new AttentionLM(wasm, cfg, new Rng(5));
    mw.params.forEach((p, i) => p.value.data.set(mr.params[i].value.data));
    for (const p of [...mr.params, ...mw.params]) p.grad.data.fill(0);
    const lr = mr.forwardBackward(batchOn(ref, 6), true), lw = mw.forwardBackward(batchOn(wasm, 6), true);
    expect(Math.abs(lr - lw)).toBeLessThan(1e-5 * Math.abs(lr));
    mr.params.forEach((p, i) => {
      const g = p.grad.data, h = mw.params[i].grad.data;
      let num = 0, den = 0;
      for (let k = 0; k < g.length; k++) { num += (g[k] - h[k]) ** 2; den += g[k] ** 2; }
      expect(Math.sqrt(num / Math.max(den, 1e-30)), p.name).toBeLessThan(1e-4);
    });
  });

  it('dropout: evaluation equals the model without dropout on the same weights; a training pass drops', () => {
    const plain = new AttentionLM(ref, cfg, new Rng(11)), drop = new AttentionLM(ref, { ...cfg, dropout: 0.4 }, new Rng(11));
    expect(drop.config.dropout).toBe(0.4);
    expect(plain.config).not.toHaveProperty('dropout'); // old checkpoints' configs read unchanged
    expect(drop.dropouts.map((d) => d.p)).toEqual([0.4, 0.4]);
    drop.params.forEach((p, i) => expect(Array.from(p.value.data)).toEqual(Array.from(plain.params[i].value.data)));
    const b = batchOn(ref, 12);
    const evalLoss = plain.forwardBackward(b, false);
    expect(drop.forwardBackward(b, false)).toBe(evalLoss);
    expect(drop.nextLogProbs([1, 2, 3])).toEqual(plain.nextLogProbs([1, 2, 3]));
    zeroGrads(ref, drop.params); zeroGrads(ref, plain.params);
    const trainDrop = drop.forwardBackward(b, true), trainPlain = plain.forwardBackward(b, true);
    expect(trainPlain).toBe(evalLoss);
    expect(trainDrop).not.toBe(evalLoss);
    // Both masks act: the attention weights (from the dropped h) differ from the plain model's.
    expect(drop.attentionWeights(1, 4)).not.toEqual(plain.attentionWeights(1, 4));
    expect(() => new AttentionLM(ref, { ...cfg, dropout: 1 }, new Rng(1))).toThrow('lstm-attention: dropout must be in [0, 1), got 1');
  });

  it('nextLogProbs gives the same next-token distribution as the training pass', () => {
    const m = new AttentionLM(ref, cfg, new Rng(7));
    const toks = [1, 4, 2, 6, 0, 3];
    const lp = m.nextLogProbs(toks.slice(0, 3));
    expect(lp.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 12);
    const lp2 = m.nextLogProbs(toks.slice(3)); // continues the history
    const b = { inputs: ref.intsFrom(Int32Array.from(toks)), targets: ref.intsFrom(Int32Array.from([-1, -1, -1, -1, -1, 5])), batch: 1, time: 6 };
    expect(m.forwardBackward(b, false)).toBeCloseTo(-lp2[5], 10);
    m.resetSampling();
    expect(m.nextLogProbs(toks.slice(0, 3))).toEqual(lp);
  });

  it('learns a pattern that needs a look back (WASM, 150 Adam steps)', () => {
    const m = new AttentionLM(wasm, { vocabSize: 6, hidden: 24, layers: 1, embed: 8 }, new Rng(2));
    const opt = new Adam(wasm);
    const refs = m.params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows }));
    const rng = new Rng(3), B = 8, T = 12;
    const inputs = wasm.ints(B * T), targets = wasm.ints(B * T);
    let loss = Infinity;
    for (let step = 0; step < 150; step++) {
      // a random 3-token motif repeated: from position 3 on, the next token is the one 2 back
      for (let b = 0; b < B; b++) {
        const motif = [rng.int(0, 6), rng.int(0, 6), rng.int(0, 6)];
        for (let t = 0; t < T; t++) { inputs.data[b * T + t] = motif[t % 3]; targets.data[b * T + t] = t >= 2 ? motif[(t + 1) % 3] : -1; }
      }
      zeroGrads(wasm, m.params);
      loss = m.forwardBackward({ inputs, targets, batch: B, time: T }, true);
      opt.step(refs, 2e-2);
    }
    expect(loss).toBeLessThan(0.2 * Math.log(6));
  });
});

/** One training step's loss and every gradient (flattened), from fresh weights of `seed`. */
function lossAndGrads(ops: Ops, config: AttentionLMConfig, path: AttentionPath, seed = 21, B = 3, T = 9): { loss: number; grads: Float64Array[]; model: AttentionLM } {
  const model = new AttentionLM(ops, config, new Rng(seed), path);
  zeroGrads(ops, model.params);
  const loss = model.forwardBackward(randomBatch(ops, new Rng(seed + 1), config.vocabSize, B, T), true);
  return { loss, grads: model.params.map((p) => Float64Array.from(p.grad.data)), model };
}

/** ‖a − b‖ / ‖b‖ over one tensor's values. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

describe('lstm-attention: the fused attention (Ops.attention) against the host loops', () => {
  it.each([
    ['no dropout', { ...cfg }],
    ['dropout 0.3', { ...cfg, dropout: 0.3 }],
  ])('float64 reference, %s: the same loss and every gradient', (_name, config) => {
    const fused = lossAndGrads(ref, config, 'fused'), host = lossAndGrads(ref, config, 'host');
    expect(fused.model.fusedAttention).toBe(true);
    expect(host.model.fusedAttention).toBe(false);
    expect(Math.abs(fused.loss - host.loss)).toBeLessThan(1e-12 * Math.abs(host.loss));
    fused.grads.forEach((g, i) => expect(relDiff(g, host.grads[i]), fused.model.params[i].name).toBeLessThan(1e-10));
    // attentionWeights reads the same α on both paths (the fused one recomputes it from h and K).
    for (const [b, t] of [[0, 0], [1, 4], [2, 8]]) {
      const a = fused.model.attentionWeights(b, t), h = host.model.attentionWeights(b, t);
      expect(relDiff(a, h)).toBeLessThan(1e-12);
    }
  });

  // Head width D = hidden: odd widths (a ragged SIMD tail) and 256 (the tiled kernel's widest).
  it.each([7, 33, 256])('WASM kernel at hidden %i agrees with the float64 host loops', (hidden) => {
    const config = { vocabSize: 7, hidden, layers: 1, embed: 5 };
    const w = lossAndGrads(wasm, config, 'auto', 31, 2, 9), r = lossAndGrads(ref, config, 'host', 31, 2, 9);
    expect(w.model.fusedAttention).toBe(true);
    expect(Math.abs(w.loss - r.loss)).toBeLessThan(1e-5 * Math.abs(r.loss));
    w.grads.forEach((g, i) => expect(relDiff(g, r.grads[i]), w.model.params[i].name).toBeLessThan(2e-4));
  });

  it('CUDA (emulated addon): fused up to hidden 128, the host loops above (its kernels stop at head width 128)', () => {
    const ops = new CudaOps(emulatedAddon(64 << 20), 'Emulated');
    try {
      for (const hidden of [8, 130]) {
        const config = { vocabSize: 7, hidden, layers: 1, embed: 5 };
        const c = lossAndGrads(ops, config, 'auto', 41, 2, 6), r = lossAndGrads(ref, config, 'host', 41, 2, 6);
        expect(c.model.fusedAttention).toBe(hidden <= 128);
        expect(Math.abs(c.loss - r.loss)).toBeLessThan(1e-5 * Math.abs(r.loss));
        c.grads.forEach((g, i) => expect(relDiff(g, r.grads[i]), `${hidden} ${c.model.params[i].name}`).toBeLessThan(2e-4));
      }
    } finally {
      ops.dispose();
    }
  });
});
