// TextStream (src/data/generated-text.ts): generated tokens become text as they come, stop strings end
// it (without themselves), and the pieces always add up to the tokenizer's own decoding.
import { describe, expect, it } from 'vitest';
import { TextStream } from '../../src/data/generated-text.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { WordTokenizer } from '../../src/data/word-tokenizer.js';

/** Streams `ids` through a TextStream, recording the pieces and after which token each came. */
function stream(decode: { decode(ids: ArrayLike<number>): string }, ids: number[], stops: string[] = [], prefix: number[] = []) {
  const pieces: { after: number; text: string }[] = [];
  let pushed = 0, stoppedAt = -1;
  const s = new TextStream(decode, (text) => pieces.push({ after: pushed, text }), stops, prefix);
  for (const id of ids) {
    pushed++;
    if (s.push(id)) { stoppedAt = pushed; break; }
  }
  s.end();
  return { text: pieces.map((p) => p.text).join(''), pieces, stoppedAt, done: s.done, output: s.output };
}

describe('TextStream', () => {
  const chars = CharTokenizer.fromText('abc xyz\n.');
  const enc = (t: string) => Array.from(chars.encode(t));

  it('writes each character as its token arrives', () => {
    const r = stream(chars, enc('abc xyz'));
    expect(r.text).toBe('abc xyz');
    expect(r.pieces.map((p) => p.after)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('ends at the first stop string, without it, and holds back only what could start one', () => {
    const r = stream(chars, enc('abc x\n\nabc'), ['\n\n']);
    expect(r.text).toBe('abc x');
    expect(r.done).toBe(true);
    expect(r.stoppedAt).toBe(7);
    // The first '\n' waited (it might start the stop string); everything before it went out at once.
    expect(r.pieces.filter((p) => p.after <= 5).map((p) => p.text).join('')).toBe('abc x');
    // A prefix that does not complete is written after all.
    expect(stream(chars, enc('ab\nc'), ['\n\n']).text).toBe('ab\nc');
    expect(stream(chars, enc('abc a'), ['a']).text).toBe('');
    expect(stream(chars, enc('zz.xyz'), ['xy', '.']).text).toBe('zz');
    expect(stream(chars, enc('abc'), ['']).text).toBe('abc'); // an empty stop string means nothing
  });

  it('byte-level BPE: a character split across tokens is written once complete, and the whole equals decode()', () => {
    const text = 'naïve café — résumé ☕ déjà vu, 日本語のテキスト';
    const bpe = BpeTokenizer.train(text.repeat(3), { vocabSize: 300 });
    const ids = Array.from(bpe.encode(text));
    const r = stream(bpe, ids);
    expect(r.text).toBe(bpe.decode(ids));
    expect(r.text).toBe(text);
    expect(r.text).not.toContain('\uFFFD');
    // Nothing was written before it was certain: every piece is a prefix extension of the final text.
    expect(r.pieces.length).toBeGreaterThan(5);
    const stopped = stream(bpe, ids, ['résumé']);
    expect(stopped.text).toBe('naïve café — ');
  });

  it('word tokens join as decode() joins them, after a prompt too', () => {
    const words = WordTokenizer.fromText('the cat sat . the dog ran , and the cat slept .');
    const ids = Array.from(words.encode('the dog ran , and the cat sat .'));
    expect(stream(words, ids).text).toBe(words.decode(ids));
    const prompt = ids.slice(0, 3), rest = ids.slice(3);
    const r = stream(words, rest, [], prompt);
    expect(words.decode(prompt) + r.text).toBe(words.decode(ids));
  });

  it('streams a long sample in time linear in its length (one growing string sliced per token was O(n²))', () => {
    // A complexity guard, not a speed figure: 200k tokens take ~0.5 s here and took 41 s the O(n²) way
    // (vitest does not stop a synchronous test at its timeout, so the bound is checked here, 20× either way).
    const n = 200_000, ids = enc('abc xyz\n'.repeat(n / 8));
    const t0 = performance.now();
    const r = stream(chars, ids, ['.']);
    expect(r.text.length).toBe(n);
    expect(r.text).toBe(chars.decode(ids));
    expect(r.output).toBe(r.text);
    expect(performance.now() - t0).toBeLessThan(10_000);
    // And a stop string that straddles what was written and what comes: held back, then cut.
    const stop = stream(chars, enc('abc xyz\n'.repeat(1000) + 'abc x.yz'), ['x.y']);
    expect(stop.text).toBe('abc xyz\n'.repeat(1000) + 'abc ');
    expect(stop.done).toBe(true);
  });
});
