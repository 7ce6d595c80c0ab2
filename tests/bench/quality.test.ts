// `handgrad bench quality` (bench/quality.ts) and its PyTorch peer (bench/peers/torch_char_lm.py).
// Not a measurement: nothing here is timed. Checked: the peer's models are ours (the same weights
// give the same validation loss on the same windows, and the same parameter count), the peer
// reads exactly our token ids, and a tiny run produces a report with every field. The peer parts
// are skipped with a reason when no Python has torch.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkSettingsOverrides, QUALITY_MODELS, QUALITY_SETTINGS, resolveSettings, runPeer, writeIds, type PeerConfig, type QualityReport,
} from '../../bench/quality.js';
import { findPython } from '../../bench/peer-env.js';
import { createOps } from '../../src/backends/index.js';
import { getModel, modelConfig } from '../../src/models/registry.js';
import { SequentialBatcher } from '../../src/data/batcher.js';
import { evaluate } from '../../src/train/trainer.js';
import { encodeWeights } from '../../src/train/checkpoint.js';
import { Rng } from '../../src/util/rng.js';
import { cli, lastJson, runHandgrad } from '../cli/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'handgrad-quality-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const torchPython = findPython('torch');
const noTorch = torchPython.python === null ? `skipped: ${torchPython.note}` : '';

/** ~12k characters of varied text (no data file needed). */
function tinyCorpus(): string {
  const words = ['alice', 'rabbit', 'queen', 'hatter', 'tea', 'said', 'the', 'and', 'a', 'very', 'curious', 'garden', 'door', 'key'];
  let seed = 4321, out = '';
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  while (out.length < 12_000) {
    const n = 3 + (next() % 8);
    const line: string[] = [];
    for (let i = 0; i < n; i++) line.push(words[next() % words.length]);
    out += line.join(' ') + (next() % 3 === 0 ? '.\n' : ', ');
  }
  return out;
}

// Small sizes of every model, two layers where a model stacks, and the transformer's both FFNs.
const PARITY_CASES: { model: (typeof QUALITY_MODELS)[number]; options: Record<string, unknown> }[] = [
  { model: 'rnn', options: { hidden: 12, embed: 5, layers: 2 } },
  { model: 'lstm', options: { hidden: 12, embed: 5, layers: 2 } },
  { model: 'gru', options: { hidden: 12, embed: 5, layers: 2, gruVariant: 'pytorch' } },
  { model: 'lstm-attention', options: { hidden: 12, embed: 5, layers: 2, context: 16 } },
  { model: 'transformer', options: { dModel: 16, heads: 2, layers: 2, ffn: 'gelu', ffHidden: 24, context: 16 } },
  { model: 'transformer', options: { dModel: 16, heads: 4, layers: 1, ffn: 'swiglu', ffHidden: 0, context: 16 } },
];

