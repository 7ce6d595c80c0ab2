// Training settings (src/train/settings.ts) and the loop rules they drive: defaults by model and
// optimizer, the validation cadence, validation leaving the training state alone, --patience,
// weight decay on matrices only, and old checkpoints resuming with what they ran with.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { BigramLM } from '../../src/models/bigram.js';
import { getModel, registerModel } from '../../src/models/registry.js';
import type { TokenBatch } from '../../src/models/types.js';
import { loadEmbeddedCorpus, type Corpus } from '../../src/data/corpus.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { MOMENTUM_LR_FACTOR, resolveSettings, TRAIN_DEFAULTS, TrainConfigError } from '../../src/train/settings.js';
import { train, type StepInfo, type TrainOptions } from '../../src/train/trainer.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-settings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const corpus: Corpus = { name: 'moby-20k', source: 'test', text: loadEmbeddedCorpus().text.slice(0, 20_000) };

// A bigram whose validation loss follows a script (3, 2, 2.5, 2.6, …) and one whose training
// gradients are zero (so only weight decay moves the weights).
let valCalls = 0;
const SCRIPT = [3, 2, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1];
class ScriptedBigram extends BigramLM {
  override forwardBackward(batch: TokenBatch, trainMode: boolean): number {
    const loss = super.forwardBackward(batch, trainMode);
    return trainMode ? loss : SCRIPT[Math.min(valCalls++, SCRIPT.length - 1)];
  }
}
class FrozenBigram extends BigramLM {
  override forwardBackward(): number { return 1; }
}
registerModel({
  name: 'scripted-val-test', description: 'bigram with scripted validation losses', stateful: false, defaults: {}, options: [],
  create: (ops, c, rng) => new ScriptedBigram(ops, { vocabSize: c.vocabSize as number }, rng),
});
registerModel({
  name: 'frozen-test', description: 'bigram with zero gradients', stateful: false, defaults: {}, options: [],
  create: (ops, c, rng) => new FrozenBigram(ops, { vocabSize: c.vocabSize as number }, rng),
});

async function run(opts: Partial<TrainOptions>) {
  const losses: number[] = [], vals: number[] = [], valSteps: number[] = [];
  const summary = await train({
    model: 'bigram', data: corpus, steps: 30, batch: 4, seq: 16, out: null, ops: new ReferenceOps('f64'), ...opts,
    reporter: { step: (s: StepInfo) => losses.push(s.loss), validation: (v) => { vals.push(v.valLoss); valSteps.push(v.step); } },
  });
  return { summary, losses, vals, valSteps };
}

