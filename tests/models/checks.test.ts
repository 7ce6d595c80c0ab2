import { describe, expect, it } from 'vitest';
import { checkSizes, checkTokens } from '../../src/models/checks.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { AttentionLM } from '../../src/models/lstm-attention-lm.js';
import { RecurrentLM } from '../../src/models/recurrent-lm.js';
import { Rng } from '../../src/util/rng.js';

describe('model argument checks (src/models/checks.ts)', () => {
  it('names the first size that is not an integer ≥ 1', () => {
    expect(() => checkSizes('m', { a: 1, b: 0, c: 1.5 })).toThrow('m: b must be an integer ≥ 1, got 0');
    expect(() => checkSizes('m', { a: 2.5 })).toThrow(/a must be an integer ≥ 1, got 2.5/);
    expect(() => checkSizes('m', { a: 1, b: 7 })).not.toThrow();
  });

  it('refuses tokens outside 0..V−1 and non-integers', () => {
    for (const bad of [-1, 4, 1.5, Number.NaN]) expect(() => checkTokens('m', [0, bad], 4)).toThrow(`m: token ${bad} is outside the vocabulary 0..3`);
    expect(() => checkTokens('m', [0, 3], 4)).not.toThrow();
  });

  it('the recurrent LMs use them: sizes at construction, tokens before any is fed', () => {
    const ops = new ReferenceOps('f64');
    expect(() => new RecurrentLM(ops, 'gru', { vocabSize: 5, hidden: 0, layers: 1, embed: 2 }, new Rng(1))).toThrow('gru: hidden must be an integer ≥ 1');
    expect(() => new AttentionLM(ops, { vocabSize: 5, hidden: 3, layers: 1, embed: 2, context: 0 }, new Rng(1))).toThrow('lstm-attention: context must be');
    const m = new AttentionLM(ops, { vocabSize: 5, hidden: 3, layers: 1, embed: 2 }, new Rng(1));
    const before = Array.from(m.nextLogProbs([1, 2]));
    m.resetSampling();
    expect(() => m.nextLogProbs([1, 2, 9])).toThrow('lstm-attention: token 9 is outside the vocabulary 0..4');
    // Nothing of the refused call stayed in the history: the same prompt gives the same distribution.
    expect(Array.from(m.nextLogProbs([1, 2]))).toEqual(before);
  });
});
