// The token file: a corpus encoded once, read back by offset (src/data/token-source.ts) by every
// run with the same tokenizer and text.
//
// Layout (little-endian), a 128-byte header then the tokens:
//   0   8 bytes  magic "HGTOKENS"
//   8   u32      version (2; version 1 had a 64-byte header and no body checksum)
//   12  u32      vocabulary size
//   16  u32      bytes per token: 2 (uint16, vocabulary ≤ 65536) or 4 (uint32)
//   20  u32      reserved (0)
//   24  u64      token count
//   32  32 bytes SHA-256 of the tokenizer (tokenizerHash in tokenizer.ts), raw
//   64  32 bytes SHA-256 of the token body (the bytes from 128 on), raw
//   96  32 bytes reserved (0)
//   128 …        the tokens
// Written in chunks (TokenFileWriter: the body first, the header with the count and the body's
// checksum last) into a temporary file beside the target, renamed over it at the end, so a reader
// never sees half a file. Opening one (openTokenFile) checks the header against the tokenizer,
// and reads the body once, streamed, for its checksum and the range of every token: a cache file
// whose body was altered is refused (and rebuilt by the caller), not trusted. Every problem is a
// TokenFileError of one line naming the file.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { ArrayTokenSource, FileTokenSource, type TokenSource } from './token-source.js';
import { removeQuietly } from '../util/remove-quietly.js';

export const TOKEN_FILE_MAGIC = 'HGTOKENS';
export const TOKEN_FILE_VERSION = 2;
export const TOKEN_FILE_HEADER_BYTES = 128;
/** Token bodies up to this size are kept in memory once checked; larger ones are read by offset. */
export const IN_MEMORY_TOKEN_BYTES = 64 << 20;

/** A token file that cannot be used: wrong magic or version, truncated, altered, or for another tokenizer. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/** What a token file is written for: the tokenizer's vocabulary size and hash (hex SHA-256). */
export interface TokenFileTokenizer {
  vocabSize: number;
  hash: string;
}

export interface TokenFileHeader {
  version: number;
  vocabSize: number;
  bytesPerToken: 2 | 4;
  count: number;
  /** Hex SHA-256 of the tokenizer. */
  hash: string;
  /** Hex SHA-256 of the token body. */
  bodySha256: string;
}

const littleEndian = endianness() === 'LE';
const bytesPerTokenFor = (vocabSize: number): 2 | 4 => (vocabSize <= 65536 ? 2 : 4);

/** The bytes of `tokens` as stored (little-endian), without a copy on a little-endian machine. */
function storedBytes(tokens: Uint16Array | Uint32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
  const b = Buffer.allocUnsafe(tokens.byteLength);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens.BYTES_PER_ELEMENT === 2) b.writeUInt16LE(tokens[i], 2 * i); else b.writeUInt32LE(tokens[i], 4 * i);
  }
  return b;
}

function headerBytes(tok: TokenFileTokenizer, bpt: 2 | 4, count: number, bodySha256: Buffer): Buffer {
  const h = Buffer.alloc(TOKEN_FILE_HEADER_BYTES);
  h.write(TOKEN_FILE_MAGIC, 0, 'latin1');
  h.writeUInt32LE(TOKEN_FILE_VERSION, 8);
  h.writeUInt32LE(tok.vocabSize, 12);
  h.writeUInt32LE(bpt, 16);
  h.writeBigUInt64LE(BigInt(count), 24);
  Buffer.from(tok.hash, 'hex').copy(h, 32);
  bodySha256.copy(h, 64);
  return h;
}

/**
 * Writes a token file in chunks: write() the tokens in order (uint16 when the vocabulary fits,
 * else uint32: see bytesPerToken), then finish() (header, rename) or abort() (nothing left behind).
 */
export class TokenFileWriter {
  readonly bytesPerToken: 2 | 4;
  private readonly tmp: string;
  private fd: number | null;
  private readonly hash: Hash = createHash('sha256');
  private position = TOKEN_FILE_HEADER_BYTES;
  private tokens = 0;

  constructor(readonly path: string, private readonly tok: TokenFileTokenizer) {
    this.bytesPerToken = bytesPerTokenFor(tok.vocabSize);
    this.tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.fd = openSync(this.tmp, 'wx');
  }

  /** Tokens written so far. */
  get count(): number { return this.tokens; }

