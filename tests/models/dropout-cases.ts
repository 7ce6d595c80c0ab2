// What every block-stack model with dropout must satisfy, shared by the moe and memory-lm dropout
// tests (the transformer's and the LSTM's are in tests/layers/dropout.test.ts): its registered
// fixed-mask gradient checks pass (float64 reference); in evaluation a dropout model's loss is the
// same weights' loss without dropout; a training forward drops (it differs, and draws a fresh mask
// each time); everything follows from the seed; WASM gives the reference's loss and gradients
// under the same mask; the config keeps `dropout` only when it is used; and a short trainer run is
// deterministic and differs from the run without dropout.
import { describe, expect, it, beforeAll } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import type { Ops } from '../../src/ops/types.js';
import type { SequenceModel, TokenBatch } from '../../src/models/types.js';
import type { Dropout } from '../../src/layers/dropout.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { randomBatch, randomizeParams } from '../../src/gradcheck/model-checks.js';
import { zeroGrads } from '../../src/layers/param.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

export type DropoutModel = SequenceModel & { dropouts: Dropout[]; config: Record<string, unknown> };

export interface DropoutCases {
  /** The registry name (for the trainer run). */
  model: string;
  /** Its registered fixed-mask gradient checks. */
  checks: string[];
  /** The model with this dropout rate (0: none), weights from `rng`. */
  make: (ops: Ops, dropout: number, rng: Rng) => DropoutModel;
  /** The batch's window length (within the model's context). */
  time: number;
  /** The number of dropout sites the model has (embeddings + 2 per block). */
  sites: number;
  /** Model options of a tiny model for the trainer run. */
  trainOptions: Record<string, unknown>;
  /** The reference model after its training forward (e.g. the MoE checks its routing is not near a tie). */
  afterReference?: (m: DropoutModel) => void;
}

/** One training forward/backward from fresh gradients: the loss, then every gradient. */
export function trainingStep(ops: Ops, m: SequenceModel, batch: TokenBatch): number[] {
  zeroGrads(ops, m.params);
  const loss = m.forwardBackward(batch, true);
  return [loss, ...m.params.flatMap((p) => Array.from(p.grad.data))];
}

export function describeDropout(label: string, c: DropoutCases): void {
  const ref = new ReferenceOps('f64');
  let wasm: Ops;
  beforeAll(async () => { wasm = await createOps({ backend: 'wasm', threads: 1 }); });
  /** The model with random N(0, 0.5²) weights (seed 5) on top of its init (seed 1). */
  const build = (ops: Ops, dropout: number): DropoutModel => {
    const m = c.make(ops, dropout, new Rng(1));
    randomizeParams(m, new Rng(5));
    return m;
  };
  const batchOf = (ops: Ops) => randomBatch(ops, new Rng(2), 7, 2, c.time);

  describe(`${label} dropout`, () => {
    it.each(c.checks)('passes the fixed-mask gradient check %s', (name) => {
      const [r] = runGradChecks([name]);
      for (const t of r.tensors) expect(t.relError, `${name} ${t.name}`).toBeLessThanOrEqual(1e-6);
      expect(r.passed).toBe(true);
    });

    it('evaluation drops nothing: the loss is the same weights\' loss without dropout; training drops, a fresh mask each time', () => {
      const plain = build(ref, 0), drop = build(ref, 0.3), batch = batchOf(ref);
      expect(drop.dropouts).toHaveLength(c.sites);
      // Dropout draws nothing while the model is built: the weights are the plain model's.
      drop.params.forEach((p, i) => expect(Array.from(p.value.data)).toEqual(Array.from(plain.params[i].value.data)));
      const evalLoss = plain.forwardBackward(batch, false);
      expect(drop.forwardBackward(batch, false)).toBe(evalLoss);
      const trainPlain = trainingStep(ref, plain, batch), trainDrop = trainingStep(ref, drop, batch);
      expect(trainPlain[0]).toBe(evalLoss);
      expect(trainDrop[0]).not.toBe(evalLoss);
      expect(trainDrop.slice(1)).not.toEqual(trainPlain.slice(1));
      expect(trainingStep(ref, drop, batch)[0]).not.toBe(trainDrop[0]);
      // Evaluation after training forwards is still the plain loss.
      expect(drop.forwardBackward(batch, false)).toBe(evalLoss);
    });

    it('is deterministic given the seed (the masks come from the model\'s generator)', () => {
      const a = build(ref, 0.3), b = build(ref, 0.3), batch = batchOf(ref);
      for (let s = 0; s < 2; s++) expect(trainingStep(ref, b, batch)).toEqual(trainingStep(ref, a, batch));
    });

    it('WASM gives the reference\'s loss and gradients under the same mask', () => {
      const r = build(ref, 0.3), w = build(wasm, 0.3);
      const rs = trainingStep(ref, r, batchOf(ref));
      c.afterReference?.(r);
      const ws = trainingStep(wasm, w, batchOf(wasm));
      rs.forEach((v, i) => expect(Math.abs(ws[i] - v), `${i}`).toBeLessThan(2e-4 * Math.max(1, Math.abs(v))));
    });

    it('keeps dropout in its config only when used; refuses a rate outside [0, 1)', () => {
      expect(build(ref, 0).config).not.toHaveProperty('dropout');
      expect(build(ref, 0.25).config.dropout).toBe(0.25);
      for (const p of [1, -0.1, Number.NaN]) expect(() => c.make(ref, p, new Rng(1))).toThrow(/dropout must be in \[0, 1\), got/);
    });

    it('a trainer run with dropout is reproducible from its seed and differs from one without', async () => {
      const corpus = { name: 'moby-5k', source: 'test', text: loadEmbeddedCorpus().text.slice(0, 5_000) };
      const run = (dropout: number) => train({
        model: c.model, modelOptions: { ...c.trainOptions, dropout }, data: corpus, tokenizer: 'char', batch: 2, seq: 8, steps: 3,
        valEvery: 3, valBatches: 1, backend: 'reference', seed: 9, out: null,
      });
      const a = await run(0.2), b = await run(0.2), plain = await run(0);
      expect(b.trainLoss).toBe(a.trainLoss);
      expect(b.valLoss).toBe(a.valLoss);
      expect(plain.trainLoss).not.toBe(a.trainLoss);
    });
  });
}
