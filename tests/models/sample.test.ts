import { describe, expect, it } from 'vitest';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { BigramLM } from '../../src/models/bigram.js';
import { pickToken, sampleTokens, warmUpBySampling } from '../../src/models/sample.js';
import { Rng } from '../../src/util/rng.js';

const logp = Float64Array.from([0.1, 0.5, 0.3, 0.1].map(Math.log));

describe('pickToken', () => {
  it('temperature 0 is greedy', () => {
    expect(pickToken(logp, 0, 0, new Rng(1))).toBe(1);
    expect(pickToken(Float64Array.from([0, 0]), 0, 0, new Rng(1))).toBe(0); // ties: lowest id
  });

  it('temperature 1 draws from the model distribution', () => {
    const rng = new Rng(2), n = 20_000, counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[pickToken(logp, 1, 0, rng)]++;
    [0.1, 0.5, 0.3, 0.1].forEach((p, j) => expect(counts[j] / n).toBeCloseTo(p, 1));
  });

  it('top-k keeps only the k most likely tokens', () => {
    const rng = new Rng(3), seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(pickToken(logp, 1, 2, rng));
    expect([...seen].sort()).toEqual([1, 2]);
  });

  it('top-p keeps the fewest most likely tokens holding p; p → 0 is greedy', () => {
    const rng = new Rng(4), seen = new Set<number>();
    // 0.5 + 0.3 ≥ 0.75: tokens 1 and 2 only.
    for (let i = 0; i < 2000; i++) seen.add(pickToken(logp, 1, 0, rng, 0.75));
    expect([...seen].sort()).toEqual([1, 2]);
    const flat = Float64Array.from([0.2, 0.5, 0.3].map(Math.log));
    for (const p of [1e-9, 0.01, 0.2]) {
      for (let i = 0; i < 50; i++) expect(pickToken(flat, 1.7, 0, rng, p)).toBe(pickToken(flat, 0, 0, rng));
    }
    // Ties at the edge go to the lower id, as greedy's do.
    for (let i = 0; i < 20; i++) expect(pickToken(Float64Array.from([0, 0, -1]), 1, 0, rng, 1e-6)).toBe(0);
    expect(() => pickToken(logp, 1, 0, rng, 0)).toThrow(/top-p must be in \(0, 1\]/);
    expect(() => pickToken(logp, 1, 0, rng, 1.5)).toThrow(/top-p/);
  });

  it('is deterministic for a seed', () => {
    const draw = (seed: number) => { const r = new Rng(seed); return Array.from({ length: 30 }, () => pickToken(logp, 1.3, 0, r)); };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });
});

describe('sampleTokens', () => {
  it('feeds each drawn token back (greedy bigram walks its argmax chain)', () => {
    const ops = new ReferenceOps('f64');
    const m = new BigramLM(ops, { vocabSize: 3 }, new Rng(1));
    // Next-token table: 0 → 1, 1 → 2, 2 → 0.
    const W = m.W.value.data;
    W[0 * 3 + 1] = 5; W[1 * 3 + 2] = 5; W[2 * 3 + 0] = 5;
    const out: number[] = [];
    expect(sampleTokens(m, [0], { length: 5, temperature: 0, rng: new Rng(1), onToken: (id) => out.push(id) })).toEqual([1, 2, 0, 1, 2]);
    expect(out).toEqual([1, 2, 0, 1, 2]);
    expect(() => sampleTokens(m, [], { length: 1, temperature: 1, rng: new Rng(1) })).toThrow(/prompt of at least one token/);
  });

  it('hands each token out before computing the next, and stops on a stop id or when asked', () => {
    const ops = new ReferenceOps('f64');
    const m = new BigramLM(ops, { vocabSize: 3 }, new Rng(1));
    const W = m.W.value.data;
    W[0 * 3 + 1] = 5; W[1 * 3 + 2] = 5; W[2 * 3 + 0] = 5;
    const events: string[] = [];
    const next = m.nextLogProbs.bind(m);
    m.nextLogProbs = (t) => { events.push(`feed ${t.join(',')}`); return next(t); };
    sampleTokens(m, [0], { length: 3, temperature: 0, rng: new Rng(1), onToken: (id) => { events.push(`out ${id}`); } });
    expect(events).toEqual(['feed 0', 'out 1', 'feed 1', 'out 2', 'feed 2', 'out 0']);
    expect(sampleTokens(m, [0], { length: 10, temperature: 0, rng: new Rng(1), stopIds: [0] })).toEqual([1, 2]);
    expect(sampleTokens(m, [0], { length: 10, temperature: 0, rng: new Rng(1), onToken: (id) => id === 2 })).toEqual([1, 2]);
  });

  it('warmUpBySampling burns in at least minTokens and ends on the break token, leaving the state after it', () => {
    const ops = new ReferenceOps('f64');
    const m = new BigramLM(ops, { vocabSize: 3 }, new Rng(1));
    const W = m.W.value.data;
    W[0 * 3 + 1] = 5; W[1 * 3 + 2] = 5; W[2 * 3 + 0] = 5;
    const fed: number[] = [];
    const next = m.nextLogProbs.bind(m);
    m.nextLogProbs = (t) => { fed.push(...t); return next(t); };
    warmUpBySampling(m, 2, { temperature: 0, rng: new Rng(1), minTokens: 10 });
    // 2 → 0 → 1 → 2 → …: the tenth drawn token is 0; the next break (2) comes two later and is fed last.
    expect(fed.length).toBeGreaterThanOrEqual(11);
    expect(fed[fed.length - 1]).toBe(2);
    expect(sampleTokens(m, [], { length: 2, temperature: 0, rng: new Rng(1), reset: false })).toEqual([0, 1]);
  });
});
