// examples/torch_rebuild.py rebuilds rnn, lstm, gru and transformer runs in PyTorch from a file of
// `handgrad export --format safetensors`: its logits must equal ours within 1e-5 (both in float64
// here). Runs where a python3 with torch is found (python3, then /usr/bin/python3); skipped
// otherwise, with the reason in the test name.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { exportRun } from '../../src/interop/export.js';
import type { RecurrentLM } from '../../src/models/recurrent-lm.js';
import type { TransformerLM } from '../../src/models/transformer.js';
import { logSoftmaxRows, maxAbsDiff, randomIds, recurrentLogits, root, tinyModel, tokenizer, V } from './helpers.js';

/** The first python3 that imports torch, or null. */
function pythonWithTorch(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

const python = pythonWithTorch();
const dir = mkdtempSync(join(tmpdir(), 'handgrad-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CASES: [string, string, Record<string, unknown>][] = [
  ['rnn', 'rnn', { hidden: 6, layers: 2, embed: 5 }],
  ['lstm', 'lstm', { hidden: 6, layers: 2, embed: 5 }],
  ['gru-pytorch', 'gru', { hidden: 6, layers: 2, embed: 5 }],
  ['gru-paper', 'gru', { hidden: 6, layers: 2, embed: 5, gruVariant: 'paper' }],
  ['transformer-swiglu', 'transformer', { layers: 2, heads: 2, dModel: 8, context: 10 }],
  ['transformer-gpt2', 'transformer', { layers: 2, heads: 2, dModel: 8, context: 10, ffn: 'gelu', tie: true }],
  ['transformer-rms', 'transformer', { layers: 1, heads: 4, dModel: 8, context: 10, norm: 'rmsnorm', positions: 'sinusoidal' }],
];

describe.skipIf(python === null)(`examples/torch_rebuild.py${python === null ? ' (skipped: no python3 with torch)' : ''}`, () => {
  it('gives our logits for rnn, lstm, gru (both variants) and transformer (three variants)', async () => {
    const ids = randomIds(2, 7, 5);
    const models = CASES.map(([name, kind, options]) => ({ name, kind, model: tinyModel(kind, options, 3) }));
    const files: string[] = [];
    for (const { name, model } of models) {
      const run = join(dir, name);
      saveCheckpoint(run, { model, tokenizer, step: 1, seed: 1, training: {} });
      // Every other model straight from its run folder (the script follows latest.json), the rest exported first.
      files.push(files.length % 2 ? run : (await exportRun(run, 'safetensors', join(dir, `${name}.safetensors`))).out);
    }
    const r = spawnSync(python!, [join(root, 'examples', 'torch_rebuild.py'), ...files, '--ids', ids.map((row) => row.join(',')).join(';')],
      { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const outputs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; logits: number[][][] });
    expect(outputs).toHaveLength(models.length);
    models.forEach(({ name, kind, model }, i) => {
      const theirs = Float64Array.from(outputs[i].logits.flat(2));
      expect(outputs[i].kind, name).toBe(kind);
      if (kind === 'transformer') {
        // windowLogProbs is our uncached forward: compare log-probabilities (logits up to a per-row constant).
        const ours = new Float64Array(ids.length * 7 * V);
        ids.forEach((row, b) => (model as TransformerLM).windowLogProbs(row).forEach((lp, t) => ours.set(lp, (b * 7 + t) * V)));
        expect(maxAbsDiff(logSoftmaxRows(theirs, V), ours), name).toBeLessThan(1e-5);
      } else {
        const m = model as RecurrentLM;
        expect(maxAbsDiff(theirs, recurrentLogits(m, ids, m.stack.newState(ids.length))), name).toBeLessThan(1e-5);
      }
    });
  });
});
