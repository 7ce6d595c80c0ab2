// Text read in chunks (src/data/text-stream.ts): the same checks, fingerprint and text as reading a
// file whole, whatever the chunk size: chunk boundaries inside a multi-byte character, between a
// CR and its LF, inside a story separator; byte offsets of bad bytes in the file's terms.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CorpusError, readTextFile } from '../../src/data/corpus.js';
import { END_OF_TEXT } from '../../src/data/bpe-tokenizer.js';
import {
  cutPieces, decodePiece, FileDocument, isSafeCut, MemoryDocument, sampleDocuments, scanDocument,
} from '../../src/data/text-stream.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-text-stream-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, content: string | Uint8Array): string => { const p = join(tmp, name); writeFileSync(p, content); return p; };
/** A document streamed in chunks of `chunk` bytes (never read whole). */
const streamed = (path: string) => new FileDocument(path, { wholeFileBytes: 0 });
const text = (doc: FileDocument | MemoryDocument, chunk: number) => Buffer.concat([...doc.chunks(chunk)]).toString('utf8');

// Multi-byte characters of every length, CRLF line ends, a BOM, and stories.
const SAMPLE = '\ufeffOnce upon a time, a café in Zürich — 東京 🐶.\r\nThe end.\r\n' + END_OF_TEXT + '\r\nÉtoile: “Wow!” 😀😀\n' + END_OF_TEXT + '\n';
const EXPECTED = SAMPLE.slice(1).replace(/\r\n/g, '\n'); // as readTextFile gives it

describe('a file read in chunks', () => {
  it('gives the text read whole, for every chunk size (boundaries inside characters, CRLF pairs and separators)', () => {
    const p = file('sample.txt', SAMPLE);
    expect(readTextFile(p)).toBe(EXPECTED);
    const sha = createHash('sha256').update(EXPECTED).digest('hex');
    for (let chunk = 1; chunk <= 40; chunk++) {
      const doc = streamed(p);
      expect(text(doc, chunk), `chunk ${chunk}`).toBe(EXPECTED);
      // Every chunk ends at a character boundary: each decodes on its own.
      for (const c of doc.chunks(chunk)) expect(() => decodePiece(c)).not.toThrow();
      expect(scanDocument(doc, chunk), `chunk ${chunk}`).toEqual({ sha256: sha, bytes: Buffer.byteLength(EXPECTED), stories: true });
    }
    expect(scanDocument(new MemoryDocument(EXPECTED, 'mem')).sha256).toBe(sha);
    expect(scanDocument(new MemoryDocument('no separator here', 'mem')).stories).toBe(false);
  });

  it('names the file and the byte offset of a bad byte, as reading it whole does, in any chunk', () => {
    const prefix = Buffer.from('abc é 東京 '.repeat(5)); // bad bytes land in later chunks
    const cases: [string, Uint8Array][] = [
      ['latin1.txt', Buffer.concat([prefix, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x78])])],
      ['nul.txt', Buffer.concat([prefix, Buffer.from([0x61, 0x00, 0x62])])],
      ['cut.txt', Buffer.concat([prefix, Buffer.from([0x61, 0xe2, 0x82])])], // a 3-byte character cut off at the end
      ['surrogate.txt', Buffer.concat([prefix, Buffer.from([0xed, 0xa0, 0x80])])],
    ];
    for (const [name, bytes] of cases) {
      const p = file(name, bytes);
      let whole: unknown;
      try { readTextFile(p); } catch (e) { whole = e; }
      expect(whole, name).toBeInstanceOf(CorpusError);
      for (const chunk of [3, 5, 16, 1000]) {
        let err: unknown;
        try { scanDocument(streamed(p), chunk); } catch (e) { err = e; }
        expect(err, `${name} chunk ${chunk}`).toBeInstanceOf(CorpusError);
        expect((err as Error).message).toBe((whole as Error).message);
      }
    }
  });

  it('refuses an empty file and a file of whitespace, naming it', () => {
    for (const [name, content, re] of [['empty.txt', '', /the file is empty/], ['blank.txt', ' \n\u3000\t\n', /only whitespace/]] as const) {
      const p = file(name, content);
      expect(() => scanDocument(streamed(p), 4)).toThrow(re);
      expect(() => scanDocument(streamed(p), 4)).toThrow(p);
    }
  });
});

