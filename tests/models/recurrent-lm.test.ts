// The recurrent language models rnn, lstm, gru (src/models/recurrent-lm.ts): registration, their
// gradient checks (from a zero state and through a carried state), learning a repeated string,
// truncated-BPTT state carry, sampling state, and word-level training with sparse embedding updates.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { RecurrentLM, type CellKind } from '../../src/models/recurrent-lm.js';
import { getModel, modelConfig, createModel } from '../../src/models/registry.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { randomizeParams } from '../../src/gradcheck/model-checks.js';
import type { TokenBatch } from '../../src/models/types.js';
import { zeroGrads } from '../../src/layers/param.js';
import { Adam } from '../../src/train/optimizers.js';
import { clipGradNorm } from '../../src/train/clip.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

function batchOf(ops: Ops, rows: number[][], targets: number[][]): TokenBatch {
  return { inputs: ops.intsFrom(rows.flat()), targets: ops.intsFrom(targets.flat()), batch: rows.length, time: rows[0].length };
}

describe('registration', () => {
  it('registers rnn, lstm and gru as stateful models with the documented defaults', () => {
    for (const name of ['rnn', 'lstm', 'gru']) {
      const spec = getModel(name);
      expect(spec.stateful).toBe(true);
      expect(spec.defaults).toMatchObject({ hidden: 128, layers: 1, embed: 32 });
      expect(spec.trainDefaults).toEqual({ lr: 2e-3, sgdLr: name === 'rnn' ? 0.5 : 2, optimizer: 'adam' });
    }
    expect(getModel('gru').defaults.gruVariant).toBe('pytorch');
    expect(modelConfig(getModel('gru'), { gruVariant: 'paper', hidden: '16' }, 30))
      .toEqual({ hidden: 16, layers: 1, embed: 32, dropout: 0, gruVariant: 'paper', vocabSize: 30 });
    expect(() => modelConfig(getModel('gru'), { gruVariant: 'cudnn' }, 30)).toThrow(/--gru-variant/);
    expect(() => modelConfig(getModel('lstm'), { gruVariant: 'paper' }, 30)).toThrow(/no option --gru-variant/);
  });

  it('rebuilds from its saved config (what checkpoints do)', () => {
    const m = createModel(ref, 'gru', modelConfig(getModel('gru'), { gruVariant: 'paper', hidden: 6, layers: 2 }, 9), new Rng(1));
    const again = createModel(ref, 'gru', m.config, new Rng(1));
    expect(again.config).toEqual(m.config);
    expect(again.params.map((p) => p.shape)).toEqual(m.params.map((p) => p.shape));
    expect(m.params.map((p) => p.name)).toContain('gru.1.Un');
  });
});

describe('gradient checks (float64, every time step, 2 layers)', () => {
  const names = ['rnn-lm', 'lstm-lm', 'gru-lm', 'gru-paper-lm', 'rnn-lm-chunk2', 'lstm-lm-chunk2', 'gru-lm-chunk2', 'gru-paper-lm-chunk2'];
  it.each(names)('%s passes', (name) => {
    expect(listGradChecks()).toContain(name);
    const [r] = runGradChecks([name]);
    for (const t of r.tensors) expect(t.relError, `${name}/${t.name}`).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });
});

describe('truncated BPTT', () => {
  it.each(['rnn', 'lstm', 'gru'] as const)('%s: two consecutive chunks of T equal one chunk of 2T (forward)', (kind: CellKind) => {
    const B = 3, T = 4, V = 6, rng = new Rng(9);
    const m = new RecurrentLM(ref, kind, { vocabSize: V, hidden: 5, layers: 2, embed: 4 }, new Rng(1));
    randomizeParams(m, rng);
    const ids = Array.from({ length: B }, () => Array.from({ length: 2 * T + 1 }, () => rng.int(0, V)));
    const rows = (from: number, len: number) => ids.map((r) => r.slice(from, from + len));
    const next = (from: number, len: number) => ids.map((r) => r.slice(from + 1, from + 1 + len));
    m.resetState();
    const whole = m.forwardBackward(batchOf(ref, rows(0, 2 * T), next(0, 2 * T)), false);
    const wholeState = Array.from(m.stateFor(B).h.data);
    m.resetState();
    const a = m.forwardBackward(batchOf(ref, rows(0, T), next(0, T)), false);
    const b = m.forwardBackward(batchOf(ref, rows(T, T), next(T, T)), false);
    expect((a + b) / 2).toBeCloseTo(whole, 12);
    expect(Array.from(m.stateFor(B).h.data)).toEqual(wholeState.map((v) => expect.closeTo(v, 12)));
    // …and resetState() really forgets: the second chunk alone from zero gives another loss.
    m.resetState();
    expect(Math.abs(m.forwardBackward(batchOf(ref, rows(T, T), next(T, T)), false) - b)).toBeGreaterThan(1e-6);
  });
});