  /** Appends tokens (a Uint16Array for 2 bytes per token, a Uint32Array for 4). */
  write(tokens: Uint16Array | Uint32Array): void {
    if (this.fd === null) throw new Error(`${this.path}: token file already finished`);
    if (tokens.BYTES_PER_ELEMENT !== this.bytesPerToken) {
      throw new RangeError(`token file: ${tokens.BYTES_PER_ELEMENT}-byte tokens given, the file stores ${this.bytesPerToken}`);
    }
    const bytes = storedBytes(tokens);
    this.hash.update(bytes);
    for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done, this.position + done);
    this.position += bytes.length;
    this.tokens += tokens.length;
  }

  /** Writes the header and renames the file into place; returns the header. */
  finish(): TokenFileHeader {
    if (this.fd === null) throw new Error(`${this.path}: token file already finished`);
    const body = this.hash.digest();
    try {
      writeSync(this.fd, headerBytes(this.tok, this.bytesPerToken, this.tokens, body), 0, TOKEN_FILE_HEADER_BYTES, 0);
      closeSync(this.fd);
      this.fd = null;
      renameSync(this.tmp, this.path);
    } catch (e) {
      this.abort();
      throw e;
    }
    return { version: TOKEN_FILE_VERSION, vocabSize: this.tok.vocabSize, bytesPerToken: this.bytesPerToken, count: this.tokens, hash: this.tok.hash, bodySha256: body.toString('hex') };
  }

  /**
   * Closes and removes the temporary file, as far as the disk lets it: abort() runs on error paths,
   * and never throws in place of the error that stopped the write (see util/remove-quietly.ts).
   */
  abort(): void {
    if (this.fd !== null) { try { closeSync(this.fd); } catch { /* already closed */ } this.fd = null; }
    removeQuietly(this.tmp);
  }
}

/** Writes `tokens` with its header to `path` at once (atomically); a RangeError for a token outside the vocabulary. */
export function writeTokenFile(path: string, tokens: ArrayLike<number>, tok: TokenFileTokenizer): TokenFileHeader {
  const bpt = bytesPerTokenFor(tok.vocabSize);
  const out = bpt === 2 ? new Uint16Array(tokens.length) : new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= tok.vocabSize) throw new RangeError(`token file: token ${i} is ${t}, outside 0..${tok.vocabSize - 1}`);
    out[i] = t;
  }
  const w = new TokenFileWriter(path, tok);
  try {
    w.write(out);
  } catch (e) {
    w.abort();
    throw e;
  }
  return w.finish();
}

/**
 * Parses and checks a token file's header: `header` holds the file's first bytes (at least the
 * header, when the file is that long), `fileBytes` its size. Not the tokenizer, not the body.
 */
export function parseTokenFileHeader(header: Uint8Array, fileBytes: number, path: string): TokenFileHeader {
  const buf = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (buf.length >= 8 && buf.toString('latin1', 0, 8) !== TOKEN_FILE_MAGIC) {
    throw new TokenFileError(`${path}: not a handgrad token file (magic ${JSON.stringify(buf.toString('latin1', 0, 8))}, expected "${TOKEN_FILE_MAGIC}")`);
  }
  if (buf.length >= 12 && buf.readUInt32LE(8) !== TOKEN_FILE_VERSION) {
    throw new TokenFileError(`${path}: token file version ${buf.readUInt32LE(8)}, this build reads version ${TOKEN_FILE_VERSION}`);
  }
  if (buf.length < TOKEN_FILE_HEADER_BYTES) {
    throw new TokenFileError(`${path}: truncated: ${fileBytes} bytes, shorter than the ${TOKEN_FILE_HEADER_BYTES}-byte header`);
  }
  const vocabSize = buf.readUInt32LE(12);
  const bpt = buf.readUInt32LE(16);
  if (bpt !== 2 && bpt !== 4) throw new TokenFileError(`${path}: ${bpt} bytes per token in the header, expected 2 or 4`);
  const count = Number(buf.readBigUInt64LE(24));
  const expected = TOKEN_FILE_HEADER_BYTES + count * bpt;
  if (fileBytes < expected) {
    throw new TokenFileError(`${path}: truncated: ${fileBytes} bytes, the header promises ${count} tokens = ${expected} bytes`);
  }
  if (fileBytes > expected) throw new TokenFileError(`${path}: ${fileBytes - expected} bytes after the ${count} tokens the header promises`);
  return { version: TOKEN_FILE_VERSION, vocabSize, bytesPerToken: bpt, count, hash: buf.toString('hex', 32, 64), bodySha256: buf.toString('hex', 64, 96) };
}

/** Parses and checks the header of a whole token file's bytes (not the tokenizer, not the body). */
export function readTokenFileHeader(bytes: Uint8Array, path: string): TokenFileHeader {
  return parseTokenFileHeader(bytes.subarray(0, TOKEN_FILE_HEADER_BYTES), bytes.length, path);
}

/** An open, checked token file. */
export interface OpenTokenFile {
  header: TokenFileHeader;
  /** Every token of the file: in memory when small, read by offset otherwise. */
  source: TokenSource;
  /** Closes the file (when it is read by offset); the source must not be used after. */
  close(): void;
}

