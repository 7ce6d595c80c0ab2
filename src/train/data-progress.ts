// How data preparation (src/train/training-data.ts) shows itself, on stderr, as a DataReporter:
//   - notices (BPE trained on a sample, a token cache rebuilt, standard input read): one line each,
//     always (even beside --json: they say how the run's data was made);
//   - a phase that lasts (hashing, counting, BPE, encoding, checking a token file): on a terminal a
//     live bar (cli-progress) once it has run for a second; otherwise a line every 10 seconds;
//     and in both a closing line with the size and the rate when it took 2 seconds or more;
//   - quiet (e.g. --json to a pipe): notices only.
// Small corpora take well under a second: nothing is shown for them.
import { SingleBar } from 'cli-progress';
import { performance } from 'node:perf_hooks';
import type { DataPhase, DataReporter } from './training-data.js';
import type { ProgressMode } from './progress.js';
import { formatBytes } from '../util/bytes.js';
import { formatDuration } from '../util/duration.js';

export interface DataProgressOptions {
  mode: ProgressMode;
  /** Writes one line to stderr. */
  note: (line: string) => void;
  /** The stream the bar is drawn on (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** lines mode: at most this long between two lines (default 10 s). */
  lineIntervalMs?: number;
}

const LABEL: Readonly<Record<DataPhase, [doing: string, done: string]>> = {
  stdin: ['reading standard input', 'read standard input'],
  scan: ['checking and hashing the text', 'checked and hashed the text'],
  vocabulary: ['counting the vocabulary', 'counted the vocabulary'],
  bpe: ['training the BPE tokenizer', 'trained the BPE tokenizer'],
  encode: ['encoding', 'encoded'],
  check: ['checking the token file', 'checked the token file'],
};
/** A phase shows a bar or lines only after this long, and a closing line when it took this long. */
const SHOW_AFTER_MS = 1000, SUMMARY_AFTER_MS = 2000;

const rate = (bytes: number, ms: number): string => `${formatBytes(bytes / Math.max(ms / 1000, 1e-9))}/s`;

export function createDataProgressReporter(opts: DataProgressOptions): DataReporter {
  const interval = opts.lineIntervalMs ?? 10_000;
  let current: DataPhase | null = null;
  let t0 = 0, lastLine = 0, lastBar = 0;
  let bar: SingleBar | null = null;

  const stopBar = () => { bar?.stop(); bar = null; };

  return {
    notice(line) {
      stopBar();
      opts.note(line);
    },

    progress(phase, done, total) {
      if (opts.mode === 'quiet') return;
      const now = performance.now();
      if (phase !== current) { stopBar(); current = phase; t0 = now; lastLine = now; lastBar = 0; }
      if (now - t0 < SHOW_AFTER_MS) return;
      const known = Number.isFinite(total) && total > 0;
      const text = known ? `${formatBytes(done)} of ${formatBytes(total)} (${((100 * done) / total).toFixed(0)}%)` : formatBytes(done);
      if (opts.mode === 'bar' && known) {
        if (now - lastBar < 100) return;
        lastBar = now;
        if (!bar) {
          bar = new SingleBar({
            format: `${LABEL[phase][0]} {bar} {percentage}% | {text} | {rate} | ETA {eta_formatted}`,
            stream: opts.stream ?? process.stderr, hideCursor: false, clearOnComplete: true, barsize: 24, fps: 10,
          });
          bar.start(total, done, { text, rate: rate(done, now - t0) });
        } else {
          bar.update(done, { text, rate: rate(done, now - t0) });
        }
        return;
      }
      if (now - lastLine < interval) return;
      lastLine = now;
      opts.note(`${LABEL[phase][0]}: ${text}, ${rate(done, now - t0)}`);
    },

    phaseEnd(phase, total, ms) {
      if (phase === current) { stopBar(); current = null; }
      if (opts.mode === 'quiet' || ms < SUMMARY_AFTER_MS) return;
      opts.note(`${LABEL[phase][1]}: ${formatBytes(total)} in ${formatDuration(ms)} (${rate(total, ms)})`);
    },
  };
}
