// Sequence-to-sequence tasks for the encoder–decoder (src/models/seq2seq.ts): a source of digits
// of length minLen…maxLen is read by the encoder, and the decoder writes the answer token by token
// until it emits EOS. Scored by exact match of greedy decoding (right tokens AND right length) on
// 1000 held-out sources that training never sees (drawn first; equal training draws are redrawn).
//
//   reverse-seq2seq  4…10 digits → the same digits reversed, with Bahdanau attention; the same
//                    model without attention is trained for the same steps as the comparison,
//                    and both are reported per source length
//   copy             4…10 digits → the same digits (attention)
//   sort             4…10 digits → the digits in increasing order (attention)
//   translate        2…5 digits → their English names, letter by letter: 12 → "one two"
//                    (attention; the target is 3–5 times longer than the source)
//
// Model: embeddings 16, LSTM 64 both sides, additive attention width 32; Adam 1e-2 with cosine
// decay to 1e-4, clip 5, 32 fresh sequences per step; WASM backend, 1 thread.
//
// Options (every seq2seq task): --attention none|bahdanau|luong-dot|luong-general|luong-concat
// replaces the task's attention; --beam K scores with beam search of width K instead of greedy
// decoding (one source at a time), --length-norm α ranking finished hypotheses by
// logP / ((5 + len)/6)^α (GNMT's length penalty).
import type { IntTensor, Ops } from '../ops/types.js';
import { Rng } from '../util/rng.js';
import { Seq2Seq, SEQ2SEQ_ATTENTIONS, type Seq2SeqAttention, type Seq2SeqBatch } from '../models/seq2seq.js';
import { fitCosine, onTaskBackend } from './training.js';
import type { TaskOption, TaskResult, TaskSpec } from './types.js';

/** How the held-out set is decoded: greedily (beam 1), or by beam search. */
export interface DecodeOptions {
  beam: number;
  lengthNorm: number;
}

export const SEQ2SEQ_TASK_OPTIONS: readonly TaskOption[] = [
  { key: 'attention', type: 'choice', choices: SEQ2SEQ_ATTENTIONS, description: 'seq2seq tasks: the attention (default: the task\'s)' },
  { key: 'beam', type: 'int', min: 1, max: 64, description: 'seq2seq tasks: score with beam search of this width (1: greedy)' },
  { key: 'lengthNorm', type: 'float', min: 0, max: 5, description: 'seq2seq tasks: beam length normalisation α (0: none)' },
];
import { heatmap } from '../viz/heatmap.js';

const DIGITS = 10;

/** What a task needs to say about its problem. */
export interface Problem {
  minLen: number;
  maxLen: number;
  /** Target symbols (eos and bos come after them). */
  symbols: string;
  /** The target of a source, as symbol ids. */
  target(src: number[]): number[];
  maxTarget: number;
}

/** A batch of B sources of ragged lengths, padded with 0 (masked), and their targets + eos. */
export class PairBatch implements Seq2SeqBatch {
  src: IntTensor;
  srcLen: Int32Array;
  tgt: IntTensor;
  S = 0;
  T = 0;
  readonly sources: number[][] = [];

  constructor(ops: Ops, readonly B: number, readonly p: Problem) {
    this.src = ops.ints(B * p.maxLen);
    this.tgt = ops.ints(B * (p.maxTarget + 1));
    this.srcLen = new Int32Array(B);
  }

  fill(rng: Rng, avoid?: Set<string>): this {
    const { B, p } = this, eos = p.symbols.length;
    this.sources.length = 0;
    for (let b = 0; b < B; b++) {
      let s: number[];
      do {
        const L = rng.int(p.minLen, p.maxLen + 1);
        s = Array.from({ length: L }, () => rng.int(0, DIGITS));
      } while (avoid?.has(s.join('')));
      this.sources.push(s);
    }
    const tgts = this.sources.map((s) => p.target(s));
    this.S = Math.max(...this.sources.map((s) => s.length));
    this.T = Math.max(...tgts.map((t) => t.length)) + 1;
    const sd = this.src.data, td = this.tgt.data;
    sd.fill(0, 0, this.S * B);
    td.fill(-1, 0, this.T * B);
    for (let b = 0; b < B; b++) {
      const s = this.sources[b], t = tgts[b];
      this.srcLen[b] = s.length;
      for (let j = 0; j < s.length; j++) sd[j * B + b] = s[j];
      for (let j = 0; j < t.length; j++) td[j * B + b] = t[j];
      td[t.length * B + b] = eos;
    }
    return this;
  }
}

