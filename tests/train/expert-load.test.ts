// Expert-load logging: a Mixture-of-Experts model's expertLoad()/stats() reach metrics.jsonl at
// validation steps, counted over the training steps only (validation's routing is left out).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { BigramLM } from '../../src/models/bigram.js';
import { registerModel } from '../../src/models/registry.js';
import type { TokenBatch } from '../../src/models/types.js';
import { loadEmbeddedCorpus, type Corpus } from '../../src/data/corpus.js';
import { readMetrics } from '../../src/train/metrics-log.js';
import { ExpertLoadTracker, expertLoadOf, type MoeStats } from '../../src/train/expert-load.js';
import { train } from '../../src/train/trainer.js';
import { expertLoadHistory, expertLoadSvg, expertLoadSummary } from '../../src/viz/expert-load.js';
import type { MetricsRecord } from '../../src/train/metrics-log.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-expert-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const corpus: Corpus = { name: 'moby-20k', source: 'test', text: loadEmbeddedCorpus().text.slice(0, 20_000) };

/**
 * A bigram posing as a 2-layer, 3-expert MoE: training tokens go to experts 0 and 1 of layer 0 in
 * the ratio 3:1 and all to expert 2 of layer 1; validation tokens all go to expert 2 of layer 0
 * (so a logged load that includes validation is easy to spot). One in ten training assignments
 * is dropped; each token runs 1 of 3 experts (compute fraction 1/3).
 */
class FakeMoe extends BigramLM {
  counts = [[0, 0, 0], [0, 0, 0]];
  cum = { routed: [[0, 0, 0], [0, 0, 0]], dropped: [0, 0], macs: 0, all: 0, tokens: 0 };
  /** The routing bookkeeping of one forward pass over n tokens. */
  route(n: number, trainMode: boolean): void {
    const add = (l: number, e: number, k: number) => { this.counts[l][e] += k; this.cum.routed[l][e] += k; };
    if (trainMode) {
      add(0, 0, (3 * n) / 4); add(0, 1, n / 4); add(1, 2, n);
      this.cum.dropped[0] += n / 10;
    } else add(0, 2, n);
    this.cum.macs += 2 * n; this.cum.all += 6 * n; this.cum.tokens += n;
  }
  override forwardBackward(batch: TokenBatch, trainMode: boolean): number {
    this.route(batch.batch * batch.time, trainMode);
    return super.forwardBackward(batch, trainMode);
  }
  expertLoad(): number[][] {
    const out = this.counts.map((row) => { const s = row.reduce((a, b) => a + b, 0); return row.map((c) => (s > 0 ? c / s : 0)); });
    this.counts = [[0, 0, 0], [0, 0, 0]];
    return out;
  }
  stats(): MoeStats {
    return {
      layers: this.cum.routed.map((r, l) => ({ tokensPerExpert: [...r], routedPerExpert: [...r], dropped: this.cum.dropped[l] })),
      expertMacs: this.cum.macs, allExpertsMacs: this.cum.all, auxLoss: 0, tokens: this.cum.tokens,
    };
  }
}
registerModel({
  name: 'fake-moe-test', description: 'bigram with expert-load statistics', stateful: false, defaults: {}, options: [],
  create: (ops, c, rng) => new FakeMoe(ops, { vocabSize: c.vocabSize as number }, rng),
});

