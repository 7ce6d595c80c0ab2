// The character-model table: every char LM of the registry (bigram, mlp-lm, rnn, lstm, gru, lstm-attention, transformer)
// trained on one corpus (Alice by default) with the library's `train()` for the SAME wall-clock
// budget each, then the final training loss (mean of the last ≤ 50 steps) and the validation loss
// on the held-out tail (last 10 %, at most 50 windows), in nats and bits per character, written as
// a Markdown table into a delimited section of docs/results.md (other sections are kept).
//
// Settings: batch 32, BPTT 64 for all; hidden 256 and a 64-dimensional embedding for the
// recurrent ones; mlp-lm and bigram at their registry defaults; lr per model in MODEL_SETTINGS.
// The transformer (d_model 128, 4 heads, 4 layers, SwiGLU 512, context 128) trains on random
// windows of 128 (its `seq` in MODEL_SETTINGS), lr 3e-3 (the top of the usual 1e-3..3e-3: a 90 s
// budget gives it only ~100 steps on 2 vCPUs).
// Rows are MERGED into an existing section by model name: a run rewrites its own models' rows and
// keeps the others, each row carrying its own date, budget and load in its `measured` cell (rows of
// an older section without that column get it from that section's "Measured …" line). The LSTM
// sample is kept from the old section unless this run trained the LSTM.
// Validation runs only at the end (valEvery 0), so the whole budget goes to training steps.
// The Project Gutenberg licence footer (from the "*** END OF THE PROJECT GUTENBERG" line on) is
// cut off first when present (trimGutenberg, default on): in alice_in_wonderland.txt it is the
// last ~10 % of the file, i.e. it would otherwise BE the validation split.
// The source curriculum's train losses are printed next to ours for orientation: they come from
// longer training runs elsewhere and are not our measurements.
// A benchmark reports; it never asserts a loss.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createOps } from '../src/backends/index.js';
import { cpuModel } from '../src/backends/wasm/runtime.js';
import { train, type TrainSummary } from '../src/train/trainer.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { loadCorpus, trimGutenberg, type Corpus } from '../src/data/corpus.js';
import { sampleTokens } from '../src/models/sample.js';
import { Rng } from '../src/util/rng.js';

export const CHAR_MODELS = ['bigram', 'mlp-lm', 'rnn', 'lstm', 'gru', 'lstm-attention', 'transformer'] as const;
export type CharModel = (typeof CHAR_MODELS)[number];

export const CHAR_BATCH = 32;
export const CHAR_SEQ = 64;

/** Per-model learning rate, model options (the rest are the registry's defaults) and window (default CHAR_SEQ). */
export const MODEL_SETTINGS: Record<CharModel, { lr: number; modelOptions: Record<string, unknown>; reference: string; seq?: number }> = {
  bigram: { lr: 0.05, modelOptions: {}, reference: '~3.0 (single neuron)' },
  'mlp-lm': { lr: 3e-3, modelOptions: {}, reference: '~2.5 (MLP)' },
  rnn: { lr: 2e-3, modelOptions: { hidden: 256, embed: 64 }, reference: '~1.28 (RNN)' },
  lstm: { lr: 3e-3, modelOptions: { hidden: 256, embed: 64 }, reference: '~0.78 (LSTM)' },
  gru: { lr: 3e-3, modelOptions: { hidden: 256, embed: 64 }, reference: '—' },
  'lstm-attention': { lr: 3e-3, modelOptions: { hidden: 256, embed: 64 }, reference: '~0.60 (LSTM + attention)' },
  transformer: {
    lr: 3e-3, seq: 128, modelOptions: { dModel: 128, heads: 4, layers: 4, ffHidden: 512, context: 128 }, reference: '~0.70 (transformer)',
  },
};

export interface CharModelsOptions {
  /** Training wall-clock budget per model, ms (default 90 s). */
  budgetMs?: number;
  /** A --data value (path or corpus name) or a loaded corpus; default 'alice'. */
  data?: string | Corpus;
  models?: readonly CharModel[];
  threads?: number;
  /** Markdown file whose char-models section is (re)written; null: none. */
  out?: string | null;
  /** The command line to quote in the doc. */
  command?: string;
  /** Cut a Project Gutenberg header/licence footer off the text (default true). */
  trimGutenberg?: boolean;
  /** Characters of LSTM sample text (default 400; 0: no sample). */
  sampleChars?: number;
  onProgress?: (line: string) => void;
}