export interface Seq2SeqRun {
  attention: Seq2SeqAttention;
  accuracy: number;
  /** Exact-match accuracy per source length. */
  byLength: Record<number, number>;
  trainLoss: number;
  examples: string[];
  seconds: number;
  /** The attention of the first held-out example: rows = output steps (eos included), columns = source positions. */
  alignment: number[][] | null;
  /** The same as a terminal heatmap. */
  heatmap: string | null;
  /** The alignment's row labels (output tokens, then eos) and column labels (source tokens). */
  alignmentLabels: { rows: string[]; cols: string[] } | null;
}

/** Trains one model on the problem and scores it on the held-out set (greedy, or beam search). */
export function trainAndScore(ops: Ops, p: Problem, attention: Seq2SeqAttention, seed: number, steps: number,
  decode: DecodeOptions = { beam: 1, lengthNorm: 0 }): Seq2SeqRun {
  const t0 = performance.now();
  const rng = new Rng(seed);
  const eos = p.symbols.length, bos = eos + 1;
  const model = new Seq2Seq(ops, { srcVocab: DIGITS, tgtVocab: eos + 2, bos, eos, embed: 16, hidden: 64, attnDim: 32, attention }, rng.fork());
  const test = new PairBatch(ops, 1000, p).fill(rng.fork());
  const held = new Set(test.sources.map((s) => s.join('')));
  const train = new PairBatch(ops, 32, p);
  const dataRng = rng.fork();
  const result = fitCosine(ops, model, () => train.fill(dataRng, held), { steps, lr: 1e-2, minLr: 1e-4, clip: 5 });
  const out = decode.beam > 1
    ? test.sources.map((s) => model.beam(s, { width: decode.beam, maxLen: p.maxTarget + 1, lengthNorm: decode.lengthNorm }).tokens)
    : model.greedy(test.src, test.srcLen, test.S, test.B, p.maxTarget + 1);
  // The alignment below reads the attention of the last batched pass: after beam search, one greedy pass
  // over the held-out set (its first source's attention, with its greedy output as the rows).
  const shown = decode.beam > 1 && attention !== 'none' ? model.greedy(test.src, test.srcLen, test.S, test.B, p.maxTarget + 1) : out;
  const right: Record<number, [number, number]> = {};
  let exact = 0;
  const examples: string[] = [];
  for (let b = 0; b < test.B; b++) {
    const s = test.sources[b], want = p.target(s), got = out[b];
    const ok = got.length === want.length && got.every((v, i) => v === want[i]);
    if (ok) exact++;
    const r = (right[s.length] ??= [0, 0]);
    r[0] += ok ? 1 : 0; r[1]++;
    if (examples.length < 2 || (!ok && examples.length < 4)) {
      examples.push(`${s.join('')} → ${got.map((v) => p.symbols[v] ?? '?').join('')}${ok ? '' : ` (want ${want.map((v) => p.symbols[v]).join('')})`}`);
    }
  }
  let alignment: number[][] | null = null, map: string | null = null, alignmentLabels: Seq2SeqRun['alignmentLabels'] = null;
  if (attention !== 'none') {
    const src = test.sources[0], steps = shown[0].length + 1;
    alignment = Array.from({ length: steps }, (_, t) => Array.from(model.alignment(t)!.subarray(0, src.length)));
    alignmentLabels = { rows: [...shown[0].map((v) => (p.symbols[v] === ' ' ? '␣' : p.symbols[v] ?? '?')), 'eos'], cols: src.map(String) };
    map = heatmap(alignment.flat(), steps, src.length, alignmentLabels.rows, alignmentLabels.cols,
      { min: 0, max: 1, title: `attention of ${src.join('')} (rows: output, columns: source)` });
  }
  const byLength: Record<number, number> = {};
  for (const [L, [k, n]] of Object.entries(right)) byLength[Number(L)] = k / n;
  return { attention, accuracy: exact / test.B, byLength, trainLoss: result.loss, examples, seconds: (performance.now() - t0) / 1000, alignment, heatmap: map, alignmentLabels };
}

function describeRun(r: Seq2SeqRun, minLen: number, maxLen: number): string {
  const lens = Array.from({ length: maxLen - minLen + 1 }, (_, i) => minLen + i).map((L) => `${L}:${((r.byLength[L] ?? 0) * 100).toFixed(0)}%`).join(' ');
  return `attention ${r.attention}: ${(r.accuracy * 100).toFixed(1)}% exact (by length ${lens}), ${r.seconds.toFixed(1)} s`;
}

