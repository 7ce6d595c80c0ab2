// `handgrad export` (src/interop/export.ts, hf.ts): the Hugging Face-style folder — GPT-2's names,
// shapes and config for a GPT-2-shaped transformer, our names otherwise, the tokenizer files —
// and the CLI's ONNX export of a run, read back by onnxruntime-web.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { cli, lastJson } from '../cli/helpers.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { decodeSafetensors } from '../../src/train/safetensors.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { WordTokenizer } from '../../src/data/word-tokenizer.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import type { SequenceModel } from '../../src/models/types.js';
import type { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { getModel, modelConfig } from '../../src/models/registry.js';
import { randomizeParams } from '../../src/gradcheck/model-checks.js';
import { Rng } from '../../src/util/rng.js';
import { int64, maxAbsDiff, onnxRuntime, randomIds, recurrentLogits, ref, tinyModel, tokenizer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'handgrad-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runOf(model: SequenceModel, name: string, tok: Tokenizer = tokenizer): string {
  const out = join(dir, name);
  saveCheckpoint(out, { model, tokenizer: tok, step: 1, seed: 1, training: {} });
  return out;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const bpe = BpeTokenizer.train('the cat sat on the mat. the dog sat on the log. '.repeat(20), { vocabSize: 300 });

/** A transformer over the BPE vocabulary. */
function bpeTransformer(options: Record<string, unknown>): SequenceModel {
  const spec = getModel('transformer');
  const model = spec.create(ref, modelConfig(spec, options, bpe.vocabSize), new Rng(3));
  randomizeParams(model, new Rng(4), 0.2);
  return model;
}

describe('export --format hf', () => {
  const GPT2 = { layers: 2, heads: 2, dModel: 8, context: 16, ffn: 'gelu', norm: 'layernorm', positions: 'learned' };

  it('a GPT-2-shaped transformer (layernorm, gelu, learned, tied) gets GPT2LMHeadModel names, shapes and config', async () => {
    const model = bpeTransformer({ ...GPT2, tie: true });
    const out = join(dir, 'gpt2-hf');
    const r = await cli('export', runOf(model, 'gpt2', bpe), '--format', 'hf', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ format: 'hf', kind: 'transformer', architecture: 'GPT2LMHeadModel' });
    const config = readJson(join(out, 'config.json'));
    expect(config).toMatchObject({
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: bpe.vocabSize, n_positions: 16, n_embd: 8,
      n_layer: 2, n_head: 2, n_inner: 32, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
      tie_word_embeddings: true, bos_token_id: bpe.eotId, eos_token_id: bpe.eotId,
    });
    const file = decodeSafetensors(readFileSync(join(out, 'model.safetensors')));
    const shapes = Object.fromEntries([...file.tensors].map(([n, t]) => [n, t.shape]));
    const V = bpe.vocabSize;
    const want: Record<string, number[]> = { 'transformer.wte.weight': [V, 8], 'transformer.wpe.weight': [16, 8], 'transformer.ln_f.weight': [8], 'transformer.ln_f.bias': [8] };
    for (const l of [0, 1]) {
      Object.assign(want, {
        [`transformer.h.${l}.ln_1.weight`]: [8], [`transformer.h.${l}.ln_1.bias`]: [8],
        [`transformer.h.${l}.attn.c_attn.weight`]: [8, 24], [`transformer.h.${l}.attn.c_attn.bias`]: [24],
        [`transformer.h.${l}.attn.c_proj.weight`]: [8, 8], [`transformer.h.${l}.attn.c_proj.bias`]: [8],
        [`transformer.h.${l}.ln_2.weight`]: [8], [`transformer.h.${l}.ln_2.bias`]: [8],
        [`transformer.h.${l}.mlp.c_fc.weight`]: [8, 32], [`transformer.h.${l}.mlp.c_fc.bias`]: [32],
        [`transformer.h.${l}.mlp.c_proj.weight`]: [32, 8], [`transformer.h.${l}.mlp.c_proj.bias`]: [8],
      });
    }
    expect(shapes).toEqual(want);
    // Same orientation as ours (Conv1D is [in, out]): the values are copied as they are.
    const qkv = model.params.find((p) => p.name === 'block1.attn.qkv.W')!;
    expect(Array.from(file.tensors.get('transformer.h.1.attn.c_attn.weight')!.data)).toEqual(Array.from(qkv.value.data));
    // The tokenizer files load in the Hugging Face loader and encode as ours does.
    const hf = new HfTokenizer(readJson(join(out, 'tokenizer.json')), readJson(join(out, 'tokenizer_config.json')));
    const text = 'the dog sat on the cat.<|endoftext|>the mat';
    expect(hf.encode(text).ids).toEqual(Array.from(bpe.encode(text)));
    expect(readJson(join(out, 'handgrad_tokenizer.json'))).toEqual(bpe.toJSON());
  });

  it('untied, the head becomes lm_head.weight [V, C] = head.Wᵀ', async () => {
    const model = bpeTransformer({ ...GPT2, tie: false, layers: 1 });
    const out = join(dir, 'gpt2-untied-hf');
    expect((await cli('export', runOf(model, 'gpt2-untied', bpe), '--format', 'hf', '--out', out)).code).toBe(0);
    expect(readJson(join(out, 'config.json')).tie_word_embeddings).toBe(false);
    const lm = decodeSafetensors(readFileSync(join(out, 'model.safetensors'))).tensors.get('lm_head.weight')!;
    const head = model.params.find((p) => p.name === 'head.W')!;
    const [C, V] = head.shape;
    expect(lm.shape).toEqual([V, C]);
    expect(lm.data[5 * C + 3]).toBe(head.value.data[3 * V + 5]);
  });

  it('other models keep our names, with the kind and config in config.json and the metadata', async () => {
    const model = tinyModel('transformer', { layers: 1, heads: 2, dModel: 8, context: 8 }); // swiglu: not GPT-2
    const out = join(dir, 'swiglu-hf');
    const r = await cli('export', runOf(model, 'swiglu'), '--format', 'hf', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(handgrad names)');
    expect(readJson(join(out, 'config.json'))).toMatchObject({ model_type: 'handgrad-transformer', handgrad: { kind: 'transformer', config: model.config } });
    const file = decodeSafetensors(readFileSync(join(out, 'model.safetensors')));
    expect([...file.tensors.keys()]).toEqual(model.params.map((p) => p.name));
    expect(file.metadata['handgrad.kind']).toBe('transformer');
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);
  });

  it('a word tokenizer gets no tokenizer.json (a note says why) but its handgrad_tokenizer.json', async () => {
    const words = WordTokenizer.fromText('the cat sat on the mat and the dog sat on the log');
    const spec = getModel('lstm');
    const model = spec.create(ref, modelConfig(spec, { hidden: 4, embed: 3 }, words.vocabSize), new Rng(1));
    const out = join(dir, 'word-hf');
    const r = await cli('export', runOf(model, 'word', words), '--format', 'hf', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('no tokenizer.json: a word tokenizer has no tokenizer.json form');
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(false);
    expect(readJson(join(out, 'handgrad_tokenizer.json'))).toEqual(words.toJSON());
  });
});

describe('export --format onnx from a run folder', () => {
  it('writes a graph that onnxruntime-web runs with our logits', async () => {
    const model = tinyModel('lstm', { hidden: 5, layers: 1, embed: 4 }) as RecurrentLM;
    const file = join(dir, 'lstm.onnx');
    const r = await cli('export', runOf(model, 'lstm'), '--format', 'onnx', '--out', file);
    expect(r.code, r.stderr).toBe(0);
    const ort = onnxRuntime();
    const session = await ort.InferenceSession.create(readFileSync(file));
    const ids = randomIds(2, 6);
    const zeros = () => new ort.Tensor('float32', new Float32Array(10), [1, 2, 5]);
    const got = await session.run({ ids: int64(ids), h_in: zeros(), c_in: zeros() });
    expect(maxAbsDiff(got.logits.data as Float32Array, recurrentLogits(model, ids, model.stack.newState(2)))).toBeLessThan(1e-4);
  });

  it('refuses to replace an earlier export unless --force (one line, exit 2, the old file kept)', async () => {
    const run = runOf(tinyModel('lstm', { hidden: 5, layers: 1, embed: 4 }), 'lstm-force');
    const file = join(dir, 'force.safetensors');
    writeFileSync(file, 'an earlier export');
    const r = await cli('export', run, '--format', 'safetensors', '--out', file);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`handgrad: export: --out ${file} already exists; pass --force to replace it, or another --out`);
    expect(readFileSync(file, 'utf8')).toBe('an earlier export');
    const hf = join(dir, 'force-hf');
    expect((await cli('export', run, '--format', 'hf', '--out', hf)).code).toBe(0);
    expect((await cli('export', run, '--format', 'hf', '--out', hf)).code).toBe(2);
    const forced = await cli('export', run, '--format', 'safetensors', '--out', file, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toBe('an earlier export');
  });

  it('refuses a model kind it does not cover, and a folder that is not a run (one line, exit 2)', async () => {
    const r = await cli('export', runOf(tinyModel('bigram', {}), 'bigram'), '--format', 'onnx', '--out', join(dir, 'b.onnx'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('handgrad: export: ONNX export covers rnn, lstm, gru, transformer, moe, moe-dense; this run is a bigram model');
    expect(existsSync(join(dir, 'b.onnx'))).toBe(false);
    const missing = await cli('export', join(dir, 'nothing'), '--format', 'hf');
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('not a checkpoint folder');
    const noFormat = await cli('export', join(dir, 'lstm'));
    expect(noFormat.code).toBe(2);
    expect(noFormat.stderr).toContain("required option '--format <kind>' not specified");
  });
});
