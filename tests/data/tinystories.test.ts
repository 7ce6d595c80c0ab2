import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpeTokenizer, END_OF_TEXT } from '../../src/data/bpe-tokenizer.js';
import { CorpusError } from '../../src/data/corpus.js';
import {
  TOKEN_FILE_HEADER_BYTES, TokenFileError, encodeStories, readStories, readTokenFile, readTokenFileHeader,
  sampleWindows, splitStories, tokenizeStoriesFile, writeTokenFile,
} from '../../src/data/tinystories.js';
import { Rng } from '../../src/util/rng.js';

const DATA = process.env.HANDGRAD_DATA;
const tinyPath = DATA ? join(DATA, 'tinystories_tiny.txt') : '';
const SAMPLE = `\nOnce upon a time, there was a cat.\nThe cat was happy.\n${END_OF_TEXT}\nTom had a red ball. “Wow!” he said. 🐶\n${END_OF_TEXT}\nThe end of a short story.\n${END_OF_TEXT}\n`;
const dir = mkdtempSync(join(tmpdir(), 'handgrad-tinystories-'));
const storiesPath = join(dir, 'stories.txt');
writeFileSync(storiesPath, tinyPath && existsSync(tinyPath) ? readFileSync(tinyPath) : SAMPLE.repeat(5));
const text = readFileSync(storiesPath, 'utf8');
const tok = BpeTokenizer.train(text, { vocabSize: 300 });

