// ONNX export (src/interop/onnx.ts): each exported graph runs in onnxruntime-web (pure WASM, in
// Node) and gives our forward pass's logits within 1e-4 (ours in float64 on the reference backend,
// ONNX Runtime in float32). Recurrent graphs carry their state: two consecutive windows, the second
// started from the first's h_out (c_out), against our model carrying its state the same way.
import { describe, expect, it } from 'vitest';
import type { Tensor as OrtTensor } from 'onnxruntime-web';
import onnxProto from 'onnx-proto';
import { exportOnnx } from '../../src/interop/onnx.js';
import type { RecurrentLM } from '../../src/models/recurrent-lm.js';
import type { TransformerLM } from '../../src/models/transformer.js';
import type { MoeTransformer } from '../../src/models/moe-transformer.js';
import { int64, logSoftmaxRows, maxAbsDiff, onnxRuntime, randomIds, recurrentLogits, tinyModel, tokenizer, V } from './helpers.js';

const TOL = 1e-4;

describe('ONNX export of the recurrent models (state in and out)', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['rnn, 2 layers', 'rnn', { hidden: 6, layers: 2, embed: 5 }],
    ['lstm, 2 layers', 'lstm', { hidden: 6, layers: 2, embed: 5 }],
    ['lstm, 1 layer', 'lstm', { hidden: 7, layers: 1, embed: 4 }],
    ['gru (pytorch), 2 layers', 'gru', { hidden: 6, layers: 2, embed: 5 }],
    ['gru (paper), 2 layers', 'gru', { hidden: 6, layers: 2, embed: 5, gruVariant: 'paper' }],
  ];
  for (const [label, kind, options] of cases) {
    it(`${label}: logits and final state over two consecutive windows`, async () => {
      const ort = onnxRuntime();
      const model = tinyModel(kind, options) as RecurrentLM;
      const session = await ort.InferenceSession.create(exportOnnx(model, tokenizer));
      const L = options.layers as number, H = options.hidden as number, B = 3, T = 5;
      const state = model.stack.newState(B);
      let feeds: Record<string, OrtTensor> = {
        h_in: new ort.Tensor('float32', new Float32Array(L * B * H), [L, B, H]),
        ...(kind === 'lstm' ? { c_in: new ort.Tensor('float32', new Float32Array(L * B * H), [L, B, H]) } : {}),
      };
      for (const seed of [1, 2]) {
        const ids = randomIds(B, T, seed);
        const got = await session.run({ ids: int64(ids), ...feeds });
        const want = recurrentLogits(model, ids, state);
        expect(got.logits.dims).toEqual([B, T, V]);
        expect(maxAbsDiff(got.logits.data as Float32Array, want)).toBeLessThan(TOL);
        expect(maxAbsDiff(got.h_out.data as Float32Array, state.h.data)).toBeLessThan(TOL);
        if (kind === 'lstm') expect(maxAbsDiff(got.c_out.data as Float32Array, state.c!.data)).toBeLessThan(TOL);
        feeds = { h_in: got.h_out, ...(kind === 'lstm' ? { c_in: got.c_out } : {}) };
      }
      // The carried state matters: the second window from a zero state gives other logits.
      const ids = randomIds(B, T, 2);
      const fresh = recurrentLogits(model, ids, model.stack.newState(B));
      const carried = recurrentLogits(model, ids, state);
      expect(maxAbsDiff(fresh, carried)).toBeGreaterThan(1e-3);
    });
  }
});

describe('ONNX export of the transformers', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['transformer: layernorm, swiglu, learned, untied', 'transformer', { layers: 2, heads: 2, dModel: 8, context: 12 }],
    ['transformer: rmsnorm, gelu, sinusoidal, tied', 'transformer',
      { layers: 2, heads: 4, dModel: 8, context: 12, norm: 'rmsnorm', ffn: 'gelu', positions: 'sinusoidal', tie: true }],
    ['transformer: GPT-2 shape (layernorm, gelu, tied)', 'transformer', { layers: 1, heads: 2, dModel: 8, context: 12, ffn: 'gelu', tie: true }],
    ['moe: 4 experts, top-2, tied', 'moe', { layers: 2, heads: 2, dModel: 8, context: 12, experts: 4, topK: 2, expertHidden: 6 }],
    ['moe: 3 experts, top-1, untied', 'moe', { layers: 1, heads: 2, dModel: 8, context: 12, experts: 3, topK: 1, expertHidden: 5, tiedEmbeddings: false }],
    ['moe-dense', 'moe-dense', { layers: 2, heads: 2, dModel: 8, context: 12, topK: 2, expertHidden: 4 }],
  ];
  for (const [label, kind, options] of cases) {
    it(`${label}: the log-probabilities of every position match`, async () => {
      const ort = onnxRuntime();
      const model = tinyModel(kind, options) as TransformerLM | MoeTransformer;
      const session = await ort.InferenceSession.create(exportOnnx(model, tokenizer));
      for (const T of [9, 12]) {
        const ids = randomIds(2, T, T);
        const got = await session.run({ ids: int64(ids) });
        expect(got.logits.dims).toEqual([2, T, V]);
        const gotLp = logSoftmaxRows(got.logits.data as Float32Array, V);
        const want = new Float64Array(2 * T * V);
        ids.forEach((row, b) => model.windowLogProbs(row).forEach((lp, t) => want.set(lp, (b * T + t) * V)));
        expect(maxAbsDiff(gotLp, want)).toBeLessThan(TOL);
        if (kind === 'moe') expect((model as MoeTransformer).routingMargin()).toBeGreaterThan(1e-4); // no near-tie to flip
      }
    });
  }

  it('refuses a model kind it does not cover, naming the kinds it does', () => {
    expect(() => exportOnnx(tinyModel('bigram', {}), tokenizer)).toThrow(/ONNX export covers rnn, lstm, gru, transformer, moe, moe-dense; this run is a bigram model/);
  });

  it('names its inputs and outputs, and records the kind, config and tokenizer in the metadata', async () => {
    const model = tinyModel('lstm', { hidden: 4, layers: 1, embed: 3 });
    const bytes = exportOnnx(model, tokenizer);
    const session = await onnxRuntime().InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['ids', 'h_in', 'c_in']);
    expect(session.outputNames).toEqual(['logits', 'h_out', 'c_out']);
    const proto = onnxProto.onnx.ModelProto.decode(bytes);
    const meta = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
    expect(meta['handgrad.kind']).toBe('lstm');
    expect(JSON.parse(meta['handgrad.config']!)).toEqual(model.config);
    expect(JSON.parse(meta['handgrad.tokenizer']!)).toEqual(tokenizer.toJSON());
    expect(Number(proto.opsetImport[0].version)).toBe(17);
  });
});
