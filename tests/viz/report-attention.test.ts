// The report's "Attention" section: models with attentionMaps (transformer, lstm-attention) get one
// heatmap per map over a short sample; a model without attention (bigram) gets none. The maps
// themselves (from the method directly): T × T, every row sums to 1, exactly 0 above the diagonal.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { ATTENTION_TOKENS, collectReport, renderReport } from '../../src/viz/report.js';
import type { AttentionMap, SequenceModel } from '../../src/models/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-report-attn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'tiny.txt');

function checkMaps(maps: AttentionMap[], T: number): void {
  for (const m of maps) {
    expect(m.matrix).toHaveLength(T);
    m.matrix.forEach((row, i) => {
      expect(row).toHaveLength(T);
      expect(row.reduce((a, b) => a + b, 0), `${m.label} row ${i}`).toBeCloseTo(1, 6);
      for (let j = 0; j < T; j++) {
        if (j > i) expect(row[j], `${m.label} [${i}, ${j}]`).toBe(0);
        else expect(row[j]).toBeGreaterThanOrEqual(0);
      }
    });
    expect(m.matrix[0][0]).toBeCloseTo(1, 6); // the first position can only see itself
  }
}

const base = { data, batch: 4, seq: 16, steps: 6, valEvery: 3, valBatches: 2, seed: 3, backend: 'reference' as const };
const cases: [string, TrainOptions, number][] = [
  ['transformer', { ...base, model: 'transformer', modelOptions: { layers: 2, heads: 2, dModel: 8, context: 16 } }, 4],
  ['lstm-attention', { ...base, model: 'lstm-attention', modelOptions: { hidden: 8, embed: 4, context: 64 } }, 1],
];

beforeAll(() => writeFileSync(data, loadEmbeddedCorpus().text.slice(0, 6000)));

describe.each(cases)('report attention: %s', (name, opts, nMaps) => {
  const out = join(tmp, name);
  let model: SequenceModel;
  beforeAll(async () => {
    await train({ ...opts, out });
    model = loadCheckpoint(out, new ReferenceOps('f64')).model;
  });

  it('attentionMaps: one causal, row-stochastic matrix per layer and head', () => {
    const tokens = [1, 5, 2, 7, 3, 3, 0, 9, 4, 6, 2, 1];
    const maps = model.attentionMaps!(tokens);
    expect(maps).toHaveLength(nMaps);
    expect(new Set(maps.map((m) => m.label)).size).toBe(nMaps);
    checkMaps(maps, tokens.length);
  });

  it('attentionMaps leaves the sampling state alone', () => {
    model.resetSampling();
    const a = model.nextLogProbs([1, 2, 3]);
    model.attentionMaps!([4, 5, 6, 7]);
    const b = model.nextLogProbs([4]);
    model.resetSampling();
    model.nextLogProbs([1, 2, 3]);
    const c = model.nextLogProbs([4]);
    expect(Array.from(b)).toEqual(Array.from(c));
    expect(a.length).toBe(b.length);
  });

  it('the page has an Attention section with one heatmap per map', async () => {
    const r = await collectReport(out, { samples: 1, length: 20, backend: 'reference' });
    expect(r.attention?.maps).toHaveLength(nMaps);
    const T = r.attention!.tokens.length;
    expect(T).toBe(Math.min(ATTENTION_TOKENS, (opts.modelOptions as { context: number }).context));
    checkMaps(r.attention!.maps, T);
    const file = join(tmp, `${name}.html`);
    writeFileSync(file, renderReport(r));
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('<h2 id="attention">Attention</h2>');
    const section = html.slice(html.indexOf('<div class="attention">'), html.indexOf('<h2>Model and settings</h2>'));
    expect(section.match(/<svg /g)).toHaveLength(nMaps);
    expect(section.match(/<rect class="cell"/g)).toHaveLength(nMaps * T * T);
    expect(html.match(/<svg /g)).toHaveLength(3 + nMaps); // the three charts, then the maps
    expect(html).not.toMatch(/<script|<link|<img|(src|href)=|url\(/i);
  });
});

describe('report attention: a model without attention', () => {
  it('bigram: no Attention section', async () => {
    const out = join(tmp, 'bigram');
    await train({ ...base, model: 'bigram', out });
    const r = await collectReport(out, { samples: 1, length: 20, backend: 'reference' });
    expect(r.attention ?? null).toBeNull();
    const html = renderReport(r);
    expect(html).not.toContain('Attention');
    expect(html.match(/<svg /g)).toHaveLength(3);
  });
});