export interface CharModelRow {
  model: CharModel;
  params: number;
  steps: number;
  lr: number;
  /** The window (BPTT length for the recurrent models). */
  seq: number;
  modelOptions: Record<string, unknown>;
  /** 1-minute load average before and after this model's run. */
  loadBefore: number;
  loadAfter: number;
  date: string;
  trainLoss: number;
  trainBits: number;
  valLoss: number | null;
  valBits: number | null;
  tokensPerSec: number;
  seconds: number;
  /** The source curriculum's train loss (nats/char, longer training; not our run). */
  reference: string;
}

export interface CharModelsReport {
  date: string;
  cpu: string;
  node: string;
  backend: string;
  threads: number | null;
  corpus: string;
  corpusChars: number;
  /** Characters cut off as Project Gutenberg header/footer. */
  trimmedChars: number;
  budgetSeconds: number;
  batch: number;
  seq: number;
  /** 1-minute load average before and after the runs. */
  loadBefore: number;
  loadAfter: number;
  command: string;
  rows: CharModelRow[];
  /** Text sampled from the trained LSTM (temperature 0.8), or null. */
  lstmSample: string | null;
}

export const SECTION = 'char-models';

export async function benchCharModels(opts: CharModelsOptions = {}): Promise<CharModelsReport> {
  const progress = opts.onProgress ?? (() => {});
  const budgetMs = opts.budgetMs ?? 90_000;
  const models = opts.models ?? CHAR_MODELS;
  const loaded = typeof opts.data === 'object' ? opts.data : loadCorpus(opts.data ?? 'alice', { trimGutenberg: false });
  const text = (opts.trimGutenberg ?? true) ? trimGutenberg(loaded.text) : loaded.text;
  const corpus: Corpus = { ...loaded, text };
  const sampleChars = opts.sampleChars ?? 400;
  const loadBefore = loadavg()[0];
  const ops = await createOps({ backend: 'wasm', threads: opts.threads });
  const tmp = mkdtempSync(join(tmpdir(), 'handgrad-char-models-'));
  const rows: CharModelRow[] = [];
  let lstmSample: string | null = null;
  try {
    for (const model of models) {
      const s = MODEL_SETTINGS[model];
      const seq = s.seq ?? CHAR_SEQ;
      const rowLoadBefore = loadavg()[0];
      progress(`${model}: training for ${(budgetMs / 1000).toFixed(1)} s (batch ${CHAR_BATCH}, BPTT ${seq}, lr ${s.lr}${
        Object.keys(s.modelOptions).length ? ', ' + Object.entries(s.modelOptions).map(([k, v]) => `${k} ${v}`).join(', ') : ''})`);
      const dir = join(tmp, model);
      const sum: TrainSummary = await train({
        model, modelOptions: s.modelOptions, data: corpus, timeMs: budgetMs, batch: CHAR_BATCH, seq, lr: s.lr,
        valEvery: 0, out: model === 'lstm' && sampleChars > 0 ? dir : null, ops, seed: 1,
      });
      rows.push({
        model, params: sum.params, steps: sum.steps, lr: s.lr, seq, modelOptions: s.modelOptions,
        loadBefore: rowLoadBefore, loadAfter: loadavg()[0], date: isoNow(),
        trainLoss: sum.trainLoss, trainBits: sum.trainLoss / Math.LN2, valLoss: sum.valLoss, valBits: sum.valBits,
        tokensPerSec: sum.tokensPerSec, seconds: sum.seconds, reference: s.reference,
      });
      progress(`${model}: ${sum.steps} steps, train ${sum.trainLoss.toFixed(3)}, val ${sum.valLoss?.toFixed(3) ?? '—'} nats/char, ` +
        `${Math.round(sum.tokensPerSec).toLocaleString('en-US')} tokens/s`);
      if (model === 'lstm' && sampleChars > 0) {
        const ck = loadCheckpoint(dir, ops);
        const prompt = Array.from(ck.tokenizer.encode(corpus.text.slice(0, 1)));
        const ids = sampleTokens(ck.model, prompt, { length: sampleChars, temperature: 0.8, rng: new Rng(7) });
        lstmSample = ck.tokenizer.decode(prompt.concat(ids));
      }
    }
  } finally {
    ops.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  const report: CharModelsReport = {
    date: isoNow(),
    cpu: cpuModel(), node: process.versions.node, backend: ops.name, threads: opts.threads ?? null,
    corpus: corpus.name, corpusChars: corpus.text.length, trimmedChars: loaded.text.length - text.length, budgetSeconds: budgetMs / 1000, batch: CHAR_BATCH, seq: CHAR_SEQ,
    loadBefore, loadAfter: loadavg()[0],
    command: opts.command ?? 'npx handgrad bench char-models',
    rows, lstmSample,
  };
  if (opts.out) {
    const body = formatCharModelsMarkdown(report).join('\n');
    const old = readSection(opts.out, SECTION);
    writeSection(opts.out, SECTION, old === null ? body : mergeCharModelsSection(old, body));
    progress(`wrote ${opts.out} (section ${SECTION}${old === null ? '' : ', rows merged by model name'})`);
  }
  return report;
}

function isoNow(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

const TABLE_HEADER = '| model | settings | params | steps | train loss | val loss | tokens/s | wall s | source curriculum train loss | measured (budget, load before → after) |';

/** A row's `measured` cell. */
function measuredCell(date: string, budgetSeconds: number, before: number, after: number): string {
  return `${date}, ${budgetSeconds} s, load ${before.toFixed(2)} → ${after.toFixed(2)}`;
}

/** The body of the `<!-- name:begin/end -->` section of a Markdown file, or null. */
export function readSection(file: string, name: string): string | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- ${name}:begin -->`, end = `<!-- ${name}:end -->`;
  const i = text.indexOf(begin), j = text.indexOf(end);
  return i >= 0 && j > i ? text.slice(i + begin.length, j).replace(/^\n/, '') : null;
}

/**
 * The new section `fresh` with the table rows of `old` whose model it does not have kept (in
 * CHAR_MODELS order, unknown models last). Old rows without a `measured` cell (the 9-column table)
 * get one from the old section's "Measured <date> … load average a before / b after" line and its
 * "…, <n> s each" heading. When `fresh` has no LSTM sample and the LSTM row is kept, the old
 * sample is kept too.
 */
export function mergeCharModelsSection(old: string, fresh: string): string {
  const table = (text: string) => {
    const lines = text.split('\n');
    const h = lines.findIndex((l) => l.startsWith('| model |'));
    if (h < 0) return null;
    let e = h + 2;
    while (e < lines.length && lines[e].startsWith('|')) e++;
    return { lines, h, e, header: lines[h], rows: lines.slice(h + 2, e) };
  };
  const o = table(old), f = table(fresh);
  if (!o || !f) return fresh;
  const cells = (row: string) => row.split('|').slice(1, -1).map((c) => c.trim());
  const oldHasMeasured = cells(o.header).length >= 10;
  const m = /Measured (\S+) on .*?load average (\d+(?:\.\d+)?) before \/ (\d+(?:\.\d+)?) after/.exec(old);
  const budget = /, (\d+(?:\.\d+)?) s each/.exec(old);
  const oldMeasured = m ? measuredCell(m[1], budget ? Number(budget[1]) : NaN, Number(m[2]), Number(m[3])).replace('NaN s, ', '') : 'earlier run';
  const byModel = new Map<string, string>();
  for (const row of o.rows) byModel.set(cells(row)[0], oldHasMeasured ? row : `${row} ${oldMeasured} |`);
  const freshModels = new Set(f.rows.map((row) => cells(row)[0]));
  for (const row of f.rows) byModel.set(cells(row)[0], row);
  const order = (k: string) => { const i = (CHAR_MODELS as readonly string[]).indexOf(k); return i < 0 ? CHAR_MODELS.length : i; };
  const merged = [...byModel.keys()].sort((a, b) => order(a) - order(b)).map((k) => byModel.get(k)!);
  const lines = [...f.lines.slice(0, f.h + 2), ...merged, ...f.lines.slice(f.e)];
  let text = lines.join('\n');
  const SAMPLE = 'Sampled from the LSTM';
  if (!text.includes(SAMPLE) && !freshModels.has('lstm') && byModel.has('lstm') && old.includes(SAMPLE)) {
    const s = old.slice(old.indexOf(SAMPLE));
    const close = s.indexOf('```', s.indexOf('```text') + 7);
    if (close >= 0) text = text.trimEnd() + '\n\n' + s.slice(0, close + 3) + '\n';
  }
  return text;
}

const f3 = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(3));

/** The Markdown section (without its delimiters). */
export function formatCharModelsMarkdown(r: CharModelsReport): string[] {
  const lines = [
    `## Character models on ${r.corpus}, ${r.budgetSeconds} s each`,
    '',
    `Measured ${r.date} on ${r.cpu} (Node ${r.node}, ${r.backend}, threads ${r.threads ?? 'all cores'}), ` +
      `1-minute load average ${r.loadBefore.toFixed(2)} before / ${r.loadAfter.toFixed(2)} after (a shared 2-vCPU machine). ` +
      'The last run rewrites only its own models\' rows (merged by model name); each row\'s `measured` cell gives that row\'s own date, budget and load.',
    '',
    '```sh',
    r.command,
    '```',
    '',
    `Each model trains with the library's \`train()\` for the same wall-clock budget (${r.budgetSeconds} s), ` +
      `batch ${r.batch}, BPTT ${r.seq} (the transformer: random windows of 128, its context), Adam, gradient clipping at 5, seed 1, on ${r.corpus} (${r.corpusChars.toLocaleString('en-US')} characters` +
      (r.trimmedChars > 0 ? ` after cutting ${r.trimmedChars.toLocaleString('en-US')} characters of Project Gutenberg header/licence` : '') +
      '; the last 10 % held out). Train loss: mean of the last ≤ 50 steps; validation: the held-out tail (≤ 50 windows), at the end. ' +
      'Losses are nats per character (bits in brackets). The last column is the train loss that the source curriculum reported ' +
      'for its versions of these models — **source curriculum, longer training: not our runs**.',
    '',
    TABLE_HEADER,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const x of r.rows) {
    const settings = [`lr ${x.lr}`, ...(x.seq !== r.seq ? [`window ${x.seq}`] : []), ...Object.entries(x.modelOptions).map(([k, v]) => `${k} ${v}`)].join(', ');
    lines.push(`| ${x.model} | ${settings} | ${x.params.toLocaleString('en-US')} | ${x.steps.toLocaleString('en-US')} | ` +
      `${f3(x.trainLoss)} (${f3(x.trainBits)}) | ${f3(x.valLoss)} (${f3(x.valBits)}) | ` +
      `${Math.round(x.tokensPerSec).toLocaleString('en-US')} | ${x.seconds.toFixed(1)} | ${x.reference} | ` +
      `${measuredCell(x.date, r.budgetSeconds, x.loadBefore, x.loadAfter)} |`);
  }
  if (r.lstmSample !== null) {
    lines.push('', `Sampled from the LSTM above (temperature 0.8, seed 7, ${r.lstmSample.length - 1} characters after a one-character prompt):`, '', '```text');
    lines.push(...r.lstmSample.replace(/\r/g, '').split('\n').map((l) => l.replace(/```/g, "'''")));
    lines.push('```');
  }
  return lines;
}

/** Human-readable lines for the terminal. */
export function formatCharModelsReport(r: CharModelsReport): string[] {
  return [
    `char models on ${r.corpus}, ${r.budgetSeconds} s each, batch ${r.batch}, BPTT ${r.seq}, ${r.cpu}, load ${r.loadBefore.toFixed(2)} → ${r.loadAfter.toFixed(2)}`,
    ...r.rows.map((x) => `  ${x.model.padEnd(7)} ${String(x.params).padStart(8)} params ${String(x.steps).padStart(6)} steps  ` +
      `train ${f3(x.trainLoss)} (${f3(x.trainBits)} bits)  val ${f3(x.valLoss)} (${f3(x.valBits)} bits)  ` +
      `${Math.round(x.tokensPerSec)} tokens/s  ${x.seconds.toFixed(1)} s   [source curriculum: ${x.reference}]`),
  ];
}


/**
 * Writes `body` between `<!-- name:begin -->` and `<!-- name:end -->` in the Markdown file,
 * replacing that section if present and appending it otherwise; everything else is kept. A new
 * file starts with a `# Measured results` heading.
 */
export function writeSection(file: string, name: string, body: string): void {
  const begin = `<!-- ${name}:begin -->`, end = `<!-- ${name}:end -->`;
  const block = `${begin}\n${body.trimEnd()}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Measured results\n';
  const i = text.indexOf(begin), j = text.indexOf(end);
  if (i >= 0 && j > i) {
    text = text.slice(0, i) + block + text.slice(j + end.length);
  } else {
    text = text.trimEnd() + '\n\n' + block + '\n';
  }
  mkdirSync(dirname(file) || '.', { recursive: true });
  writeFileSync(file, text);
}
