// The character tokenizer: one token per Unicode code point (so 'é', '—' and an emoji are one
// token each, not two UTF-16 halves), vocabulary = the sorted unique characters of the corpus.
// Sorting by code point makes the ids a pure function of the character set: two corpora with
// the same characters get the same ids, whatever order the characters first appear in.
import type { CharTokenizerJSON, Tokenizer } from './tokenizer-types.js';

export type { CharTokenizerJSON } from './tokenizer-types.js';

/** Adds the code points of `text` to `seen` (a lone surrogate counts as itself, as `for…of` yields it). */
export function addCodePoints(text: string, seen: Set<number>): void {
  // A table for the common case: most text repeats a few hundred characters.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) { if (!asciiSeen[c]) { asciiSeen[c] = 1; seen.add(c); } continue; }
    const cp = text.codePointAt(i)!;
    seen.add(cp);
    if (cp > 0xffff) i++;
  }
  asciiSeen.fill(0);
}
const asciiSeen = new Uint8Array(128);

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char' as const;
  readonly chars: readonly string[];
  /** Code point → id. */
  private readonly index = new Map<number, number>();

  constructor(chars: readonly string[]) {
    if (chars.length === 0) throw new RangeError('char tokenizer: the vocabulary is empty');
    chars.forEach((c, id) => {
      const cp = c.codePointAt(0);
      if (cp === undefined || String.fromCodePoint(cp) !== c) {
        throw new RangeError(`char tokenizer: vocabulary entry ${id} (${JSON.stringify(c)}) is not exactly one character`);
      }
      if (this.index.has(cp)) throw new RangeError(`char tokenizer: character ${JSON.stringify(c)} appears twice in the vocabulary`);
      this.index.set(cp, id);
    });
    this.chars = [...chars];
  }

  /** The tokenizer whose vocabulary is every character of `text`, sorted by code point. */
  static fromText(text: string): CharTokenizer {
    const seen = new Set<number>();
    addCodePoints(text, seen);
    return CharTokenizer.fromCodePoints(seen);
  }

  /** The tokenizer whose vocabulary is these code points, sorted (collected with addCodePoints, text piece by piece). */
  static fromCodePoints(codePoints: Iterable<number>): CharTokenizer {
    return new CharTokenizer([...new Set(codePoints)].sort((a, b) => a - b).map((cp) => String.fromCodePoint(cp)));
  }

  static fromJSON(json: CharTokenizerJSON): CharTokenizer {
    if (json.kind !== 'char' || !Array.isArray(json.chars) || json.chars.some((c) => typeof c !== 'string')) {
      throw new RangeError('char tokenizer: JSON must be {kind: "char", chars: string[]}');
    }
    return new CharTokenizer(json.chars);
  }

  get vocabSize(): number { return this.chars.length; }

  encode(text: string): Int32Array {
    const out = new Int32Array(text.length); // UTF-16 length ≥ code points: big enough
    let n = 0;
    for (const c of text) {
      const id = this.index.get(c.codePointAt(0)!);
      if (id === undefined) {
        throw new RangeError(`character ${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) ` +
          `at character ${n} is not in the vocabulary of ${this.vocabSize} characters`);
      }
      out[n++] = id;
    }
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.token(ids[i]);
    return s;
  }

  token(id: number): string {
    const c = this.chars[id];
    if (c === undefined) throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    return c;
  }

  covers(text: string): boolean {
    for (const c of text) if (!this.index.has(c.codePointAt(0)!)) return false;
    return true;
  }

  toJSON(): CharTokenizerJSON {
    return { kind: 'char', chars: [...this.chars] };
  }
}
