// From text pieces to token windows: the pre-tokenisation scanner agrees with the GPT-2 regex,
// pieces cut at safe places encode to the ids of the whole text (all three tokenizers; TinyStories
// story by story), worker threads give the ids one thread gives, and windows read by offset from a
// token file are the windows of the ids held in memory.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpeTokenizer, END_OF_TEXT, preTokenEnd, preTokenize } from '../../src/data/bpe-tokenizer.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { WordTokenizer } from '../../src/data/word-tokenizer.js';
import { loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { encodeStories, splitStories } from '../../src/data/tinystories.js';
import { cutPieces, MemoryDocument } from '../../src/data/text-stream.js';
import { encodePiece } from '../../src/data/encode-job.js';
import { EncodePool } from '../../src/data/encode-pool.js';
import { openTokenFile, TokenFileWriter, writeTokenFile } from '../../src/data/token-file.js';
import { ArrayTokenSource, splitTail } from '../../src/data/token-source.js';
import { createBatcher } from '../../src/data/batcher.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { Rng } from '../../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-token-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DATA = process.env.HANDGRAD_DATA;
const slice = (() => {
  try { return readFileSync(join(DATA ?? '', 'tinystories_train_slice.txt'), 'utf8').slice(0, 150_000); } catch { return null; }
})();
// Stories in the released format: the shared slice when there, else a made-up stand-in.
const STORIES = slice ?? Array.from({ length: 300 }, (_, i) => `Story ${i}: Tom saw a “red” ball — 東京 🐶. It's fun!\n${END_OF_TEXT}\n`).join('');
const PLAIN = loadEmbeddedCorpus().text.slice(0, 120_000) + ' Ünïcödé — 東京 🐶 “quotes” café\n';

function randomText(rng: Rng, n: number): string {
  const pool = [' ', ' ', '  ', '\n', '\n\n', '\t', '\r\n', 'a', 'Zq', 'the', '1', '42', '٣', "'s", "'ll", "'", "'x", 'é', 'e\u0301', '\u00a0', '\u3000',
    '.', '!?', '—', '😀', '𝐀', '𝟙', '東京', END_OF_TEXT, '\u2028', ' 7', ' .', '\ufeff'];
  let s = '';
  for (let i = 0; i < n; i++) s += pool[rng.int(0, pool.length)];
  return s;
}

/** The ids of the pieces a document is cut into (pieceBytes small, so there are many), concatenated. */
function encodeCut(tok: Tokenizer, text: string, stories: boolean, pieceBytes: number): number[] {
  const out: number[] = [];
  for (const p of cutPieces(new MemoryDocument(text, 'test').chunks(997), { pieceBytes, stories })) out.push(...encodePiece(tok, p, stories, 2));
  return out;
}

describe('the pre-tokenisation scanner', () => {
  it('finds the pieces the GPT-2 regex finds, on random text of every character class', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 300; k++) {
      const t = randomText(rng, 40);
      const mine: string[] = [];
      for (let i = 0; i < t.length;) { const j = preTokenEnd(t, i); mine.push(t.slice(i, j)); i = j; }
      expect(mine, JSON.stringify(t)).toEqual(preTokenize(t));
    }
  });

  it('encodes as the merges say (against a plain reference over the regex pieces), with or without its piece cache', () => {
    const tok = BpeTokenizer.train(PLAIN, { vocabSize: 400 });
    const rank = new Map(tok.merges.map(([l, r], i) => [`${l},${r}`, i]));
    const reference = (t: string): number[] => t.split(END_OF_TEXT).flatMap((part, pi) => [
      ...(pi > 0 ? [tok.eotId] : []),
      ...preTokenize(part).flatMap((w) => {
        let ids = [...Buffer.from(w, 'utf8')];
        for (;;) {
          let best = -1;
          for (let i = 0; i + 1 < ids.length; i++) {
            const r = rank.get(`${ids[i]},${ids[i + 1]}`);
            if (r !== undefined && (best < 0 || r < rank.get(`${ids[best]},${ids[best + 1]}`)!)) best = i;
          }
          if (best < 0) return ids;
          const [l, r] = [ids[best], ids[best + 1]], id = 256 + rank.get(`${l},${r}`)!;
          const next: number[] = [];
          for (let i = 0; i < ids.length; i++) if (i + 1 < ids.length && ids[i] === l && ids[i + 1] === r) { next.push(id); i++; } else next.push(ids[i]);
          ids = next;
        }
      }),
    ]);
    const rng = new Rng(3);
    for (let k = 0; k < 50; k++) {
      const t = randomText(rng, 60);
      const a = Array.from(tok.encode(t));
      expect(a, JSON.stringify(t)).toEqual(reference(t));
      expect(Array.from(BpeTokenizer.fromJSON(tok.toJSON()).encode(t)), JSON.stringify(t)).toEqual(a); // a fresh cache
      expect(tok.decode(a)).toBe(t);
    }
  });
});

