// The byte-level BPE tokenizer (GPT-2 style): text → UTF-8 bytes → merged byte pairs.
//
// Vocabulary: ids 0…255 are the 256 single bytes (id = byte value), then one id per learned merge
// in the order it was learned (merge i makes id 256 + i out of two earlier ids), then the special
// token `<|endoftext|>` as the last id. Since every byte has an id, encode() never fails and
// decode(encode(s)) === s for every well-formed string (a lone UTF-16 surrogate has no UTF-8
// form, so encode() rejects it instead of silently turning it into U+FFFD).
//
// Pre-tokenisation: the GPT-2 regex splits text into words with their leading space (" cat"),
// runs of digits, runs of punctuation, and whitespace, and merges never cross those pieces. The
// literal text `<|endoftext|>` always encodes as the special token (and never takes part in
// training), so a corpus in the released TinyStories format can be encoded as it is.
//
// Training counts each unique pre-token once, with its frequency, and keeps the count of every
// adjacent pair over those words plus, per pair, the words it occurs in. A merge touches only
// the words holding the merged pair (their pairs are uncounted, the word rewritten, the pairs
// counted again), and the most frequent pair comes from a max-heap with lazy deletion (a stale
// entry, whose count no longer matches, is dropped when it reaches the top). Ties go to the pair
// with the smaller (left id, right id), so training is a pure function of the text. On the
// 3.5 MB TinyStories slice, vocabulary 4096 trains in about a second.
//
// Why not a library: @huggingface/tokenizers (npm, "Tokenizers.js") is a pure-JS port of the
// *inference* half only (it loads tokenizer.json files, it cannot train), the native `tokenizers`
// bindings need a prebuilt Rust addon per platform, and bpe-tokenizer (npm) is character-level
// with a full recount per merge. Training offline, byte-level, in plain TypeScript is ~300 lines.
import { createHash } from 'node:crypto';
import type { BpeTokenizerJSON, Tokenizer } from './tokenizer-types.js';

export type { BpeTokenizerJSON } from './tokenizer-types.js';

export const END_OF_TEXT = '<|endoftext|>';
export const DEFAULT_BPE_VOCAB = 4096;
/** 256 bytes + at least 0 merges + the special token. */
export const MIN_BPE_VOCAB = 257;

/** GPT-2's pre-tokenisation pattern. */
const PRETOKEN_RE = /'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const PAIR_SHIFT = 2 ** 21; // ids < 2^21; key = left·2^21 + right < 2^42, exact in a double
const encoder = new TextEncoder();
/** With the u flag, only an unpaired surrogate is a \p{Cs} code point (String#isWellFormed is ES2024). */
const LONE_SURROGATE = /\p{Cs}/u;
const isWellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/** The pre-tokens of `text`, in order; their concatenation is `text`. */
export function preTokenize(text: string): string[] {
  const out: string[] = [];
  let pos = 0;
  for (const m of text.matchAll(PRETOKEN_RE)) {
    if (m.index > pos) out.push(text.slice(pos, m.index)); // cannot happen with this pattern; kept lossless anyway
    out.push(m[0]);
    pos = m.index + m[0].length;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}

// ---- the pre-tokenisation scanner -----------------------------------------------------------
//
// preTokenEnd() finds the same pieces as PRETOKEN_RE, but walks char codes instead of building a
// match array and a string per piece: encoding is most of the time of a large corpus, and the
// regex alone ran at about 40 MB/s. The alternatives, in the pattern's order, at position p:
//   1. ' followed by s, d, m, t, ll, ve or re (lowercase only, as the pattern has no i flag);
//   2–4. an optional U+0020, then a run of letters, or of numbers, or of "others" (neither
//      whitespace nor letter nor number), the class being that of the first code point;
//   5. a whitespace run that, when non-whitespace follows, gives its last character back
//      (`\s+(?!\S)`: a run of one followed by non-whitespace fails this and falls to 6);
//   6. the whole whitespace run.
// Classes use the regex's own definitions (\p{L}, \p{N}, \s with the u flag), computed once per
// code point. tests/data/bpe-tokenizer.test.ts checks it against the regex on random text.
const C_LETTER = 1, C_NUMBER = 2, C_SPACE = 3, C_OTHER = 4;
const bmpClass = new Uint8Array(65536); // 0: not yet classified
const astralClass = new Map<number, number>();
function classify(cp: number): number {
  const s = String.fromCodePoint(cp);
  return /\p{L}/u.test(s) ? C_LETTER : /\p{N}/u.test(s) ? C_NUMBER : /\s/u.test(s) ? C_SPACE : C_OTHER;
}
for (let c = 0; c < 128; c++) bmpClass[c] = classify(c);
/** Width in code units of the code point classAt() last looked at (1 or 2). */
let lastWidth = 1;
/** The class of the code point at text[i]; a lone surrogate is a RangeError (it has no UTF-8 form). */
function classAt(text: string, i: number, n: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) {
    lastWidth = 1;
    const k = bmpClass[c];
    return k !== 0 ? k : (bmpClass[c] = classify(c));
  }
  const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
  if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) {
    throw new RangeError('bpe tokenizer: the text holds a lone UTF-16 surrogate, which has no UTF-8 form');
  }
  lastWidth = 2;
  const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  let k = astralClass.get(cp);
  if (k === undefined) { k = classify(cp); astralClass.set(cp, k); }
  return k;
}

