// What every tokenizer offers the training loop, the checkpoint and the sampler: ids in, text out,
// and a plain-JSON form saved in model.json so a checkpoint decodes exactly what it was trained on.
// The implementations: char-tokenizer.ts (one token per Unicode code point) and
// word-tokenizer.ts (lowercased words and punctuation, frequency-capped, with <unk>) and
// bpe-tokenizer.ts (byte-level BPE with <|endoftext|>, exact round trip on any UTF-8 text).
import { createHash } from 'node:crypto';
// The interface and the JSON forms live in ./tokenizer-types.ts, below the implementations.
import { BpeTokenizer } from './bpe-tokenizer.js';
import { CharTokenizer } from './char-tokenizer.js';
import { WordTokenizer } from './word-tokenizer.js';
import { TOKENIZER_KINDS, type BpeTokenizerJSON, type CharTokenizerJSON, type Tokenizer, type TokenizerKind,
  type WordTokenizerJSON } from './tokenizer-types.js';

export { TOKENIZER_KINDS } from './tokenizer-types.js';
export type { Tokenizer, TokenizerJSON, TokenizerKind } from './tokenizer-types.js';

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
