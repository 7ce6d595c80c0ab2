// The SVG line-plot writer and the run-folder reader behind `handgrad plot`.
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { escapeXml, formatTick, linePlot, logTicks, niceTicks } from '../../src/viz/svg.js';
import { downsample, loadRun, RunDirError, runCharts } from '../../src/viz/run.js';
import { train } from '../../src/train/trainer.js';
import { METRICS_FILE } from '../../src/train/metrics-log.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-svg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('svg', () => {
  it('picks round ticks', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.13, 0.91, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(logTicks(1e-4, 1)).toEqual([1e-4, 1e-3, 1e-2, 1e-1, 1]);
    expect(logTicks(0.2, 3)).toEqual([0.3, 1, 3]);
    expect(logTicks(0.25, 0.9)).toEqual([0.4, 0.6, 0.8]); // within one decade: linear ticks
    expect(formatTick(0.002)).toBe('0.002');
    expect(formatTick(1e-5)).toBe('1e-5');
    expect(formatTick(250000)).toBe('3e5');
  });

  it('draws series, legend, labels; escapes text; breaks lines at unusable points', () => {
    const svg = linePlot({
      title: 'a < b & "c"', xLabel: 'step', yLabel: 'loss', logY: true,
      series: [{ name: 'train', points: [[1, 3], [2, 2], [3, 0], [4, 1], [5, 0.5]] }, { name: 'val', points: [[2, 2.5]], markers: true }],
    });
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="640" height="360"/);
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot;');
    expect(svg.match(/<polyline/g)).toHaveLength(2); // y = 0 cannot be drawn on a log axis: two runs
    expect(svg.match(/<circle/g)).toHaveLength(1);
    expect(svg).toContain('class="legend"');
    expect(svg).toContain('loss (log)');
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(escapeXml(`<'&>`)).toBe('&lt;&#39;&amp;&gt;');
  });

  it('copes with no data, one point and a flat line', () => {
    for (const points of [[], [[1, 1]], [[1, 2], [2, 2], [3, 2]]] as [number, number][][]) {
      const svg = linePlot({ series: [{ name: 's', points }] });
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
    expect(linePlot({ series: [{ name: 's', points: [] }] })).toContain('no data');
  });

  it('downsamples long series to bucket means', () => {
    const pts = Array.from({ length: 10_000 }, (_, i) => [i, i % 2] as [number, number]);
    const d = downsample(pts, 100);
    expect(d).toHaveLength(100);
    for (const [, y] of d) expect(y).toBeCloseTo(0.5, 12);
  });
});

describe('run folders', () => {
  it('plots from metrics.jsonl, or from the checkpoint when there is none', async () => {
    const out = join(tmp, 'run');
    await train({ model: 'bigram', data: { name: 'x', source: 'test', text: 'abcabd abd cab. '.repeat(50) }, steps: 12, batch: 2, seq: 8,
      valEvery: 4, backend: 'reference', out });
    const a = loadRun(out);
    expect(a.metricsSource).toBe('metrics.jsonl');
    expect(a.metrics).toHaveLength(12);
    unlinkSync(join(out, METRICS_FILE));
    const b = loadRun(out);
    expect(b.metricsSource).toBe('checkpoint');
    expect(b.metrics.map((r) => r.trainLoss)).toEqual(a.metrics.map((r) => r.trainLoss));
    expect(b.metrics.filter((r) => r.valLoss !== undefined).map((r) => r.step)).toEqual([4, 8, 12]);
    const charts = runCharts(b);
    expect(charts.loss.match(/<polyline/g)!.length).toBe(2);
    expect(charts.lr).toContain('no data');
    expect(() => loadRun(tmp)).toThrow(RunDirError);
    expect(() => loadRun(join(tmp, 'nope'))).toThrow(/no such folder/);
  });
});
