// How a training run shows its progress, as a TrainReporter for src/train/trainer.ts:
//   - on a terminal: one live bar (cli-progress) on stderr with step, loss, last validation,
//     tokens/s and ETA, redrawn at most 10 times a second;
//   - otherwise (a pipe, a log file, CI): plain lines, about twenty per run and at least one
//     every 10 seconds, plus one per validation;
//   - quiet (e.g. --json to a pipe): nothing; the caller prints the final JSON.
// The trainer calls step() every step; everything here that formats text is throttled, so the
// cost per step is a couple of comparisons.
import { SingleBar } from 'cli-progress';
import type { StepInfo, TrainReporter, TrainStart, TrainSummary, ValInfo } from './trainer.js';
import { formatDuration } from '../util/duration.js';

export type ProgressMode = 'bar' | 'lines' | 'quiet';

export interface ProgressOptions {
  mode: ProgressMode;
  /** Where 'lines' mode writes each line (and 'bar' mode the lines around the bar). */
  print: (line: string) => void;
  /** Where the closing 'done: …' summary goes (default: print). The CLI sends it to stdout, the rest to stderr. */
  printResult?: (line: string) => void;
  /** The stream the bar is drawn on (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** lines mode: at most this long between two lines (default 10 s). */
  lineIntervalMs?: number;
}

/** 12345.6 → "12.3k". */
function compact(x: number): string {
  if (!Number.isFinite(x)) return '?';
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export function createProgressReporter(opts: ProgressOptions): TrainReporter {
  if (opts.mode === 'quiet') return {};
  let start: TrainStart | null = null;
  let unit = 'token';
  let lastVal = '';
  let lastPrintMs = 0, lastBarMs = -Infinity, everySteps = Infinity;
  let bar: SingleBar | null = null;
  const interval = opts.lineIntervalMs ?? 10_000;

  const stopBar = () => {
    bar?.stop();
    bar = null;
  };

  const stepText = (s: StepInfo) => (start?.totalSteps ? `${s.step}/${start.totalSteps}` : `${s.step}`);

  return {
    start(info) {
      start = info;
      unit = info.tokenizer === 'char' ? 'char' : 'token';
      const limit = [info.totalSteps !== null ? `${info.totalSteps} steps` : '', info.timeLimitMs !== null ? formatDuration(info.timeLimitMs) : '']
        .filter(Boolean).join(' or ');
      // A resumed run says where it starts, and says so when the limits are already reached (a
      // resume with --steps or --time at or below the checkpoint's trains nothing).
      const done = (info.totalSteps !== null && info.startStep >= info.totalSteps) ||
        (info.timeLimitMs !== null && info.startElapsedMs >= info.timeLimitMs);
      const resuming = info.startStep > 0 || info.startElapsedMs > 0;
      const what = resuming
        ? `resuming ${info.model} at step ${info.startStep} (${formatDuration(info.startElapsedMs)} in)`
        : `training ${info.model}`;
      opts.print(`${what} (${info.params.toLocaleString('en-US')} params, ${info.backend}) on ${info.corpus}: ` +
        `${info.trainTokens.toLocaleString('en-US')} train / ${info.valTokens.toLocaleString('en-US')} validation ${unit}s, ` +
        `vocabulary ${info.vocabSize}, ${info.tokensPerStep} ${unit}s per step, ${info.sampler} windows, ` +
        (!resuming ? `for ${limit}` : done ? `until ${limit} in all: already reached, nothing to train` : `until ${limit} in all`));
      everySteps = info.totalSteps !== null ? Math.max(1, Math.ceil(info.totalSteps / 20)) : Infinity;
      if (opts.mode === 'bar') {
        bar = new SingleBar({
          format: '{bar} {percentage}% | step {stepText} | loss {loss} | val {val} | {tps} tok/s | ETA {etaText}',
          stream: opts.stream ?? process.stderr,
          // The step loop is synchronous, so no SIGINT handler could run to show a hidden
          // cursor again after Ctrl-C: leave the cursor alone.
          hideCursor: false,
          clearOnComplete: true,
          barsize: 24,
          fps: 10,
        });
        bar.start(1000, 0, { stepText: '0', loss: '-', val: '-', tps: '-', etaText: '?' });
      }
    },

    step(s) {
      if (bar) {
        const last = start?.totalSteps !== null && s.step === start?.totalSteps;
        if (s.elapsedMs - lastBarMs < 100 && !last) return;
        lastBarMs = s.elapsedMs;
        bar.update(Math.round(s.fraction * 1000), {
          stepText: stepText(s), loss: s.loss.toFixed(4), val: lastVal || '-', tps: compact(s.tokensPerSec), etaText: formatDuration(s.etaMs),
        });
        return;
      }
      const due = s.step % everySteps === 0 || s.elapsedMs - lastPrintMs >= interval || s.step === 1;
      if (!due) return;
      lastPrintMs = s.elapsedMs;
      opts.print(`step ${stepText(s)}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  |g| ${s.gradNorm.toFixed(3)}  ` +
        `${compact(s.tokensPerSec)} tok/s  epoch ${s.epoch.toFixed(2)}  ETA ${formatDuration(s.etaMs)}`);
    },

    validation(v: ValInfo) {
      lastVal = `${v.valLoss.toFixed(4)}`;
      if (bar) return; // shown in the bar; the final one in finish()
      opts.print(`step ${v.step}  ${v.final ? 'final ' : ''}validation loss ${v.valLoss.toFixed(4)} nats/${unit} ` +
        `(${v.valBits.toFixed(3)} bits/${unit})`);
    },

    fail() {
      stopBar();
    },

    finish(summary: TrainSummary) {
      stopBar();
      const val = summary.valLoss === null ? 'no validation split'
        : `validation ${summary.valLoss.toFixed(4)} nats/${unit} (${summary.valBits!.toFixed(3)} bits/${unit})`;
      // The best validation, where it was not the last one (the best/ checkpoint holds it).
      const best = summary.bestValLoss !== null && summary.bestStep !== summary.steps
        ? `; best validation ${summary.bestValLoss.toFixed(4)} at step ${summary.bestStep}` : '';
      (opts.printResult ?? opts.print)(`done: ${summary.steps} steps in ${formatDuration(summary.seconds * 1000)}, ${compact(summary.tokensPerSec)} tok/s; ` +
        `train loss ${summary.trainLoss.toFixed(4)}, ${val}${best}` + (summary.stoppedEarly ? ' (stopped early: --patience)' : '') +
        (summary.out ? `; checkpoint ${summary.out}` : ''));
    },
  };
}