describe('settings', () => {
  it('every model has explicit batch, window, lr, clip and sizes; overrides merge per model, model options key by key', () => {
    for (const m of QUALITY_MODELS) {
      const s = QUALITY_SETTINGS[m];
      expect(s.batch > 0 && s.seq > 0 && s.lr > 0 && s.clip > 0, m).toBe(true);
      expect(Object.keys(s.modelOptions).length, m).toBeGreaterThan(0);
    }
    const s = resolveSettings('lstm', { '*': { batch: 8, modelOptions: { embed: 7 } }, lstm: { lr: 0.01, modelOptions: { hidden: 9 } } });
    expect(s).toEqual({ batch: 8, seq: QUALITY_SETTINGS.lstm.seq, lr: 0.01, clip: QUALITY_SETTINGS.lstm.clip,
      modelOptions: { ...QUALITY_SETTINGS.lstm.modelOptions, embed: 7, hidden: 9 } });
    expect(checkSettingsOverrides({ lstm: { lr: 0.01 } })).toBeNull();
    expect(checkSettingsOverrides({ lsmt: { lr: 0.01 } })).toMatch(/unknown model 'lsmt'/);
    expect(checkSettingsOverrides({ lstm: { hidden: 9 } })).toMatch(/unknown setting 'hidden'/);
    expect(checkSettingsOverrides({ lstm: { lr: 'fast' } })).toMatch(/lstm\.lr: expected a number/);
  });

  it('a bad --settings, a model option ours does not have, or a missing --data is one line and exit code 2', async () => {
    const corpus = join(dir, 'usage.txt');
    writeFileSync(corpus, tinyCorpus());
    const cases: [string[], RegExp][] = [
      [['--settings', '{"lstm": {"hidden": 9}}'], /^handgrad: --settings: lstm: unknown setting 'hidden'/],
      [['--settings', '{"rnn": {"batch": 4, "seq": 8, "modelOptions": {"hiden": 9}}}', '--models', 'rnn', '--data', corpus],
        /^handgrad: bench quality: model 'rnn' has no option --hiden/],
      [['--data', join(dir, 'missing.txt')], /^handgrad: bench quality: --data .*missing\.txt.*no such file/],
    ];
    for (const [args, message] of cases) {
      const r = await cli('bench', 'quality', '--no-peer', '--time', '1s', ...args);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines[lines.length - 1]).toMatch(message);
      expect(lines.filter((l) => l.startsWith('handgrad:')), r.stderr).toHaveLength(1);
    }
  });
});

describe.skipIf(noTorch !== '')('the PyTorch peer is our model', () => {
  it(`gives our weights our validation loss on the same windows, with as many parameters (every model) ${noTorch}`, async () => {
    const V = 11, B = 3, T = 7;
    const rng = new Rng(5);
    const val = Int32Array.from({ length: 200 }, () => rng.int(0, V));
    const valIds = join(dir, 'parity-val.i32');
    writeIds(valIds, val);
    const ops = await createOps({ backend: 'wasm', threads: 1 });
    const expected: { loss: number; params: number }[] = [];
    const files: string[] = [];
    try {
      PARITY_CASES.forEach((c, i) => {
        const spec = getModel(c.model);
        const config = modelConfig(spec, c.options, V);
        const model = spec.create(ops, config, new Rng(10 + i));
        // Every weight moved off its initial value by up to ±1: biases 0 and norm gains 1 would hide a misplaced one,
        // and small weights would make the attention nearly uniform, hiding which way its score runs.
        for (const p of model.params) for (let k = 0; k < p.value.data.length; k++) p.value.data[k] += 2 * (rng.next() - 0.5);
        const weights = join(dir, `parity-${i}.safetensors`);
        writeFileSync(weights, encodeWeights(model));
        const loss = evaluate(model, new SequentialBatcher(ops, val, B, T), 50);
        expected.push({ loss, params: model.params.reduce((n, p) => n + p.value.size, 0) });
        const cfg: Partial<PeerConfig> = {
          model: c.model, modelConfig: model.config, batch: B, seq: T, seed: 1, threadChoices: [1], valBatches: 50,
          trainIds: valIds, valIds, parityWeights: weights, parityOnly: true,
        };
        files.push(join(dir, `parity-${i}.json`));
        writeFileSync(files[i], JSON.stringify(cfg));
      });
    } finally {
      ops.dispose();
    }
    const out = await runPeer(torchPython.python!, files, 1);
    PARITY_CASES.forEach((c, i) => {
      const label = `${c.model} ${JSON.stringify(c.options)}`;
      expect(out[i].params, label).toBe(expected[i].params);
      expect(out[i].parityValLoss, label).not.toBeNull();
      expect(Math.abs(out[i].parityValLoss! - expected[i].loss), `${label}: peer ${out[i].parityValLoss}, ours ${expected[i].loss}`).toBeLessThan(1e-6);
    });
  });
});

