// Where the batchers read token windows from, so that memory does not grow with the corpus: a
// TokenSource has a length and copies any stretch of its tokens into a buffer the caller owns.
// ArrayTokenSource holds the ids in memory (small corpora, tests); FileTokenSource reads them
// from a token file (src/data/token-file.ts) with positional reads into one scratch buffer, a
// few per batch (a window is a single read). Slices share their parent's storage, so the
// train/validation split is two offsets, not two copies.
import { endianness } from 'node:os';
import { readSync } from 'node:fs';

export interface TokenSource {
  /** Number of tokens. */
  readonly length: number;
  /** Copies tokens [offset, offset + count) into `into` from index `at` (default 0); a RangeError outside 0…length. */
  read(offset: number, count: number, into: Int32Array, at?: number): void;
  /** Tokens [start, end) as a source of their own, sharing this one's storage (end defaults to length). */
  slice(start: number, end?: number): TokenSource;
}

function checkRange(who: string, length: number, offset: number, count: number): void {
  if (!(Number.isInteger(offset) && Number.isInteger(count) && offset >= 0 && count >= 0 && offset + count <= length)) {
    throw new RangeError(`${who}: tokens [${offset}, ${offset + count}) are outside 0…${length}`);
  }
}

function sliceBounds(length: number, start: number, end: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= length)) {
    throw new RangeError(`token source: slice [${start}, ${end}) is outside 0…${length}`);
  }
}

/** Token ids held in memory. */
export class ArrayTokenSource implements TokenSource {
  constructor(readonly data: Int32Array | Uint16Array | Uint32Array) {}

  get length(): number { return this.data.length; }

  read(offset: number, count: number, into: Int32Array, at = 0): void {
    checkRange('token source', this.data.length, offset, count);
    const d = this.data;
    if (d instanceof Int32Array) { into.set(d.subarray(offset, offset + count), at); return; }
    for (let i = 0; i < count; i++) into[at + i] = d[offset + i];
  }

  slice(start: number, end = this.length): TokenSource {
    sliceBounds(this.length, start, end);
    return new ArrayTokenSource(this.data.subarray(start, end));
  }
}

/** An open token file's body, as FileTokenSource reads it. */
export interface TokenFileBody {
  /** The file (in messages). */
  readonly path: string;
  readonly fd: number;
  /** Byte offset of token 0. */
  readonly dataOffset: number;
  readonly bytesPerToken: 2 | 4;
  /** Tokens in the body. */
  readonly count: number;
}

const littleEndian = endianness() === 'LE';

/** Tokens read from a token file by offset; one scratch buffer per file, reused for every read. */
export class FileTokenSource implements TokenSource {
  private readonly shared: { scratch: Buffer };

  constructor(private readonly body: TokenFileBody, private readonly start = 0, private readonly end = body.count, shared?: { scratch: Buffer }) {
    sliceBounds(body.count, start, end);
    this.shared = shared ?? { scratch: Buffer.allocUnsafeSlow(4096) };
  }

  get length(): number { return this.end - this.start; }

  read(offset: number, count: number, into: Int32Array, at = 0): void {
    checkRange(this.body.path, this.length, offset, count);
    const { fd, dataOffset, bytesPerToken: bpt } = this.body;
    const bytes = count * bpt;
    if (this.shared.scratch.length < bytes) this.shared.scratch = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.shared.scratch.length));
    const buf = this.shared.scratch;
    const position = dataOffset + (this.start + offset) * bpt;
    for (let done = 0; done < bytes;) {
      const n = readSync(fd, buf, done, bytes - done, position + done);
      if (n === 0) throw new Error(`${this.body.path}: the token file ends before token ${this.start + offset + count} (was it cut while in use?)`);
      done += n;
    }
    if (littleEndian) {
      const v = bpt === 2 ? new Uint16Array(buf.buffer, buf.byteOffset, count) : new Uint32Array(buf.buffer, buf.byteOffset, count);
      for (let i = 0; i < count; i++) into[at + i] = v[i];
    } else {
      for (let i = 0; i < count; i++) into[at + i] = bpt === 2 ? buf.readUInt16LE(2 * i) : buf.readUInt32LE(4 * i);
    }
  }

  slice(start: number, end = this.length): TokenSource {
    sliceBounds(this.length, start, end);
    return new FileTokenSource(this.body, this.start + start, this.start + end, this.shared);
  }
}

/**
 * The deterministic train/validation split of a source: the last ⌊length · valFraction⌋ tokens
 * are held out (a contiguous tail, as splitTokens in corpus.ts does for arrays).
 */
export function splitTail(source: TokenSource, valFraction: number): { train: TokenSource; val: TokenSource } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${valFraction}`);
  const cut = source.length - Math.floor(source.length * valFraction);
  return { train: source.slice(0, cut), val: source.slice(cut) };
}