/**
 * The end (exclusive) of the pre-token of `text` that starts at `p` (see above), looking no
 * further than `n` (default: the end of the text): the pieces of text[0, n) are those of
 * text.slice(0, n).
 */
export function preTokenEnd(text: string, p: number, n = text.length): number {
  const c = text.charCodeAt(p);
  if (c === 0x27 && p + 1 < n) { // '
    const d = text.charCodeAt(p + 1);
    if (d === 0x73 || d === 0x64 || d === 0x6d || d === 0x74) return p + 2; // 's 'd 'm 't
    if (p + 2 < n) {
      const e = text.charCodeAt(p + 2);
      if ((d === 0x6c && e === 0x6c) || (d === 0x76 && e === 0x65) || (d === 0x72 && e === 0x65)) return p + 3; // 'll 've 're
    }
  }
  const q = c === 0x20 && p + 1 < n ? p + 1 : p;
  const k = classAt(text, q, n);
  if (k !== C_SPACE) {
    let i = q + lastWidth;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d < 128) { // the common case, without a call
        if (bmpClass[d] !== k) break;
        i++;
      } else if (classAt(text, i, n) === k) i += lastWidth;
      else break;
    }
    return i;
  }
  // Whitespace (every whitespace character is one code unit).
  let e = p + 1;
  while (e < n && classAt(text, e, n) === C_SPACE) e++;
  return e < n && e - p >= 2 ? e - 1 : e;
}

/** Adds one to the count of each pre-token of `text` (split at the special token, which is not counted). */
export function countPreTokens(text: string, counts: Map<string, number>, special = END_OF_TEXT): void {
  for (let from = 0; ;) {
    const at = text.indexOf(special, from);
    const end = at < 0 ? text.length : at;
    for (let i = from; i < end;) {
      const j = preTokenEnd(text, i, end);
      const w = text.slice(i, j);
      counts.set(w, (counts.get(w) ?? 0) + 1);
      i = j;
    }
    if (at < 0) return;
    from = at + special.length;
  }
}

