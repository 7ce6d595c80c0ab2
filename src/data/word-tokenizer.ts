// The word tokenizer: lowercased words (letters and digits, with inner apostrophes kept, so
// "don't" is one token), every punctuation mark as a token of its own, and a paragraph break
// (a blank line) as the token "\n\n". Other whitespace only separates tokens.
//
// The vocabulary keeps the `maxVocab − 1` most frequent tokens (ties broken by code-unit order,
// so it is a pure function of the text) plus `<unk>` at id 0, which stands for everything else.
// Lowercasing and the cap are what make a word model trainable on a small corpus: without them
// most of the vocabulary is seen once or twice and the softmax over it learns nothing.
//
// decode() joins tokens with single spaces, except next to punctuation that English writes
// without one ("word," "(word" "word—word"), so the output reads naturally. It is not the
// original text (case and line breaks are gone), but re-encoding it gives the same ids.
import type { WordTokenizerJSON, Tokenizer } from './tokenizer-types.js';

export type { WordTokenizerJSON } from './tokenizer-types.js';

export const UNK = '<unk>';
export const PARAGRAPH = '\n\n';
export const DEFAULT_MAX_VOCAB = 10_000;

/** Paragraph breaks, words (with inner apostrophes), and single non-space, non-word characters. */
const TOKEN_RE = /\n[^\S\n]*\n\s*|[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu;
// Curly quotes say which side they belong to; straight ones do not, so they get spaces.
const NO_SPACE_BEFORE = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '}', '%', '—', '”', '’', PARAGRAPH]);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '—', '“', '‘', PARAGRAPH]);

/** The token strings of `text`, before any vocabulary: lowercased, paragraph breaks as "\n\n". */
export function splitWords(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(TOKEN_RE)) out.push(m[0][0] === '\n' ? PARAGRAPH : m[0]);
  return out;
}

/** Adds one to the count of each token of `text` (splitWords). */
export function countWords(text: string, counts: Map<string, number>): void {
  for (const w of splitWords(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
}

export class WordTokenizer implements Tokenizer {
  readonly kind = 'word' as const;
  readonly words: readonly string[];
  private readonly index = new Map<string, number>();

  constructor(words: readonly string[]) {
    if (words[0] !== UNK) throw new RangeError(`word tokenizer: id 0 must be ${UNK}, got ${JSON.stringify(words[0])}`);
    words.forEach((w, id) => {
      if (typeof w !== 'string' || w === '') throw new RangeError(`word tokenizer: vocabulary entry ${id} is not a non-empty string`);
      if (this.index.has(w)) throw new RangeError(`word tokenizer: ${JSON.stringify(w)} appears twice in the vocabulary`);
      this.index.set(w, id);
    });
    this.words = [...words];
  }

  /** `<unk>` plus the most frequent maxVocab − 1 tokens of `text`. */
  static fromText(text: string, opts: { maxVocab?: number } = {}): WordTokenizer {
    const maxVocab = opts.maxVocab ?? DEFAULT_MAX_VOCAB;
    if (!Number.isInteger(maxVocab) || maxVocab < 2) throw new RangeError(`word tokenizer: maxVocab must be an integer ≥ 2, got ${maxVocab}`);
    const counts = new Map<string, number>();
    countWords(text, counts);
    return WordTokenizer.fromCounts(counts, { maxVocab });
  }

  /** `<unk>` plus the most frequent maxVocab − 1 tokens of these counts (countWords over a text, piece by piece). */
  static fromCounts(counts: ReadonlyMap<string, number>, opts: { maxVocab?: number } = {}): WordTokenizer {
    const maxVocab = opts.maxVocab ?? DEFAULT_MAX_VOCAB;
    if (!Number.isInteger(maxVocab) || maxVocab < 2) throw new RangeError(`word tokenizer: maxVocab must be an integer ≥ 2, got ${maxVocab}`);
    // The text "<unk>" splits into "<", "unk", ">" anyway; never a real word.
    const ranked = [...counts.entries()].filter(([w]) => w !== UNK)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxVocab - 1)
      .map(([w]) => w);
    return new WordTokenizer([UNK, ...ranked]);
  }

  static fromJSON(json: WordTokenizerJSON): WordTokenizer {
    if (json.kind !== 'word' || !Array.isArray(json.words)) throw new RangeError('word tokenizer: JSON must be {kind: "word", words: string[]}');
    return new WordTokenizer(json.words);
  }

  get vocabSize(): number { return this.words.length; }

  encode(text: string): Int32Array {
    const words = splitWords(text);
    const out = new Int32Array(words.length);
    for (let i = 0; i < words.length; i++) out[i] = this.index.get(words[i]) ?? 0;
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    let prev: string | null = null;
    for (let i = 0; i < ids.length; i++) {
      const w = this.token(ids[i]);
      if (prev !== null && !NO_SPACE_AFTER.has(prev) && !NO_SPACE_BEFORE.has(w)) s += ' ';
      s += w;
      prev = w;
    }
    return s;
  }

  token(id: number): string {
    const w = this.words[id];
    if (w === undefined) throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    return w;
  }

  covers(text: string): boolean {
    return splitWords(text).every((w) => this.index.has(w));
  }

  toJSON(): WordTokenizerJSON {
    return { kind: 'word', words: [...this.words] };
  }
}
