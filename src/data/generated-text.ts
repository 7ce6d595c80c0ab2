// Generated tokens as text, written out as they come, with stop strings.
//
// Each push(id) works out the text the new token adds and writes it at once — except text that
// might be the start of a stop string, which is held back until the next tokens show whether the
// stop string follows (a stop string, and everything after it, is never written). The text a
// token adds is not always decode([id]): byte-level BPE splits a multi-byte character across
// tokens (decode shows U+FFFD until the last byte arrives), and the word tokenizer's spacing
// depends on the neighbours. So the increment is the difference between decoding the last few
// tokens with and without the new one, with trailing U+FFFD held back until completed; when the
// new token rewrites what came before (rare), the whole sequence is decoded once to find out.
// Cost per token: two decodes of CONTEXT tokens, whatever the sample's length.

/** What the stream needs of a tokenizer (src/data/tokenizer.ts). */
export interface Decoder {
  decode(ids: ArrayLike<number>): string;
}

/** Tokens of context decoded beside the new one (enough for every tokenizer's joining rules). */
const CONTEXT = 16;
const REPLACEMENT = '\uFFFD';

/** `s` without the replacement characters at its end (an incomplete multi-byte character). */
function settled(s: string): string {
  let n = s.length;
  while (n > 0 && s[n - 1] === REPLACEMENT) n--;
  return s.slice(0, n);
}

export class TextStream {
  private readonly ids: number[] = [];
  // The settled text of every token so far is written + pending. Only the short tail of the written
  // text is kept as a string (a stop string may begin there); the rest is kept as its pieces. One
  // growing string sliced at every token would be flattened by V8 at every slice: a sample of n
  // tokens then costs O(n²) (320k tokens took minutes).
  private readonly writtenPieces: string[] = [];
  /** The last (longest stop − 1) characters written. */
  private writtenTail = '';
  /** Settled text not written yet: held back as the possible start of a stop string. */
  private pending = '';
  private stopped = false;

  /**
   * `write` receives each piece of text as soon as it is certain; `stops` end the stream where
   * one first appears (neither it nor anything after it is written). Empty stop strings are ignored.
   */
  /**
   * `prefix`: tokens already shown (a prompt), decoded beside the first new ones so their joining is
   * right; their own text is not written.
   */
  constructor(private readonly decoder: Decoder, private readonly write: (text: string) => void, stops: readonly string[] = [],
    prefix: readonly number[] = []) {
    this.stops = stops.filter((s) => s !== '');
    this.ids.push(...prefix.slice(-CONTEXT));
    this.base = this.ids.length;
  }

  /** Prefix tokens at the start of `ids` (context only: their text is not part of the stream). */
  private readonly base: number;

  private readonly stops: string[];

  /** true once a stop string has appeared: push() then ignores further tokens. */
  get done(): boolean {
    return this.stopped;
  }

  /** The text written so far. */
  get output(): string {
    return this.writtenPieces.join('');
  }

  /** Adds a generated token; writes what is certain. Returns true when a stop string has appeared. */
  push(id: number): boolean {
    if (this.stopped) return true;
    this.ids.push(id);
    const win = this.ids.slice(-(CONTEXT + 1));
    const before = settled(this.decoder.decode(win.slice(0, -1))), after = settled(this.decoder.decode(win));
    if (after.startsWith(before)) {
      this.pending += after.slice(before.length);
    } else {
      // The new token changed how the earlier tokens read: decode everything once.
      this.replaceText(settled(this.fullText()));
    }
    return this.flush(false);
  }

  /** The sample is over: writes what was held back (a possible stop-string start that never completed). */
  end(): void {
    if (this.stopped) return;
    this.replaceText(this.fullText());
    this.flush(true);
  }

  /** Takes `full` as the whole text when it keeps what was written (written text is never taken back). */
  private replaceText(full: string): void {
    const written = this.output;
    if (full.startsWith(written)) this.pending = full.slice(written.length);
  }

  /** The text of the generated tokens alone, decoded after the prefix. */
  private fullText(): string {
    if (this.base === 0) return this.decoder.decode(this.ids);
    const prefix = this.decoder.decode(this.ids.slice(0, this.base)), all = this.decoder.decode(this.ids);
    return all.startsWith(prefix) ? all.slice(prefix.length) : this.decoder.decode(this.ids.slice(this.base));
  }

  /** Writes pending text, up to a stop string, holding back a possible stop-string start unless final. */
  private flush(final: boolean): boolean {
    // A stop string may begin in text already written only if it was held back, so searching the
    // written tail (longest − 1 characters) and the pending text finds every new occurrence.
    const longest = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
    const tail = this.writtenTail, text = tail + this.pending;
    let cut = -1;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.emit(cut - tail.length, longest);
      this.stopped = true;
      return true;
    }
    let end = this.pending.length;
    if (!final) {
      // Hold back the longest tail that is the beginning of some stop string.
      for (let k = Math.min(longest - 1, end); k > 0; k--) {
        const held = this.pending.slice(end - k);
        if (this.stops.some((s) => s.startsWith(held))) { end -= k; break; }
      }
    }
    this.emit(end, longest);
    return false;
  }

  /** Writes the first n characters of the pending text. */
  private emit(n: number, longest: number): void {
    if (n <= 0) return;
    const piece = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    this.writtenPieces.push(piece);
    this.writtenTail = longest > 1 ? (this.writtenTail + piece).slice(-(longest - 1)) : '';
    this.write(piece);
  }
}