describe('resolveSettings', () => {
  it('trains a transformer on windows of its whole context by default, and refuses --seq beyond it', () => {
    const tr = getModel('transformer');
    expect(resolveSettings({}, tr).seq).toBe(128);
    expect(resolveSettings({ modelOptions: { context: '48' } }, tr).seq).toBe(48);
    expect(resolveSettings({ seq: 32 }, tr).seq).toBe(32);
    expect(() => resolveSettings({ seq: 200 }, tr)).toThrow(TrainConfigError);
    expect(() => resolveSettings({ seq: 200 }, tr)).toThrow(/--seq 200 is longer than the model's --context 128/);
    expect(() => resolveSettings({ modelOptions: { context: 'x' } }, tr)).toThrow(/--context expects an integer/);
    // Recurrent models keep the BPTT length; MoE models their context too.
    expect(resolveSettings({}, getModel('lstm')).seq).toBe(TRAIN_DEFAULTS.seq);
    expect(resolveSettings({}, getModel('moe')).seq).toBe(128);
  });

  it('gives each optimizer a learning rate of its own', () => {
    const lstm = getModel('lstm');
    expect(resolveSettings({}, lstm).lr).toBe(2e-3);
    expect(resolveSettings({ optimizer: 'adamw' }, lstm).lr).toBe(2e-3);
    expect(resolveSettings({ optimizer: 'sgd' }, lstm).lr).toBe(2);
    expect(resolveSettings({ optimizer: 'momentum' }, lstm).lr).toBeCloseTo(2 * MOMENTUM_LR_FACTOR, 12);
    expect(resolveSettings({ optimizer: 'nesterov' }, lstm).lr).toBeCloseTo(2 * MOMENTUM_LR_FACTOR, 12);
    expect(resolveSettings({ optimizer: 'sgd' }, getModel('bigram')).lr).toBe(10);
    expect(resolveSettings({ optimizer: 'sgd', lr: 0.7 }, lstm).lr).toBe(0.7);
    // Every registered model names its SGD rate, so none falls back to a guess.
    for (const name of ['bigram', 'mlp-lm', 'rnn', 'lstm', 'gru', 'transformer', 'lstm-attention', 'moe', 'moe-dense', 'memory-lm']) {
      expect(getModel(name).trainDefaults?.sgdLr, name).toBeGreaterThan(0);
    }
  });

  it('reads the MoE recipe from the model spec', () => {
    const moe = getModel('moe');
    expect(resolveSettings({ steps: 1000 }, moe)).toMatchObject({
      tokenizer: 'bpe', optimizer: 'adamw', weightDecay: 0.1, lr: 1e-3, clip: 1, valBatches: 20, schedule: 'cosine', warmup: 50,
    });
    expect(resolveSettings({ steps: 10_000 }, moe).warmup).toBe(200);
    expect(resolveSettings({ timeMs: 60_000 }, moe)).toMatchObject({ schedule: 'constant', warmup: 100 });
    // The spec's weight decay comes with its optimizer only.
    expect(resolveSettings({ optimizer: 'adam' }, moe).weightDecay).toBeUndefined();
    expect(resolveSettings({}, getModel('transformer'))).toMatchObject({ tokenizer: 'char', optimizer: 'adam', schedule: 'constant', clip: 5 });
  });

  it('validates by steps and time by default, by one of them when that one is given', () => {
    const bigram = getModel('bigram');
    expect(resolveSettings({}, bigram)).toMatchObject({ valEvery: 100, valEveryMs: 5000 });
    expect(resolveSettings({ valEvery: 10 }, bigram)).toMatchObject({ valEvery: 10, valEveryMs: 0 });
    expect(resolveSettings({ valEveryMs: 30_000 }, bigram)).toMatchObject({ valEvery: 1, valEveryMs: 30_000 });
    expect(() => resolveSettings({ patience: -1 }, bigram)).toThrow(/patience must be an integer ≥ 0/);
  });
});

describe('the loop', () => {
  it('skips validations that come sooner than valEveryMs after the last', async () => {
    const steps = await run({ valEvery: 5, valEveryMs: 0 });
    expect(steps.valSteps).toEqual([5, 10, 15, 20, 25, 30]);
    // An hour apart: only the final validation of a 30-step run.
    const timed = await run({ valEvery: 5, valEveryMs: 3_600_000 });
    expect(timed.valSteps).toEqual([30]);
    expect(timed.losses).toEqual(steps.losses);
  });

  it('validation never changes the training of a recurrent model (its carried state is put back)', async () => {
    const lstm = { model: 'lstm', modelOptions: { hidden: 8, embed: 4 }, steps: 12 };
    const often = await run({ ...lstm, valEvery: 3, valBatches: 2 });
    const never = await run({ ...lstm, valEvery: 0, valBatches: 2 });
    expect(often.vals).toHaveLength(4); // steps 3, 6, 9 and the final one
    expect(often.losses).toEqual(never.losses);
  });

  it('--patience stops after that many validations without a new best, and reports the best', async () => {
    valCalls = 0;
    const { summary, valSteps } = await run({ model: 'scripted-val-test', valEvery: 2, valBatches: 1, patience: 2 });
    // Validation losses 3, 2 (best, step 4), 2.5, 2.6: the second without a new best stops the run.
    expect(valSteps).toEqual([2, 4, 6, 8]);
    expect(summary).toMatchObject({ steps: 8, stoppedEarly: true, bestValLoss: 2, bestStep: 4, valLoss: 2.6 });
    valCalls = 0;
    const patient = await run({ model: 'scripted-val-test', valEvery: 2, valBatches: 1, patience: 0, steps: 10 });
    expect(patient.summary).toMatchObject({ steps: 10, stoppedEarly: false, bestValLoss: 2, bestStep: 4 });
  });

  it('decays weight matrices, not biases, for every optimizer', async () => {
    for (const optimizer of ['sgd', 'adamw'] as const) {
      const out = join(tmp, `decay-${optimizer}`);
      const { summary } = await run({ model: 'frozen-test', optimizer, lr: 0.1, weightDecay: 0.5, steps: 1, valFraction: 0, out });
      expect(summary.steps).toBe(1);
      const fresh = join(tmp, `fresh-${optimizer}`);
      await run({ model: 'frozen-test', optimizer, lr: 1e-12, weightDecay: 0, steps: 1, valFraction: 0, out: fresh });
      const w = readCheckpoint(out).weights.tensors, w0 = readCheckpoint(fresh).weights.tensors;
      // sgd: θ −= lr·wd·θ on a zero gradient; adamw: the same decoupled shrink (its Adam step is 0/ε = 0).
      const W = w.get('W')!.data, W0 = w0.get('W')!.data;
      for (let i = 0; i < 20; i++) expect(W[i]).toBeCloseTo(W0[i] * (1 - 0.1 * 0.5), 12);
      expect(Array.from(w.get('b')!.data)).toEqual(Array.from(w0.get('b')!.data));
    }
  });
});

/** Rewrites a checkpoint's state.json as an older version saved it (these settings absent), fixing the manifest. */
function ageCheckpoint(run: string, drop: string[]): void {
  const dir = readCheckpoint(run).dir; // the newest generation
  const statePath = join(dir, 'state.json');
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  for (const k of drop) delete state.training.settings[k];
  const text = JSON.stringify(state, null, 2);
  writeFileSync(statePath, text);
  const manifestPath = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files['state.json'] = { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
}

describe('resume', () => {
  it('an old checkpoint keeps what it ran with: validation by steps only, decay on every tensor', async () => {
    const out = join(tmp, 'old');
    await run({ steps: 10, valEvery: 5, weightDecay: 0.01, optimizer: 'sgd', out });
    expect(readCheckpoint(out).state.training).toMatchObject({ settings: { valEveryMs: 0, decayVectors: false, patience: 0 } });
    ageCheckpoint(out, ['valEveryMs', 'decayVectors', 'patience']);
    const resumed = await run({ resume: out, steps: 20, out });
    expect(resumed.valSteps).toEqual([15, 20]);
    expect(readCheckpoint(out).state.training).toMatchObject({ settings: { valEvery: 5, valEveryMs: 0, decayVectors: true } });
  });

  it('a transformer checkpoint trained on shorter windows resumes with them', async () => {
    const out = join(tmp, 'tr');
    const tiny = { model: 'transformer', modelOptions: { layers: 1, dModel: 8, heads: 2, context: 32 }, valEvery: 0 };
    await run({ ...tiny, seq: 16, steps: 2, out });
    await run({ model: 'transformer', resume: out, steps: 3, out });
    expect(readCheckpoint(out).state.training).toMatchObject({ settings: { seq: 16 } });
  });
});