describe('TinyStories loading', () => {
  it('splits stories on <|endoftext|> and encodes each followed by the end-of-text token', () => {
    const stories = splitStories(SAMPLE, 'sample');
    expect(stories).toEqual(['Once upon a time, there was a cat.\nThe cat was happy.', 'Tom had a red ball. “Wow!” he said. 🐶', 'The end of a short story.']);
    const tokens = encodeStories(stories, tok);
    expect(tokens).toBeInstanceOf(Uint16Array);
    expect(tokens.filter((t) => t === tok.eotId).length).toBe(3);
    expect(tokens[tokens.length - 1]).toBe(tok.eotId);
    expect(tok.decode(tokens)).toBe(stories.map((s) => s + END_OF_TEXT).join(''));
  });

  it('writes and reads back a token file (header round trip, atomically)', () => {
    const out = join(dir, 'train.tok');
    const tokens = tokenizeStoriesFile(storiesPath, out, tok);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(TOKEN_FILE_HEADER_BYTES + 2 * tokens.length);
    const h = readTokenFileHeader(bytes, out);
    expect(h).toEqual({
      version: 2, vocabSize: 300, bytesPerToken: 2, count: tokens.length, hash: tok.hash,
      bodySha256: createHash('sha256').update(bytes.subarray(TOKEN_FILE_HEADER_BYTES)).digest('hex'),
    });
    const back = readTokenFile(out, tok);
    expect(back).toBeInstanceOf(Int32Array);
    expect(Array.from(back)).toEqual(Array.from(tokens));
    expect(tok.decode(back)).toBe(readStories(storiesPath).map((s) => s + END_OF_TEXT).join(''));
  });

  it('uses uint32 tokens above a vocabulary of 65536', () => {
    const out = join(dir, 'big.tok');
    const fake = { vocabSize: 70_000, hash: 'ab'.repeat(32) };
    writeTokenFile(out, [0, 69_999, 65_536, 5], fake);
    expect(readTokenFileHeader(readFileSync(out), out).bytesPerToken).toBe(4);
    expect(Array.from(readTokenFile(out, fake))).toEqual([0, 69_999, 65_536, 5]);
    expect(() => writeTokenFile(out, [70_000], fake)).toThrow(/outside/);
  });

  it('rejects corrupted, truncated and foreign token files with one line naming the file', () => {
    const good = join(dir, 'good.tok');
    writeTokenFile(good, [1, 2, 3, tok.eotId], tok);
    const bytes = readFileSync(good);
    const variant = (name: string, b: Uint8Array): string => { const p = join(dir, name); writeFileSync(p, b); return p; };
    const expectError = (p: string, re: RegExp): void => {
      let err: unknown;
      try { readTokenFile(p, tok); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(TokenFileError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
      expect((err as Error).message).not.toContain('\n');
    };
    const magic = Buffer.from(bytes); magic.write('NOTTOKEN', 0, 'latin1');
    expectError(variant('magic.tok', magic), /not a handgrad token file/);
    expectError(variant('short.tok', bytes.subarray(0, 40)), /truncated.*header/);
    expectError(variant('cut.tok', bytes.subarray(0, bytes.length - 1)), /truncated.*promises 4 tokens/);
    expectError(variant('extra.tok', Buffer.concat([bytes, Buffer.from([0, 0])])), /bytes after the 4 tokens/);
    const version = Buffer.from(bytes); version.writeUInt32LE(9, 8);
    expectError(variant('version.tok', version), /version 9/);
    const other = BpeTokenizer.train(text, { vocabSize: 290 });
    let err: unknown;
    try { readTokenFile(good, other); } catch (e) { err = e; }
    expect((err as Error).message).toMatch(/tokenizer .*re-tokenize/);
    const badToken = Buffer.from(bytes); badToken.writeUInt16LE(60_000, TOKEN_FILE_HEADER_BYTES);
    expectError(variant('token.tok', badToken), /token 0 is 60000/);
    // A body altered within the vocabulary (token 1 → 2): only the checksum can tell.
    const altered = Buffer.from(bytes); altered.writeUInt16LE(2, TOKEN_FILE_HEADER_BYTES);
    expectError(variant('altered.tok', altered), /does not match the checksum in its header/);
    const v1 = Buffer.from(bytes); v1.writeUInt32LE(1, 8);
    expectError(variant('v1.tok', v1), /token file version 1, this build reads version 2/);
    expectError(join(dir, 'missing.tok'), /ENOENT/);
  });

  it('rejects malformed story files with one line naming the file', () => {
    const cases: [string, Uint8Array | string, RegExp][] = [
      ['empty.txt', '', /empty/],
      ['noseps.txt', 'Once upon a time there was a story with no separator.\n', /no <\|endoftext\|> separator/],
      ['onlyseps.txt', `${END_OF_TEXT}\n\n${END_OF_TEXT}\n`, /no story text/],
      ['binary.bin', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), /invalid UTF-8|NUL byte/],
      ['latin1.txt', Uint8Array.from([...Buffer.from('caf'), 0xe9, ...Buffer.from(` ${END_OF_TEXT}\n`)]), /invalid UTF-8 at byte offset 3/],
    ];
    for (const [name, content, re] of cases) {
      const p = join(dir, name);
      writeFileSync(p, content);
      let err: unknown;
      try { readStories(p); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(CorpusError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('samples training windows deterministically from a seeded Rng', () => {
    const tokens = encodeStories(readStories(storiesPath), tok);
    const a = sampleWindows(tokens, 4, 16, new Rng(3));
    const b = sampleWindows(tokens, 4, 16, new Rng(3));
    const c = sampleWindows(tokens, 4, 16, new Rng(4));
    expect(Array.from(a.inputs)).toEqual(Array.from(b.inputs));
    expect(a.starts).toEqual(b.starts);
    expect(a.starts).not.toEqual(c.starts);
    for (let r = 0; r < 4; r++) {
      const s = a.starts[r];
      expect(s + 16).toBeLessThan(tokens.length);
      for (let t = 0; t < 16; t++) {
        expect(a.inputs[r * 16 + t]).toBe(tokens[s + t]);
        expect(a.targets[r * 16 + t]).toBe(tokens[s + t + 1]);
      }
    }
    // Every start is reachable, including the last one (tokens.length − time − 1).
    const small = Uint16Array.from([1, 2, 3, 4]);
    const seen = new Set<number>();
    const rng = new Rng(1);
    for (let k = 0; k < 200; k++) seen.add(sampleWindows(small, 1, 2, rng).starts[0]);
    expect([...seen].sort()).toEqual([0, 1]);
    expect(() => sampleWindows(small, 1, 4, rng)).toThrow(/fewer than one window/);
  });
});
