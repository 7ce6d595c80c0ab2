// Expert-load pictures for Mixture-of-Experts runs: the `expertLoad` field of metrics.jsonl
// (share of routed tokens per expert per layer, logged at validation steps, see
// src/train/expert-load.ts) as one line chart per layer — share against step, one line per
// expert, and the uniform share 1/E as a grey reference — laid out in a grid in one SVG file.
// A balanced router keeps every line near 1/E; an expert that collapses falls to 0, a dominant
// one climbs towards 1.
import type { MetricsRecord } from '../train/metrics-log.js';
import { escapeXml, linePlot, type Series } from './svg.js';

export interface ExpertLoadHistory {
  /** The steps with an expertLoad record, in order. */
  steps: number[];
  /** loads[i][layer][expert] at steps[i]. */
  loads: number[][][];
  layers: number;
  experts: number;
}

/** Whether a metrics record carries a well-formed expertLoad ([layer][expert] numbers). */
function loadOf(r: MetricsRecord): number[][] | null {
  const v = r.expertLoad;
  if (!Array.isArray(v) || v.length === 0) return null;
  if (!v.every((row) => Array.isArray(row) && row.length > 0 && row.every((x) => typeof x === 'number'))) return null;
  return v as number[][];
}

/** The expert-load records of a run, or null when it has none (not a MoE run). Shapes must agree. */
export function expertLoadHistory(metrics: readonly MetricsRecord[]): ExpertLoadHistory | null {
  const steps: number[] = [], loads: number[][][] = [];
  let layers = 0, experts = 0;
  for (const r of metrics) {
    const l = loadOf(r);
    if (!l) continue;
    if (loads.length === 0) { layers = l.length; experts = l[0].length; }
    if (l.length !== layers || l.some((row) => row.length !== experts)) continue; // a foreign line: skipped
    steps.push(r.step);
    loads.push(l);
  }
  return loads.length === 0 ? null : { steps, loads, layers, experts };
}

/** One chart per layer (as <svg> strings). */
export function expertLoadCharts(h: ExpertLoadHistory, size: { width?: number; height?: number } = {}): string[] {
  const charts: string[] = [];
  const uniform = 1 / h.experts;
  const x0 = h.steps[0], x1 = h.steps[h.steps.length - 1];
  for (let l = 0; l < h.layers; l++) {
    const series: Series[] = Array.from({ length: h.experts }, (_, e) => ({
      name: `expert ${e}`,
      points: h.steps.map((s, i) => [s, h.loads[i][l][e]] as [number, number]),
      markers: h.steps.length < 40,
    }));
    series.push({ name: `uniform 1/${h.experts}`, points: [[x0, uniform], [x1, uniform]], markers: false, color: '#000' });
    charts.push(linePlot({ ...size, title: `Expert load, layer ${l + 1}`, xLabel: 'step', yLabel: 'share of routed tokens', series }));
  }
  return charts;
}

/** The per-layer charts in a grid of `columns`, as one standalone SVG document. */
export function expertLoadSvg(h: ExpertLoadHistory, opts: { columns?: number; width?: number; height?: number; title?: string } = {}): string {
  const w = opts.width ?? 480, ht = opts.height ?? 300;
  const cols = Math.max(1, Math.min(opts.columns ?? 2, h.layers));
  const charts = expertLoadCharts(h, { width: w, height: ht });
  const rows = Math.ceil(charts.length / cols);
  const top = opts.title ? 30 : 0;
  const W = cols * w, H = rows * ht + top;
  const parts = charts.map((s, i) => s.replace(/^<svg /, `<svg x="${(i % cols) * w}" y="${top + Math.floor(i / cols) * ht}" `));
  const title = opts.title ? `<text x="${W / 2}" y="20" text-anchor="middle" font-family="sans-serif" font-size="15" font-weight="bold">${escapeXml(opts.title)}</text>\n` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">\n<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>\n${title}` +
    parts.join('\n') + '\n</svg>\n';
}

/** The last logged load of each layer, with its most and least used experts: rows for a table. */
export function expertLoadSummary(h: ExpertLoadHistory): { layer: number; shares: number[]; max: number; min: number }[] {
  const last = h.loads[h.loads.length - 1];
  return last.map((shares, l) => ({ layer: l + 1, shares, max: Math.max(...shares), min: Math.min(...shares) }));
}
