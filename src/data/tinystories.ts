// TinyStories in its released format (each story, then a line `<|endoftext|>`), turned into a
// binary token file once, then read back cheaply for training.
//
// Token file (little-endian), a 64-byte header then the tokens:
//   0  8 bytes  magic "HGTOKENS"
//   8  u32      version (1)
//   12 u32      vocabulary size
//   16 u32      bytes per token: 2 (uint16, vocabulary ≤ 65536) or 4 (uint32)
//   20 u32      reserved (0)
//   24 u64      token count
//   32 32 bytes SHA-256 of the tokenizer (BpeTokenizer.hash), raw
//   64 …        the tokens
// It is written to a temporary file beside the target and renamed over it, so a reader never sees
// half a file. Reading is a plain readFileSync (Node has no mmap; the files are a few MB): the
// header is checked against the tokenizer, and every problem is one line naming the file.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { CorpusError, readTextFile } from './corpus.js';
import { END_OF_TEXT, type BpeTokenizer } from './bpe-tokenizer.js';
import type { Rng } from '../util/rng.js';

export const TOKEN_FILE_MAGIC = 'HGTOKENS';
export const TOKEN_FILE_VERSION = 1;
export const TOKEN_FILE_HEADER_BYTES = 64;

/** A token file that cannot be used: wrong magic or version, truncated, or for another tokenizer. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/** The stories of a text in the released format: split on `<|endoftext|>`, trimmed, empty ones dropped. */
export function splitStories(text: string, source: string): string[] {
  if (!text.includes(END_OF_TEXT)) {
    throw new CorpusError(`${source}: no ${END_OF_TEXT} separator, expected TinyStories in the released format (each story followed by a line ${END_OF_TEXT})`);
  }
  const stories = text.split(END_OF_TEXT).map((s) => s.trim()).filter((s) => s !== '');
  if (stories.length === 0) throw new CorpusError(`${source}: only ${END_OF_TEXT} separators, no story text`);
  return stories;
}

/** Reads a TinyStories file (strict UTF-8, see corpus.ts) and splits it into stories. */
export function readStories(path: string): string[] {
  return splitStories(readTextFile(path), path);
}

/** Every story encoded and followed by the end-of-text token, as one stream. */
export function encodeStories(stories: readonly string[], tok: BpeTokenizer): Uint16Array | Uint32Array {
  const parts: Int32Array[] = [];
  let n = 0;
  for (const s of stories) {
    const ids = tok.encode(s);
    parts.push(ids);
    n += ids.length + 1;
  }
  const out = tok.vocabSize <= 65536 ? new Uint16Array(n) : new Uint32Array(n);
  let p = 0;
  for (const ids of parts) { out.set(ids, p); p += ids.length; out[p++] = tok.eotId; }
  return out;
}

export interface TokenFileHeader {
  version: number;
  vocabSize: number;
  bytesPerToken: 2 | 4;
  count: number;
  /** Hex SHA-256 of the tokenizer. */
  hash: string;
}

/** Writes `tokens` with its header to `path`, atomically (temporary file + rename). */
export function writeTokenFile(path: string, tokens: ArrayLike<number>, tok: { vocabSize: number; hash: string }): void {
  if (!/^[0-9a-f]{64}$/.test(tok.hash)) throw new RangeError(`token file: tokenizer hash must be 64 hex digits, got ${JSON.stringify(tok.hash)}`);
  const bpt = tok.vocabSize <= 65536 ? 2 : 4;
  const buf = Buffer.alloc(TOKEN_FILE_HEADER_BYTES + tokens.length * bpt);
  buf.write(TOKEN_FILE_MAGIC, 0, 'latin1');
  buf.writeUInt32LE(TOKEN_FILE_VERSION, 8);
  buf.writeUInt32LE(tok.vocabSize, 12);
  buf.writeUInt32LE(bpt, 16);
  buf.writeBigUInt64LE(BigInt(tokens.length), 24);
  Buffer.from(tok.hash, 'hex').copy(buf, 32);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t >= tok.vocabSize) throw new RangeError(`token file: token ${i} is ${t}, outside 0..${tok.vocabSize - 1}`);
    if (bpt === 2) buf.writeUInt16LE(t, TOKEN_FILE_HEADER_BYTES + 2 * i);
    else buf.writeUInt32LE(t, TOKEN_FILE_HEADER_BYTES + 4 * i);
  }
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, buf);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Parses and checks the header of a token file's bytes (not the tokenizer). */
export function readTokenFileHeader(bytes: Uint8Array, path: string): TokenFileHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.toString('latin1', 0, 8) !== TOKEN_FILE_MAGIC) {
    throw new TokenFileError(`${path}: not a handgrad token file (magic ${JSON.stringify(buf.toString('latin1', 0, 8))}, expected "${TOKEN_FILE_MAGIC}")`);
  }
  if (buf.length < TOKEN_FILE_HEADER_BYTES) {
    throw new TokenFileError(`${path}: truncated: ${buf.length} bytes, shorter than the ${TOKEN_FILE_HEADER_BYTES}-byte header`);
  }
  const version = buf.readUInt32LE(8);
  if (version !== TOKEN_FILE_VERSION) throw new TokenFileError(`${path}: token file version ${version}, this build reads version ${TOKEN_FILE_VERSION}`);
  const vocabSize = buf.readUInt32LE(12);
  const bpt = buf.readUInt32LE(16);
  if (bpt !== 2 && bpt !== 4) throw new TokenFileError(`${path}: ${bpt} bytes per token in the header, expected 2 or 4`);
  const count = Number(buf.readBigUInt64LE(24));
  const expected = TOKEN_FILE_HEADER_BYTES + count * bpt;
  if (buf.length < expected) {
    throw new TokenFileError(`${path}: truncated: ${buf.length} bytes, the header promises ${count} tokens = ${expected} bytes`);
  }
  if (buf.length > expected) throw new TokenFileError(`${path}: ${buf.length - expected} bytes after the ${count} tokens the header promises`);
  return { version, vocabSize, bytesPerToken: bpt, count, hash: buf.toString('hex', 32, 64) };
}