describe('pieces encode to the ids of the whole text', () => {
  const bpe = BpeTokenizer.train(STORIES + PLAIN, { vocabSize: 500 });
  const tokenizers: [string, Tokenizer][] = [
    ['char', CharTokenizer.fromText(PLAIN)], ['word', WordTokenizer.fromText(PLAIN, { maxVocab: 300 })], ['bpe', bpe],
  ];

  it.each(tokenizers)('%s, plain text', (_, tok) => {
    const whole = Array.from(tok.encode(PLAIN));
    for (const pieceBytes of [7, 100, 5000]) expect(encodeCut(tok, PLAIN, false, pieceBytes)).toEqual(whole);
  });

  it('bpe, TinyStories text: story by story, each followed by <|endoftext|>', () => {
    const reference = Array.from(encodeStories(splitStories(STORIES, 'stories'), bpe));
    for (const pieceBytes of [7, 500, 1 << 20]) expect(encodeCut(bpe, STORIES, true, pieceBytes)).toEqual(reference);
    // A story longer than the cut limit is cut inside, and still encodes as one story.
    const long = `${'Once upon a time there was a very long story. '.repeat(200)}\n${END_OF_TEXT}\nShort one.\n${END_OF_TEXT}\n`;
    const pieces = [...cutPieces(new MemoryDocument(long, 't').chunks(300), { pieceBytes: 200, stories: true, maxPieceBytes: 1000 })];
    expect(pieces.some((p) => p.openEnd)).toBe(true);
    expect(pieces.flatMap((p) => [...encodePiece(bpe, p, true, 2)])).toEqual(Array.from(encodeStories(splitStories(long, 'long'), bpe)));
  });

  it('worker threads give exactly the ids the calling thread gives', async () => {
    const text = STORIES.repeat(3);
    const pieces = () => cutPieces(new MemoryDocument(text, 't').chunks(4096), { pieceBytes: 3000, stories: true });
    const collect = async (threads: number) => {
      const pool = await EncodePool.create(bpe, 2, threads);
      const out: number[] = [];
      let bytes = 0;
      try {
        await pool.encode(pieces(), true, (t) => out.push(...t), (b) => { bytes += b; });
      } finally {
        await pool.close();
      }
      expect(bytes).toBe(Buffer.byteLength(text));
      return out;
    };
    const one = await collect(1);
    expect(one).toEqual(Array.from(encodeStories(splitStories(text, 't'), bpe)));
    expect(await collect(2)).toEqual(one);
  });
});

describe('token files and token sources', () => {
  const ops = new ReferenceOps('f64');
  const tok = { vocabSize: 5000, hash: 'cd'.repeat(32) };
  const ids = Int32Array.from({ length: 20_000 }, (_, i) => (i * 7919 + (i >> 3)) % 5000);

  it('a file written in chunks is the file written at once', () => {
    const whole = join(tmp, 'whole.tokens'), chunked = join(tmp, 'chunked.tokens');
    writeTokenFile(whole, ids, tok);
    const w = new TokenFileWriter(chunked, tok);
    for (let i = 0; i < ids.length; i += 3001) w.write(Uint16Array.from(ids.subarray(i, i + 3001)));
    w.finish();
    expect(readFileSync(chunked).equals(readFileSync(whole))).toBe(true);
    const big = join(tmp, 'u32.tokens'), wide = { vocabSize: 70_000, hash: 'ef'.repeat(32) };
    writeTokenFile(big, [69_999, 0, 65_536], wide);
    const f = openTokenFile(big, wide, { inMemoryBytes: 0 });
    const got = new Int32Array(3);
    f.source.read(0, 3, got);
    expect(Array.from(got)).toEqual([69_999, 0, 65_536]);
    f.close();
  });

  it('windows read by offset from a token file are the windows of the ids in memory (random and sequential batchers, split tail)', () => {
    const path = join(tmp, 'windows.tokens');
    writeTokenFile(path, ids, tok);
    const file = openTokenFile(path, tok, { inMemoryBytes: 0 }); // read by offset, never held
    const memory = new ArrayTokenSource(ids);
    expect(file.source.constructor.name).toBe('FileTokenSource');
    const a = splitTail(file.source, 0.1), b = splitTail(memory, 0.1);
    expect([a.train.length, a.val.length]).toEqual([b.train.length, b.val.length]);
    for (const kind of ['random', 'sequential'] as const) {
      for (const [fromFile, fromMemory] of [[a.train, b.train], [a.val, b.val]]) {
        const x = createBatcher(kind, ops, fromFile, 4, 33, new Rng(5)), y = createBatcher(kind, ops, fromMemory, 4, 33, new Rng(5));
        for (let step = 0; step < 60; step++) {
          expect(x.next()).toBe(y.next());
          expect(Array.from(x.batch.inputs.data)).toEqual(Array.from(y.batch.inputs.data));
          expect(Array.from(x.batch.targets.data)).toEqual(Array.from(y.batch.targets.data));
        }
        expect(x.exportState()).toEqual(y.exportState());
      }
    }
    const w = new Int32Array(10);
    a.val.read(a.val.length - 10, 10, w);
    expect(Array.from(w)).toEqual(Array.from(ids.subarray(ids.length - 10)));
    expect(() => a.val.read(a.val.length - 9, 10, w)).toThrow(RangeError);
    file.close();
  });

  it('refuses a body altered within the vocabulary (the checksum), and names the file', () => {
    const path = join(tmp, 'altered.tokens');
    writeTokenFile(path, ids, tok);
    const bytes = readFileSync(path);
    bytes.writeUInt16LE((bytes.readUInt16LE(1000) + 1) % 5000, 1000);
    writeFileSync(path, bytes);
    for (const inMemoryBytes of [0, Infinity]) {
      expect(() => openTokenFile(path, tok, { inMemoryBytes })).toThrow(`${path}: the token body does not match the checksum in its header`);
    }
  });
});
