// Dropout in the MoE transformer and its dense variant (src/models/moe-transformer.ts: embeddings,
// each block's attention branch and MoE/FFN branch): the shared dropout cases
// (tests/models/dropout-cases.ts), including the registered fixed-mask gradient checks
// moe-dropout and moe-dense-dropout; and on CudaOps over the emulated addon, a dropless training
// step with dropout still reads nothing from the device but the loss (the masks are drawn on the
// host and only uploaded) and gives the f32 reference's loss and gradients.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { MoeTransformer } from '../../src/models/moe-transformer.js';
import { tinyMoeConfig } from '../../src/gradcheck/moe-checks.js';
import { randomBatch } from '../../src/gradcheck/model-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Rng } from '../../src/util/rng.js';
import { emulatedAddon } from '../backends/cuda-emulated-addon.js';
import { describeDropout, trainingStep } from './dropout-cases.js';

const trainOptions = { layers: 1, heads: 2, dModel: 8, experts: 4, topK: 2, expertHidden: 8, context: 8 };

describeDropout('moe', {
  model: 'moe',
  checks: ['moe-dropout'],
  make: (ops, dropout, rng) => new MoeTransformer(ops, tinyMoeConfig({ capacityFactor: 1, balanceCoef: 0.2, zLossCoef: 0.05, dropout }), rng),
  time: 5,
  sites: 5,
  trainOptions,
  // f32 and f64 must pick the same experts: no token near a tie in the reference's training forward.
  afterReference: (m) => expect((m as MoeTransformer).routingMargin()).toBeGreaterThan(1e-4), // f32 error is ~1e-6
});

describeDropout('moe-dense', {
  model: 'moe-dense',
  checks: ['moe-dense-dropout'],
  make: (ops, dropout, rng) => new MoeTransformer(ops, tinyMoeConfig({ dense: true, dropout }), rng),
  time: 5,
  sites: 5,
  trainOptions,
});

describe('moe dropout on CudaOps (emulated addon)', () => {
  it('a dropless training step with dropout reads only the loss and matches the f32 reference', () => {
    const emu = emulatedAddon(64 << 20);
    const ops = new CudaOps(emu, 'Emulated');
    let downloads = 0;
    const download = emu.download.bind(emu);
    emu.download = (ptr, a) => { downloads++; download(ptr, a); };
    const cfg = tinyMoeConfig({ capacityFactor: null, balanceCoef: 0.1, zLossCoef: 0.01, dropout: 0.3 });
    const m = new MoeTransformer(ops, cfg, new Rng(3));
    const batch = randomBatch(ops, new Rng(4), 7, 2, 5);
    m.forwardBackward(batch, true);
    zeroGrads(ops, m.params);
    downloads = 0;
    const loss = m.forwardBackward(batch, true);
    expect(downloads).toBe(0);
    // The reference draws the same masks from the same seed: its second step.
    const r = new MoeTransformer(new ReferenceOps('f32'), cfg, new Rng(3));
    const rb = randomBatch(r.ops, new Rng(4), 7, 2, 5);
    r.forwardBackward(rb, true);
    const [rLoss, ...rGrads] = trainingStep(r.ops, r, rb);
    expect(loss).toBeCloseTo(rLoss, 5);
    const grads = m.params.flatMap((p) => Array.from(p.grad.data));
    grads.forEach((g, i) => expect(Math.abs(g - rGrads[i]), `${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(rGrads[i]))));
    expect(Math.abs(m.forwardBackward(batch, false) - loss)).toBeGreaterThan(1e-3); // the step did drop
    ops.dispose();
  });
});
