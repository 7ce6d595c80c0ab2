// The continuum-memory language model (src/models/memory-lm.ts): registration and option checks,
// its registered gradient checks (whole model, BPTT through every memory update), step-by-step
// sampling against the batched forward (every rule and inner optimiser), learning a short
// repetitive text on WASM, and the one training loop with sampling.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { MemoryLM, type MemoryLMConfig } from '../../src/models/memory-lm.js';
import { getModel, modelConfig, createModel } from '../../src/models/registry.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { smallMemoryLMConfig } from '../../src/gradcheck/memory-checks.js';
import { randomBatch, randomizeParams } from '../../src/gradcheck/model-checks.js';
import type { TokenBatch } from '../../src/models/types.js';
import { zeroGrads } from '../../src/layers/param.js';
import { sampleTokens } from '../../src/models/sample.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { charStream, greedyDecode, memorise } from './helpers.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

describe('registration', () => {
  it('registers memory-lm as a non-stateful model and validates its options', () => {
    const spec = getModel('memory-lm');
    expect(spec.stateful).toBe(false);
    const config = modelConfig(spec, { dModel: '8', heads: 2, levels: '2', rule: 'hebbian', innerOptimizer: 'adam' }, 11);
    const m = createModel(ref, 'memory-lm', config, new Rng(1)) as MemoryLM;
    expect(m.config).toMatchObject({ vocabSize: 11, dModel: 8, heads: 2, levels: 2, periodBase: 4, rule: 'hebbian', innerOptimizer: 'adam' });
    expect(m.blocks[0].memories).toHaveLength(2);
    expect(m.blocks[0].memories[0].periods).toEqual([1, 4]);
    // level l steps by innerLr / period_l
    expect(m.blocks[0].memories[0].levels.map((l) => l.core.eta)).toEqual([1, 0.25]);
    expect(() => modelConfig(spec, { rule: 'oja' }, 5)).toThrow(/--rule expects one of delta, hebbian/);
    expect(() => new MemoryLM(ref, smallMemoryLMConfig({ dModel: 7 }), new Rng(1))).toThrow(/multiple of heads/);
    expect(() => m.nextLogProbs([11])).toThrow(/outside the vocabulary/);
    expect(() => new MemoryLM(ref, smallMemoryLMConfig({ levels: 0 }), new Rng(1))).toThrow('memory-lm: levels must be an integer ≥ 1, got 0');
    // A batch's ids are checked before the forward; a prompt's (fractional ids too) before any enters the memories.
    const small = new MemoryLM(ref, smallMemoryLMConfig(), new Rng(1));
    const bad = randomBatch(ref, new Rng(2), 7, 2, 3);
    bad.inputs.data[4] = 7;
    expect(() => small.forwardBackward(bad, true)).toThrow('memory-lm: token 7 is outside the vocabulary 0..6');
    expect(() => small.nextLogProbs([1, 1.5])).toThrow('memory-lm: token 1.5 is outside the vocabulary 0..6');
    expect(() => small.windowLogProbs([1, -1])).toThrow('memory-lm: token -1 is outside the vocabulary 0..6');
  });
});

describe('gradients', () => {
  it.each(['memory-lm', 'memory-lm-adam-raw', 'memory-lm-hebbian-momentum-learned'])("passes the registered gradient check '%s'", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.passed, `${name}: max rel error ${r.maxRelError}`).toBe(true);
    expect(r.maxRelError).toBeLessThan(1e-6);
  });
});

describe('sampling', () => {
  const VARIANTS: Array<[string, Partial<MemoryLMConfig>]> = [
    ['delta, gd, sum', {}],
    ['hebbian, momentum, learned', { rule: 'hebbian', innerOptimizer: 'momentum', innerLr: 0.5, mix: 'learned' }],
    ['delta, adam', { innerOptimizer: 'adam', innerLr: 0.1 }],
  ];
  it.each(VARIANTS)('step-by-step nextLogProbs equals the batched forward token for token (%s)', (_, extra) => {
    const m = new MemoryLM(ref, smallMemoryLMConfig(extra), new Rng(3));
    randomizeParams(m, new Rng(4));
    const tokens = [1, 4, 2, 6, 0, 3, 3, 5, 1, 2, 4]; // 11 tokens: levels with period 3 commit three times
    const rows = m.windowLogProbs(tokens);
    m.resetSampling();
    // Fed in uneven pieces: the memories carry across calls.
    const pieces = [[1, 4, 2], [6], [0, 3, 3, 5], [1], [2, 4]];
    let t = -1;
    for (const p of pieces) {
      const lp = m.nextLogProbs(p);
      t += p.length;
      for (let j = 0; j < 7; j++) expect(lp[j]).toBeCloseTo(rows[t][j], 10);
    }
    // resetSampling starts over.
    m.resetSampling();
    const first = m.nextLogProbs([1]);
    for (let j = 0; j < 7; j++) expect(first[j]).toBeCloseTo(rows[0][j], 10);
  });
});

