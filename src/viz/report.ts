// A training run as one self-contained HTML page: final figures, the loss / learning-rate /
// gradient-norm charts (inline SVG), the model config and training settings, and a few samples
// drawn from the checkpoint (src/models/sample.ts). No scripts, no external resources: the file
// can be mailed or archived as it is.
import { createOps, type BackendName } from '../backends/index.js';
import { openTrainedRun } from '../train/trained-run.js';
import { sampleTokens } from '../models/sample.js';
import { PARAGRAPH } from '../data/word-tokenizer.js';
import { BpeTokenizer } from '../data/bpe-tokenizer.js';
import { Rng } from '../util/rng.js';
import { escapeXml } from './svg.js';
import { alignmentSvg } from './alignment-svg.js';
import type { AttentionMap } from '../models/types.js';
import { loadRun, runCharts, type RunCharts, type RunData } from './run.js';
import { expertLoadCharts, expertLoadHistory, expertLoadSummary } from './expert-load.js';

export interface ReportSample {
  seed: number;
  prime: string;
  text: string;
}

export interface ReportInput {
  title: string;
  dir: string;
  figures: [string, string][];
  settings: [string, string][];
  charts: RunCharts;
  samples: ReportSample[];
  /** Why there are no samples, when there are none. */
  samplesNote: string | null;
  temperature: number;
  /** Attention maps over a short sample (models with attentionMaps only; absent otherwise). */
  attention?: ReportAttention | null;
  /** Mixture-of-Experts runs: per-layer expert-load charts and the last logged shares (absent otherwise). */
  experts?: ReportExperts | null;
}

export interface ReportExperts {
  charts: string[];
  /** The step of the last logged load. */
  step: number;
  rows: { layer: number; shares: number[]; max: number; min: number }[];
}

export interface ReportAttention {
  /** The sequence's tokens, displayable (newline ↵, space ␣): the maps' row and column labels. */
  tokens: string[];
  maps: AttentionMap[];
}

/** The longest sequence the report draws attention maps over. */
export const ATTENTION_TOKENS = 24;

/** A token as a short visible label. */
function tokenLabel(s: string): string {
  const v = s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣');
  return [...v].length > 8 ? [...v].slice(0, 7).join('') + '…' : v;
}

export interface ReportOptions {
  samples?: number;
  length?: number;
  temperature?: number;
  seed?: number;
  backend?: BackendName;
}

const num = (v: unknown, digits = 4): string =>
  typeof v === 'number' && Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toPrecision(digits)) : '–';
