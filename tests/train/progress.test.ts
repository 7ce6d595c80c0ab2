import { describe, expect, it } from 'vitest';
import { createProgressReporter } from '../../src/train/progress.js';
import type { StepInfo, TrainStart, TrainSummary } from '../../src/train/trainer.js';

const start: TrainStart = {
  model: 'bigram', params: 6642, backend: 'reference-f64', corpus: 'moby-dick', tokenizer: 'char', vocabSize: 81,
  trainTokens: 1_000_000, valTokens: 100_000, tokensPerStep: 1024, sampler: 'random', totalSteps: 100, timeLimitMs: null,
  startStep: 0, startElapsedMs: 0,
};
const summary: TrainSummary = {
  model: 'bigram', steps: 100, trainLoss: 2.5, valLoss: 2.45, valBits: 2.45 / Math.LN2,
  bestValLoss: 2.45, bestStep: 100, stoppedEarly: false, tokensPerSec: 123456, seconds: 3.2, params: 6642, out: 'runs/x',
};

function drive(mode: 'lines' | 'quiet') {
  const lines: string[] = [];
  const r = createProgressReporter({ mode, print: (l) => lines.push(l) });
  r.start?.(start);
  const s: StepInfo = { step: 0, loss: 3, lr: 0.05, gradNorm: 0.5, elapsedMs: 0, tokensPerSec: 5000, epoch: 0, fraction: 0, etaMs: NaN };
  for (let i = 1; i <= 100; i++) {
    Object.assign(s, { step: i, elapsedMs: i * 10, fraction: i / 100, etaMs: (100 - i) * 10 });
    r.step?.(s);
    if (i === 50) r.validation?.({ step: 50, valLoss: 2.6, valBits: 2.6 / Math.LN2, final: false });
  }
  r.validation?.({ step: 100, valLoss: 2.45, valBits: 2.45 / Math.LN2, final: true });
  r.finish?.(summary);
  return lines;
}

describe('progress reporter', () => {
  it('a resumed run says where it starts, and says when its limit is already reached', () => {
    const header = (info: Partial<TrainStart>) => {
      const lines: string[] = [];
      createProgressReporter({ mode: 'lines', print: (l) => lines.push(l) }).start?.({ ...start, ...info });
      return lines[0];
    };
    expect(header({})).toMatch(/ windows, for 100 steps$/);
    expect(header({ startStep: 20, startElapsedMs: 4000 })).toMatch(/^resuming bigram at step 20 \(4s in\) \(6,642 params.* windows, until 100 steps in all$/);
    expect(header({ startStep: 20, startElapsedMs: 4000, totalSteps: 10 }))
      .toMatch(/ until 10 steps in all: already reached, nothing to train$/);
    expect(header({ startStep: 20, startElapsedMs: 90_000, totalSteps: null, timeLimitMs: 60_000 }))
      .toMatch(/^resuming bigram at step 20 \(1m30s in\).* until 1m00s in all: already reached, nothing to train$/);
  });

  it('lines mode: a header, about twenty step lines, validations, and a closing line', () => {
    const lines = drive('lines');
    expect(lines[0]).toMatch(/^training bigram \(6,642 params, reference-f64\) on moby-dick: 1,000,000 train \/ 100,000 validation chars/);
    const steps = lines.filter((l) => /^step \S+ {2}loss /.test(l));
    expect(steps.length).toBe(21); // step 1, then every 5th
    expect(steps.at(-1)).toMatch(/^step 100\/100 {2}loss 3\.0000 {2}lr 5\.00e-2 {2}\|g\| 0\.500 {2}5\.0k tok\/s/);
    expect(lines).toContain('step 50  validation loss 2.6000 nats/char (3.751 bits/char)');
    expect(lines).toContain('step 100  final validation loss 2.4500 nats/char (3.535 bits/char)');
    expect(lines.at(-1)).toBe('done: 100 steps in 3s, 123.5k tok/s; train loss 2.5000, validation 2.4500 nats/char (3.535 bits/char); checkpoint runs/x');
  });

  it('quiet mode prints nothing', () => {
    expect(drive('quiet')).toEqual([]);
  });
});
