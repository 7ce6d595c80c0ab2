import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alignmentSvg, cellOpacity } from '../../src/viz/alignment-svg.js';
import { lastJson, runHandgrad } from '../cli/helpers.js';

const cells = (svg: string) => [...svg.matchAll(/<rect class="cell"[^>]*fill-opacity="([0-9.]+)"/g)].map((m) => Number(m[1]));

describe('alignmentSvg', () => {
  const w = [[0.1, 0.2, 0.7], [0, 1, 0], [0.5, 0.25, 0.25], [0.9, 0.05, 0.05]];
  const svg = alignmentSvg(w, ['c', 'b', 'a', 'eos'], ['a', 'b', '<c>'], { title: 'attn & more' });

  it('is one standalone svg with one rect per cell', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(cells(svg)).toHaveLength(12);
  });

  it('labels rows and columns, escaped', () => {
    const rows = [...svg.matchAll(/class="row-label"[^>]*>([^<]*)</g)].map((m) => m[1]);
    const cols = [...svg.matchAll(/class="col-label"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(rows).toEqual(['c', 'b', 'a', 'eos']);
    expect(cols).toEqual(['a', 'b', '&lt;c&gt;']);
    expect(svg).toContain('attn &amp; more');
  });

  it('opacity is monotone in the weight', () => {
    const op = cells(svg), flat = w.flat();
    for (let i = 0; i < flat.length; i++) {
      for (let j = 0; j < flat.length; j++) if (flat[i] < flat[j]) expect(op[i]).toBeLessThanOrEqual(op[j]);
    }
    expect(op[4]).toBe(1);
    expect(op[3]).toBe(0);
    expect(cellOpacity(2)).toBe(1);
    expect(cellOpacity(-1)).toBe(0);
    expect(cellOpacity(NaN)).toBe(0);
  });

  it('takes a flat row-major array too', () => {
    const flat = alignmentSvg(Float64Array.from(w.flat()), ['c', 'b', 'a', 'eos'], ['a', 'b', '<c>'], { title: 'attn & more' });
    expect(flat).toBe(svg);
    expect(() => alignmentSvg([1, 2], ['x', 'y'], ['p', 'q'])).toThrow(RangeError);
  });
});

describe('handgrad task --plot', () => {
  it('writes the first held-out alignment of a seq2seq task as an SVG, one cell per weight', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hg-plot-')), file = join(dir, 'a.svg');
    try {
      const r = runHandgrad(['task', 'copy', '--steps', '20', '--json', '--plot', file]);
      expect(r.code, r.stderr).toBe(0);
      const result = lastJson(r.stdout) as { alignment: number[][]; alignmentLabels: { rows: string[]; cols: string[] } };
      const svg = readFileSync(file, 'utf8');
      expect(cells(svg)).toHaveLength(result.alignment.length * result.alignment[0].length);
      expect(result.alignmentLabels.cols).toHaveLength(result.alignment[0].length);
      expect(r.stderr).toContain(`alignment written to ${file}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses a file name not ending in .svg (exit 2)', () => {
    const r = runHandgrad(['task', 'copy', '--plot', 'out.png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--plot');
  });
});
