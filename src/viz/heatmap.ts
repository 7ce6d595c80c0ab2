// A matrix as a terminal heatmap: one Unicode shade block per cell (' ░▒▓█', light to dark),
// two characters wide so cells look square, with row labels on the left and column labels on
// top (one label per column, clipped to the cell width). Used for attention alignments: rows are
// the decoder's output tokens, columns the source tokens.
//
//        8 2 6 1
//   5   ░░  ▒▒██
//   ...
export const SHADES = [' ', '░', '▒', '▓', '█'] as const;

export interface HeatmapOptions {
  /** Value shown as the lightest shade (default: the smallest entry). */
  min?: number;
  /** Value shown as the darkest shade (default: the largest entry). */
  max?: number;
  /** Optional title line. */
  title?: string;
}

/** The shade of v on [min, max] (NaN: '?'). */
export function shade(v: number, min: number, max: number): string {
  if (Number.isNaN(v)) return '?';
  const x = max > min ? (v - min) / (max - min) : v > 0 ? 1 : 0;
  const i = Math.min(SHADES.length - 1, Math.max(0, Math.round(x * (SHADES.length - 1))));
  return SHADES[i];
}

/** rows × cols values (row-major) → lines of text. */
export function heatmap(values: ArrayLike<number>, rows: number, cols: number,
  rowLabels: string[], colLabels: string[], opts: HeatmapOptions = {}): string {
  if (values.length < rows * cols) throw new RangeError(`heatmap: ${rows}×${cols} needs ${rows * cols} values, got ${values.length}`);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < rows * cols; i++) { if (values[i] < lo) lo = values[i]; if (values[i] > hi) hi = values[i]; }
  const min = opts.min ?? lo, max = opts.max ?? hi;
  const w = Math.max(0, ...rowLabels.slice(0, rows).map((l) => [...l].length));
  const lines: string[] = [];
  if (opts.title) lines.push(opts.title);
  lines.push(' '.repeat(w + 1) + Array.from({ length: cols }, (_, c) => ([...(colLabels[c] ?? '')].slice(0, 2).join('')).padEnd(2)).join('').trimEnd());
  for (let r = 0; r < rows; r++) {
    let line = (rowLabels[r] ?? '').padEnd(w) + ' ';
    for (let c = 0; c < cols; c++) line += shade(values[r * cols + c], min, max).repeat(2);
    lines.push(line);
  }
  return lines.join('\n');
}