export interface OpenTokenFileOptions {
  /** Bodies up to this many bytes are kept in memory (default IN_MEMORY_TOKEN_BYTES). */
  inMemoryBytes?: number;
  /** Called with the bytes of the body checked so far (progress of a large file). */
  onBytes?: (done: number, total: number) => void;
  /** Read the body for its checksum and token range (default true; false only for a file this process just wrote). */
  checkBody?: boolean;
}

/**
 * Opens a token file written for `tok`: checks the header, the tokenizer and, reading the body
 * once, every token's range and the body's checksum. A TokenFileError otherwise.
 */
export function openTokenFile(path: string, tok: TokenFileTokenizer, opts: OpenTokenFileOptions = {}): OpenTokenFile {
  let fd: number;
  try {
    if (statSync(path).isDirectory()) throw new TokenFileError(`${path}: is a directory, expected a token file`);
    fd = openSync(path, 'r');
  } catch (e) {
    if (e instanceof TokenFileError) throw e;
    const code = (e as { code?: string }).code;
    throw new TokenFileError(`${path}: cannot read the token file (${code ?? (e as Error).message})`);
  }
  let keep = false;
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, TOKEN_FILE_HEADER_BYTES));
    readSync(fd, head, 0, head.length, 0);
    const h = parseTokenFileHeader(head, size, path);
    if (h.hash !== tok.hash) {
      throw new TokenFileError(`${path}: written with tokenizer ${h.hash.slice(0, 12)}…, this tokenizer is ${tok.hash.slice(0, 12)}…: re-tokenize the corpus`);
    }
    if (h.vocabSize !== tok.vocabSize) throw new TokenFileError(`${path}: vocabulary size ${h.vocabSize} in the header, the tokenizer has ${tok.vocabSize}`);
    const bodyBytes = h.count * h.bytesPerToken;
    const inMemory = bodyBytes <= (opts.inMemoryBytes ?? IN_MEMORY_TOKEN_BYTES);
    const checkBody = opts.checkBody ?? true;
    const kept = inMemory ? (h.bytesPerToken === 2 ? new Uint16Array(h.count) : new Uint32Array(h.count)) : null;
    const hash = createHash('sha256');
    const block = Buffer.allocUnsafeSlow(Math.min(Math.max(bodyBytes, 4), 8 << 20) & ~3);
    for (let done = 0; (checkBody || inMemory) && done < bodyBytes;) {
      const want = Math.min(block.length, bodyBytes - done);
      let got = 0;
      while (got < want) {
        const n = readSync(fd, block, got, want - got, TOKEN_FILE_HEADER_BYTES + done + got);
        if (n === 0) throw new TokenFileError(`${path}: truncated while being read`);
        got += n;
      }
      const bytes = block.subarray(0, want);
      if (checkBody) hash.update(bytes);
      const first = done / h.bytesPerToken, n = want / h.bytesPerToken;
      const view = littleEndian
        ? (h.bytesPerToken === 2 ? new Uint16Array(block.buffer, block.byteOffset, n) : new Uint32Array(block.buffer, block.byteOffset, n))
        : Uint32Array.from({ length: n }, (_, i) => (h.bytesPerToken === 2 ? bytes.readUInt16LE(2 * i) : bytes.readUInt32LE(4 * i)));
      let max = 0;
      if (checkBody) for (let i = 0; i < n; i++) if (view[i] > max) max = view[i];
      if (max >= h.vocabSize) {
        const i = view.findIndex((t) => t >= h.vocabSize);
        throw new TokenFileError(`${path}: token ${first + i} is ${view[i]}, outside the vocabulary of ${h.vocabSize}`);
      }
      kept?.set(view, first);
      done += want;
      opts.onBytes?.(done, bodyBytes);
    }
    if (checkBody && hash.digest('hex') !== h.bodySha256) {
      throw new TokenFileError(`${path}: the token body does not match the checksum in its header (the file was altered or damaged)`);
    }
    if (kept) return { header: h, source: new ArrayTokenSource(kept), close: () => {} };
    keep = true;
    let open = true;
    return {
      header: h,
      source: new FileTokenSource({ path, fd, dataOffset: TOKEN_FILE_HEADER_BYTES, bytesPerToken: h.bytesPerToken, count: h.count }),
      close: () => { if (open) { open = false; closeSync(fd); } },
    };
  } finally {
    if (!keep) closeSync(fd);
  }
}

/** Reads and checks a whole token file written with `tok`: the tokens as Int32Array (the batchers' type). */
export function readTokenFile(path: string, tok: TokenFileTokenizer): Int32Array {
  const f = openTokenFile(path, tok, { inMemoryBytes: Infinity });
  const out = new Int32Array(f.header.count);
  f.source.read(0, out.length, out);
  f.close();
  return out;
}
