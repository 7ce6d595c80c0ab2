// The decoder-only transformer (src/models/transformer.ts): registration, the gradient checks of a
// block and of the whole model, the causal mask (future positions get exactly zero gradient),
// KV-cached decoding against the uncached forward (sliding window included), WASM against the
// reference, and memorising a short string.
import { beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { TransformerLM, type TransformerConfig } from '../../src/models/transformer.js';
import { getModel, modelConfig, createModel } from '../../src/models/registry.js';
import { listGradChecks, runGradChecks } from '../../src/gradcheck/registry.js';
import { smallTransformerConfig } from '../../src/gradcheck/transformer-checks.js';
import { randomizeParams } from '../../src/gradcheck/model-checks.js';
import type { TokenBatch } from '../../src/models/types.js';
import { zeroGrads } from '../../src/layers/param.js';
import { sampleTokens } from '../../src/models/sample.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { charStream, greedyDecode, memorise } from './helpers.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

function batchOf(ops: Ops, rows: number[][], targets: number[][]): TokenBatch {
  return { inputs: ops.intsFrom(rows.flat()), targets: ops.intsFrom(targets.flat()), batch: rows.length, time: rows[0].length };
}

const VARIANTS: Array<[string, Partial<TransformerConfig>]> = [
  ['layernorm, swiglu, learned, untied', {}],
  ['rmsnorm, gelu, sinusoidal, tied', { norm: 'rmsnorm', ffn: 'gelu', positions: 'sinusoidal', tie: true }],
];

describe('registration', () => {
  it('takes tiedEmbeddings (the name moe uses) and still its former name tie, from options and from old checkpoints', () => {
    const spec = getModel('transformer');
    // The former name as an option: renamed, and the merged config holds only the new key.
    const viaAlias = modelConfig(spec, { dModel: '16', heads: 2, tie: 'true' }, 11);
    expect(viaAlias.tiedEmbeddings).toBe(true);
    expect('tie' in viaAlias).toBe(false);
    expect(() => modelConfig(spec, { tie: 'true', tiedEmbeddings: 'false' }, 11)).toThrow('--tie is the old name of --tied-embeddings');
    // A config saved before the rename ({ tie: true }, no tiedEmbeddings) rebuilds a tied model.
    const old = { ...spec.defaults, tiedEmbeddings: undefined, tie: true, dModel: 16, heads: 2, vocabSize: 11 };
    delete old.tiedEmbeddings;
    const m = createModel(ref, 'transformer', old, new Rng(1)) as TransformerLM;
    expect(m.head).toBeNull();
    expect(m.config.tiedEmbeddings).toBe(true);
    expect('tie' in m.config).toBe(false);
  });

  it('registers transformer as a non-stateful model with its options', () => {
    const spec = getModel('transformer');
    expect(spec.stateful).toBe(false);
    expect(spec.options.map((o) => o.key)).toEqual(['layers', 'heads', 'dModel', 'ffHidden', 'context', 'norm', 'ffn', 'positions', 'tiedEmbeddings', 'dropout']);
    const config = modelConfig(spec, { dModel: '16', heads: 2, norm: 'rmsnorm', tiedEmbeddings: 'true' }, 11);
    expect(config).toMatchObject({ dModel: 16, heads: 2, norm: 'rmsnorm', tiedEmbeddings: true, vocabSize: 11, ffHidden: 0 });
    const m = createModel(ref, 'transformer', config, new Rng(1));
    expect(m.config.ffHidden).toBe(48); // auto: 8·16/3 rounded up to a multiple of 8
    const again = createModel(ref, 'transformer', m.config, new Rng(1));
    expect(again.config).toEqual(m.config);
    expect(again.params.map((p) => p.shape)).toEqual(m.params.map((p) => p.shape));
    expect(m.params.some((p) => p.name === 'head.W')).toBe(false); // tied
    expect(() => modelConfig(spec, { ffn: 'relu' }, 5)).toThrow(/--ffn/);
    expect(() => new TransformerLM(ref, smallTransformerConfig({ heads: 3 }), new Rng(1))).toThrow(/multiple of heads/);
  });

  it('refuses bad sizes and tokens outside the vocabulary wherever tokens come in', () => {
    expect(() => new TransformerLM(ref, smallTransformerConfig({ layers: 0 }), new Rng(1))).toThrow('transformer: layers must be an integer ≥ 1, got 0');
    const m = new TransformerLM(ref, smallTransformerConfig({ context: 4 }), new Rng(1));
    const V = m.vocab;
    const outside = `transformer: token ${V} is outside the vocabulary 0..${V - 1}`;
    // The batch's id tensor is longer than batch·time: only its first n cells are checked.
    const batch = batchOf(ref, [[1, 2], [3, V]], [[2, 3], [4, 0]]);
    expect(() => m.forwardBackward(batch, true)).toThrow(outside);
    const spare = { ...batch, inputs: ref.intsFrom([1, 2, 3, 0, V]), targets: ref.intsFrom([2, 3, 4, 0, 0]) };
    expect(() => m.forwardBackward(spare, false)).not.toThrow();
    expect(() => m.attentionMaps([1, V])).toThrow(outside);
    expect(() => m.nextLogProbs([1.5])).toThrow('transformer: token 1.5 is outside');
  });
});

describe('gradient checks (float64)', () => {
  it.each(['transformer-block', 'transformer-block-rms-gelu', 'transformer', 'transformer-tied-rms-gelu-sin'])('%s passes', (name) => {
    expect(listGradChecks()).toContain(name);
    const [r] = runGradChecks([name]);
    for (const t of r.tensors) expect(t.relError, `${name}/${t.name}`).toBeLessThanOrEqual(1e-6);
    expect(r.passed).toBe(true);
  });
});

describe('causal mask', () => {
  it('a loss on position t alone gives exactly zero gradient to the positions after t', () => {
    const T = 6, t = 2;
    const m = new TransformerLM(ref, smallTransformerConfig({ context: T }), new Rng(1));
    randomizeParams(m, new Rng(2));
    const inputs = [[1, 5, 2, 6, 0, 3]];
    const targets = [[-1, -1, 4, -1, -1, -1]];
    zeroGrads(ref, m.params);
    m.forwardBackward(batchOf(ref, inputs, targets), true);
    const C = m.dim, dP = m.positions.table!.grad.data;
    for (let s = 0; s < T; s++) {
      const row = Array.from(dP.slice(s * C, (s + 1) * C));
      if (s > t) expect(row.every((v) => v === 0), `position ${s}`).toBe(true);
      else expect(row.some((v) => v !== 0), `position ${s}`).toBe(true);
    }
    // …and the token embeddings of ids seen only after t (6, 0, 3) get none either.
    const dE = m.embedding.table.grad.data;
    for (const id of [6, 0, 3]) expect(Array.from(dE.slice(id * C, (id + 1) * C)).every((v) => v === 0), `token ${id}`).toBe(true);
  });
});

describe('KV-cached sampling', () => {
  it.each(VARIANTS)('%s: token-by-token, chunked and uncached decoding give the same logits', (_n, extra) => {
    const m = new TransformerLM(ref, smallTransformerConfig({ context: 6, ...extra }), new Rng(3));
    randomizeParams(m, new Rng(4));
    const seq = [3, 1, 4, 1, 5, 6];
    const uncached = m.windowLogProbs(seq);
    m.resetSampling();
    seq.forEach((tok, t) => {
      const got = m.nextLogProbs([tok]);
      got.forEach((v, j) => expect(v).toBeCloseTo(uncached[t][j], 12));
    });
    m.resetSampling();
    m.nextLogProbs(seq.slice(0, 2));
    const chunked = m.nextLogProbs(seq.slice(2));
    chunked.forEach((v, j) => expect(v).toBeCloseTo(uncached[5][j], 12));
    expect(Array.from(chunked).reduce((s, l) => s + Math.exp(l), 0)).toBeCloseTo(1, 12);
  });

  it('past the context, the window slides: logits equal an uncached forward over the last `context` tokens', () => {
    const ctx = 4;
    const m = new TransformerLM(ref, smallTransformerConfig({ context: ctx }), new Rng(5));
    randomizeParams(m, new Rng(6));
    const seq = [0, 1, 2, 3, 4, 5, 6, 0, 1];
    m.resetSampling();
    for (let t = 0; t < seq.length; t++) {
      const got = m.nextLogProbs([seq[t]]);
      const window = seq.slice(Math.max(0, t + 1 - ctx), t + 1);
      const want = m.windowLogProbs(window);
      got.forEach((v, j) => expect(v, `step ${t}`).toBeCloseTo(want[window.length - 1][j], 12));
    }
    // A long prompt at once is windowed the same way.
    m.resetSampling();
    const all = m.nextLogProbs(seq);
    const want = m.windowLogProbs(seq.slice(-ctx));
    all.forEach((v, j) => expect(v).toBeCloseTo(want[ctx - 1][j], 12));
    expect(() => m.nextLogProbs([7])).toThrow(/outside the vocabulary/);
  });

  it('sampling does not disturb training: the loss after sampling is unchanged', () => {
    const m = new TransformerLM(ref, smallTransformerConfig(), new Rng(7));
    randomizeParams(m, new Rng(8));
    const b = batchOf(ref, [[1, 2, 3, 4, 5]], [[2, 3, 4, 5, 6]]);
    const before = m.forwardBackward(b, false);
    sampleTokens(m, [1, 2], { length: 8, temperature: 1, rng: new Rng(1) });
    expect(m.forwardBackward(b, false)).toBe(before);
  });
});

describe('backends', () => {
  it.each(VARIANTS)('%s: WASM forward (loss, logits) and gradients agree with the reference', (_n, extra) => {
    const cfg = smallTransformerConfig({ context: 9, dModel: 12, heads: 3, ffHidden: 20, ...extra });
    const rows = [[1, 2, 3, 4, 5, 6, 0, 1], [6, 5, 4, 3, 2, 1, 0, 6]];
    const next = rows.map((r) => [...r.slice(1), r[0]]);
    const [r, w] = [ref, wasm].map((ops) => {
      const m = new TransformerLM(ops, cfg, new Rng(9));
      const prng = new Rng(10);
      for (const p of m.params) {
        const v = new Float64Array(p.value.size);
        prng.fillNormal(v, 0, 0.3);
        p.value.data.set(v);
      }
      zeroGrads(ops, m.params);
      const loss = m.forwardBackward(batchOf(ops, rows, next), true);
      const logp = m.windowLogProbs(rows[0]).flatMap((x) => Array.from(x));
      return { loss, logp, grads: m.params.flatMap((p) => Array.from(p.grad.data)) };
    });
    expect(w.loss).toBeCloseTo(r.loss, 4);
    r.logp.forEach((v, i) => expect(Math.abs(w.logp[i] - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
    const scale = Math.max(...r.grads.map(Math.abs));
    r.grads.forEach((v, i) => expect(Math.abs(w.grads[i] - v)).toBeLessThan(1e-4 * scale));
  });
});

describe('learning', () => {
  it('memorises a short string to near-zero loss (WASM, Adam)', () => {
    const text = 'hello transformer; ';
    const { chars, stream } = charStream(text, 20);
    const T = 16;
    const m = new TransformerLM(wasm, { vocabSize: chars.length, layers: 2, heads: 2, dModel: 32, ffHidden: 0, context: T,
      norm: 'layernorm', ffn: 'swiglu', positions: 'learned', tie: false }, new Rng(1));
    const { last } = memorise(wasm, m, stream, { batch: 4, time: T, maxSteps: 300, lr: 3e-3, clip: 1, stopBelow: 0.05, seed: 2 });
    expect(last).toBeLessThan(0.1);
    // Greedy decoding from the string's start reproduces it.
    const out = greedyDecode(m, [chars.indexOf('h')], text.length - 1);
    expect('h' + out.map((i) => chars[i]).join('')).toBe(text.slice(0, text.length));
  });

  it('trains through the one training loop (random windows, --seq ≤ --context), and refuses longer windows', async () => {
    const text = 'abcabcabdabcabcabd '.repeat(60);
    const summary = await train({
      model: 'transformer', modelOptions: { dModel: 16, heads: 2, layers: 1, context: 16 }, data: { name: 'abc', source: 'test', text },
      steps: 30, batch: 4, seq: 16, valEvery: 0, out: null, ops: wasm,
    });
    expect(summary.steps).toBe(30);
    expect(summary.valLoss!).toBeLessThan(Math.log(5));
    const m = new TransformerLM(ref, smallTransformerConfig({ context: 4 }), new Rng(1));
    expect(() => m.forwardBackward(batchOf(ref, [[1, 2, 3, 4, 5]], [[2, 3, 4, 5, 6]]), false)).toThrow(/--seq ≤ --context/);
  });
});