describe('handgrad bench quality', () => {
  const corpus = join(dir, 'tiny.txt');
  writeFileSync(corpus, tinyCorpus());
  const settings = JSON.stringify({
    rnn: { batch: 4, seq: 16, modelOptions: { hidden: 16, embed: 8 } },
    'lstm-attention': { batch: 4, seq: 16, modelOptions: { hidden: 12, embed: 8, context: 16 } },
  });

  it(`trains ours and the peer on the same token ids; the JSON report has every field ${noTorch}`, () => {
    const out = join(dir, 'quality.json');
    const r = runHandgrad(['bench', 'quality', '--data', corpus, '--models', 'rnn,lstm-attention', '--time', '1500ms', '--val-every', '500ms',
      '--threads', '1', '--settings', settings, '--sample-chars', '40', '--out', out, '--json', ...(noTorch ? ['--no-peer'] : [])], 300_000);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson(r.stdout) as unknown as QualityReport;
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
    // The curves beside the JSON: one chart per model, ours (and the peer's) series in it.
    const svg = readFileSync(join(dir, 'quality.svg'), 'utf8');
    expect(svg.match(/validation loss on /g)).toHaveLength(2);
    expect(svg).toContain('ours (best ');
    if (!noTorch) expect(svg).toContain('PyTorch (best ');
    expect(report.rows.map((x) => x.model)).toEqual(['rnn', 'lstm-attention']);
    expect(report.trainTokens + report.valTokens).toBe(report.corpusChars);
    expect(report.valTokens).toBe(Math.floor(report.corpusChars * 0.1));
    expect(report).toMatchObject({ timeSeconds: 1.5, valEverySeconds: 0.5, threads: 1, peerThreadChoices: [1], sampleChars: 40, temperature: 0.8 });
    for (const x of report.rows) {
      expect(x.settings.batch, x.model).toBe(4);
      expect(x.modelConfig.vocabSize, x.model).toBe(report.vocabSize);
      if (!noTorch) expect(x.peer, x.peerNote).not.toBeNull();
      const sides = noTorch ? [x.ours] : [x.ours, x.peer!];
      for (const side of sides) {
        expect(side.steps, x.model).toBeGreaterThan(0);
        expect(side.curve.length, x.model).toBeGreaterThan(0);
        for (const p of side.curve) expect(Number.isFinite(p.valLoss) && p.seconds >= 0 && p.step > 0, x.model).toBe(true);
        expect(side.bestValLoss, x.model).toBe(Math.min(...side.curve.map((p) => p.valLoss)));
        expect(side.finalValLoss, x.model).toBe(side.curve[side.curve.length - 1].valLoss);
        expect(side.tokensPerSec, x.model).toBeGreaterThan(0);
        expect([...side.sample], x.model).toHaveLength(40);
      }
      // Ours trains in legs of --val-every training time, each ending with train()'s validation: 1.5 s / 0.5 s = 3 legs.
      expect(x.ours.curve, x.model).toHaveLength(3);
      expect(x.ours.curve[2].step).toBe(x.ours.steps);
      for (const side of sides) {
        const t = side.curve.map((p) => p.seconds);
        expect(t, x.model).toEqual([...t].sort((a, b) => a - b));
        expect(t[t.length - 1], x.model).toBeGreaterThanOrEqual(1.5); // trained for the whole budget (validation not counted)
      }
      if (noTorch) continue;
      const peer = x.peer!;
      expect(peer.trainTokens, x.model).toBe(report.trainTokens);
      expect(peer.valTokens, x.model).toBe(report.valTokens);
      expect(peer.params, x.model).toBe(x.ours.params);
      expect(peer.threads, x.model).toBe(1);
      expect(Math.abs(x.parity.peer! - x.parity.ours), x.model).toBeLessThan(2e-5);
      expect(x.parity.ours).toBe(x.ours.bestValLoss);
      expect(x.bestValDelta).toBeCloseTo(x.ours.bestValLoss! - peer.bestValLoss!, 12);
    }
    expect(r.stderr).toMatch(/parity ours \/ torch/);
  });
});
