// Dropout (src/layers/dropout.ts) and the models that use it: the registered fixed-mask gradient
// checks ('dropout', 'transformer-dropout', 'lstm-lm-dropout', 'lstm-attention-dropout'), what the mask is, that evaluation
// and p = 0 drop nothing, WASM against the reference with the same mask, and exact resume.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { AttentionShape, Ops, Tensor } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Dropout } from '../../src/layers/dropout.js';
import { TransformerLM } from '../../src/models/transformer.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { AttentionLM } from '../../src/models/lstm-attention-lm.js';
import type { SequenceModel } from '../../src/models/types.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { smallTransformerConfig } from '../../src/gradcheck/transformer-checks.js';
import { randomBatch } from '../../src/gradcheck/model-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });
const tmp = mkdtempSync(join(tmpdir(), 'handgrad-dropout-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('dropout gradient checks (fixed mask, float64)', () => {
  it.each(['dropout', 'transformer-dropout', 'lstm-lm-dropout', 'lstm-attention-dropout'])('passes %s', (name) => {
    const [r] = runGradChecks([name]);
    for (const t of r.tensors) expect(t.relError, `${name} ${t.name}`).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });

  it('the model checks really drop something: their training loss differs from the evaluation loss', () => {
    const m = new TransformerLM(ref, smallTransformerConfig({ dropout: 0.35 }), new Rng(1));
    const batch = randomBatch(ref, new Rng(2), 7, 2, 5);
    expect(m.forwardBackward(batch, true)).not.toBe(m.forwardBackward(batch, false));
  });
});

describe('dropout on the transformer\'s attention probabilities', () => {
  /** Reference ops that record the dropout and seed of every attention call. */
  class Recording extends ReferenceOps {
    calls: { pass: 'fwd' | 'bwd'; p: number; seed: number }[] = [];
    override attention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, s: AttentionShape): void {
      this.calls.push({ pass: 'fwd', p: s.dropout ?? 0, seed: s.dropoutSeed ?? 0 });
      super.attention(q, k, v, out, lse, s);
    }
    override attentionBackward(q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor,
      dq: Tensor, dk: Tensor, dv: Tensor, s: AttentionShape): void {
      this.calls.push({ pass: 'bwd', p: s.dropout ?? 0, seed: s.dropoutSeed ?? 0 });
      super.attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, s);
    }
  }

  it('drops P with the model\'s p in training only: a fresh seed per forward, its backward the same; frozen keeps it', () => {
    const ops = new Recording('f64');
    const m = new TransformerLM(ops, smallTransformerConfig({ dropout: 0.3 }), new Rng(1));
    const batch = randomBatch(ops, new Rng(2), 7, 2, 5);
    const layers = m.blocks.length;
    m.forwardBackward(batch, true);
    const first = ops.calls.splice(0);
    expect(first).toHaveLength(2 * layers);
    const fwd = first.filter((c) => c.pass === 'fwd'), bwd = first.filter((c) => c.pass === 'bwd');
    for (const c of first) expect(c.p).toBe(0.3);
    // Backward runs the blocks in reverse: block l's backward has block l's forward seed.
    expect(bwd.map((c) => c.seed).reverse()).toEqual(fwd.map((c) => c.seed));
    expect(new Set(fwd.map((c) => c.seed)).size).toBe(layers);
    m.forwardBackward(batch, true);
    const second = ops.calls.splice(0).filter((c) => c.pass === 'fwd');
    second.forEach((c, l) => expect(c.seed).not.toBe(fwd[l].seed));
    m.forwardBackward(batch, false);
    for (const c of ops.calls.splice(0)) expect(c.p).toBe(0);
    for (const d of m.dropouts) d.freeze();
    m.forwardBackward(batch, true);
    const a = ops.calls.splice(0);
    m.forwardBackward(batch, true);
    expect(ops.calls.splice(0)).toEqual(a);
  });

  it('p = 0: the op gets no dropout and the model draws nothing for it', () => {
    const ops = new Recording('f64');
    const m = new TransformerLM(ops, smallTransformerConfig({ dropout: 0 }), new Rng(1));
    m.forwardBackward(randomBatch(ops, new Rng(2), 7, 2, 5), true);
    for (const c of ops.calls) expect(c.p).toBe(0);
  });
});

