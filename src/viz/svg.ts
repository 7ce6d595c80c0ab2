// A small, dependency-free line-plot SVG writer: one chart with axes, "nice" ticks, axis labels,
// a title, a legend and any number of series, optionally on a log-scale y axis. The output is a
// standalone <svg> element (valid as a file of its own and inline in HTML).
//
//   const svg = linePlot({
//     title: 'loss', xLabel: 'step', yLabel: 'nats/token',
//     series: [{ name: 'train', points: [[1, 4.2], [2, 3.9]] }, { name: 'validation', points: [[2, 4.0]], markers: true }],
//   });

export interface Series {
  name: string;
  /** [x, y] pairs; non-finite values (and y ≤ 0 on a log axis) break the line. */
  points: [number, number][];
  /** CSS colour; default from a fixed palette by position. */
  color?: string;
  /** Draw a dot at every point (for sparse series such as validation). */
  markers?: boolean;
}

export interface PlotOptions {
  series: Series[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** A log10 y axis (ticks at powers of ten, or 1-2-5 steps within a decade). */
  logY?: boolean;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Escapes text for SVG/HTML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About `count` round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Tick values for a log axis over [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  const mults = b - a <= 1 ? [1, 2, 5] : b - a <= 3 ? [1, 3] : [1];
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) {
    for (const m of mults) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks.length >= 2 ? ticks : niceTicks(lo, hi, 4);
}

/** A short label for a tick value. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

const f = (v: number) => (Math.round(v * 100) / 100).toString();

/** One line chart as an <svg> element string. */
export function linePlot(opts: PlotOptions): string {
  const W = opts.width ?? 640, H = opts.height ?? 360;
  const m = { left: 70, right: 20, top: opts.title ? 34 : 14, bottom: 48 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const logY = !!opts.logY;
  const usable = (p: [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);
  const all = opts.series.flatMap((s) => s.points.filter(usable));
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (all.length === 0) { x0 = 0; x1 = 1; y0 = logY ? 1 : 0; y1 = logY ? 10 : 1; }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { if (logY) { y0 /= 2; y1 *= 2; } else { const d = Math.abs(y0) * 0.1 || 0.5; y0 -= d; y1 += d; } }
  const ty = (v: number) => (logY ? Math.log10(v) : v);
  let ly0 = ty(y0), ly1 = ty(y1);
  const pad = (ly1 - ly0) * 0.05;
  ly0 -= pad; ly1 += pad;
  if (!logY && y0 >= 0 && ly0 < 0) ly0 = 0;
  const X = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) => m.top + ph - ((ty(y) - ly0) / (ly1 - ly0)) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (opts.title) out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(opts.title)}</text>`);
  // Grid and ticks.
  const yt = logY ? logTicks(10 ** ly0, 10 ** ly1) : niceTicks(ly0, ly1, 5);
  for (const v of yt) {
    const y = Y(v);
    if (y < m.top - 0.5 || y > m.top + ph + 0.5) continue;
    out.push(`<line x1="${m.left}" y1="${f(y)}" x2="${m.left + pw}" y2="${f(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${f(y + 4)}" text-anchor="end">${escapeXml(formatTick(v))}</text>`);
  }
  for (const v of niceTicks(x0, x1, 6)) {
    const x = X(v);
    if (x < m.left - 0.5 || x > m.left + pw + 0.5) continue;
    out.push(`<line x1="${f(x)}" y1="${m.top + ph}" x2="${f(x)}" y2="${m.top + ph + 5}" stroke="#333"/>`);
    out.push(`<text x="${f(x)}" y="${m.top + ph + 18}" text-anchor="middle">${escapeXml(formatTick(v))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (opts.xLabel) out.push(`<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel) {
    out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(opts.yLabel + (logY ? ' (log)' : ''))}</text>`);
  }
  // Series: a polyline per unbroken run of usable points.
  opts.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    let run: string[] = [];
    const dots: string[] = [];
    const end = () => {
      if (run.length > 1) out.push(`<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${run.join(' ')}"/>`);
      run = [];
    };
    for (const p of s.points) {
      if (!usable(p)) { end(); continue; }
      const xy = `${f(X(p[0]))},${f(Y(p[1]))}`;
      run.push(xy);
      if (s.markers || s.points.length === 1) dots.push(`<circle cx="${f(X(p[0]))}" cy="${f(Y(p[1]))}" r="3" fill="${color}"/>`);
    }
    end();
    out.push(...dots);
  });
  // Legend, top right inside the plot.
  const named = opts.series.filter((s) => s.name);
  if (named.length > 0) {
    const lw = Math.max(...named.map((s) => s.name.length)) * 7 + 34, lh = named.length * 16 + 8;
    const lx = m.left + pw - lw - 8, ly = m.top + 8;
    out.push(`<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
    opts.series.forEach((s, i) => {
      if (!s.name) return;
      const k = named.indexOf(s), y = ly + 14 + k * 16;
      out.push(`<line x1="${lx + 6}" y1="${y - 4}" x2="${lx + 24}" y2="${y - 4}" stroke="${s.color ?? PALETTE[i % PALETTE.length]}" stroke-width="2"/>`);
      out.push(`<text x="${lx + 28}" y="${y}">${escapeXml(s.name)}</text>`);
    });
    out.push('</g>');
  }
  if (all.length === 0) out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle" fill="#888">no data</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/** Several <svg> charts stacked into one SVG document. */
export function stackSvgs(svgs: string[], width = 640, height = 360): string {
  const parts = svgs.map((s, i) => s.replace(/^<svg /, `<svg x="0" y="${i * height}" `));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * svgs.length}" viewBox="0 0 ${width} ${height * svgs.length}">\n` +
    parts.join('\n') + '\n</svg>\n';
}
