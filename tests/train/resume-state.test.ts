// A checkpoint's training state that was not written by the loop (edited by hand, another tool):
// a resume refuses it in one line naming state.json (or state.safetensors) and the field, before
// anything is built from it — not with an error from deep inside training that names no file.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, readCheckpoint } from '../../src/train/checkpoint.js';
import { train } from '../../src/train/trainer.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-resume-state-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const corpus = { name: 'fox', source: 'test:fox', text: 'the quick brown fox jumps over the lazy dog. '.repeat(40) };
const good = join(tmp, 'good');
beforeAll(async () => {
  await train({ model: 'bigram', data: corpus, batch: 2, seq: 8, valEvery: 2, steps: 4, backend: 'reference', out: good });
});

let n = 0;
/**
 * A copy of the good run folder with its checkpoint's state.json changed by `edit`, the manifest
 * updated to match; returns the copy and the checkpoint folder in it (its generation).
 */
function edited(edit: (state: Record<string, any>) => void): { dir: string; ckpt: string } {
  const dir = join(tmp, `edited-${n++}`);
  cpSync(good, dir, { recursive: true });
  const ckpt = join(dir, relative(good, readCheckpoint(good).dir));
  const state = JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8'));
  edit(state);
  const bytes = Buffer.from(JSON.stringify(state, null, 2) + '\n');
  writeFileSync(join(ckpt, 'state.json'), bytes);
  const manifest = JSON.parse(readFileSync(join(ckpt, 'manifest.json'), 'utf8'));
  manifest.files['state.json'] = { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  writeFileSync(join(ckpt, 'manifest.json'), JSON.stringify(manifest));
  return { dir, ckpt };
}

describe('resuming a checkpoint whose training state is not usable', () => {
  it.each<[string, (s: Record<string, any>) => void, string]>([
    ['a negative step', (s) => { s.step = -1; }, 'state.json: step must be an integer ≥ 0, got -1'],
    ['a step that is text', (s) => { s.step = 'x'; }, 'state.json: step must be an integer ≥ 0, got "x"'],
    ['a step the loss history does not have', (s) => { s.step = 1e9; }, 'state.safetensors: metrics.train_loss has 4 values, state.json says step 1000000000'],
    ['a bad batch', (s) => { s.training.settings.batch = -1; }, 'state.json: training.settings.batch must be an integer ≥ 1, got -1'],
    ['an unknown optimizer', (s) => { s.training.settings.optimizer = 'lion'; }, 'state.json: training.settings.optimizer must be one of sgd, momentum, nesterov, adam, adamw, got "lion"'],
    ['a bad optimizer step', (s) => { s.training.optimizer.step = -3; }, 'state.json: training.optimizer.step must be an integer ≥ 0, got -3'],
    ['a bad RNG state', (s) => { s.training.rng.model = 'x'; }, 'state.json: training.rng.model must be an RNG state { s: uint32, spare: number | null }, got "x"'],
    ['validations that are not a list', (s) => { s.training.metrics.validations = 3; }, 'state.json: training.metrics.validations must be a list of { step, valLoss }, got 3'],
    ['an elapsed time that is text', (s) => { s.training.elapsedMs = 'x'; }, 'state.json: training.elapsedMs must be a number ≥ 0, got "x"'],
    ['no batcher state', (s) => { delete s.training.batcher; }, 'state.json: lacks the training state a resume needs'],
  ])('%s', async (_, edit, message) => {
    const { dir, ckpt } = edited(edit);
    const run = train({ model: 'bigram', data: corpus, resume: dir, steps: 8, backend: 'reference' });
    await expect(run).rejects.toThrow(CheckpointError);
    await expect(run).rejects.toThrow(`${ckpt}/${message}`);
  });

  it('the untouched copy resumes', async () => {
    await expect(train({ model: 'bigram', data: corpus, resume: edited(() => {}).dir, steps: 6, backend: 'reference' })).resolves.toMatchObject({ steps: 6 });
  });

  it("a transformer's context comes from its checkpoint: windows longer than the default context resume", async () => {
    const dir = join(tmp, 'long-context');
    const t = { model: 'transformer', data: corpus, batch: 1, valFraction: 0.3, valEvery: 0, backend: 'reference' as const };
    await train({ ...t, modelOptions: { dModel: 8, heads: 2, layers: 1, context: 160 }, seq: 160, steps: 1, out: dir });
    await expect(train({ model: 'transformer', data: corpus, resume: dir, steps: 2, backend: 'reference' })).resolves.toMatchObject({ steps: 2 });
  });
});
