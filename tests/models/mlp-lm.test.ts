import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { MlpLM } from '../../src/models/mlp-lm.js';
import { getModel, modelConfig, createModel } from '../../src/models/registry.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { randomBatch, randomizeParams } from '../../src/gradcheck/model-checks.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('mlp-lm gradient check (float64 reference, the mean loss of forwardBackward)', () => {
  it('is registered and passes for the embeddings and both layers', () => {
    expect(listGradChecks()).toContain('mlp-lm');
    const [r] = runGradChecks(['mlp-lm']);
    expect(r.tensors.map((t) => t.name)).toEqual(['C', 'mlp.0.W', 'mlp.0.b', 'mlp.1.W', 'mlp.1.b']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });
});

describe('MlpLM', () => {
  it('is registered as mlp-lm (alias bengio), not stateful, with --context/--embed/--hidden', () => {
    const spec = getModel('mlp-lm');
    expect(getModel('bengio')).toBe(spec);
    expect(spec.stateful).toBe(false);
    expect(spec.options.map((o) => o.key)).toEqual(['context', 'embed', 'hidden']);
    const config = modelConfig(spec, { context: '5', hidden: 20 }, 11);
    expect(config).toEqual({ context: 5, embed: 16, hidden: 20, vocabSize: 11 });
    const m = createModel(ops, 'mlp-lm', config, new Rng(1));
    expect(m.config).toEqual(config);
    // Table [V+1, E], W1 [N·E, H], b1, W2 [H, V], b2.
    expect(m.params.map((p) => p.shape)).toEqual([[12, 16], [80, 20], [20], [20, 11], [11]]);
    expect(() => modelConfig(spec, { context: 0 }, 11)).toThrow(/--context expects an integer from 1 to 64/);
  });

  it('nextLogProbs, fed one token at a time, gives the same loss as forwardBackward on the sequence', () => {
    // Both start from PAD before the first token, so the first N−1 predictions agree too.
    const V = 6, rng = new Rng(2);
    const m = new MlpLM(ops, { vocabSize: V, context: 3, embed: 4, hidden: 7 }, rng);
    randomizeParams(m, rng);
    const batch = randomBatch(ops, rng, V, 1, 9);
    batch.targets.data[8] = 2; // no padding here
    const loss = m.forwardBackward(batch, false);
    m.resetSampling();
    let sum = 0;
    for (let t = 0; t < 9; t++) {
      const lp = m.nextLogProbs([batch.inputs.data[t]]);
      expect(lp.reduce((s, v) => s + Math.exp(v), 0)).toBeCloseTo(1, 12);
      sum -= lp[batch.targets.data[t]];
    }
    expect(loss).toBeCloseTo(sum / 9, 12);
    // resetSampling forgets the history.
    m.resetSampling();
    const again = m.nextLogProbs([batch.inputs.data[0]]);
    m.resetSampling();
    expect(Array.from(m.nextLogProbs([batch.inputs.data[0]]))).toEqual(Array.from(again));
  });

  it('refuses bad sizes, and tokens outside the vocabulary before any enters the sampling history', () => {
    expect(() => new MlpLM(ops, { vocabSize: 4, context: 2, embed: 0, hidden: 3 }, new Rng(1))).toThrow('mlp-lm: embed must be an integer ≥ 1, got 0');
    const m = new MlpLM(ops, { vocabSize: 4, context: 2, embed: 2, hidden: 3 }, new Rng(1));
    expect(() => m.nextLogProbs([4])).toThrow('mlp-lm: token 4 is outside the vocabulary 0..3');
    const before = Array.from(m.nextLogProbs([2])); // context 2: PAD, 2
    m.resetSampling();
    expect(() => m.nextLogProbs([3, 3, 1.5])).toThrow('mlp-lm: token 1.5 is outside');
    expect(Array.from(m.nextLogProbs([2]))).toEqual(before);
    const batch = randomBatch(ops, new Rng(1), 4, 1, 3);
    batch.inputs.data[1] = 9;
    expect(() => m.forwardBackward(batch, false)).toThrow('mlp-lm: token 9 is outside the vocabulary 0..3');
  });

  it('learns what a bigram cannot: trained on text where the next character depends on the last three', async () => {
    const text = 'the cat sat on the mat. '.repeat(300);
    // The best any bigram can do: the conditional entropy H(next | previous) of the text.
    const ids = CharTokenizer.fromText(text).encode(text);
    const pair = new Map<string, number>(), prev = new Map<number, number>();
    for (let i = 0; i + 1 < ids.length; i++) {
      pair.set(`${ids[i]},${ids[i + 1]}`, (pair.get(`${ids[i]},${ids[i + 1]}`) ?? 0) + 1);
      prev.set(ids[i], (prev.get(ids[i]) ?? 0) + 1);
    }
    let bigramEntropy = 0;
    for (const [k, c] of pair) bigramEntropy -= (c / (ids.length - 1)) * Math.log(c / prev.get(Number(k.split(',')[0]))!);
    expect(bigramEntropy).toBeGreaterThan(0.3);

    const summary = await train({
      model: 'mlp-lm', modelOptions: { context: 3, embed: 8, hidden: 32 }, data: { name: 'cat', source: 'test', text },
      steps: 200, batch: 8, seq: 32, valEvery: 0, out: null, ops: new ReferenceOps('f64'),
    });
    // Only the first two positions of a window lack context (PAD), so the loss falls far below
    // the bigram bound.
    expect(summary.valLoss!).toBeLessThan(bigramEntropy / 3);
    expect(summary.trainLoss).toBeLessThan(bigramEntropy / 3);
  });
});