export interface BpeTrainOptions {
  /** Total ids: 256 bytes + merges + 1 special token (default 4096). Fewer when the text runs out of pairs. */
  vocabSize?: number;
}

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe' as const;
  readonly merges: readonly (readonly [number, number])[];
  readonly special: string;
  /** The id of `<|endoftext|>`: the last id. */
  readonly eotId: number;
  /** SHA-256 (hex) of the merges and the special token: equal hashes ⇔ equal tokenizers. */
  readonly hash: string;
  /** bytes[id]: the UTF-8 bytes token id stands for. */
  private readonly bytes: Uint8Array[];
  /** pair key → merge rank. */
  private readonly ranks = new Map<number, number>();
  /** Pre-token → ids, so a word seen before costs a lookup, not a merge loop. */
  private readonly pieces = new PieceCache();

  constructor(merges: readonly (readonly [number, number])[], special = END_OF_TEXT) {
    if (typeof special !== 'string' || special === '') throw new RangeError('bpe tokenizer: the special token must be a non-empty string');
    this.bytes = [];
    for (let b = 0; b < 256; b++) this.bytes.push(Uint8Array.of(b));
    merges.forEach((m, i) => {
      const id = 256 + i;
      if (!Array.isArray(m) || m.length !== 2 || !m.every((x) => Number.isInteger(x) && x >= 0 && x < id)) {
        throw new RangeError(`bpe tokenizer: merge ${i} must be two ids below ${id}, got ${JSON.stringify(m)}`);
      }
      const key = m[0] * PAIR_SHIFT + m[1];
      if (this.ranks.has(key)) throw new RangeError(`bpe tokenizer: merge ${i} (${m[0]}, ${m[1]}) appears twice`);
      this.ranks.set(key, i);
      const a = this.bytes[m[0]], b = this.bytes[m[1]];
      const ab = new Uint8Array(a.length + b.length);
      ab.set(a); ab.set(b, a.length);
      this.bytes.push(ab);
    });
    this.merges = merges.map((m) => [m[0], m[1]] as const);
    this.special = special;
    this.eotId = 256 + merges.length;
    this.bytes.push(encoder.encode(special));
    this.hash = createHash('sha256').update(JSON.stringify({ merges: this.merges, special })).digest('hex');
  }

  /** Learns merges from `text` (see the top of this file). */
  static train(text: string, opts: BpeTrainOptions = {}): BpeTokenizer {
    checkVocabSize(opts.vocabSize ?? DEFAULT_BPE_VOCAB);
    if (!isWellFormed(text)) throw new RangeError('bpe tokenizer: the training text holds a lone UTF-16 surrogate');
    // Unique pre-tokens with their frequencies; the special token splits the text and is not trained.
    const freqOf = new Map<string, number>();
    countPreTokens(text, freqOf);
    return BpeTokenizer.fromCounts(freqOf, opts);
  }

  /**
   * Learns merges from pre-token counts (countPreTokens over a text, or over its pieces one after
   * the other when they were cut where no pre-token is split: the counts, and so the merges, are
   * those of the whole text; training does not depend on the order of the counts).
   */
  static fromCounts(freqOf: ReadonlyMap<string, number>, opts: BpeTrainOptions = {}): BpeTokenizer {
    const vocabSize = opts.vocabSize ?? DEFAULT_BPE_VOCAB;
    checkVocabSize(vocabSize);
    const words: number[][] = [];
    const freqs: number[] = [];
    for (const [w, f] of freqOf) {
      const b = encoder.encode(w);
      if (b.length < 2) continue; // a single byte has no pair
      words.push(Array.from(b));
      freqs.push(f);
    }
    const counts = new Map<number, number>();
    const where = new Map<number, Set<number>>(); // a superset: may keep words that lost the pair
    const heap = new PairHeap();
    const countWord = (wi: number, sign: number): void => {
      const w = words[wi], f = freqs[wi] * sign;
      for (let i = 0; i + 1 < w.length; i++) {
        const key = w[i] * PAIR_SHIFT + w[i + 1];
        counts.set(key, (counts.get(key) ?? 0) + f);
        if (sign > 0) {
          let s = where.get(key);
          if (!s) where.set(key, (s = new Set()));
          s.add(wi);
        }
      }
    };
    for (let wi = 0; wi < words.length; wi++) countWord(wi, 1);
    for (const [key, c] of counts) heap.push(c, key);

    const merges: [number, number][] = [];
    const target = vocabSize - 257;
    while (merges.length < target) {
      // The most frequent pair whose heap entry is current.
      let best = -1;
      while (heap.size > 0) {
        const c = heap.topCount(), key = heap.topKey();
        heap.pop();
        if (c > 0 && counts.get(key) === c) { best = key; break; }
      }
      if (best < 0) break; // every word is a single token
      const a = Math.floor(best / PAIR_SHIFT), b = best - a * PAIR_SHIFT;
      const id = 256 + merges.length;
      merges.push([a, b]);
      const touched = new Set<number>(); // pairs whose count may have changed: re-pushed once
      for (const wi of where.get(best)!) {
        const w = words[wi];
        let has = false;
        for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) { has = true; break; }
        if (!has) continue;
        for (let i = 0; i + 1 < w.length; i++) touched.add(w[i] * PAIR_SHIFT + w[i + 1]);
        countWord(wi, -1);
        const out: number[] = [];
        for (let i = 0; i < w.length; i++) {
          if (i + 1 < w.length && w[i] === a && w[i + 1] === b) { out.push(id); i++; } else out.push(w[i]);
        }
        words[wi] = out;
        countWord(wi, 1);
        for (let i = 0; i + 1 < out.length; i++) touched.add(out[i] * PAIR_SHIFT + out[i + 1]);
      }
      where.delete(best);
      counts.delete(best);
      touched.delete(best);
      for (const k of touched) {
        const c = counts.get(k) ?? 0;
        if (c <= 0) { counts.delete(k); where.delete(k); continue; }
        heap.push(c, k); // an entry with the old count goes stale and is dropped when popped
      }
    }
    return new BpeTokenizer(merges);
  }

  static fromJSON(json: BpeTokenizerJSON): BpeTokenizer {
    if (json?.kind !== 'bpe' || !Array.isArray(json.merges) || typeof json.special !== 'string') {
      throw new RangeError('bpe tokenizer: JSON must be {kind: "bpe", merges: [number, number][], special: string}');
    }
    const t = new BpeTokenizer(json.merges, json.special);
    if (json.hash !== undefined && json.hash !== t.hash) {
      throw new RangeError(`bpe tokenizer: JSON hash ${json.hash} does not match its merges (${t.hash})`);
    }
    return t;
  }

  get vocabSize(): number { return this.bytes.length; }

  encode(text: string): Int32Array {
    const out = new Int32Array(Buffer.byteLength(text, 'utf8')); // every id stands for at least one byte
    return out.slice(0, this.encodeInto(text, out, 0));
  }

  /**
   * Writes the ids of `text` into `out` from index `at` and returns the index after the last.
   * `out` needs room for Buffer.byteLength(text) ids (every id covers at least one byte).
   * Throws a RangeError on a lone UTF-16 surrogate, which has no UTF-8 form.
   */
  encodeInto(text: string, out: Uint16Array | Uint32Array | Int32Array, at: number): number {
    const cache = this.pieces;
    const ids = cache.ids;
    for (let from = 0; ;) {
      const sp = text.indexOf(this.special, from);
      const end = sp < 0 ? text.length : sp;
      for (let i = from; i < end;) {
        // The common pre-token, a run of ASCII letters, digits or others with or without its
        // leading space, is scanned and hashed in one pass; anything else goes through
        // preTokenEnd (the same pieces: tests/data/token-pipeline.test.ts).
        let j = -1, h = FNV_OFFSET;
        const c = text.charCodeAt(i);
        if (c < 128 && c !== 0x27) {
          let q = i;
          if (c === 0x20 && i + 1 < end) { h = Math.imul(h ^ 0x20, FNV_PRIME); q = i + 1; }
          const d = text.charCodeAt(q);
          const k = d < 128 ? bmpClass[d] : C_SPACE;
          if (k !== C_SPACE) {
            h = Math.imul(h ^ d, FNV_PRIME);
            let x = q + 1;
            for (; x < end; x++) {
              const y = text.charCodeAt(x);
              if (y >= 128 || bmpClass[y] !== k) break;
              h = Math.imul(h ^ y, FNV_PRIME);
            }
            // A non-ASCII character next may be of the same class: the slow path decides.
            if (x >= end || text.charCodeAt(x) < 128) j = x;
          }
        }
        let e: number;
        if (j >= 0) {
          e = j - i <= PieceCache.MAX_CHARS ? cache.findHashed(text, i, j, h) : -1;
        } else {
          j = preTokenEnd(text, i, end);
          e = j - i <= PieceCache.MAX_CHARS ? cache.find(text, i, j) : -1;
        }
        if (e < 0) {
          const merged = this.mergeWord(text.slice(i, j));
          if (j - i > PieceCache.MAX_CHARS) {
            for (let k = 0; k < merged.length; k++) out[at++] = merged[k];
            i = j;
            continue;
          }
          e = cache.add(text, i, j, merged);
        }
        const s0 = cache.idStart[e], s1 = s0 + cache.idCount[e];
        for (let k = s0; k < s1; k++) out[at++] = ids[k];
        i = j;
      }
      if (sp < 0) return at;
      out[at++] = this.eotId;
      from = sp + this.special.length;
    }
  }

  /** The ids of one pre-token: its bytes, merged lowest rank first. */
  private mergeWord(word: string): number[] {
    let ids = Array.from(encoder.encode(word));
    for (;;) {
      let bestRank = Infinity, bestKey = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = this.ranks.get(ids[i] * PAIR_SHIFT + ids[i + 1]);
        if (r !== undefined && r < bestRank) { bestRank = r; bestKey = ids[i] * PAIR_SHIFT + ids[i + 1]; }
      }
      if (bestKey < 0) break;
      const a = Math.floor(bestKey / PAIR_SHIFT), b = bestKey - a * PAIR_SHIFT, id = 256 + bestRank;
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) { next.push(id); i++; } else next.push(ids[i]);
      }
      ids = next;
    }
    return ids;
  }

  /** The bytes of a sequence of ids. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    let n = 0;
    for (let i = 0; i < ids.length; i++) n += this.tokenBytes(ids[i]).length;
    const out = new Uint8Array(n);
    let p = 0;
    for (let i = 0; i < ids.length; i++) { const b = this.bytes[ids[i]]; out.set(b, p); p += b.length; }
    return out;
  }

  /** Ids → text. Exact for the output of encode() (a leading U+FEFF included: ignoreBOM); an arbitrary id sequence may cut a character, shown as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  tokenBytes(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.bytes[id] : undefined;
    if (b === undefined) throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    return b;
  }

  /** The text of one id (a token holding part of a multi-byte character shows U+FFFD for it). */
  token(id: number): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.tokenBytes(id));
  }

  /** Every well-formed string is covered: every byte has an id. */
  covers(text: string): boolean {
    return isWellFormed(text);
  }

  toJSON(): BpeTokenizerJSON {
    return { kind: 'bpe', merges: this.merges.map((m) => [m[0], m[1]]), special: this.special, hash: this.hash };
  }
}