describe('sampling', () => {
  it('has its own state: feeding a sequence at once or token by token agrees, and training state is untouched', () => {
    const m = new RecurrentLM(ref, 'lstm', { vocabSize: 5, hidden: 4, layers: 2, embed: 3 }, new Rng(2));
    randomizeParams(m, new Rng(3));
    m.forwardBackward(batchOf(ref, [[1, 2, 3]], [[2, 3, 4]]), false);
    const trainState = Array.from(m.stateFor(1).h.data);
    m.resetSampling();
    const all = m.nextLogProbs([0, 4, 2, 1]);
    m.resetSampling();
    let last: Float64Array = new Float64Array();
    for (const t of [0, 4, 2, 1]) last = m.nextLogProbs([t]);
    Array.from(all).forEach((v, i) => expect(v).toBeCloseTo(last[i], 12));
    expect(Array.from(all).reduce((s, l) => s + Math.exp(l), 0)).toBeCloseTo(1, 12);
    expect(Array.from(m.stateFor(1).h.data)).toEqual(trainState);
    expect(() => m.nextLogProbs([5])).toThrow(/outside the vocabulary/);
  });
});

describe('learning', () => {
  it('an LSTM learns a short repeated string to near-zero loss in a few hundred steps (WASM)', () => {
    const text = 'the quick brown fox jumps over the lazy dog; ';
    const chars = [...new Set(text)].sort();
    const stream = Array.from(text.repeat(40), (c) => chars.indexOf(c));
    const V = chars.length, B = 4, T = 24;
    const m = new RecurrentLM(wasm, 'lstm', { vocabSize: V, hidden: 48, layers: 1, embed: 16 }, new Rng(1));
    const opt = new Adam(wasm);
    const refs = m.params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows }));
    const grads = m.params.map((p) => p.grad);
    const L = Math.floor((stream.length - 1) / B);
    const inputs = wasm.ints(B * T), targets = wasm.ints(B * T);
    const batch: TokenBatch = { inputs, targets, batch: B, time: T };
    let loss = Infinity, step = 0;
    for (; step < 400; step++) {
      const w = step % Math.floor(L / T);
      if (w === 0) m.resetState();
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        inputs.data[b * T + t] = stream[b * L + w * T + t];
        targets.data[b * T + t] = stream[b * L + w * T + t + 1];
      }
      zeroGrads(wasm, m.params);
      loss = m.forwardBackward(batch, true);
      clipGradNorm(wasm, grads, 5);
      opt.step(refs, 1e-2);
      if (step > 50 && loss < 0.02) break;
    }
    expect(loss).toBeLessThan(0.05);
    expect(step).toBeLessThan(400);
  });

  it('trains word-level through the trainer (--tokenizer word) with sparse embedding updates', async () => {
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
    const rng = new Rng(4);
    const text = Array.from({ length: 3000 }, () => words[rng.int(0, words.length)]).join(' ');
    const summary = await train({
      model: 'gru', modelOptions: { hidden: 16, embed: 8 }, data: { name: 'words', source: 'test', text },
      tokenizer: 'word', steps: 20, batch: 4, seq: 16, valEvery: 0, out: null, ops: wasm,
    });
    expect(summary.steps).toBe(20);
    expect(Number.isFinite(summary.trainLoss)).toBe(true);
    expect(summary.valLoss!).toBeLessThan(Math.log(words.length + 4));
  });
});