/** Reads a token file and checks it was written with `tok`; the tokens as Int32Array (the batchers' type). */
export function readTokenFile(path: string, tok: { vocabSize: number; hash: string }): Int32Array {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new TokenFileError(`${path}: is a directory, expected a token file`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof TokenFileError) throw e;
    const code = (e as { code?: string }).code;
    throw new TokenFileError(`${path}: cannot read the token file (${code ?? (e as Error).message})`);
  }
  const h = readTokenFileHeader(bytes, path);
  if (h.hash !== tok.hash) {
    throw new TokenFileError(`${path}: written with tokenizer ${h.hash.slice(0, 12)}…, this tokenizer is ${tok.hash.slice(0, 12)}…: re-tokenize the corpus`);
  }
  if (h.vocabSize !== tok.vocabSize) throw new TokenFileError(`${path}: vocabulary size ${h.vocabSize} in the header, the tokenizer has ${tok.vocabSize}`);
  const out = new Int32Array(h.count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + TOKEN_FILE_HEADER_BYTES, h.count * h.bytesPerToken);
  for (let i = 0; i < h.count; i++) {
    const t = h.bytesPerToken === 2 ? dv.getUint16(2 * i, true) : dv.getUint32(4 * i, true);
    if (t >= h.vocabSize) throw new TokenFileError(`${path}: token ${i} is ${t}, outside the vocabulary of ${h.vocabSize}`);
    out[i] = t;
  }
  return out;
}

/** Reads a TinyStories text file, encodes it, and writes the token file: returns the tokens. */
export function tokenizeStoriesFile(textPath: string, outPath: string, tok: BpeTokenizer): Uint16Array | Uint32Array {
  const tokens = encodeStories(readStories(textPath), tok);
  writeTokenFile(outPath, tokens, tok);
  return tokens;
}

export interface Windows {
  /** batch × time, row-major: inputs[b·time + t] = tokens[start_b + t]. */
  inputs: Int32Array;
  /** The next token of each input: targets[b·time + t] = tokens[start_b + t + 1]. */
  targets: Int32Array;
  /** Where each row starts. */
  starts: number[];
}

/** `batch` windows of `time` tokens, each at a uniformly random start drawn from `rng`. */
export function sampleWindows(tokens: ArrayLike<number>, batch: number, time: number, rng: Rng): Windows {
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(time) || time < 1) {
    throw new RangeError(`sampleWindows: batch and time must be integers ≥ 1, got ${batch} and ${time}`);
  }
  if (tokens.length < time + 1) throw new RangeError(`sampleWindows: ${tokens.length} tokens are fewer than one window + 1 = ${time + 1}`);
  const inputs = new Int32Array(batch * time), targets = new Int32Array(batch * time);
  const starts: number[] = [];
  for (let b = 0; b < batch; b++) {
    const s = rng.int(0, tokens.length - time); // s + time ≤ length − 1: the last target exists
    starts.push(s);
    for (let t = 0; t < time; t++) { inputs[b * time + t] = tokens[s + t]; targets[b * time + t] = tokens[s + t + 1]; }
  }
  return { inputs, targets, starts };
}