/** FNV-1a, 32-bit, over char codes: the piece cache's hash. */
const FNV_OFFSET = 0x811c9dc5 | 0, FNV_PRIME = 0x01000193;

function checkVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_BPE_VOCAB || vocabSize >= PAIR_SHIFT) {
    throw new RangeError(`bpe tokenizer: vocabSize must be an integer in [${MIN_BPE_VOCAB}, ${PAIR_SHIFT}), got ${vocabSize}`);
  }
}

/**
 * Pre-token → ids, an open-addressing hash table over typed arrays keyed by the pre-token's char
 * codes, looked up straight from the text: no string is made for a pre-token seen before (a Map
 * keyed by text.slice() cost as much as the rest of encoding). Cleared when full, like any cache.
 */
class PieceCache {
  /** Longer pre-tokens are merged every time (they are rare, and would fill the arenas). */
  static readonly MAX_CHARS = 64;
  private static readonly MAX_ENTRIES = 1 << 17;
  private readonly mask = 2 * PieceCache.MAX_ENTRIES - 1;
  private readonly slots = new Int32Array(2 * PieceCache.MAX_ENTRIES); // entry + 1; 0: empty
  private readonly hashes = new Int32Array(PieceCache.MAX_ENTRIES);
  private readonly keyStart = new Int32Array(PieceCache.MAX_ENTRIES);
  private readonly keyLength = new Int32Array(PieceCache.MAX_ENTRIES);
  readonly idStart = new Int32Array(PieceCache.MAX_ENTRIES);
  readonly idCount = new Int32Array(PieceCache.MAX_ENTRIES);
  private readonly chars = new Uint16Array(1 << 20);
  /** The ids arena (fixed: the table is cleared, never grown). */
  readonly ids = new Int32Array(1 << 20);
  private entries = 0;
  private charsUsed = 0;
  private idsUsed = 0;
  /** The slot find() stopped at: where add() puts a missing key. */
  private freeSlot = 0;
  private lastHash = 0;

