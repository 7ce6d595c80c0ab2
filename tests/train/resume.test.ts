// Exact resume: N steps + resume + N steps gives the same bits as 2N steps straight.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BigramLM } from '../../src/models/bigram.js';
import { registerModel } from '../../src/models/registry.js';
import type { TokenBatch } from '../../src/models/types.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { listGenerations, loadCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { openTrainedRun } from '../../src/train/trained-run.js';
import { train, TrainConfigError, TrainingDivergedError, type TrainOptions } from '../../src/train/trainer.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'tiny.txt');
writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 6000));

/** A file of the checkpoint the run folder's pointer leads to. */
const bytes = (dir: string, f: string) => readFileSync(join(readCheckpoint(dir).dir, f));
function expectSameCheckpoint(a: string, b: string): void {
  for (const f of ['model.safetensors', 'state.safetensors']) {
    expect(bytes(a, f).equals(bytes(b, f)), `${f} differs`).toBe(true);
  }
  const sa = readCheckpoint(a).state, sb = readCheckpoint(b).state;
  expect(sa.step).toBe(sb.step);
  const ta = sa.training as Record<string, unknown>, tb = sb.training as Record<string, unknown>;
  for (const k of ['rng', 'batcher', 'optimizer']) expect(ta[k], k).toEqual(tb[k]);
  expect((ta.metrics as { recentLosses: number[] }).recentLosses).toEqual((tb.metrics as { recentLosses: number[] }).recentLosses);
}

const lstm: TrainOptions = {
  model: 'lstm', modelOptions: { hidden: 16, embed: 8 }, data, batch: 4, seq: 16, valEvery: 10, valBatches: 4, seed: 11,
};

describe.each([
  ['reference', { backend: 'reference' as const }],
  ['wasm, 1 thread', { backend: 'wasm' as const, threads: 1 }],
])('resume on the %s backend', (_name, backend) => {
  it.each([
    ['lstm, resume at a step without validation', lstm, 7],
    ['lstm, resume at a validation step', lstm, 10],
    ['bigram, random sampler, sgd with momentum', { model: 'bigram', data, batch: 4, seq: 8, valEvery: 5, optimizer: 'momentum' as const, seed: 2 }, 6],
  ])('%s: N + N steps = 2N steps, bit for bit', async (_what, opts, n) => {
    const base = { ...opts, ...backend } as TrainOptions;
    const straight = join(tmp, `straight-${backend.backend}-${n}-${opts.model}`), split = join(tmp, `split-${backend.backend}-${n}-${opts.model}`);
    const a = await train({ ...base, steps: 2 * n, out: straight });
    await train({ ...base, steps: n, out: split });
    expect(readCheckpoint(split).state.step).toBe(n);
    // The resumed run takes everything from the checkpoint: only the new total is given.
    const b = await train({ model: opts.model!, ...backend, steps: 2 * n, resume: split });
    expect(b.steps).toBe(2 * n);
    expect(b.out).toBe(split);
    expectSameCheckpoint(straight, split);
    expect(b.trainLoss).toBe(a.trainLoss);
    expect(b.valLoss).toBe(a.valLoss);
  });
});