describe('cutting a text into pieces', () => {
  const words = Buffer.from('The cat sat. A dog ran\nfast, and “ok” 東京 went home; it was fun!');

  it('cuts only before a space or newline between printable ASCII characters', () => {
    const safe = (t: string) => { const b = Buffer.from(t); return [...b.keys()].filter((i) => isSafeCut(b, i)); };
    expect(safe('a b')).toEqual([1]);
    expect(safe('a\nb')).toEqual([1]);
    expect(safe('x. Y z')).toEqual([2, 4]);
    for (const t of ['a  b', ' ab ', 'a\n\nb', 'é b', 'a é', 'a\u00a0b', 'a\tb', 'a\r\nb']) expect(safe(t), JSON.stringify(t)).toEqual([]);
  });

  it('partitions the text exactly, pieces of whole characters, cut at safe places or after story separators', () => {
    for (const pieceBytes of [1, 3, 8, 20, 1000]) {
      const pieces = [...cutPieces([words.subarray(0, 17), words.subarray(17)], { pieceBytes, stories: false })];
      expect(Buffer.concat(pieces.map((p) => p.bytes)).equals(words)).toBe(true);
      for (let k = 1; k < pieces.length; k++) {
        const joined = Buffer.concat(pieces.slice(k - 1, k + 1).map((p) => p.bytes));
        expect(isSafeCut(joined, pieces[k - 1].bytes.length)).toBe(true);
      }
    }
    const stories = Buffer.from(`One story.\n${END_OF_TEXT}\nTwo, longer story here.\n${END_OF_TEXT}\nThree\n${END_OF_TEXT}\n`);
    const pieces = [...cutPieces([stories.subarray(0, 5), stories.subarray(5, 30), stories.subarray(30)], { pieceBytes: 10, stories: true })];
    expect(pieces.map((p) => decodePiece(p.bytes))).toEqual([
      `One story.\n${END_OF_TEXT}`, `\nTwo, longer story here.\n${END_OF_TEXT}`, `\nThree\n${END_OF_TEXT}`, '\n',
    ]);
    expect(pieces.every((p) => !p.openStart && !p.openEnd)).toBe(true);
  });

  it('cuts a story longer than the limit where its pieces still encode like it, marking the open ends', () => {
    const long = Buffer.from(`${'word '.repeat(40)}end.\n${END_OF_TEXT}\nnext`);
    const chunks = Array.from({ length: Math.ceil(long.length / 20) }, (_, i) => long.subarray(20 * i, 20 * i + 20));
    const pieces = [...cutPieces(chunks, { pieceBytes: 16, stories: true, maxPieceBytes: 64 })];
    expect(Buffer.concat(pieces.map((p) => p.bytes)).equals(long)).toBe(true);
    expect(pieces[0]).toMatchObject({ openStart: false, openEnd: true });
    const closing = pieces.findIndex((p) => decodePiece(p.bytes).includes(END_OF_TEXT));
    expect(pieces[closing]).toMatchObject({ openStart: true, openEnd: false });
    expect(pieces.slice(0, closing).every((p) => p.openEnd)).toBe(true);
  });
});

describe('a bounded sample', () => {
  it('is the whole text when it fits, else stretches spread over the documents, the same every time', () => {
    const a = file('a.txt', 'alpha beta gamma delta. '.repeat(400)), b = file('b.txt', 'one two three four five. '.repeat(400));
    const docs = [streamed(a), streamed(b)];
    const all = Buffer.concat([...sampleDocuments(docs, 1e9, { chunkBytes: 64 })]);
    expect(all.toString()).toBe(readTextFile(a) + readTextFile(b));
    const sample = [...sampleDocuments(docs, 2000, { windows: 8, chunkBytes: 64 })].map((p) => decodePiece(p));
    const again = [...sampleDocuments(docs, 2000, { windows: 8, chunkBytes: 64 })].map((p) => decodePiece(p));
    expect(sample).toEqual(again);
    const bytes = sample.reduce((n, s) => n + Buffer.byteLength(s), 0);
    expect(bytes).toBeGreaterThan(1500);
    expect(bytes).toBeLessThanOrEqual(2000);
    expect(sample.some((s) => s.includes('alpha'))).toBe(true);
    expect(sample.some((s) => s.includes('three'))).toBe(true);
    // Each stretch is cut at safe places: it starts with a space before a word, and ends before one.
    for (const s of sample) expect(s).toMatch(/^ \S.*\S$/s);
  });
});
