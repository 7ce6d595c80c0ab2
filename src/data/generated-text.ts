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
  /** The settled text of every token so far (written, held back, or past a stop). */
  private text = '';
  /** How much of `text` has been written. */
  private written = 0;
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
    return this.text.slice(0, this.written);
  }

  /** Adds a generated token; writes what is certain. Returns true when a stop string has appeared. */
  push(id: number): boolean {
    if (this.stopped) return true;
    this.ids.push(id);
    const win = this.ids.slice(-(CONTEXT + 1));
    const before = settled(this.decoder.decode(win.slice(0, -1))), after = settled(this.decoder.decode(win));
    if (after.startsWith(before)) {
      this.text += after.slice(before.length);
    } else {
      // The new token changed how the earlier tokens read: decode everything once.
      const full = settled(this.fullText());
      if (full.startsWith(this.text.slice(0, this.written))) this.text = full;
    }
    return this.flush(false);
  }

  /** The sample is over: writes what was held back (a possible stop-string start that never completed). */
  end(): void {
    if (this.stopped) return;
    const full = this.fullText();
    if (full.startsWith(this.text.slice(0, this.written))) this.text = full;
    this.flush(true);
  }

  /** The text of the generated tokens alone, decoded after the prefix. */
  private fullText(): string {
    if (this.base === 0) return this.decoder.decode(this.ids);
    const prefix = this.decoder.decode(this.ids.slice(0, this.base)), all = this.decoder.decode(this.ids);
    return all.startsWith(prefix) ? all.slice(prefix.length) : this.decoder.decode(this.ids.slice(this.base));
  }

  /** Writes `text` past `written`, up to a stop string, holding back a possible stop-string start unless final. */
  private flush(final: boolean): boolean {
    // A stop string may begin in text already written only if it was held back, so searching from
    // (written − longest stop) onwards finds every new occurrence.
    const longest = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
    const from = Math.max(0, this.written - longest + 1);
    let cut = -1;
    for (const s of this.stops) {
      const at = this.text.indexOf(s, from);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.emit(cut);
      this.stopped = true;
      return true;
    }
    let end = this.text.length;
    if (!final) {
      // Hold back the longest tail that is the beginning of some stop string.
      for (let k = Math.min(longest - 1, end - this.written); k > 0; k--) {
        const tail = this.text.slice(end - k);
        if (this.stops.some((s) => s.startsWith(tail))) { end -= k; break; }
      }
    }
    this.emit(end);
    return false;
  }

  private emit(upTo: number): void {
    if (upTo > this.written) {
      this.write(this.text.slice(this.written, upTo));
      this.written = upTo;
    }
  }
}