describe('the mask', () => {
  it('keeps each element with probability 1 − p, scaled by 1/(1 − p); the backward uses the same mask', () => {
    const n = 200, C = 50, p = 0.3;
    const drop = new Dropout(ref, p, new Rng(3), C);
    const x = ref.tensor(n * C), y = ref.tensor(n * C), dx = ref.tensor(n * C);
    x.data.fill(2);
    drop.forward(x, y, n, true);
    const kept = Array.from(y.data).filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 2 / (1 - p)) < 1e-12)).toBe(true);
    expect(kept.length / (n * C)).toBeCloseTo(1 - p, 1);
    drop.backward(x, dx);
    expect(Array.from(dx.data)).toEqual(Array.from(y.data));
    // A fresh mask on the next call; accumulate adds.
    const y2 = ref.tensor(n * C);
    drop.forward(x, y2, n, true);
    expect(Array.from(y2.data)).not.toEqual(Array.from(y.data));
    drop.backward(x, dx, true);
    expect(dx.data[0]).toBeCloseTo(y.data[0] + y2.data[0], 12);
  });

  it('drops nothing, and draws nothing, in evaluation or at p = 0', () => {
    const rng = new Rng(4), before = rng.getState();
    const x = ref.tensorFrom([1, 2, 3, 4]), y = ref.tensor(4), dx = ref.tensor(4);
    const drop = new Dropout(ref, 0.5, rng, 2);
    drop.forward(x, y, 2, false);
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4]);
    drop.backward(x, dx);
    expect(Array.from(dx.data)).toEqual([1, 2, 3, 4]);
    new Dropout(ref, 0, rng, 2).forward(x, y, 2, true);
    expect(rng.getState()).toEqual(before);
    expect(() => new Dropout(ref, 1, rng, 2)).toThrow(/dropout must be in \[0, 1\)/);
  });

  it('evaluation with a dropout model is deterministic (dropout is off)', () => {
    const m = new RecurrentLM(ref, 'lstm', { vocabSize: 7, hidden: 5, layers: 1, embed: 4, dropout: 0.5 }, new Rng(1));
    const batch = randomBatch(ref, new Rng(2), 7, 2, 5);
    m.resetState();
    const a = m.forwardBackward(batch, false);
    m.resetState();
    expect(m.forwardBackward(batch, false)).toBe(a);
  });
});

describe('WASM against the reference, same mask', () => {
  /** One training forward/backward: the loss and every gradient. */
  function step(ops: Ops, make: (ops: Ops) => SequenceModel): number[] {
    const m = make(ops);
    const batch = randomBatch(ops, new Rng(2), 7, 2, 5);
    zeroGrads(ops, m.params);
    const loss = m.forwardBackward(batch, true);
    return [loss, ...m.params.flatMap((p) => Array.from(p.grad.data))];
  }
  it.each([
    ['transformer', (ops: Ops) => new TransformerLM(ops, smallTransformerConfig({ dropout: 0.3 }), new Rng(1))],
    ['lstm', (ops: Ops) => new RecurrentLM(ops, 'lstm', { vocabSize: 7, hidden: 6, layers: 2, embed: 4, dropout: 0.3 }, new Rng(1))],
    ['lstm-attention', (ops: Ops) => new AttentionLM(ops, { vocabSize: 7, hidden: 6, layers: 2, embed: 4, dropout: 0.3 }, new Rng(1))],
  ] as const)('%s: loss and gradients agree', (_name, make) => {
    const r = step(ref, make), w = step(wasm, make);
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(2e-4 * Math.max(1, Math.abs(v))));
  });
});

describe('training with dropout', () => {
  const corpus = { name: 'moby-20k', source: 'test', text: loadEmbeddedCorpus().text.slice(0, 20_000) };
  const base: TrainOptions = {
    model: 'lstm', modelOptions: { hidden: 8, embed: 4, dropout: 0.2 }, data: corpus, batch: 4, seq: 16, valEvery: 4, valBatches: 2,
    backend: 'reference',
  };
  it('N steps + resume + N steps gives the bits of 2N (the masks continue from the saved generator)', async () => {
    const whole = await train({ ...base, steps: 8, out: join(tmp, 'whole') });
    await train({ ...base, steps: 4, out: join(tmp, 'part') });
    const resumed = await train({ model: 'lstm', data: corpus, resume: join(tmp, 'part'), steps: 8, backend: 'reference' });
    expect(resumed.trainLoss).toBe(whole.trainLoss);
    expect(resumed.valLoss).toBe(whole.valLoss);
    const plain = await train({ ...base, modelOptions: { hidden: 8, embed: 4 }, steps: 8, out: null });
    expect(plain.trainLoss).not.toBe(whole.trainLoss);
  });

  it('transformer: resume gives the bits of the whole run (the attention-probability seeds continue from the saved generator)', async () => {
    const tb: TrainOptions = { ...base, model: 'transformer', modelOptions: { layers: 2, dModel: 8, heads: 2, context: 16, dropout: 0.2 } };
    const whole = await train({ ...tb, steps: 6, out: join(tmp, 't-whole') });
    await train({ ...tb, steps: 3, out: join(tmp, 't-part') });
    const resumed = await train({ model: 'transformer', data: corpus, resume: join(tmp, 't-part'), steps: 6, backend: 'reference' });
    expect(resumed.trainLoss).toBe(whole.trainLoss);
    expect(resumed.valLoss).toBe(whole.valLoss);
  });
});

describe('dropout-option (src/models/dropout-option.ts): every model that offers --dropout has a fixed-mask gradient check', () => {
  it('maps each spec with the option to a registered <model>-dropout check', async () => {
    const { DROPOUT_OPTION } = await import('../../src/models/dropout-option.js');
    const { listModels } = await import('../../src/models/registry.js');
    const { listGradChecks } = await import('../../src/gradcheck/registry.js');
    // rnn and gru are the same RecurrentLM class as lstm, whose dropout sites lstm-lm-dropout checks.
    const checkOf: Record<string, string> = { rnn: 'lstm-lm-dropout', lstm: 'lstm-lm-dropout', gru: 'lstm-lm-dropout' };
    const withOption = listModels().filter((m) => m.options.includes(DROPOUT_OPTION)).map((m) => m.name);
    expect(withOption).toEqual(expect.arrayContaining(['transformer', 'lstm', 'moe', 'moe-dense', 'memory-lm', 'lstm-attention']));
    const checks = listGradChecks();
    for (const name of withOption) expect(checks, name).toContain(checkOf[name] ?? `${name}-dropout`);
  });
});
