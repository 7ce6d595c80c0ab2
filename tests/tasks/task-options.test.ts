// The seed curricula's options (src/tasks/registry.ts TaskSpec.options): beam search with length
// normalisation and every attention kind on the seq2seq tasks, the MLP's depth, width, activation
// and init on the classifier tasks, checked options with one-line errors, and the CLI flags.
import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { lengthPenalty, Seq2Seq, SEQ2SEQ_ATTENTIONS } from '../../src/models/seq2seq.js';
import { getTask, runTask, taskOptions } from '../../src/tasks/registry.js';
import { Rng } from '../../src/util/rng.js';
import { cli } from '../cli/helpers.js';

describe('task options', () => {
  it('are checked against the task: unknown keys and bad values are one line naming the flag', () => {
    expect(taskOptions(getTask('copy'), {})).toEqual({ attention: 'bahdanau', beam: 1, lengthNorm: 0 });
    expect(taskOptions(getTask('copy'), { beam: '4', attention: 'luong-dot' })).toMatchObject({ beam: 4, attention: 'luong-dot' });
    expect(() => taskOptions(getTask('copy'), { depth: 2 })).toThrow(/^task copy has no option --depth \(its options: --attention, --beam, --length-norm\)$/);
    expect(() => taskOptions(getTask('copy'), { attention: 'luong' })).toThrow(/--attention expects one of none, bahdanau, luong-dot/);
    expect(() => taskOptions(getTask('xor'), { depth: 0 })).toThrow(/--depth expects an integer from 1 to 16/);
    expect(() => taskOptions(getTask('memory'), { beam: 2 })).toThrow(/task memory has no option --beam \(its options: none\)/);
  });

  it('classifier tasks build the MLP asked for: depth, width, activation, init', async () => {
    const deep = await runTask('xor', { seed: 1, options: { depth: 3, hidden: 6, activation: 'relu', init: 'he' } });
    expect((deep.mlp as { shape: string }).shape).toBe('[2 → 6 relu → 6 relu → 6 relu → 2], he init');
    expect(deep.passed).toBe(true);
    const plain = await runTask('xor', { seed: 1 });
    expect((plain.mlp as { shape: string }).shape).toBe('[2 → 8 tanh → 2], xavier init');
    expect((deep.mlp as { loss: number }).loss).not.toBe((plain.mlp as { loss: number }).loss);
    const gates = await runTask('gates', { seed: 1, steps: 200, options: { activation: 'sigmoid', init: 'xavier', hidden: 16 } });
    expect(gates.notes[0]).toBe('mlp [2 → 16 sigmoid → 2], xavier init');
  });

  it.each(SEQ2SEQ_ATTENTIONS)('seq2seq tasks train and score with attention %s', async (attention) => {
    const r = await runTask('copy', { seed: 1, steps: 20, options: { attention } });
    expect(r.attention).toBe(attention);
    expect(r.metric).toContain(`attention ${attention}`);
    expect(r.value).toBeGreaterThanOrEqual(0);
    expect(r.alignment === null).toBe(attention === 'none');
  }, 30_000);

  it('seq2seq tasks score with beam search and length normalisation', async () => {
    const r = await runTask('copy', { seed: 1, steps: 150, options: { beam: 3, lengthNorm: 0.6 } });
    expect(r.decode).toEqual({ beam: 3, lengthNorm: 0.6 });
    expect(r.metric).toContain('beam search of width 3, length norm α 0.6');
    expect(r.value).toBeGreaterThan(0.9);
  }, 60_000);
});

describe('beam search length normalisation', () => {
  it('lp(len) = ((5 + len)/6)^α; width 1 is greedy whatever α; α ranks finished outputs by logP / lp', () => {
    expect(lengthPenalty(1, 0)).toBe(1);
    expect(lengthPenalty(1, 0.7)).toBeCloseTo(1, 12);
    expect(lengthPenalty(7, 1)).toBeCloseTo(2, 12);
    const ops = new ReferenceOps('f64');
    const model = new Seq2Seq(ops, { srcVocab: 6, tgtVocab: 7, bos: 6, eos: 5, embed: 3, hidden: 8, attention: 'bahdanau' }, new Rng(9));
    for (const p of model.params) new Rng(p.name.length).fillNormal(p.value.data, 0, 0.8);
    const rng = new Rng(1);
    let longer = 0;
    for (let i = 0; i < 30; i++) {
      const S = rng.int(1, 6), src = Array.from({ length: S }, () => rng.int(0, 5));
      const g = model.greedy(ops.intsFrom(src), Int32Array.of(S), S, 1, 8)[0];
      expect(model.beam(src, { width: 1, maxLen: 8, lengthNorm: 0.8 }).tokens).toEqual(g);
      const plain = model.beam(src, { width: 6, maxLen: 8 });
      const norm = model.beam(src, { width: 6, maxLen: 8, lengthNorm: 2 });
      const rank = (h: { tokens: number[]; logProb: number }) => h.logProb / lengthPenalty(h.tokens.length + 1, 2);
      // Both searches see the same beam; under α = 2 the normalised one's choice ranks at least as high.
      expect(rank(norm)).toBeGreaterThanOrEqual(rank(plain) - 1e-12);
      expect(norm.logProb).toBeLessThanOrEqual(plain.logProb + 1e-12);
      if (norm.tokens.length > plain.tokens.length) longer++;
    }
    expect(longer).toBeGreaterThan(0); // normalisation does change the choice, towards longer outputs
    expect(() => model.beam([1], { width: 2, maxLen: 4, lengthNorm: -1 })).toThrow(/lengthNorm must be a number ≥ 0/);
  });
});

describe('handgrad task flags', () => {
  it('passes task options through and refuses ones the task lacks', async () => {
    const r = await cli('task', 'xor', '--depth', '2', '--hidden', '5', '--activation', 'relu', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('mlp [2 → 5 relu → 5 relu → 2], he init');
    const bad = await cli('task', 'xor', '--beam', '3');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('handgrad: task: task xor has no option --beam (its options: --depth, --hidden, --activation, --init)\n');
    const badValue = await cli('task', 'copy', '--attention', 'luong');
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toMatch(/^handgrad: task: --attention expects one of/);
  });
});
