// The tokenizer contract: the interface every tokenizer implements (./char-tokenizer.ts,
// ./word-tokenizer.ts, ./bpe-tokenizer.ts) and the plain-JSON forms a checkpoint saves in
// model.json. Kept apart from the factories in ./tokenizer.ts, which import the implementations,
// so that the implementations can import this without a cycle.

export type TokenizerKind = 'char' | 'word' | 'bpe';
export const TOKENIZER_KINDS: readonly TokenizerKind[] = ['char', 'word', 'bpe'];

/** What every tokenizer offers the training loop, the checkpoint and the sampler. */
export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of distinct ids: ids are 0 … vocabSize−1. */
  readonly vocabSize: number;
  /** Text → ids. A char tokenizer throws a RangeError on a character it has never seen. */
  encode(text: string): Int32Array;
  /** Ids → text (for the word tokenizer, a readable detokenisation, not the original spacing). */
  decode(ids: ArrayLike<number>): string;
  /** The text of one id. */
  token(id: number): string;
  /** Whether `encode(text)` would succeed without losing anything (no unknown characters / words). */
  covers(text: string): boolean;
  toJSON(): TokenizerJSON;
}

// ---- the JSON forms, one per kind ----------------------------------------------------------------

export type TokenizerJSON = CharTokenizerJSON | WordTokenizerJSON | BpeTokenizerJSON;

export interface CharTokenizerJSON {
  kind: 'char';
  /** chars[id] is the character of token id. */
  chars: string[];
}

export interface WordTokenizerJSON {
  kind: 'word';
  /** words[id] is the text of token id; words[0] is "<unk>". */
  words: string[];
}

export interface BpeTokenizerJSON {
  kind: 'bpe';
  /** merges[i] = [left id, right id] makes token 256 + i. */
  merges: [number, number][];
  /** The special token's text (id = 256 + merges.length). */
  special: string;
  /** SHA-256 of the merges (see BpeTokenizer.hash); checked on load when present. */
  hash?: string;
}