interface TaskDef {
  name: string;
  description: string;
  problem: Problem;
  attention: Seq2SeqAttention;
  steps: number;
  goal: number;
  /** Also train this one for the same steps and report it beside (the comparison). */
  compare?: Seq2SeqAttention;
}

function seq2seqTask(def: TaskDef): TaskSpec {
  return {
    name: def.name,
    description: def.description,
    defaultSteps: def.steps,
    options: SEQ2SEQ_TASK_OPTIONS,
    defaults: { attention: def.attention, beam: 1, lengthNorm: 0 },
    async run({ seed, steps = def.steps, options = {} }): Promise<TaskResult> {
      const attention = (options.attention as Seq2SeqAttention | undefined) ?? def.attention;
      const decode: DecodeOptions = { beam: Number(options.beam ?? 1), lengthNorm: Number(options.lengthNorm ?? 0) };
      const decoding = decode.beam > 1 ? `beam search of width ${decode.beam}${decode.lengthNorm > 0 ? `, length norm α ${decode.lengthNorm}` : ''}` : 'greedy decoding';
      return onTaskBackend((ops) => {
        const { problem: p } = def;
        const main = trainAndScore(ops, p, attention, seed, steps, decode);
        // The comparison model is for the task's own attention; against another, it is left out.
        const other = def.compare && def.compare !== attention ? trainAndScore(ops, p, def.compare, seed, steps, decode) : null;
        const notes = [describeRun(main, p.minLen, p.maxLen), ...main.examples.map((e) => `  ${e}`)];
        if (main.heatmap) notes.push(...main.heatmap.split('\n'));
        if (other) notes.push(describeRun(other, p.minLen, p.maxLen), ...other.examples.map((e) => `  ${e}`));
        return {
          task: def.name,
          metric: `exact-match accuracy (${decoding}) on 1000 held-out sources of ${p.minLen}–${p.maxLen} digits, attention ${attention}`,
          value: main.accuracy,
          goal: `≥ ${def.goal}`,
          passed: main.accuracy >= def.goal,
          seed,
          steps,
          notes,
          attention,
          decode,
          byLength: main.byLength,
          trainLoss: main.trainLoss,
          alignment: main.alignment,
          alignmentLabels: main.alignmentLabels,
          ...(other ? { comparison: { attention: other.attention, accuracy: other.accuracy, byLength: other.byLength, trainLoss: other.trainLoss } } : {}),
        };
      });
    },
  };
}

const DIGIT_SYMBOLS = '0123456789';
export const NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
export const LETTERS = [...new Set(NAMES.join('') + ' ')].sort().join('');

export const REVERSE_PROBLEM: Problem = { minLen: 4, maxLen: 10, maxTarget: 10, symbols: DIGIT_SYMBOLS, target: (s) => s.slice().reverse() };

export const REVERSE_SEQ2SEQ_TASK = seq2seqTask({
  name: 'reverse-seq2seq',
  description: 'an LSTM encoder–decoder with Bahdanau attention reverses 4–10 digits (≥ 99% exact on held-out), compared with no attention',
  problem: REVERSE_PROBLEM,
  attention: 'bahdanau',
  compare: 'none',
  steps: 600,
  goal: 0.99,
});

export const COPY_TASK = seq2seqTask({
  name: 'copy',
  description: 'an LSTM encoder–decoder with attention copies 4–10 digits (≥ 99% exact on held-out)',
  problem: { minLen: 4, maxLen: 10, maxTarget: 10, symbols: DIGIT_SYMBOLS, target: (s) => s.slice() },
  attention: 'bahdanau',
  steps: 600,
  goal: 0.99,
});

export const SORT_TASK = seq2seqTask({
  name: 'sort',
  description: 'an LSTM encoder–decoder with attention sorts 4–10 digits (≥ 95% exact on held-out)',
  problem: { minLen: 4, maxLen: 10, maxTarget: 10, symbols: DIGIT_SYMBOLS, target: (s) => s.slice().sort((a, b) => a - b) },
  attention: 'bahdanau',
  steps: 600,
  goal: 0.95,
});

export const TRANSLATE_TASK = seq2seqTask({
  name: 'translate',
  description: 'an LSTM encoder–decoder with attention spells 2–5 digits as English words, letter by letter (≥ 95% exact)',
  problem: {
    minLen: 2, maxLen: 5, maxTarget: 5 * 6 - 1, symbols: LETTERS,
    target: (s) => [...s.map((d) => NAMES[d]).join(' ')].map((ch) => LETTERS.indexOf(ch)),
  },
  attention: 'bahdanau',
  steps: 600,
  goal: 0.95,
});
