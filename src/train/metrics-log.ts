// The metrics log: `<out>/metrics.jsonl`, one JSON object per training step, appended as training
// goes (buffered, flushed at least every 2 s, at every checkpoint save and at the end). A line:
//
//   {"step":120,"trainLoss":2.31,"valLoss":2.40,"lr":0.002,"gradNorm":0.83,"tokensPerSec":51234,"elapsed":3.2}
//
// `valLoss` only on steps where validation ran; `elapsed` is seconds since the run began (a resumed
// run continues the checkpoint's clock). Extra fields may be added later (e.g. MoE expert load):
// readers keep what they know.
//
// Resume: a resumed run continues the file of the checkpoint it resumes from, dropping the lines
// past the checkpoint's step (the steps that are trained again), so the file always describes one
// run without repeats. A fresh run starts the file afresh.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './checkpoint.js';

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

export class MetricsLog {
  private buffer: string[] = [];
  private lastFlush = Date.now();
  private readonly path: string;
  private started = false;

  /**
   * `dir`: the run's output folder. `resume`: the folder and step of the checkpoint a resumed run
   * continues (its lines up to that step are kept). Nothing is written before the first flush.
   */
  constructor(private readonly dir: string, private readonly resume: { dir: string; step: number } | null) {
    this.path = join(dir, METRICS_FILE);
  }

  append(r: MetricsRecord): void {
    this.buffer.push(JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
    if (Date.now() - this.lastFlush >= 2000) this.flush();
  }

  /** Writes the buffered lines (the first flush also starts the file: kept lines of a resume, or empty). */
  flush(): void {
    this.lastFlush = Date.now();
    if (!this.started) {
      mkdirSync(this.dir, { recursive: true });
      const kept = this.resume
        ? readMetrics(this.resume.dir).filter((r) => r.step <= this.resume!.step).map((r) => JSON.stringify(r) + '\n').join('')
        : '';
      writeFileAtomic(this.path, kept);
      this.started = true;
    }
    if (this.buffer.length === 0) return;
    appendFileSync(this.path, this.buffer.join('\n') + '\n');
    this.buffer = [];
  }
}
