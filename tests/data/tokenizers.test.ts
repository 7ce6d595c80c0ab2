import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { PARAGRAPH, UNK, WordTokenizer, splitWords } from '../../src/data/word-tokenizer.js';
import { buildTokenizer, tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';

const moby = loadEmbeddedCorpus().text.slice(0, 60_000);

describe('CharTokenizer', () => {
  it('vocabulary = sorted unique code points (an emoji is one token)', () => {
    const t = CharTokenizer.fromText('hello — world 🐦 é');
    expect(t.chars).toEqual([' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'é', '—', '🐦']);
    expect(t.vocabSize).toBe(11);
    expect(Array.from(t.encode('🐦e'))).toEqual([10, 2]);
  });

  it('round-trips text exactly', () => {
    const t = CharTokenizer.fromText(moby);
    expect(t.decode(t.encode(moby))).toBe(moby);
    const ids = t.encode(moby);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Math.max(...ids.subarray(0, 5000))).toBeLessThan(t.vocabSize);
  });

  it('serialises to JSON and back', () => {
    const t = CharTokenizer.fromText(moby);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    expect(back).toBeInstanceOf(CharTokenizer);
    expect(Array.from(back.encode('Call me Ishmael.'))).toEqual(Array.from(t.encode('Call me Ishmael.')));
  });

  it('names an unseen character and reports coverage', () => {
    const t = CharTokenizer.fromText('abc');
    expect(() => t.encode('abz')).toThrow('character "z" (U+007A) at character 2 is not in the vocabulary of 3 characters');
    expect(t.covers('cab')).toBe(true);
    expect(t.covers('cabz')).toBe(false);
    expect(() => t.decode([3])).toThrow(/outside the vocabulary 0..2/);
  });

  it('refuses a malformed vocabulary', () => {
    expect(() => new CharTokenizer(['a', 'a'])).toThrow(/appears twice/);
    expect(() => new CharTokenizer(['ab'])).toThrow(/not exactly one character/);
    expect(() => tokenizerFromJSON({ kind: 'sentencepiece' })).toThrow(/unknown kind "sentencepiece"/);
  });
});

describe('WordTokenizer', () => {
  it('splits into lowercased words, punctuation marks and paragraph breaks', () => {
    expect(splitWords("Don't stop—Ahab's \"whale\", 42 times!\n\n  Next   line.\nsame paragraph"))
      .toEqual(["don't", 'stop', '—', "ahab's", '"', 'whale', '"', ',', '42', 'times', '!', PARAGRAPH, 'next', 'line', '.', 'same', 'paragraph']);
  });

  it('keeps the most frequent tokens, with <unk> at id 0 for the rest', () => {
    const t = WordTokenizer.fromText('b b b a a c d d d d', { maxVocab: 3 });
    expect(t.words).toEqual([UNK, 'd', 'b']);
    expect(Array.from(t.encode('d a b zebra'))).toEqual([1, 0, 2, 0]);
    expect(t.covers('b d')).toBe(true);
    expect(t.covers('b a')).toBe(false);
    // Ties in frequency break by text, so the vocabulary is a pure function of the corpus.
    expect(WordTokenizer.fromText('y x z', { maxVocab: 3 }).words).toEqual([UNK, 'x', 'y']);
  });

  it('decode then encode gives the same ids (readable spacing around punctuation)', () => {
    const t = WordTokenizer.fromText(moby, { maxVocab: 100_000 });
    const ids = t.encode(moby);
    expect(t.vocabSize).toBeGreaterThan(2000);
    expect(Array.from(t.encode(t.decode(ids)))).toEqual(Array.from(ids));
    const text = '“Call me (Ishmael), please.”\n\nNew paragraph—yes.';
    const small = WordTokenizer.fromText(text);
    expect(small.decode(small.encode(text))).toBe('“call me (ishmael), please.”\n\nnew paragraph—yes.');
  });

  it('serialises to JSON and back', () => {
    const t = buildTokenizer(moby, { kind: 'word', maxVocab: 500 });
    expect(t.vocabSize).toBe(500);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    expect(back).toBeInstanceOf(WordTokenizer);
    expect(Array.from(back.encode(moby.slice(0, 2000)))).toEqual(Array.from(t.encode(moby.slice(0, 2000))));
  });

  it('refuses a vocabulary without <unk> first, and a tiny cap', () => {
    expect(() => new WordTokenizer(['a', UNK])).toThrow(/id 0 must be <unk>/);
    expect(() => WordTokenizer.fromText('a b', { maxVocab: 1 })).toThrow(/maxVocab must be an integer ≥ 2/);
  });
});