describe('the memory recurrence op', () => {
  // The WASM backend runs the recurrence as one kernel call per level of a block, every head in it
  // (Ops.memoryForward with MemoryShape.heads, src/layers/memory-heads.ts); a
  // backend without a kernel for it (CUDA) runs the reference loops on the host mirrors. The same
  // model on both paths, one training step: the loss and every gradient agree to float32 rounding.
  it.each([['delta', 'gd'], ['hebbian', 'momentum'], ['delta', 'adam']] as const)(
    '%s / %s: the WASM kernel and the reference loops on the host give the same loss and gradients', (rule, innerOptimizer) => {
      // Prototype delegation: every op of `wasm` except the memory recurrence, which runs the
      // reference backend's loops on the WASM tensors' .data (as CudaOps does on its mirrors).
      const ref = new ReferenceOps('f32');
      const noOp = Object.create(wasm, {
        memoryForward: { value: ref.memoryForward.bind(ref) },
        memoryBackward: { value: ref.memoryBackward.bind(ref) },
      }) as Ops;
      const config = smallMemoryLMConfig({ rule, innerOptimizer, innerLr: 0.5, dModel: 10, heads: 2, levels: 3, periodBase: 3 });
      const results = [wasm, noOp].map((ops) => {
        const m = new MemoryLM(ops, config, new Rng(5));
        randomizeParams(m, new Rng(6), 0.3);
        const rng = new Rng(7), B = 2, T = 20;
        const batch: TokenBatch = { inputs: ops.ints(B * T), targets: ops.ints(B * T), batch: B, time: T };
        for (let i = 0; i < B * T; i++) { batch.inputs.data[i] = rng.int(0, 7); batch.targets.data[i] = rng.int(0, 7); }
        zeroGrads(ops, m.params);
        const loss = m.forwardBackward(batch, true);
        return { loss, grads: m.params.map((p) => ({ name: p.name, g: Array.from(p.grad.data) })) };
      });
      const [op, host] = results;
      // gd and momentum agree to ~1e-6 (measured ≤ 1.1e-6). Adam at the model's ε = 1e-8 is
      // ill-conditioned: m̂/√(û + ε) is ≈ sign(A) for |A| ≫ √ε, so its derivative, ε/(A² + ε)^{3/2}
      // at the first commit, magnifies the float32 rounding of small A entries (the host path keeps
      // the state in float64); measured ≤ 1.5e-3.
      const tolerance = innerOptimizer === 'adam' ? 5e-3 : 1e-5;
      expect(Math.abs(op.loss - host.loss)).toBeLessThan(1e-5 * host.loss);
      for (let i = 0; i < host.grads.length; i++) {
        const a = op.grads[i].g, b = host.grads[i].g;
        const scale = Math.max(...b.map(Math.abs));
        const err = Math.max(...b.map((x, j) => Math.abs(a[j] - x)));
        expect(err, host.grads[i].name).toBeLessThanOrEqual(tolerance * scale);
      }
    });
});

describe('learning', () => {
  it('learns a short repetitive text (WASM, Adam) and greedy decoding continues it', () => {
    const text = 'the cat sat on the mat. ';
    const { chars, stream } = charStream(text, 12);
    const m = new MemoryLM(wasm, { ...smallMemoryLMConfig(), vocabSize: chars.length, dModel: 32, heads: 4, ffHidden: 0, levels: 3, periodBase: 4 }, new Rng(1));
    const { first, last } = memorise(wasm, m, stream, { batch: 4, time: 24, maxSteps: 200, lr: 1e-2, clip: 1, stopBelow: 0.1, seed: 2 });
    expect(first).toBeGreaterThan(Math.log(chars.length) - 0.3);
    expect(last).toBeLessThan(0.3);
    // After a full period of the text as prompt, greedy decoding continues it.
    const out = greedyDecode(m, Array.from(text, (c) => chars.indexOf(c)), text.length);
    expect(out.map((i) => chars[i]).join('')).toBe(text);
  });

  it('trains through the one training loop and samples', async () => {
    const text = 'abcabcabdabcabcabd '.repeat(60);
    const summary = await train({
      model: 'memory-lm', modelOptions: { dModel: 16, heads: 2, layers: 1 }, data: { name: 'abc', source: 'test', text },
      steps: 30, batch: 4, seq: 16, valEvery: 0, out: null, ops: wasm,
    });
    expect(summary.steps).toBe(30);
    expect(summary.valLoss!).toBeLessThan(Math.log(5));
    const m = new MemoryLM(wasm, { ...smallMemoryLMConfig(), vocabSize: 5 }, new Rng(1));
    const out = sampleTokens(m, [1, 2], { length: 20, temperature: 1, rng: new Rng(1) });
    expect(out).toHaveLength(20);
    expect(out.every((id) => Number.isInteger(id) && id >= 0 && id < 5)).toBe(true);
  });
});
