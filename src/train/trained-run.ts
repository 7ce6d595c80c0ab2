// A finished (or interrupted) training run, opened for use rather than for more training: the
// checkpoint's model and tokenizer, what the run was trained with (state.json's `training`), and
// the run's corpus when it can still be found. `handgrad sample` and `handgrad eval` read runs
// through this module, so both treat a run the same way:
//   - the best-validation copy `<run>/best/` is used when the run has one (unless asked for the last);
//   - a model with positions samples and reads windows no longer than the run's --seq (positions
//     beyond it were never trained; SequenceModel.limitWindow);
//   - the corpus comes back from the run's --data (or its source file, or the embedded default)
//     only when its text is byte for byte the one trained on (the sha256 in state.json).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Ops } from '../ops/types.js';
import type { SequenceModel } from '../models/types.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { CorpusError, loadCorpus, loadEmbeddedCorpus, splitTokens, type Corpus } from '../data/corpus.js';
import { BpeTokenizer } from '../data/bpe-tokenizer.js';
import { PARAGRAPH } from '../data/word-tokenizer.js';
import { BEST_DIR, hasCheckpointFiles, loadCheckpoint } from './checkpoint.js';
import type { TrainingState } from './trainer.js';
import { END_OF_TEXT } from '../data/bpe-tokenizer.js';
import { encodeStories } from '../data/tinystories.js';
import type { Rng } from '../util/rng.js';

export { BEST_DIR } from './checkpoint.js';

export interface TrainedRun {
  /** The checkpoint folder read: the run folder, or its best/ copy. */
  dir: string;
  /** The run folder asked for. */
  runDir: string;
  /** true when `dir` is the best-validation copy. */
  best: boolean;
  model: SequenceModel;
  tokenizer: Tokenizer;
  kind: string;
  /** What the run saved about its training; null for an old-format checkpoint. */
  training: TrainingState | null;
  /** Steps the checkpoint had taken (null: unknown). */
  step: number | null;
  /** The window length the run trained on (its --seq), when known. */
  trainedSeq: number | null;
}

/**
 * Opens the checkpoint of a run folder on `ops`: its best/ copy when there is one and `last` is
 * not set. Errors are the checkpoint module's (CheckpointError, UnknownModelError).
 */
export function openTrainedRun(runDir: string, ops: Ops, opts: { last?: boolean } = {}): TrainedRun {
  const bestDir = join(runDir, BEST_DIR);
  const best = !opts.last && hasCheckpointFiles(bestDir);
  const dir = best ? bestDir : runDir;
  const loaded = loadCheckpoint(dir, ops);
  const state = loaded.files?.state ?? null;
  const training = (state?.training as unknown as TrainingState | undefined) ?? null;
  const seq = training?.settings?.seq;
  const trainedSeq = typeof seq === 'number' && Number.isInteger(seq) && seq > 0 ? seq : null;
  if (trainedSeq !== null) loaded.model.limitWindow?.(trainedSeq);
  return {
    dir, runDir, best, model: loaded.model, tokenizer: loaded.tokenizer, kind: loaded.kind, training,
    step: state?.step ?? null, trainedSeq,
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The run's training corpus, when it can be found and is the text trained on: its --data value,
 * else its source file, else the embedded default. null when none matches (moved, edited, or a
 * corpus that was handed to train() in memory).
 */
export function runCorpus(run: TrainedRun): Corpus | null {
  const data = run.training?.data;
  if (!data?.sha256) return null;
  const tries: (() => Corpus)[] = [];
  // A run on several files (or standard input) is not re-read here: its text is not one file.
  if (typeof data.arg === 'string') tries.push(() => loadCorpus(data.arg as string));
  if (data.source?.startsWith('embedded:')) tries.push(() => loadEmbeddedCorpus());
  else if (data.source && existsSync(data.source)) tries.push(() => loadCorpus(data.source));
  for (const load of tries) {
    try {
      const corpus = load();
      if (sha256(corpus.text) === data.sha256) return corpus;
    } catch (e) {
      if (!(e instanceof CorpusError)) throw e;
    }
  }
  return null;
}

/**
 * A text held in memory as token ids, encoded as training encodes it: BPE text in the released
 * TinyStories format story by story with the end-of-text token after each, other text whole.
 * (For evaluation-sized texts; training streams its corpus through src/train/training-data.ts.)
 */
export function encodeText(tokenizer: Tokenizer, text: string): Int32Array {
  if (tokenizer instanceof BpeTokenizer && text.includes(END_OF_TEXT)) {
    const stories = text.split(END_OF_TEXT).map((s) => s.trim()).filter((s) => s !== '');
    if (stories.length > 0) return Int32Array.from(encodeStories(stories, tokenizer));
  }
  return tokenizer.encode(text);
}

/** A validation set as token ids, and where it came from. */
export interface EvalTokens {
  tokens: Int32Array;
  source: string;
}

/**
 * The run's validation tokens: its separate validation corpus, or the held-out tail of its corpus
 * (the same split train() made). null when the corpus cannot be found or the run held nothing out.
 */
export function runValidationTokens(run: TrainedRun): EvalTokens | null {
  const t = run.training;
  if (!t?.data) return null;
  if (t.data.val) {
    try {
      const val = loadCorpus(t.data.val.arg);
      if (sha256(val.text) !== t.data.val.sha256) return null;
      return { tokens: encodeText(run.tokenizer, val.text), source: val.source };
    } catch (e) {
      if (e instanceof CorpusError) return null;
      throw e;
    }
  }
  const corpus = runCorpus(run);
  const fraction = t.settings?.valFraction;
  if (!corpus || typeof fraction !== 'number' || fraction <= 0) return null;
  const ids = encodeText(run.tokenizer, corpus.text);
  const val = splitTokens(ids, fraction).val;
  return val.length > 1 ? { tokens: val, source: `${corpus.source} (the last ${fraction} held out in training)` } : null;
}

/**
 * The text a sample starts after by default: the end-of-text token for BPE (it precedes every
 * story), a line (paragraph) break for the others when the vocabulary has one, else token 0.
 */
export function breakText(tok: Tokenizer): string {
  if (tok instanceof BpeTokenizer) return tok.special;
  const brk = tok.kind === 'word' ? PARAGRAPH : '\n';
  return tok.covers(brk) ? brk : tok.token(0);
}

/**
 * A burn-in prompt for a recurrent model from the run's own training text: up to `chars`
 * characters ending with a randomly chosen break (`brk`) in the training part of the corpus, so
 * the sample that follows starts at the beginning of a line with a state that has read real
 * text. null when the corpus cannot be found or holds no break.
 */
export function corpusWarmup(run: TrainedRun, brk: string, rng: Rng, chars = 400): number[] | null {
  const corpus = runCorpus(run);
  if (!corpus) return null;
  const fraction = run.training?.data?.val ? 0 : run.training?.settings?.valFraction ?? 0;
  const text = corpus.text.slice(0, Math.floor(corpus.text.length * (1 - fraction)));
  // Breaks far enough in for a full burn-in when the text allows.
  const breaks: number[] = [];
  for (let i = text.indexOf(brk); i >= 0; i = text.indexOf(brk, i + brk.length)) breaks.push(i);
  if (breaks.length === 0) return null;
  const late = breaks.filter((i) => i >= chars);
  const pool = late.length > 0 ? late : breaks;
  const end = pool[rng.int(0, pool.length)] + brk.length;
  let piece = text.slice(Math.max(0, end - chars), end);
  if (!run.tokenizer.covers(piece)) return null;
  const ids = Array.from(run.tokenizer.encode(piece));
  return ids.length > 0 ? ids : null;
}
