// Models with learned positions are never used beyond the length they were trained on:
//   - with the defaults (--seq = --context = 128), a short run trains every position: the loss at
//     positions 64–127 is within 10% of the loss at 0–63 (with --seq 64 it is not: the cliff the
//     eval profile shows);
//   - a model trained on shorter windows samples with a window of that length, sliding (limitWindow).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { TransformerLM } from '../../src/models/transformer.js';
import { smallTransformerConfig } from '../../src/gradcheck/transformer-checks.js';
import { randomizeParams } from '../../src/gradcheck/model-checks.js';
import { train } from '../../src/train/trainer.js';
import { openTrainedRun, runValidationTokens } from '../../src/train/trained-run.js';
import { evaluateText, type EvalResult } from '../../src/train/eval-run.js';
import { Rng } from '../../src/util/rng.js';
import { wordLines } from './word-lines.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-positions-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let wasm: Ops;
beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });

/** Trains a small transformer (default context and positions) and returns its validation profile in two halves. */
async function halves(seq: number | undefined, name: string): Promise<EvalResult> {
  const file = join(tmp, 'words.txt');
  writeFileSync(file, wordLines(100_000).text);
  const out = join(tmp, name);
  // The position defaults under test: --context 128, learned positions, --seq left to its default.
  // A small, fast-learning model so 300 steps get far enough for untrained positions to show.
  await train({
    model: 'transformer', modelOptions: { layers: 1, dModel: 32 }, data: file, seq, steps: 300, batch: 8, lr: 3e-3,
    valEvery: 0, out, backend: 'wasm', threads: 1,
  });
  const run = openTrainedRun(out, wasm);
  expect(run.trainedSeq).toBe(seq ?? 128);
  const val = runValidationTokens(run)!;
  return evaluateText(wasm, run.model, val.tokens, { seq: 128, stateful: false, buckets: 2, maxTokens: 8 * 128 * 4, countChars: (ids) => ids.length });
}

describe('learned positions', () => {
  it('with the defaults every position trains: the loss past 64 is within 10% of the loss before', async () => {
    const r = await halves(undefined, 'default');
    const [early, late] = r.profile!;
    expect(early).toMatchObject({ from: 0, to: 63 });
    expect(late).toMatchObject({ from: 64, to: 127 });
    expect(early.nats).toBeLessThan(1.3); // it did learn (uniform over ~25 characters is 3.2)
    expect(Math.abs(late.nats - early.nats) / early.nats).toBeLessThan(0.1);
  }, 60_000);

  it('trained on windows of 64, the profile shows the cliff at 64', async () => {
    const [early, late] = (await halves(64, 'seq64')).profile!;
    expect(late.nats).toBeGreaterThan(1.5 * early.nats);
  }, 60_000);

  it('sampling slides a window of the trained length (limitWindow): the same logits as an uncached window', () => {
    const ref = new ReferenceOps('f64');
    const m = new TransformerLM(ref, smallTransformerConfig({ context: 8 }), new Rng(5));
    randomizeParams(m, new Rng(6));
    m.limitWindow(3);
    const seq = [0, 1, 2, 3, 4, 5, 6, 0, 1];
    m.resetSampling();
    for (let t = 0; t < seq.length; t++) {
      const got = m.nextLogProbs([seq[t]]);
      const window = seq.slice(Math.max(0, t + 1 - 3), t + 1);
      const want = m.windowLogProbs(window);
      got.forEach((v, j) => expect(v, `step ${t}`).toBeCloseTo(want[window.length - 1][j], 12));
    }
    expect(() => m.limitWindow(0)).toThrow(/integer ≥ 1/);
  });
});
