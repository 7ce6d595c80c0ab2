import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createOps } from '../../src/backends/index.js';
import { BigramLM } from '../../src/models/bigram.js';
import { modelCheck, randomBatch, randomizeParams } from '../../src/gradcheck/model-checks.js';
import { gradCheck } from '../../src/gradcheck/harness.js';
import type { TokenBatch } from '../../src/models/types.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('bigram gradient check (float64 reference, central differences of the mean loss)', () => {
  it('is registered and passes', () => {
    expect(listGradChecks()).toContain('bigram');
    const [r] = runGradChecks(['bigram']);
    expect(r.tensors.map((t) => t.name)).toEqual(['W', 'b']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('fails a backward pass that forgets the 1/count scale of the bias gradient', () => {
    class Broken extends BigramLM {
      override forwardBackward(batch: TokenBatch, train: boolean): number {
        const loss = super.forwardBackward(batch, train);
        if (train) this.ops.scale(this.b.grad, 9); // as if dlogits were not divided by the count
        return loss;
      }
    }
    const def = modelCheck('broken', (o, rng) => ({ model: new Broken(o, { vocabSize: 7 }, rng), batch: randomBatch(o, rng, 7, 2, 5) }));
    const r = gradCheck(def.make(ops, new Rng(1)));
    expect(r.passed).toBe(false);
    expect(r.tensors.find((t) => t.name === 'b')!.relError).toBeGreaterThan(0.1);
    expect(r.tensors.find((t) => t.name === 'W')!.relError).toBeLessThan(1e-6);
  });
});

describe('BigramLM', () => {
  it('starts at loss ln V (zero weights: the uniform distribution)', () => {
    const m = new BigramLM(ops, { vocabSize: 11 }, new Rng(1));
    expect(m.forwardBackward(randomBatch(ops, new Rng(2), 11, 3, 4), false)).toBeCloseTo(Math.log(11), 12);
  });

  it('computes the mean cross-entropy of softmax(W[prev] + b), padding excluded', () => {
    const V = 5, rng = new Rng(3);
    const m = new BigramLM(ops, { vocabSize: V }, rng);
    randomizeParams(m, rng);
    const batch = randomBatch(ops, rng, V, 2, 3); // target 2 of row 0 is padding
    const W = m.W.value.data, b = m.b.value.data;
    let sum = 0, count = 0;
    for (let i = 0; i < 6; i++) {
      const x = batch.inputs.data[i], y = batch.targets.data[i];
      if (y < 0) continue;
      const logits = Array.from({ length: V }, (_, j) => W[x * V + j] + b[j]);
      const lse = Math.log(logits.reduce((s, l) => s + Math.exp(l), 0));
      sum += lse - logits[y];
      count++;
    }
    expect(count).toBe(5);
    expect(m.forwardBackward(batch, false)).toBeCloseTo(sum / count, 12);
  });

  it('nextLogProbs is the log-softmax of the row of the last token', () => {
    const V = 6, rng = new Rng(4);
    const m = new BigramLM(ops, { vocabSize: V }, rng);
    randomizeParams(m, rng);
    const lp = m.nextLogProbs([0, 3]);
    expect(lp.reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 12);
    const row = Array.from({ length: V }, (_, j) => m.W.value.data[3 * V + j] + m.b.value.data[j]);
    expect(lp[1] - lp[4]).toBeCloseTo(row[1] - row[4], 12);
    // The state is the last token: feeding nothing more gives the same distribution.
    expect(Array.from(m.nextLogProbs([]))).toEqual(Array.from(lp));
    // Every token of a prompt is checked, not only the last, and a refused prompt leaves the state alone.
    expect(() => m.nextLogProbs([6, 1])).toThrow('bigram: token 6 is outside the vocabulary 0..5');
    expect(() => m.nextLogProbs([1.5])).toThrow('bigram: token 1.5 is outside');
    expect(Array.from(m.nextLogProbs([]))).toEqual(Array.from(lp));
    expect(() => new BigramLM(ops, { vocabSize: 0 }, rng)).toThrow('bigram: vocabSize must be an integer ≥ 1, got 0');
  });

  it('gives the same loss on the wasm backend as on the reference, to f32 precision', async () => {
    const wasm = await createOps({ backend: 'wasm', threads: 1 });
    try {
      const V = 9, rng = new Rng(5);
      const ref = new BigramLM(ops, { vocabSize: V }, rng);
      randomizeParams(ref, rng);
      const w = new BigramLM(wasm, { vocabSize: V }, rng);
      w.W.value.data.set(ref.W.value.data);
      w.b.value.data.set(ref.b.value.data);
      const bRef = randomBatch(ops, new Rng(6), V, 4, 5);
      const bW = { ...bRef, inputs: wasm.intsFrom(bRef.inputs.data), targets: wasm.intsFrom(bRef.targets.data) };
      expect(w.forwardBackward(bW, true)).toBeCloseTo(ref.forwardBackward(bRef, true), 5);
      for (let i = 0; i < V * V; i++) expect(w.W.grad.data[i]).toBeCloseTo(ref.W.grad.data[i], 5);
    } finally {
      wasm.dispose();
    }
  });
});

describe('training the bigram', () => {
  it('gets below the unigram entropy of the corpus (which no context-free model can beat)', async () => {
    // The first ~40k characters of the embedded corpus: always installed, so this never skips.
    const text = loadEmbeddedCorpus().text.slice(0, 40_000);
    const ids = CharTokenizer.fromText(text).encode(text);
    const counts = new Map<number, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    let unigram = 0;
    for (const c of counts.values()) unigram -= (c / ids.length) * Math.log(c / ids.length);

    const summary = await train({
      model: 'bigram', data: { name: 'moby-40k', source: 'test', text }, steps: 150, batch: 8, seq: 32,
      valEvery: 0, out: null, ops: new ReferenceOps('f64'),
    });
    expect(summary.steps).toBe(150);
    expect(summary.trainLoss).toBeLessThan(unigram - 0.3);
    expect(summary.valLoss!).toBeLessThan(unigram - 0.3);
    expect(summary.params).toBe(counts.size * counts.size + counts.size);
  });
});
