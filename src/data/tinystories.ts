// TinyStories in its released format (each story, then a line `<|endoftext|>`): split into
// stories, encoded story by story with the end-of-text token after each, and windows sampled
// from the result. The binary token file these streams are kept in is src/data/token-file.ts
// (re-exported here); training reads any corpus in chunks through src/train/training-data.ts.
import { CorpusError, readTextFile } from './corpus.js';
import { END_OF_TEXT, type BpeTokenizer } from './bpe-tokenizer.js';
import { writeTokenFile } from './token-file.js';
import type { Rng } from '../util/rng.js';

export {
  TOKEN_FILE_HEADER_BYTES, TOKEN_FILE_MAGIC, TOKEN_FILE_VERSION, TokenFileError, readTokenFile, readTokenFileHeader, writeTokenFile,
  type TokenFileHeader,
} from './token-file.js';

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
