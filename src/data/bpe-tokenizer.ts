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
  private readonly cache = new Map<string, number[]>();

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
    const vocabSize = opts.vocabSize ?? DEFAULT_BPE_VOCAB;
    if (!Number.isInteger(vocabSize) || vocabSize < MIN_BPE_VOCAB || vocabSize >= PAIR_SHIFT) {
      throw new RangeError(`bpe tokenizer: vocabSize must be an integer in [${MIN_BPE_VOCAB}, ${PAIR_SHIFT}), got ${vocabSize}`);
    }
    if (!isWellFormed(text)) throw new RangeError('bpe tokenizer: the training text holds a lone UTF-16 surrogate');
    // Unique pre-tokens with their frequencies; the special token splits the text and is not trained.
    const freqOf = new Map<string, number>();
    for (const part of text.split(END_OF_TEXT)) {
      for (const w of preTokenize(part)) freqOf.set(w, (freqOf.get(w) ?? 0) + 1);
    }
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
    if (!isWellFormed(text)) {
      throw new RangeError('bpe tokenizer: the text holds a lone UTF-16 surrogate, which has no UTF-8 form');
    }
    const out: number[] = [];
    const parts = text.split(this.special);
    parts.forEach((part, pi) => {
      if (pi > 0) out.push(this.eotId);
      for (const w of preTokenize(part)) for (const id of this.encodeWord(w)) out.push(id);
    });
    return Int32Array.from(out);
  }

  /** The ids of one pre-token: its bytes, merged lowest rank first. */
  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
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
    if (this.cache.size >= 100_000) this.cache.clear();
    this.cache.set(word, ids);
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

  /** Ids → text. Exact for the output of encode(); an arbitrary id sequence may cut a character, shown as U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return new TextDecoder('utf-8').decode(this.decodeBytes(ids));
  }

  tokenBytes(id: number): Uint8Array {
    const b = Number.isInteger(id) ? this.bytes[id] : undefined;
    if (b === undefined) throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    return b;
  }

  /** The text of one id (a token holding part of a multi-byte character shows U+FFFD for it). */
  token(id: number): string {
    return new TextDecoder('utf-8').decode(this.tokenBytes(id));
  }

  /** Every well-formed string is covered: every byte has an id. */
  covers(text: string): boolean {
    return isWellFormed(text);
  }

  toJSON(): BpeTokenizerJSON {
    return { kind: 'bpe', merges: this.merges.map((m) => [m[0], m[1]]), special: this.special, hash: this.hash };
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
