// End to end: train a tiny LSTM (30 steps), `handgrad plot` and `handgrad report` on its folder,
// then open the report in headless Chromium and check that the charts rendered: a probe script
// (added to a copy of the page, the report itself has none) writes each chart's size and its
// drawn lines into the DOM, which --dump-dom prints. Skips when /usr/bin/chromium is absent.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, runHandgrad } from '../cli/helpers.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('report.e2e: /usr/bin/chromium not found; skipping the browser check (apt-get install -y chromium)');
const tmp = mkdtempSync(join(tmpdir(), 'handgrad-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PROBE = `<script>
addEventListener('load', () => {
  const charts = [...document.querySelectorAll('.charts > svg')].map((s) => {
    const r = s.getBoundingClientRect();
    const lines = [...s.querySelectorAll('polyline')].map((p) => { const b = p.getBBox(); return b.width + b.height; });
    return { width: r.width, height: r.height, lines: lines.length, drawn: lines.filter((x) => x > 0).length, texts: s.querySelectorAll('text').length };
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = 'PROBE' + JSON.stringify(charts) + 'END';
  document.body.appendChild(pre);
});
</script>`;

describe('handgrad report', () => {
  const run = join(tmp, 'run');
  const report = join(tmp, 'report.html');
  beforeAll(() => {
    const t = runHandgrad(['train', 'lstm', '--hidden', '8', '--steps', '30', '--batch', '4', '--seq', '16', '--val-every', '10',
      '--backend', 'reference', '--out', run, '--json']);
    expect(t.code, t.stderr).toBe(0);
  });

  it('plot writes three SVG files, or one with --out', () => {
    const r = runHandgrad(['plot', run, '--json']);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['loss.svg', 'lr.svg', 'grad-norm.svg']) {
      const svg = readFileSync(join(run, f), 'utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(svg).toContain('<polyline');
    }
    const one = runHandgrad(['plot', run, '--out', join(tmp, 'all.svg')]);
    expect(one.code, one.stderr).toBe(0);
    expect(readFileSync(join(tmp, 'all.svg'), 'utf8').match(/<polyline/g)!.length).toBeGreaterThanOrEqual(4);
  });

  it('writes a self-contained page with figures, settings and samples', () => {
    const r = runHandgrad(['report', run, '--out', report, '--samples', '2', '--length', '50', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ out: report, samples: 2 });
    const html = readFileSync(report, 'utf8');
    expect(html.match(/<svg /g)!.length).toBe(3);
    expect(html).not.toMatch(/<script|<link|<img|(src|href)=|url\(/i); // nothing loaded from anywhere
    expect(html).toContain('final validation loss');
    expect(html).toContain('model.hidden');
    expect(html.match(/<pre class="sample">/g)!.length).toBe(2);
  });

  it.skipIf(!CHROMIUM)('renders the charts in headless Chromium', () => {
    const probe = join(tmp, 'probe.html');
    writeFileSync(probe, readFileSync(report, 'utf8').replace('</body>', `${PROBE}\n</body>`));
    const r = spawnSync(CHROMIUM!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
      '--disable-dev-shm-usage', `--user-data-dir=${join(tmp, 'profile')}`, '--window-size=1400,1200', '--dump-dom', `file://${probe}`],
    { encoding: 'utf8', timeout: 90_000 });
    const m = /PROBE(\[.*?\])END/.exec(r.stdout); // (the script text itself reads PROBE' + …)
    expect(m, `no probe output from chromium (status ${r.status}): ${r.stderr.slice(-500)}`).not.toBeNull();
    const charts = JSON.parse(m![1]) as { width: number; height: number; lines: number; drawn: number; texts: number }[];
    expect(charts).toHaveLength(3);
    for (const c of charts) {
      expect(c.width).toBeGreaterThan(100);
      expect(c.height).toBeGreaterThan(100);
      expect(c.drawn).toBeGreaterThanOrEqual(1);
      expect(c.texts).toBeGreaterThan(5); // title, tick labels, axis labels, legend
    }
    expect(charts[0].lines).toBe(2); // train and validation
  });
});