const show = (v: unknown): string => (v === undefined || v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Reads the run folder, draws the charts and samples from the checkpoint. */
export async function collectReport(dir: string, opts: ReportOptions = {}): Promise<ReportInput> {
  const run = loadRun(dir);
  // A report describes the checkpoint too: a damaged one is refused, not silently left out.
  if (run.checkpointError) throw run.checkpointError;
  const charts = runCharts(run);
  const { figures, settings } = tables(run);
  const count = opts.samples ?? 3, length = opts.length ?? 300, temperature = opts.temperature ?? 0.8, seed0 = opts.seed ?? 1;
  const samples: ReportSample[] = [];
  let samplesNote: string | null = null;
  let attention: ReportAttention | null = null;
  if (!run.checkpoint) samplesNote = 'no checkpoint in this folder: no samples';
  else {
    if (count === 0) samplesNote = 'no samples requested';
    const backend = opts.backend ?? 'wasm';
    const ops = await createOps(backend === 'reference' ? { backend: 'reference', dtype: 'f64' } : { backend: 'wasm', threads: 1 });
    try {
      // Through openTrainedRun: a model with positions samples windows no longer than its training --seq.
      const { model, tokenizer } = openTrainedRun(run.checkpoint.dir, ops, { last: true });
      const brk = tokenizer.kind === 'word' ? PARAGRAPH : '\n';
      // BPE (TinyStories): start a story the way training saw them start, after <|endoftext|>,
      // and show it up to the model's own <|endoftext|>.
      const bpe = tokenizer instanceof BpeTokenizer ? tokenizer : null;
      const prime = bpe ? bpe.special : tokenizer.covers(brk) ? brk : tokenizer.token(0);
      const story = (ids: number[]) => {
        const end = bpe ? ids.indexOf(bpe.eotId) : -1;
        return end >= 0 ? ids.slice(0, end) : ids;
      };
      const promptIds = Array.from(tokenizer.encode(prime));
      for (let i = 0; i < count; i++) {
        const ids = sampleTokens(model, promptIds, { length, temperature, rng: new Rng(seed0 + i) });
        samples.push({ seed: seed0 + i, prime, text: bpe ? tokenizer.decode(story(ids)).trim() : tokenizer.decode(ids) });
      }
      if (model.attentionMaps) {
        // The prime, then the start of the first sample (same seed): a short sequence the model wrote itself.
        const ctx = typeof model.config.context === 'number' ? model.config.context : ATTENTION_TOKENS;
        const limit = Math.max(1, Math.min(ATTENTION_TOKENS, ctx));
        const head = promptIds.slice(-limit);
        const more = limit - head.length;
        const ids = more > 0 ? [...head, ...sampleTokens(model, promptIds, { length: more, temperature, rng: new Rng(seed0) })] : head;
        model.resetSampling();
        attention = { tokens: ids.map((id) => tokenLabel(tokenizer.token(id))), maps: model.attentionMaps(ids) };
      }
    } finally {
      ops.dispose();
    }
  }
  const kind = run.checkpoint?.state.kind ?? 'run';
  const h = expertLoadHistory(run.metrics);
  const experts = h ? { charts: expertLoadCharts(h, { width: 480, height: 300 }), step: h.steps[h.steps.length - 1], rows: expertLoadSummary(h) } : null;
  return { title: `handgrad report: ${kind} — ${dir}`, dir, figures, settings, charts, samples, samplesNote, temperature, attention, experts };
}

/** The final-figures and settings tables. */
function tables(run: RunData): { figures: [string, string][]; settings: [string, string][] } {
  const last = run.metrics[run.metrics.length - 1];
  const vals = run.metrics.filter((r) => typeof r.valLoss === 'number');
  const c = run.checkpoint;
  type Training = {
    settings?: Record<string, unknown>; data?: Record<string, unknown>; backend?: string; elapsedMs?: number;
    metrics?: { trainLoss?: number | null; valLoss?: number | null; valBits?: number | null; tokensPerSec?: number };
  };
  const t = (c?.state.training ?? {}) as Training;
  const valLoss = t.metrics?.valLoss ?? vals[vals.length - 1]?.valLoss;
  const figures: [string, string][] = [
    ['model', show(c?.state.kind)],
    ['parameters', num(c?.state.params)],
    ['steps', num(c?.state.step ?? last?.step)],
    ['final train loss (mean of last ≤ 50 steps)', num(t.metrics?.trainLoss ?? last?.trainLoss)],
    ['final validation loss (nats/token)', num(valLoss)],
    ['final validation bits/token', num(t.metrics?.valBits ?? (typeof valLoss === 'number' ? valLoss / Math.LN2 : undefined))],
    ['best validation loss', vals.length ? num(Math.min(...vals.map((r) => r.valLoss!))) : '–'],
    ['training tokens/s', num(t.metrics?.tokensPerSec ?? last?.tokensPerSec, 3)],
    ['elapsed (s)', num(t.elapsedMs !== undefined ? t.elapsedMs / 1000 : last?.elapsed, 3)],
    ['metrics from', run.metricsSource],
  ];
  const settings: [string, string][] = [];
  if (c) {
    for (const [k, v] of Object.entries(c.state.config)) settings.push([`model.${k}`, show(v)]);
    settings.push(['tokenizer', `${show((c.state.tokenizer as { kind?: string }).kind)}`]);
    for (const [k, v] of Object.entries(t.settings ?? {})) settings.push([k, show(v)]);
    for (const [k, v] of Object.entries(t.data ?? {})) if (k !== 'sha256') settings.push([`data.${k}`, show(v)]);
    settings.push(['backend', show(t.backend)], ['dtype', show(c.state.dtype)], ['seed', show(c.state.seed)], ['saved', show(c.state.createdAt)]);
  }
  return { figures, settings };
}

const table = (rows: [string, string][]) =>
  `<table>\n${rows.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('\n')}\n</table>`;

/** The "Attention" section: one heatmap per map, the sequence's tokens on both axes. */
function attentionSection(a: ReportAttention): string {
  const svgs = a.maps.map((m) => alignmentSvg(m.matrix, a.tokens, a.tokens,
    { title: m.label, cell: 18, xLabel: 'attended to (key)', yLabel: 'position (query)' }));
  return `<h2 id="attention">Attention</h2>
<p class="note">attention probabilities over ${a.tokens.length} tokens (the sampling prime, then the start of the first sample): row = position, column = the earlier position it attends to; darker = more weight.</p>
<div class="attention">
${svgs.join('\n')}
</div>
`;
}

/** The "Expert load" section: per-layer charts and the last logged shares as a table. */
function expertsSection(x: ReportExperts): string {
  const E = x.rows[0]?.shares.length ?? 0;
  const head = `<tr><th>layer</th>${Array.from({ length: E }, (_, e) => `<th>expert ${e}</th>`).join('')}<th>max / min</th></tr>`;
  const body = x.rows.map((r) => `<tr><th>${r.layer}</th>${r.shares.map((v) => `<td>${(100 * v).toFixed(1)}%</td>`).join('')}` +
    `<td>${r.min > 0 ? (r.max / r.min).toFixed(2) : '∞'}</td></tr>`).join('\n');
  return `<h2 id="expert-load">Expert load</h2>
<p class="note">share of routed tokens per expert, per layer, over the training steps between validations (uniform = ${E ? (100 / E).toFixed(1) : '–'}%); the table is the last interval (step ${x.step}).</p>
<table>
${head}
${body}
</table>
<div class="charts">
${x.charts.join('\n')}
</div>
`;
}

/** The HTML page (no scripts, no external resources). */
export function renderReport(r: ReportInput): string {
  const samples = r.samples.length === 0 ? `<p class="note">${escapeXml(r.samplesNote ?? 'no samples')}</p>`
    : r.samples.map((s) => `<h3>seed ${s.seed}</h3>\n<pre class="sample">${escapeXml(s.text)}</pre>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(r.title)}</title>
<style>
body { font-family: sans-serif; max-width: 1360px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: left; font-size: 14px; }
th { background: #f5f5f5; font-weight: normal; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { border: 1px solid #ddd; }
pre.sample { white-space: pre-wrap; background: #fafafa; border: 1px solid #ddd; padding: 8px; }
.note { color: #666; }
.attention { display: flex; flex-wrap: wrap; gap: 12px; }
.attention svg { border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>${escapeXml(r.title)}</h1>
<h2>Final figures</h2>
${table(r.figures)}
<h2>Curves</h2>
<div class="charts">
${r.charts.loss}
${r.charts.lr}
${r.charts.gradNorm}
</div>
<h2>Samples (temperature ${r.temperature})</h2>
${samples}
${r.experts ? expertsSection(r.experts) : ''}${r.attention && r.attention.maps.length ? attentionSection(r.attention) : ''}<h2>Model and settings</h2>
${r.settings.length ? table(r.settings) : '<p class="note">no checkpoint in this folder</p>'}
</body>
</html>
`;
}
