// The metrics log: `<out>/metrics.jsonl`, one JSON object per training step, appended as training
// goes (buffered, flushed at least every 2 s, at every checkpoint save and at the end). A line:
//
//   {"step":120,"trainLoss":2.31,"valLoss":2.40,"lr":0.002,"gradNorm":0.83,"tokensPerSec":51234,"elapsed":3.2}
//
// `valLoss` only on steps where validation ran; `elapsed` is seconds since the run began (a resumed
// run continues the checkpoint's clock). Extra fields ride on some lines: Mixture-of-Experts runs add
// `expertLoad` (share of tokens per expert per layer, [layer][expert]), `droppedFraction` and
// `expertComputeFraction` on validation steps (src/train/expert-load.ts). Readers keep what they know.
//
// Resume: a resumed run continues the file of the checkpoint it resumes from, dropping the lines
// past the checkpoint's step (the steps that are trained again), so the file always describes one
// run without repeats. A fresh run starts the file afresh — at its first logged step, not before:
// a run that fails before it has logged anything never touches the file.
//
// A write the disk refuses (full, read-only, no permission) is a one-line RunFolderError naming the
// file, and a line cut off by a full disk is cut back off: the file stays as it was before the write.
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './checkpoint.js';
import { asWriteFailure } from './run-folder.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface MetricsRecord {
  step: number;
  trainLoss: number;
  valLoss?: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  /** Seconds since the run began. */
  elapsed: number;
  [extra: string]: unknown;
}

/** Parses a metrics.jsonl text: the well-formed records, in file order (bad lines are skipped). */
export function parseMetrics(text: string): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as MetricsRecord;
      if (r && typeof r === 'object' && typeof r.step === 'number') out.push(r);
    } catch { /* a line cut off by a crash: skipped */ }
  }
  return out;
}

/** Reads `<dir>/metrics.jsonl`; [] when there is none. */
export function readMetrics(dir: string): MetricsRecord[] {
  const path = join(dir, METRICS_FILE);
  return existsSync(path) ? parseMetrics(readFileSync(path, 'utf8')) : [];
}

const COLUMNS = 7; // step, trainLoss, valLoss (NaN: none), lr, gradNorm, tokensPerSec, elapsed
const CAPACITY = 4096;

/** Formats a number for the log (non-finite values as null, like JSON.stringify). */
const num = (v: number) => (Number.isFinite(v) ? String(v) : 'null');

export class MetricsLog {
  // Rows wait in a preallocated array and are formatted at flush time, so logging a step
  // allocates nothing (the training loop's rule).
  private readonly rows = new Float64Array(COLUMNS * CAPACITY);
  private count = 0;
  private lastFlush = Date.now();
  private readonly path: string;
  private started = false;
  /** Extra JSON fields ("\"k\":v,…") for buffered rows, by row index: rare (validation steps only). */
  private readonly extras = new Map<number, string>();

  /**
   * `dir`: the run's output folder. `resume`: the folder and step of the checkpoint a resumed run
   * continues (its lines up to that step are kept). Nothing is written before the first flush.
   */
  constructor(private readonly dir: string, private readonly resume: { dir: string; step: number } | null) {
    this.path = join(dir, METRICS_FILE);
  }

  /**
   * Extra fields for the NEXT appended line (e.g. expert load). Meant for occasional lines (it
   * formats JSON now, which allocates): call it at validation steps, not every step.
   */
  attach(fields: object): void {
    const text = JSON.stringify(fields).slice(1, -1);
    if (text === '') return;
    const prev = this.extras.get(this.count);
    this.extras.set(this.count, prev ? `${prev},${text}` : text);
  }

  /** One step's line; `valLoss` NaN when validation did not run on this step. */
  append(step: number, trainLoss: number, valLoss: number, lr: number, gradNorm: number, tokensPerSec: number, elapsed: number): void {
    const o = COLUMNS * this.count++;
    const r = this.rows;
    r[o] = step; r[o + 1] = trainLoss; r[o + 2] = valLoss; r[o + 3] = lr; r[o + 4] = gradNorm; r[o + 5] = tokensPerSec; r[o + 6] = elapsed;
    if (this.count === CAPACITY || Date.now() - this.lastFlush >= 2000) this.flush();
  }

  /**
   * Writes the buffered lines (the first flush that has lines also starts the file: the kept
   * lines of a resume, or nothing). With nothing logged yet it writes nothing at all.
   */
  flush(): void {
    this.lastFlush = Date.now();
    if (!this.started && this.count === 0) { this.extras.clear(); return; }
    if (!this.started) {
      const kept = this.resume
        ? readMetrics(this.resume.dir).filter((r) => r.step <= this.resume!.step).map((r) => JSON.stringify(r) + '\n').join('')
        : '';
      try {
        mkdirSync(this.dir, { recursive: true });
        writeFileAtomic(this.path, kept);
      } catch (e) {
        throw asWriteFailure(e, this.path) ?? e;
      }
      this.started = true;
    }
    if (this.count === 0) { this.extras.clear(); return; }
    let text = '';
    const r = this.rows;
    for (let i = 0; i < this.count; i++) {
      const o = COLUMNS * i;
      const extra = this.extras.get(i);
      text += `{"step":${r[o]},"trainLoss":${num(r[o + 1])}${Number.isNaN(r[o + 2]) ? '' : `,"valLoss":${num(r[o + 2])}`},` +
        `"lr":${num(r[o + 3])},"gradNorm":${num(r[o + 4])},"tokensPerSec":${num(r[o + 5])},"elapsed":${num(r[o + 6])}` +
        `${extra ? ',' + extra : ''}}\n`;
    }
    appendWhole(this.path, text);
    this.count = 0;
    // Fields attached for a line that never came (the run ended first) are dropped, not moved to another line.
    this.extras.clear();
  }
}

/** Appends `text` to `path`, or nothing of it: a write the disk refuses is cut back to the old length. */
function appendWhole(path: string, text: string): void {
  let fd: number | null = null;
  let size = -1;
  try {
    fd = openSync(path, 'a');
    size = fstatSync(fd).size;
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
  } catch (e) {
    if (fd !== null && size >= 0) {
      try { ftruncateSync(fd, size); } catch { /* the error below is the one to report */ }
    }
    throw asWriteFailure(e, path) ?? e;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
