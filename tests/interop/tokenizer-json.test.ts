// Hugging Face tokenizer.json for our char and BPE tokenizers (src/interop/tokenizer-json.ts),
// loaded by @huggingface/tokenizers — the tokenizer loader of transformers.js — which must give our
// ids for a text and our text for the ids; and read back into the same tokenizer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { WordTokenizer } from '../../src/data/word-tokenizer.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { BYTE_CHARS, fromHfTokenizer, readTokenizerFile, toHfTokenizer } from '../../src/interop/tokenizer-json.js';

const dir = mkdtempSync(join(tmpdir(), 'handgrad-tokjson-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CORPUS = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.',
  "One day, she saw a big, red ball. \"Can I play?\" she asked. Her mom said, \"Yes, but don't go far!\"",
  'They played 123 games and ate 45 apples in 2024… The café was naïve — and the 😀 smiled.',
  '   Tabs\tand\n\nnew lines   stay    as they are.  ', 'a  b   c    d  e',
].join('\n');

function hfLoad(tok: Tokenizer): HfTokenizer {
  const files = toHfTokenizer(tok);
  // Through JSON text, as a file on disk would be read.
  return new HfTokenizer(JSON.parse(JSON.stringify(files.tokenizer)), JSON.parse(JSON.stringify(files.config)));
}

describe('tokenizer.json through the Hugging Face loader', () => {
  const bpe = BpeTokenizer.train(CORPUS.repeat(3), { vocabSize: 400 });
  const texts = [
    CORPUS,
    'Lily said: "Hello, world!" <|endoftext|> Once again, 42 apples. Ünïcödé — ✓ 😀😀',
    "it's what they've done; we'll see. I'm sure you'd agree",
    // GPT-2's split keeps the last space of a run with the word after it: ' ', ' hello', not '  ' + 'hello'.
    'a  b   c    d     e',
    '   hello   there    stay  as   they are',
  ];

  it('BPE: the same ids for a text (special token included), the same text back', () => {
    expect(bpe.merges.length).toBeGreaterThan(100);
    const hf = hfLoad(bpe);
    for (const text of texts) {
      const ours = Array.from(bpe.encode(text));
      expect(hf.encode(text).ids).toEqual(ours);
      expect(hf.decode(ours)).toBe(text);
    }
    expect(hf.encode('<|endoftext|>').ids).toEqual([bpe.eotId]);
  });

  it('char: the same ids and text, newlines and astral characters included', () => {
    const chars = CharTokenizer.fromText(CORPUS);
    const hf = hfLoad(chars);
    const ours = Array.from(chars.encode(CORPUS));
    expect(hf.encode(CORPUS).ids).toEqual(ours);
    expect(hf.decode(ours)).toBe(CORPUS);
  });

  it('reads its own tokenizer.json back into the same tokenizer (and our JSON form too)', () => {
    const chars = CharTokenizer.fromText(CORPUS);
    for (const tok of [bpe, chars]) {
      const file = join(dir, `${tok.kind}.json`);
      writeFileSync(file, JSON.stringify(toHfTokenizer(tok).tokenizer));
      expect(readTokenizerFile(file).toJSON()).toEqual(tok.toJSON());
      const own = join(dir, `${tok.kind}-own.json`);
      writeFileSync(own, JSON.stringify(tok.toJSON()));
      expect(readTokenizerFile(own).toJSON()).toEqual(tok.toJSON());
    }
  });

  it('writes the bytes in GPT-2\'s byte-to-unicode alphabet', () => {
    expect(BYTE_CHARS[0x20]).toBe('Ġ');
    expect(BYTE_CHARS[0x0a]).toBe('Ċ');
    expect(BYTE_CHARS['a'.charCodeAt(0)]).toBe('a');
    expect(new Set(BYTE_CHARS).size).toBe(256);
    const vocab = (toHfTokenizer(bpe).tokenizer.model as { vocab: Record<string, number> }).vocab;
    expect(vocab['Ġ']).toBe(32);
  });

  it('has no tokenizer.json for a word tokenizer, and refuses a BPE whose bytes are not ids 0…255', () => {
    expect(() => toHfTokenizer(WordTokenizer.fromText('the cat sat on the mat'))).toThrow('a word tokenizer has no tokenizer.json form (char and bpe do)');
    const json = toHfTokenizer(bpe).tokenizer;
    const vocab = { ...(json.model as { vocab: Record<string, number> }).vocab };
    [vocab['!'], vocab['"']] = [vocab['"'], vocab['!']]; // GPT-2's own vocabulary is ordered differently
    expect(() => fromHfTokenizer({ ...json, model: { ...(json.model as object), vocab } }, 'gpt2/tokenizer.json'))
      .toThrow('gpt2/tokenizer.json: byte 33 is not token id 33');
  });
});
