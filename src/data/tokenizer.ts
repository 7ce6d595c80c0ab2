// What every tokenizer offers the training loop, the checkpoint and the sampler: ids in, text out,
// and a plain-JSON form saved in model.json so a checkpoint decodes exactly what it was trained on.
// The implementations: char-tokenizer.ts (one token per Unicode code point) and
// word-tokenizer.ts (lowercased words and punctuation, frequency-capped, with <unk>) and
// bpe-tokenizer.ts (byte-level BPE with <|endoftext|>, exact round trip on any UTF-8 text).
import { createHash } from 'node:crypto';
import { BpeTokenizer, type BpeTokenizerJSON } from './bpe-tokenizer.js';
import { CharTokenizer, type CharTokenizerJSON } from './char-tokenizer.js';
import { WordTokenizer, type WordTokenizerJSON } from './word-tokenizer.js';

export type TokenizerKind = 'char' | 'word' | 'bpe';
export const TOKENIZER_KINDS: readonly TokenizerKind[] = ['char', 'word', 'bpe'];

export type TokenizerJSON = CharTokenizerJSON | WordTokenizerJSON | BpeTokenizerJSON;

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

export interface BuildTokenizerOptions {
  kind: TokenizerKind;
  /** word: the vocabulary size cap, <unk> included (default WordTokenizer's); bpe: the vocabulary size (default 4096). */
  maxVocab?: number;
}

/** A tokenizer fitted to `text`. */
export function buildTokenizer(text: string, opts: BuildTokenizerOptions): Tokenizer {
  switch (opts.kind) {
    case 'char': return CharTokenizer.fromText(text);
    case 'word': return WordTokenizer.fromText(text, { maxVocab: opts.maxVocab });
    case 'bpe': return BpeTokenizer.train(text, { vocabSize: opts.maxVocab });
    default: throw new RangeError(`unknown tokenizer '${(opts as { kind: string }).kind}' (expected ${TOKENIZER_KINDS.join(', ')})`);
  }
}

/** Rebuilds a tokenizer from its toJSON() form (as read back from a checkpoint). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const kind = (json as { kind?: unknown } | null)?.kind;
  if (kind === 'char') return CharTokenizer.fromJSON(json as CharTokenizerJSON);
  if (kind === 'word') return WordTokenizer.fromJSON(json as WordTokenizerJSON);
  if (kind === 'bpe') return BpeTokenizer.fromJSON(json as BpeTokenizerJSON);
  throw new RangeError(`tokenizer: unknown kind ${JSON.stringify(kind)} (expected ${TOKENIZER_KINDS.join(', ')})`);
}

/**
 * SHA-256 (hex) naming a tokenizer, for token files and their cache: equal hashes ⇔ equal
 * tokenizers (the BPE tokenizer's own hash; for the others, of their JSON form).
 */
export function tokenizerHash(tok: Tokenizer): string {
  if (tok instanceof BpeTokenizer) return tok.hash;
  return createHash('sha256').update(JSON.stringify(tok.toJSON())).digest('hex');
}