describe('mid-run checkpoints, interruption and divergence', () => {
  const ref = { ...lstm, backend: 'reference' as const };

  it('an interrupted run saves after the current step, and resuming it matches the straight run', async () => {
    const straight = join(tmp, 'int-straight'), cut = join(tmp, 'int-cut');
    await train({ ...ref, steps: 16, out: straight });
    const stop = new AbortController();
    const s = await train({
      ...ref, steps: 16, out: cut, signal: stop.signal,
      reporter: { step: (i) => { if (i.step === 9) stop.abort(); } },
    });
    expect(s.steps).toBe(9);
    const st = readCheckpoint(cut).state;
    expect(st.step).toBe(9);
    expect((st.training as { finished: boolean }).finished).toBe(false);
    await train({ model: 'lstm', backend: 'reference', resume: cut }); // the saved limit: 16 steps
    expectSameCheckpoint(straight, cut);
  });

  it('saves every N steps and the last mid-run checkpoint resumes exactly', async () => {
    const every = join(tmp, 'every'), straight = join(tmp, 'every-straight');
    const seen: number[] = [];
    await train({
      ...ref, steps: 12, out: every, checkpointEverySteps: 4,
      reporter: { step: (i) => { if (i.step === 9) seen.push(readCheckpoint(every).state.step); } },
    });
    expect(seen).toEqual([8]); // at step 9 the folder holds the checkpoint of step 8
    await train({ ...ref, steps: 12, out: straight });
    expectSameCheckpoint(straight, every);
  });

  it('a cosine run resumed with only a new --time total keeps its --steps (legs of a long run)', async () => {
    const dir = join(tmp, 'cosine-legs');
    const cos = { ...ref, schedule: 'cosine' as const, warmup: 2 };
    await train({ ...cos, steps: 10, timeMs: 600_000, out: dir });
    // The next leg: only --time, as `train --resume dir --time 8m` gives (this used to be refused
    // as "changing" the schedule's --steps).
    const r = await train({ model: 'lstm', backend: 'reference', resume: dir, timeMs: 120_000 });
    expect(r.steps).toBe(10);
    await expect(train({ model: 'lstm', backend: 'reference', resume: dir, steps: 20 }))
      .rejects.toThrow(/the cosine schedule decays over --steps 10; a resume cannot change it/);
  });

  it('refuses another model kind, other model options and other settings', async () => {
    const dir = join(tmp, 'refuse');
    await train({ ...ref, steps: 2, out: dir });
    await expect(train({ model: 'gru', backend: 'reference', resume: dir })).rejects.toThrow(/--resume .*: the checkpoint is a lstm model, not gru/);
    await expect(train({ model: 'lstm', backend: 'reference', resume: dir, modelOptions: { hidden: 32 } }))
      .rejects.toThrow(/the checkpoint's lstm has hidden 16, not 32; leave --hidden out/);
    await expect(train({ model: 'lstm', backend: 'reference', resume: dir, lr: 0.1 }))
      .rejects.toThrow(/the checkpoint was trained with --lr 0\.002, not 0\.1; a resumed run keeps its settings/);
    await expect(train({ model: 'lstm', backend: 'reference', resume: dir, batch: 4, seed: 11, steps: 3 })).resolves.toMatchObject({ steps: 3 });
    const other = join(tmp, 'other.txt');
    writeFileSync(other, loadEmbeddedCorpus().text.slice(6000, 12000));
    await expect(train({ model: 'lstm', backend: 'reference', resume: dir, data: other })).rejects.toThrow(/is not the text the checkpoint was trained on/);
  });

  it('stops on a NaN loss and leaves the last good checkpoint intact', async () => {
    class Exploding extends BigramLM {
      calls = 0;
      override forwardBackward(batch: TokenBatch, trainMode: boolean): number {
        const loss = super.forwardBackward(batch, trainMode);
        return trainMode && ++this.calls === 7 ? Number.NaN : loss;
      }
    }
    registerModel({
      name: 'nan-at-7-test', description: 'diverges at step 7', stateful: false, defaults: {}, options: [],
      create: (ops, c, rng) => new Exploding(ops, { vocabSize: c.vocabSize as number }, rng),
    });
    const dir = join(tmp, 'nan');
    const run = train({ model: 'nan-at-7-test', data, batch: 4, seq: 8, steps: 20, backend: 'reference', out: dir, checkpointEverySteps: 3 });
    await expect(run).rejects.toThrow(TrainingDivergedError);
    await expect(train({ model: 'nan-at-7-test', data, batch: 4, seq: 8, steps: 20, backend: 'reference', out: join(tmp, 'nan2'), checkpointEverySteps: 3 }))
      .rejects.toThrow(/^training stopped: the loss became NaN at step 7 .*; lower --lr or --clip; the last good checkpoint \(step 6\) is in .*nan2$/);
    expect(readCheckpoint(dir).state.step).toBe(6);
    const { model } = loadCheckpoint(dir, new ReferenceOps('f64'));
    expect(Array.from(model.params[0].value.data).every(Number.isFinite)).toBe(true);
    expect(existsSync(join(dir, '.incoming'))).toBe(false);
  });

  it('never saves weights that hold a NaN (a finite loss does not prove the update was): the previous checkpoint stays the last good one', async () => {
    // The overflowing step of `--lr 1e300` on f32, made reproducible: the weights become NaN
    // after step 7 while every loss and gradient norm the loop sees is finite.
    class Poisoned extends BigramLM {
      calls = 0;
      override forwardBackward(batch: TokenBatch, trainMode: boolean): number {
        const loss = super.forwardBackward(batch, trainMode);
        if (trainMode && ++this.calls === 7) this.params[0].value.data[0] = Number.NaN;
        return loss;
      }
    }
    registerModel({
      name: 'nan-weights-at-7-test', description: 'NaN weights after step 7', stateful: false, defaults: {}, options: [],
      create: (ops, c, rng) => new Poisoned(ops, { vocabSize: c.vocabSize as number }, rng),
    });
    const dir = join(tmp, 'nan-weights');
    await expect(train({ model: 'nan-weights-at-7-test', data, batch: 4, seq: 8, steps: 20, backend: 'reference', out: dir, checkpointEverySteps: 1 }))
      .rejects.toThrow(/^training stopped: the parameter 'W' holds NaN or infinite values after step 7; no checkpoint was written for it; lower --lr or --clip; the last good checkpoint \(step 6\) is in .*nan-weights$/);
    expect(readCheckpoint(dir).state.step).toBe(6);
    const { model } = loadCheckpoint(dir, new ReferenceOps('f64'));
    for (const p of model.params) expect(Array.from(p.value.data).every(Number.isFinite), p.name).toBe(true);
  });

  it('refuses a learning rate the backend\'s f32 numbers cannot hold, before any work', async () => {
    const out = join(tmp, 'lr-f32');
    for (const lr of [1e300, 1e39, 1e-50]) {
      await expect(train({ model: 'bigram', data, batch: 4, seq: 8, steps: 2, backend: 'wasm', threads: 1, lr, out }))
        .rejects.toThrow(new RegExp(`^--lr ${String(lr).replace('+', '\\+')}: the wasm backend computes in f32, which holds learning rates from 1\\.4e-45 to 3\\.4e\\+38 only$`));
    }
    await expect(train({ model: 'bigram', data, batch: 4, seq: 8, steps: 2, backend: 'wasm', threads: 1, lr: 1e300, out })).rejects.toThrow(TrainConfigError);
    expect(existsSync(out)).toBe(false);
    // f64 holds it (what happens next is the divergence guard's business).
    await expect(train({ model: 'bigram', data, batch: 4, seq: 8, steps: 1, backend: 'reference', lr: 1e39, out: null, valFraction: 0 })).resolves.toMatchObject({ steps: 1 });
  });

  it('keeps the newest keepCheckpoints generations', async () => {
    const dir = join(tmp, 'keep3');
    await train({ ...ref, steps: 10, out: dir, checkpointEverySteps: 2, keepCheckpoints: 3 });
    expect(listGenerations(dir).map((g) => g.step)).toEqual([6, 8, 10]);
    await expect(train({ ...ref, steps: 2, out: join(tmp, 'keep0'), keepCheckpoints: 0 })).rejects.toThrow(/--keep-checkpoints must be an integer ≥ 1, got 0/);
  });

  it('keeps best/: the checkpoint of the lowest validation loss, loadable as a checkpoint folder', async () => {
    // At this rate the validation loss is lowest at step 2 and rises after.
    const opts = { model: 'bigram', data, batch: 4, seq: 8, valEvery: 2, valBatches: 4, seed: 2, backend: 'reference' as const, lr: 0.5 };
    const dir = join(tmp, 'best'), atTwo = join(tmp, 'best-straight-2');
    await train({ ...opts, steps: 12, out: dir });
    const validations = (readCheckpoint(dir).state.training as { metrics: { validations: { step: number; valLoss: number }[] } }).metrics.validations;
    const lowest = validations.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    expect(lowest.step).toBe(2);
    expect(validations.at(-1)!.valLoss).toBeGreaterThan(lowest.valLoss);
    const best = readCheckpoint(join(dir, 'best'));
    expect(best.state.step).toBe(2);
    expect((best.state.training as { metrics: { valLoss: number } }).metrics.valLoss).toBe(lowest.valLoss);
    // The weights of step 2, exactly.
    await train({ ...opts, steps: 2, out: atTwo });
    expect(bytes(join(dir, 'best'), 'model.safetensors').equals(bytes(atTwo, 'model.safetensors'))).toBe(true);
    expect(loadCheckpoint(join(dir, 'best'), new ReferenceOps('f64')).model.kind).toBe('bigram');
    // A resumed run keeps the record: a worse validation does not replace best/.
    await train({ model: 'bigram', backend: 'reference', resume: dir, steps: 16 });
    expect(readCheckpoint(join(dir, 'best')).state.step).toBe(2);
    // sample and eval open a run at its best/ (the generation layout's pointer, not a top-level manifest), or at its last with `last`.
    const ops = new ReferenceOps('f64');
    expect(openTrainedRun(dir, ops)).toMatchObject({ best: true, step: 2 });
    expect(openTrainedRun(dir, ops, { last: true })).toMatchObject({ best: false, step: 16 });
  });
});