describe('expert load in metrics.jsonl', () => {
  it('is logged on validation steps and the last step, from training routing only', async () => {
    const out = join(tmp, 'run');
    await train({ model: 'fake-moe-test', data: corpus, ops: new ReferenceOps('f64'), steps: 25, batch: 4, seq: 8, valEvery: 10, valBatches: 2, out });
    const m = readMetrics(out);
    expect(m).toHaveLength(25);
    const withLoad = m.filter((r) => r.expertLoad !== undefined).map((r) => r.step);
    expect(withLoad).toEqual([10, 20, 25]);
    for (const r of m.filter((x) => x.expertLoad !== undefined)) {
      expect(r.valLoss).toBeTypeOf('number');
      // Validation sends everything to expert 2 of layer 0: none of it may show.
      expect(r.expertLoad).toEqual([[0.75, 0.25, 0], [0, 0, 1]]);
      expect(r.droppedFraction).toBeCloseTo(0.1 / 2, 6); // 0.1n dropped of 2n routed (two layers)
      expect(r.expertComputeFraction).toBeCloseTo(1 / 3, 4);
    }
    expect(m.filter((r) => r.expertLoad === undefined).every((r) => r.droppedFraction === undefined)).toBe(true);
  });

  it('without a validation split, is still logged every valEvery steps and at the end', async () => {
    const out = join(tmp, 'noval');
    await train({ model: 'fake-moe-test', data: corpus, ops: new ReferenceOps('f64'), steps: 12, batch: 2, seq: 8, valEvery: 5, valFraction: 0, out });
    const m = readMetrics(out);
    expect(m.filter((r) => r.expertLoad !== undefined).map((r) => r.step)).toEqual([5, 10, 12]);
    expect(m.every((r) => r.valLoss === undefined)).toBe(true);
  });

  it('models without expertLoad() add nothing', async () => {
    const out = join(tmp, 'bigram');
    await train({ model: 'bigram', data: corpus, ops: new ReferenceOps('f64'), steps: 10, batch: 2, seq: 8, valEvery: 5, out });
    expect(readMetrics(out).some((r) => 'expertLoad' in r)).toBe(false);
  });

  it('the tracker takes differences of the cumulative stats and discards an interval on request', () => {
    const m = new FakeMoe(new ReferenceOps('f64'), { vocabSize: 5 }, { next: () => 0.5 } as never);
    const src = expertLoadOf(m)!;
    expect(src).not.toBeNull();
    expect(expertLoadOf({})).toBeNull();
    const t = new ExpertLoadTracker(src);
    const count = (n: number, trainMode: boolean) => m.route(n, trainMode);
    count(8, true);
    t.discard();
    count(40, false);
    expect(t.take()!.expertLoad).toEqual([[0, 0, 1], [0, 0, 0]]); // the validation-only interval
    count(8, true);
    const r = t.take()!;
    expect(r.expertLoad).toEqual([[0.75, 0.25, 0], [0, 0, 1]]);
    expect(r.droppedFraction).toBeCloseTo(0.8 / 16, 6);
  });

  it('the plot reads the records that carry a well-formed load, of one shape, and draws a chart per layer', () => {
    const rec = (step: number, extra: Record<string, unknown>): MetricsRecord =>
      ({ step, trainLoss: 1, lr: 0, gradNorm: 0, tokensPerSec: 0, elapsed: 0, ...extra });
    expect(expertLoadHistory([rec(1, {}), rec(2, { expertLoad: 'x' })])).toBeNull();
    const h = expertLoadHistory([
      rec(1, {}), rec(2, { expertLoad: [[0.5, 0.5], [1, 0]] }), rec(3, { expertLoad: [[1, 0, 0]] }), // a foreign shape: skipped
      rec(4, { expertLoad: [[0.25, 0.75], [0, 1]] }), rec(5, { expertLoad: [['a', 1]] }),
    ])!;
    expect(h).toMatchObject({ steps: [2, 4], layers: 2, experts: 2 });
    expect(expertLoadSummary(h)).toEqual([{ layer: 1, shares: [0.25, 0.75], max: 0.75, min: 0.25 }, { layer: 2, shares: [0, 1], max: 1, min: 0 }]);
    const svg = expertLoadSvg(h, { title: 't<' });
    expect(svg.match(/Expert load, layer \d/g)).toEqual(['Expert load, layer 1', 'Expert load, layer 2']);
    expect(svg).toContain('uniform 1/2');
    expect(svg).toContain('t&lt;');
  });
});
