import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { BigramLM } from '../../src/models/bigram.js';
import { registerModel, UnknownModelError } from '../../src/models/registry.js';
import type { TokenBatch } from '../../src/models/types.js';
import { loadEmbeddedCorpus, CorpusError, type Corpus } from '../../src/data/corpus.js';
import { loadCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import {
  TrainConfigError, TrainingDivergedError, defaultOutDir, train, type StepInfo, type TrainOptions,
} from '../../src/train/trainer.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-trainer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const corpus: Corpus = { name: 'moby-30k', source: 'test', text: loadEmbeddedCorpus().text.slice(0, 30_000) };
const base: TrainOptions = { model: 'bigram', data: corpus, steps: 30, batch: 4, seq: 16, valEvery: 10, out: null };

/** Runs train() and records every step's loss and every validation loss. */
async function run(opts: Partial<TrainOptions>) {
  const losses: number[] = [], vals: number[] = [];
  const summary = await train({
    ...base, ops: new ReferenceOps('f64'), ...opts,
    reporter: { step: (s: StepInfo) => losses.push(s.loss), validation: (v) => vals.push(v.valLoss) },
  });
  return { summary, losses, vals };
}

// Test models: a stateful bigram that counts resetState() calls, and ones that blow up.
let resets = 0;
class CountingBigram extends BigramLM {
  override resetState(): void { resets++; }
}
registerModel({
  name: 'counting-test', description: 'bigram counting resets', stateful: true, defaults: {}, options: [],
  create: (ops, c, rng) => new CountingBigram(ops, { vocabSize: c.vocabSize as number }, rng),
});
class ExplodingBigram extends BigramLM {
  calls = 0;
  constructor(ops: ConstructorParameters<typeof BigramLM>[0], c: { vocabSize: number }, rng: ConstructorParameters<typeof BigramLM>[2],
    private readonly how: 'loss' | 'grad') { super(ops, c, rng); }
  override forwardBackward(batch: TokenBatch, trainMode: boolean): number {
    const loss = super.forwardBackward(batch, trainMode);
    if (trainMode && ++this.calls === 3) {
      if (this.how === 'loss') return Number.NaN;
      this.W.grad.data[0] = Number.POSITIVE_INFINITY;
    }
    return loss;
  }
}
for (const how of ['loss', 'grad'] as const) {
  registerModel({
    name: `nan-${how}-test`, description: 'diverges at step 3', stateful: false, defaults: {}, options: [],
    create: (ops, c, rng) => new ExplodingBigram(ops, { vocabSize: c.vocabSize as number }, rng, how),
  });
}

describe('train()', () => {
  it('is deterministic: the same seed gives identical losses, another seed different ones', async () => {
    const a = await run({ seed: 7 });
    const b = await run({ seed: 7 });
    const c = await run({ seed: 8 });
    expect(a.losses).toHaveLength(30);
    expect(b.losses).toEqual(a.losses);
    expect(b.vals).toEqual(a.vals);
    expect(b.summary.trainLoss).toBe(a.summary.trainLoss);
    expect(b.summary.valLoss).toBe(a.summary.valLoss);
    expect(c.losses).not.toEqual(a.losses);
  });

  it('is deterministic on the wasm backend too', async () => {
    const opts = { ops: undefined, backend: 'wasm' as const, threads: 1, seed: 3, steps: 15 };
    const a = await run(opts);
    const b = await run(opts);
    expect(b.losses).toEqual(a.losses);
    expect(a.summary.valLoss).toBe(b.summary.valLoss);
  });

  it('lowers the loss, validates every valEvery steps and at the end', async () => {
    const { summary, losses, vals } = await run({ steps: 60, valEvery: 20 });
    expect(losses[0]).toBeCloseTo(Math.log(new Set(corpus.text).size), 6); // zero init: ln V
    expect(summary.trainLoss).toBeLessThan(losses[0] - 0.5);
    expect(vals).toHaveLength(3); // after steps 20 and 40, and the final one (not twice at 60)
    expect(vals[2]).toBeLessThan(vals[0]);
    expect(summary).toMatchObject({ model: 'bigram', steps: 60, out: null });
    expect(summary.valBits).toBeCloseTo(summary.valLoss! / Math.LN2, 12);
    expect(summary.tokensPerSec).toBeGreaterThan(0);
    expect(Object.keys(summary).sort()).toEqual(['bestStep', 'bestValLoss', 'model', 'out', 'params', 'seconds', 'steps', 'stoppedEarly',
      'tokensPerSec', 'trainLoss', 'valBits', 'valLoss']);
    expect(summary).toMatchObject({ bestValLoss: Math.min(...vals), stoppedEarly: false });
  });

  it('trains on words, and without a validation split', async () => {
    const { summary, losses } = await run({ tokenizer: 'word', vocabSize: 300, steps: 40, valFraction: 0 });
    expect(summary.valLoss).toBeNull();
    expect(summary.valBits).toBeNull();
    expect(losses[0]).toBeCloseTo(Math.log(300), 6);
    expect(summary.trainLoss).toBeLessThan(losses[0] - 0.5);
    expect(summary.params).toBe(300 * 300 + 300);
  });

  it('stops on a NaN loss with a clear message', async () => {
    await expect(run({ model: 'nan-loss-test' })).rejects.toThrow(TrainingDivergedError);
    await expect(run({ model: 'nan-loss-test' })).rejects.toThrow(/^training stopped: the loss became NaN at step 3 \(lr 2\.00e-3\); lower --lr or --clip$/);
  });

  it('stops on an infinite gradient before the optimizer writes it into the weights', async () => {
    await expect(run({ model: 'nan-grad-test' })).rejects.toThrow(/the gradient norm became Infinity at step 3/);
  });

  it('stops at the time limit when no step count is given', async () => {
    const { summary } = await run({ steps: undefined, timeMs: 150, valEvery: 0 });
    expect(summary.steps).toBeGreaterThan(0);
    expect(summary.seconds).toBeGreaterThanOrEqual(0.15);
    expect(summary.seconds).toBeLessThan(2);
  });

  it('resets carried state at the start of each pass, and around validation when it cannot hand the state over', async () => {
    // 27k train tokens in 4 streams of ⌊(27000−1)/4⌋ = 6749 → 421 windows of 16 per pass.
    resets = 0;
    const { summary } = await run({ model: 'counting-test', steps: 30, valEvery: 10 });
    expect(summary.steps).toBe(30);
    // 1 at the first window; 3 validations (2 mid-run, the final), each resetting before (evaluate)
    // and after (the model has no stateFor(), so its training state cannot be put back).
    expect(resets).toBe(1 + 3 * 2);
  });

  it('refuses bad options before doing any work', async () => {
    await expect(run({ schedule: 'cosine', steps: undefined, timeMs: 1000 })).rejects.toThrow(TrainConfigError);
    await expect(run({ schedule: 'cosine', steps: undefined, timeMs: 1000 })).rejects.toThrow(/cosine schedule needs --steps/);
    await expect(run({ lr: -1 })).rejects.toThrow(/learning rate must be a positive number/);
    await expect(run({ model: 'bigram', modelOptions: { hidden: 3 } })).rejects.toThrow(/model 'bigram' has no option --hidden/);
    await expect(run({ model: 'lstmx' })).rejects.toThrow(UnknownModelError);
    await expect(run({ vocabSize: 100 })).rejects.toThrow(/--vocab-size applies to the word tokenizer only/);
    await expect(run({ valFraction: 0.0001 })).rejects.toThrow(/validation split .* has 3 tokens, .*--val-fraction 0 for no validation/);
    await expect(run({ batch: 64, seq: 512 })).rejects.toThrow(CorpusError);
    await expect(run({ batch: 64, seq: 512 })).rejects.toThrow(/training split has 27000 tokens, fewer than one batch \+ 1 = 64×512 \+ 1 = 32769/);
  });

  it('writes a checkpoint that loads back into the same model', async () => {
    const out = join(tmp, 'ckpt');
    const { summary } = await run({ out, steps: 20, seed: 5 });
    expect(summary.out).toBe(out);
    const { state, weights, dir: generation } = readCheckpoint(out);
    expect(generation).toBe(join(out, 'ckpt-000000020'));
    for (const f of ['model.safetensors', 'state.json', 'state.safetensors', 'manifest.json']) expect(existsSync(join(generation, f)), f).toBe(true);
    expect(state).toMatchObject({ kind: 'bigram', format: 'handgrad-checkpoint', version: 2, params: summary.params, step: 20, seed: 5, dtype: 'F64' });
    expect(state.training).toMatchObject({ settings: { optimizer: 'adam', seed: 5, batch: 4, seq: 16, sampler: 'random' }, finished: true });
    expect((state.training as { metrics: { valLoss: number } }).metrics.valLoss).toBe(summary.valLoss);
    expect(state.tokenizer.kind).toBe('char');
    const V = state.config.vocabSize as number;
    expect([...weights.tensors].map(([n, t]) => [n, t.shape])).toEqual([['W', [V, V]], ['b', [V]]]);
    expect(readFileSync(join(generation, 'model.safetensors')).length).toBeGreaterThan(8 * summary.params); // F64 from the reference backend
    expect(existsSync(join(out, 'manifest.json.tmp-' + process.pid))).toBe(false);
    expect(existsSync(join(out, '.incoming'))).toBe(false);

    const ops = new ReferenceOps('f64');
    const { model, tokenizer } = loadCheckpoint(out, ops);
    expect(model.kind).toBe('bigram');
    expect(tokenizer.vocabSize).toBe(state.config.vocabSize);
    // Same weights as a fresh run with the same seed.
    const again = await run({ out: join(tmp, 'ckpt2'), steps: 20, seed: 5 });
    const other = loadCheckpoint(again.summary.out!, ops).model;
    expect(Array.from(model.params[0].value.data)).toEqual(Array.from(other.params[0].value.data));
    expect(model.nextLogProbs(Array.from(tokenizer.encode('Th'))).every(Number.isFinite)).toBe(true);
  });

  it('names the default checkpoint folder after the model and the time', () => {
    expect(defaultOutDir('lstm', new Date(Date.UTC(2026, 10, 23, 2, 3, 4)))).toBe(join('runs', 'lstm-20261123-020304'));
  });
});
