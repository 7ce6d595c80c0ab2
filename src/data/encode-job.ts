// Encoding one text piece (src/data/text-stream.ts cut it where the pieces' ids, concatenated,
// are the whole text's): the same function in the calling thread and in the workers of
// src/data/encode-pool.ts, so the token stream cannot depend on how many threads made it.
import { BpeTokenizer, END_OF_TEXT } from './bpe-tokenizer.js';
import { decodePiece, type TextPiece } from './text-stream.js';
import type { Tokenizer } from './tokenizer.js';

/** One output buffer per thread, reused (the ids are copied out of it): fresh pages for every piece cost more than the copy. */
let scratch16 = new Uint16Array(0), scratch32 = new Uint32Array(0);
function scratch(bytesPerToken: 2 | 4, n: number): Uint16Array | Uint32Array {
  if (bytesPerToken === 2) return scratch16.length >= n ? scratch16 : (scratch16 = new Uint16Array(n));
  return scratch32.length >= n ? scratch32 : (scratch32 = new Uint32Array(n));
}

/** Appends the ids of `text` to `out` from `at`; the index after the last. `out` needs room for its UTF-8 byte length. */
function encodeText(tok: Tokenizer, text: string, out: Uint16Array | Uint32Array, at: number): number {
  if (tok instanceof BpeTokenizer) return tok.encodeInto(text, out, at);
  const ids = tok.encode(text);
  out.set(ids, at);
  return at + ids.length;
}

/**
 * The ids of a piece, as uint16 (bytesPerToken 2) or uint32. `stories`: the piece is TinyStories
 * text and each story, trimmed, is encoded on its own and followed by the end-of-text token
 * (empty stories are dropped), as the released format asks; a piece that starts or ends inside
 * a story (openStart, openEnd: a story longer than the cut limit) leaves that side untrimmed,
 * and an open end gets no end-of-text token (the story goes on in the next piece).
 */
export function encodePiece(tok: Tokenizer, piece: TextPiece, stories: boolean, bytesPerToken: 2 | 4): Uint16Array | Uint32Array {
  const text = decodePiece(piece.bytes);
  // Every id covers at least one byte, and each story's end-of-text token at least its 13-byte separator (+1: the last story's).
  const out = scratch(bytesPerToken, piece.bytes.length + 1);
  let n = 0;
  if (!stories || !(tok instanceof BpeTokenizer)) {
    n = encodeText(tok, text, out, 0);
  } else {
    const parts = text.split(END_OF_TEXT);
    for (let k = 0; k < parts.length; k++) {
      const continues = k === 0 && piece.openStart, goesOn = k === parts.length - 1 && piece.openEnd;
      let s = parts[k];
      if (!continues) s = s.trimStart();
      if (!goesOn) s = s.trimEnd();
      if (s === '' && !continues && !goesOn) continue;
      n = encodeText(tok, s, out, n);
      if (!goesOn) out[n++] = tok.eotId;
    }
  }
  return out.slice(0, n);
}
