// `handgrad import` (src/interop/import.ts): a run folder from weights in our layout, checked
// tensor by tensor; and its round trip with `handgrad export --format safetensors`.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, lastJson } from '../cli/helpers.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensorInput } from '../../src/train/safetensors.js';
import type { SequenceModel } from '../../src/models/types.js';
import { listModels } from '../../src/models/registry.js';
import { ref, tinyModel, tokenizer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'handgrad-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LSTM_OPTIONS = { hidden: 6, layers: 2, embed: 5 };

/** A run folder holding `model`, written as training writes one. */
function runOf(model: SequenceModel, name: string): string {
  const out = join(dir, name);
  saveCheckpoint(out, { model, tokenizer, step: 3, seed: 1, training: {} });
  return out;
}

/** Our tensors of `model` by name, as a file PyTorch code would write (F32, no metadata). */
function bareWeights(model: SequenceModel, edit: (t: Map<string, SafeTensorInput>) => void = () => {}): string {
  const t = new Map<string, SafeTensorInput>(model.params.map((p) => [p.name, { dtype: 'F32', shape: p.shape, data: p.value.data }]));
  edit(t);
  const path = join(dir, `bare-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(path, encodeSafetensors(t));
  return path;
}

const tokFile = join(dir, 'tokenizer.json');
writeFileSync(tokFile, JSON.stringify(tokenizer.toJSON()));

function expectOneLine(r: { code: number; stderr: string }, ...mentions: string[]): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^handgrad: import: /);
  for (const m of mentions) expect(lines[0]).toContain(m);
}

describe('handgrad import', () => {
  it('export --format safetensors → import gives back the same model (weights, config, tokenizer, predictions)', async () => {
    const model = tinyModel('gru', { hidden: 5, layers: 2, embed: 4, gruVariant: 'paper' });
    const run = runOf(model, 'gru-run');
    const file = join(dir, 'gru.safetensors');
    expect((await cli('export', run, '--format', 'safetensors', '--out', file)).code).toBe(0);
    const meta = decodeSafetensors(readFileSync(file)).metadata;
    expect(meta['handgrad.kind']).toBe('gru');
    expect(JSON.parse(meta['handgrad.config'])).toEqual(model.config);
    const r = await cli('import', file, '--out', join(dir, 'gru-imported'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ kind: 'gru', dtype: 'F64', tokenizer: 'char', tensors: model.params.length });
    const back = loadCheckpoint(join(dir, 'gru-imported'), ref);
    expect(back.model.config).toEqual(model.config);
    expect(back.tokenizer.toJSON()).toEqual(tokenizer.toJSON());
    back.model.params.forEach((p, i) => expect(Array.from(p.value.data)).toEqual(Array.from(model.params[i].value.data)));
    expect(Array.from(back.model.nextLogProbs([1, 2, 3]))).toEqual(Array.from(model.nextLogProbs([1, 2, 3])));
  });

  it('every registered model comes back from export --format safetensors → import with the same predictions', async () => {
    const small: Record<string, Record<string, unknown>> = {
      'mlp-lm': { context: 3, embed: 3, hidden: 5 }, rnn: { hidden: 4, embed: 3 }, lstm: { hidden: 4, embed: 3 }, gru: { hidden: 4, embed: 3 },
      transformer: { layers: 1, heads: 2, dModel: 8, context: 8, tie: true }, 'lstm-attention': { hidden: 4, embed: 3, context: 8 },
      moe: { layers: 1, heads: 2, dModel: 8, context: 8, experts: 3, expertHidden: 4, capacityFactor: 1.5 },
      'moe-dense': { layers: 1, heads: 2, dModel: 8, context: 8, expertHidden: 4 },
      'memory-lm': { layers: 1, heads: 2, dModel: 8, levels: 2, mix: 'learned' },
    };
    for (const spec of listModels()) {
      const model = tinyModel(spec.name, small[spec.name] ?? {});
      const file = join(dir, `all-${spec.name}.safetensors`);
      expect((await cli('export', runOf(model, `all-${spec.name}`), '--format', 'safetensors', '--out', file)).code, spec.name).toBe(0);
      const r = await cli('import', file, '--out', join(dir, `all-${spec.name}-back`));
      expect(r.code, `${spec.name}: ${r.stderr}`).toBe(0);
      const back = loadCheckpoint(join(dir, `all-${spec.name}-back`), ref).model;
      expect(back.config, spec.name).toEqual(model.config);
      expect(Array.from(back.nextLogProbs([3, 1, 4, 1, 5])), spec.name).toEqual(Array.from(model.nextLogProbs([3, 1, 4, 1, 5])));
    }
  });

  it('builds a run from bare weights (no metadata) with --model, its options and --tokenizer; the run samples', async () => {
    const model = tinyModel('lstm', LSTM_OPTIONS);
    const out = join(dir, 'lstm-from-bare');
    const r = await cli('import', bareWeights(model), '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5',
      '--tokenizer', tokFile, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('imported 9 tensors');
    const s = await cli('sample', out, '--length', '20', '--prime', 'ab', '--backend', 'reference', '--json');
    expect(s.code, s.stderr).toBe(0);
    expect(lastJson(s.stdout).tokens).toBe(20);
    // The weights are the file's (F32), bit for bit.
    const back = loadCheckpoint(out, ref);
    expect(Array.from(back.model.params[1].value.data)).toEqual(Array.from(Float32Array.from(model.params[1].value.data)));
  });

  it('refuses a tensor of the wrong shape, in one line naming it (exit 2), and writes nothing', async () => {
    const model = tinyModel('lstm', LSTM_OPTIONS);
    const file = bareWeights(model, (t) => { t.set('lstm.1.Wh', { dtype: 'F32', shape: [6, 20], data: new Float32Array(120) }); });
    const out = join(dir, 'wrong-shape');
    expectOneLine(await cli('import', file, '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', tokFile, '--out', out),
      `'lstm.1.Wh' is 6×20 in the file, the model has 6×24`);
    expect(() => readFileSync(join(out, 'state.json'))).toThrow();
  });

  it('refuses a missing tensor and a tensor the model does not have', async () => {
    const model = tinyModel('lstm', LSTM_OPTIONS);
    const args = ['--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', tokFile, '--out', join(dir, 'bad')];
    expectOneLine(await cli('import', bareWeights(model, (t) => t.delete('head.b')), ...args), `no tensor for parameter 'head.b' of lstm`);
    expectOneLine(await cli('import', bareWeights(model, (t) => t.set('extra', { dtype: 'F32', shape: [1], data: [0] })), ...args),
      `tensor 'extra' is not a parameter of lstm`);
  });

  it('refuses a vocabulary that does not match the tokenizer, a missing --model, bad options and a used --out', async () => {
    const model = tinyModel('lstm', LSTM_OPTIONS);
    const file = bareWeights(model);
    const small = join(dir, 'small-tokenizer.json');
    writeFileSync(small, JSON.stringify({ kind: 'char', chars: ['a', 'b', 'c'] }));
    expectOneLine(await cli('import', file, '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', small, '--out', join(dir, 'v')),
      `'embed.table' is 30×5 in the file, the model has 3×5`, 'vocabSize 3 comes from the char tokenizer');
    expectOneLine(await cli('import', file, '--tokenizer', tokFile, '--out', join(dir, 'v')), 'no handgrad.kind metadata; give the model with --model KIND');
    expectOneLine(await cli('import', file, '--model', 'lstm', '--out', join(dir, 'v')), 'give the tokenizer with --tokenizer FILE');
    expectOneLine(await cli('import', file, '--model', 'lstm', '--hidden', '0', '--tokenizer', tokFile, '--out', join(dir, 'v')), '--hidden expects an integer');
    expectOneLine(await cli('import', file, '--model', 'lstm', '--heads', '2', '--tokenizer', tokFile, '--out', join(dir, 'v')), "model 'lstm' has no option --heads");
    expectOneLine(await cli('import', file, '--model', 'nope', '--tokenizer', tokFile, '--out', join(dir, 'v')), "unknown model 'nope'");
    const used = join(dir, 'used');
    mkdirSync(used);
    writeFileSync(join(used, 'notes.txt'), 'mine');
    expectOneLine(await cli('import', file, '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', tokFile, '--out', used),
      `--out ${used} already exists and is not empty`);
    expectOneLine(await cli('import', file, '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', tokFile, '--out', tokFile),
      `--out ${tokFile} is a file, not a folder`);
    expectOneLine(await cli('import', join(dir, 'missing.safetensors'), '--out', join(dir, 'v')), 'missing.safetensors: cannot read the weights (ENOENT)');
    const nan = bareWeights(model, (t) => t.set('head.b', { dtype: 'F32', shape: [30], data: new Float32Array(30).fill(Number.NaN) }));
    expectOneLine(await cli('import', nan, '--model', 'lstm', '--hidden', '6', '--layers', '2', '--embed', '5', '--tokenizer', tokFile, '--out', join(dir, 'v')),
      `'head.b' holds NaN or infinite values`);
  });
});