  /** The entry holding text[s, e), or −1 (remembering where it would go). */
  find(text: string, s: number, e: number): number {
    let h = FNV_OFFSET;
    for (let i = s; i < e; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
    return this.findHashed(text, s, e, h);
  }

  /** find() with the key's hash already computed (FNV-1a over its char codes, as find computes it). */
  findHashed(text: string, s: number, e: number, h: number): number {
    this.lastHash = h;
    const len = e - s;
    for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
      const v = this.slots[slot];
      if (v === 0) { this.freeSlot = slot; return -1; }
      const entry = v - 1;
      if (this.hashes[entry] !== h || this.keyLength[entry] !== len) continue;
      const k0 = this.keyStart[entry];
      let same = true;
      for (let i = 0; i < len; i++) if (this.chars[k0 + i] !== text.charCodeAt(s + i)) { same = false; break; }
      if (same) return entry;
    }
  }

  /** Adds text[s, e) → ids, right after a find() of the same key returned −1; returns the entry. */
  add(text: string, s: number, e: number, ids: readonly number[]): number {
    const len = e - s;
    if (this.entries === PieceCache.MAX_ENTRIES || this.charsUsed + len > this.chars.length || this.idsUsed + ids.length > this.ids.length) {
      this.slots.fill(0);
      this.entries = this.charsUsed = this.idsUsed = 0;
      this.find(text, s, e); // the slot again, in the empty table
    }
    const entry = this.entries++;
    this.slots[this.freeSlot] = entry + 1;
    this.hashes[entry] = this.lastHash;
    this.keyStart[entry] = this.charsUsed;
    this.keyLength[entry] = len;
    for (let i = 0; i < len; i++) this.chars[this.charsUsed + i] = text.charCodeAt(s + i);
    this.charsUsed += len;
    this.idStart[entry] = this.idsUsed;
    this.idCount[entry] = ids.length;
    for (let i = 0; i < ids.length; i++) this.ids[this.idsUsed + i] = ids[i];
    this.idsUsed += ids.length;
    return entry;
  }
}

/** A binary max-heap of (count, key): larger count first, then smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number { return this.counts.length; }
  topCount(): number { return this.counts[0]; }
  topKey(): number { return this.keys[0]; }
  private above(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    const c = this.counts[i]; this.counts[i] = this.counts[j]; this.counts[j] = c;
    const k = this.keys[i]; this.keys[i] = this.keys[j]; this.keys[j] = k;
  }
  push(count: number, key: number): void {
    this.counts.push(count); this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p); i = p;
    }
  }
  pop(): void {
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop(); this.keys.pop();
    const n = this.counts.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && this.above(l, m)) m = l;
      if (r < n && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m); i = m;
    }
  }
}
