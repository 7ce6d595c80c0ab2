// An attention alignment as a standalone SVG heatmap: one <rect> per cell, filled with one colour
// whose opacity is the weight on [min, max] (default [0, 1]: attention weights), row labels on the
// left (the decoder's output tokens), column labels on top (the source tokens), an optional title.
// `handgrad task <seq2seq task> --plot FILE.svg` writes the first held-out example's alignment.
//
//   const svg = alignmentSvg(weights, ['3', '2', '1', 'eos'], ['1', '2', '3'], { title: 'reverse' });
import { escapeXml } from './svg.js';

export interface AlignmentSvgOptions {
  title?: string;
  /** Weight drawn fully transparent (default 0). */
  min?: number;
  /** Weight drawn fully opaque (default 1). */
  max?: number;
  /** Side of one cell in px (default 28). */
  cell?: number;
  /** Fill colour of the cells (default a dark blue). */
  color?: string;
  /** Axis captions (defaults: 'source', 'output'). */
  xLabel?: string;
  yLabel?: string;
}

const r2 = (v: number) => (Math.round(v * 100) / 100).toString();

/** The cell opacity of weight v on [min, max], clamped to [0, 1] (NaN → 0). */
export function cellOpacity(v: number, min = 0, max = 1): number {
  if (Number.isNaN(v)) return 0;
  const x = max > min ? (v - min) / (max - min) : v > min ? 1 : 0;
  return Math.min(1, Math.max(0, x));
}

/** rows × cols weights (row-major, or an array of rows) → an <svg> element string. */
export function alignmentSvg(weights: ArrayLike<number> | number[][], rowLabels: string[], colLabels: string[],
  opts: AlignmentSvgOptions = {}): string {
  const rowsArr = Array.isArray(weights) && Array.isArray(weights[0]) ? (weights as number[][]) : null;
  const rows = rowsArr ? rowsArr.length : rowLabels.length;
  const cols = rowsArr ? Math.max(0, ...rowsArr.map((r) => r.length)) : colLabels.length;
  const at = (r: number, c: number): number => (rowsArr ? rowsArr[r][c] ?? NaN : (weights as ArrayLike<number>)[r * cols + c]);
  if (!rowsArr && (weights as ArrayLike<number>).length < rows * cols) {
    throw new RangeError(`alignmentSvg: ${rows}×${cols} needs ${rows * cols} weights, got ${(weights as ArrayLike<number>).length}`);
  }
  const min = opts.min ?? 0, max = opts.max ?? 1, C = opts.cell ?? 28, color = opts.color ?? '#08306b';
  const labelW = Math.max(3, ...rowLabels.map((l) => [...l].length)) * 8 + 28;
  const colH = Math.max(2, ...colLabels.map((l) => [...l].length)) * 7 + 30;
  const top = (opts.title ? 28 : 8) + colH;
  const W = labelW + cols * C + 16, H = top + rows * C + 16;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (opts.title) out.push(`<text x="${r2(W / 2)}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(opts.title)}</text>`);
  out.push(`<text x="${r2(labelW + (cols * C) / 2)}" y="${(opts.title ? 28 : 8) + 12}" text-anchor="middle" fill="#555">${escapeXml(opts.xLabel ?? 'source')}</text>`);
  out.push(`<text transform="translate(12 ${r2(top + (rows * C) / 2)}) rotate(-90)" text-anchor="middle" fill="#555">${escapeXml(opts.yLabel ?? 'output')}</text>`);
  for (let c = 0; c < cols; c++) {
    const x = labelW + c * C + C / 2;
    out.push(`<text class="col-label" x="${r2(x)}" y="${top - 6}" text-anchor="middle">${escapeXml(colLabels[c] ?? '')}</text>`);
  }
  for (let r = 0; r < rows; r++) {
    const y = top + r * C;
    out.push(`<text class="row-label" x="${labelW - 6}" y="${r2(y + C / 2 + 4)}" text-anchor="end">${escapeXml(rowLabels[r] ?? '')}</text>`);
    for (let c = 0; c < cols; c++) {
      const v = at(r, c);
      out.push(`<rect class="cell" x="${labelW + c * C}" y="${y}" width="${C}" height="${C}" fill="${color}" fill-opacity="${r2(cellOpacity(v, min, max))}" stroke="#ddd" stroke-width="0.5"><title>${escapeXml(`${rowLabels[r] ?? r} ← ${colLabels[c] ?? c}: ${Number.isNaN(v) ? 'NaN' : v.toFixed(3)}`)}</title></rect>`);
    }
  }
  out.push(`<rect x="${labelW}" y="${top}" width="${cols * C}" height="${rows * C}" fill="none" stroke="#333"/>`);
  out.push('</svg>');
  return out.join('\n');
}
