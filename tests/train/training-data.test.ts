// Data preparation for a training run (src/train/training-data.ts): several files, a folder,
// standard input, refused inputs, the token cache and its checksum, large streams read from a
// token file, BPE on a bounded sample. Small files in a temporary folder; the chunk, piece and
// in-memory sizes are turned down so the streamed paths run on them.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { CorpusError, loadEmbeddedCorpus } from '../../src/data/corpus.js';
import { BpeTokenizer, END_OF_TEXT } from '../../src/data/bpe-tokenizer.js';
import { CharTokenizer } from '../../src/data/char-tokenizer.js';
import { WordTokenizer } from '../../src/data/word-tokenizer.js';
import { encodeStories, splitStories } from '../../src/data/tinystories.js';
import { prepareTrainingData, type TrainingData, type TrainingDataOptions } from '../../src/train/training-data.js';
import { TrainConfigError } from '../../src/train/config-error.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-training-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, content: string): string => { const p = join(tmp, name); writeFileSync(p, content); return p; };

const moby = loadEmbeddedCorpus().text;
const A = moby.slice(0, 20_000), B = moby.slice(20_000, 45_000) + ' naïve café 🐳\n';
const aPath = file('a.txt', A), bPath = file('b.txt', B);
/** Small sizes, so every streamed path runs on small files. */
const tuning = { chunkBytes: 1000, pieceBytes: 700, wholeFileBytes: 0, workerMinBytes: Infinity };
const base: TrainingDataOptions = { valFraction: 0.1, batch: 2, seq: 8, tokenizer: 'char', cacheDir: null, tuning };

const tokensOf = (d: TrainingData): number[] => {
  const out = new Int32Array(d.train.length + d.val.length);
  d.train.read(0, d.train.length, out);
  d.val.read(0, d.val.length, out, d.train.length);
  return Array.from(out);
};
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('prepareTrainingData', () => {
  it('one file: the tokens and fingerprint of its text read whole (so older checkpoints still match)', async () => {
    const d = await prepareTrainingData({ ...base, data: aPath });
    expect(tokensOf(d)).toEqual(Array.from(CharTokenizer.fromText(A).encode(A)));
    expect(d.state).toMatchObject({ arg: aPath, name: 'a', source: aPath, sha256: sha(A), tokens: A.length, val: null });
    expect(d.state.trainTokens).toBe(A.length - Math.floor(A.length * 0.1));
    d.close();
  });

  it('several files and a folder of .txt files (sorted): the texts one after the other', async () => {
    const expected = Array.from(CharTokenizer.fromText(A + B).encode(A + B));
    const several = await prepareTrainingData({ ...base, data: [aPath, bPath] });
    expect(tokensOf(several)).toEqual(expected);
    expect(several.state).toMatchObject({ arg: [aPath, bPath], name: 'a+b', sources: [aPath, bPath] });
    const folder = join(tmp, 'folder');
    mkdirSync(folder);
    writeFileSync(join(folder, '2-second.txt'), B);
    writeFileSync(join(folder, '1-first.txt'), A);
    writeFileSync(join(folder, 'notes.md'), 'not a .txt file: left out');
    const fromFolder = await prepareTrainingData({ ...base, data: folder });
    expect(tokensOf(fromFolder)).toEqual(expected);
    expect(fromFolder.state.sha256).toBe(several.state.sha256);
    expect(fromFolder.state.sources).toEqual([join(folder, '1-first.txt'), join(folder, '2-second.txt')]);
    const empty = join(tmp, 'empty-folder');
    mkdirSync(empty);
    await expect(prepareTrainingData({ ...base, data: empty })).rejects.toThrow(/holds no \.txt files/);
  });

  it('standard input: read once, in chunks, into a temporary file that is gone afterwards', async () => {
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('handgrad-stdin-'));
    const notices: string[] = [];
    const chunks = [A.slice(0, 777), A.slice(777, 5000), A.slice(5000)].map((s) => Buffer.from(s));
    const d = await prepareTrainingData({ ...base, data: '-', stdin: Readable.from(chunks), reporter: { notice: (l) => notices.push(l) } });
    expect(tokensOf(d)).toEqual(Array.from(CharTokenizer.fromText(A).encode(A)));
    expect(d.state).toMatchObject({ arg: '-', name: 'stdin', source: 'stdin', sha256: sha(A) });
    expect(notices.join('\n')).toMatch(/from standard input \(a resumed run needs the same text piped in again\)/);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('handgrad-stdin-'))).toEqual(before);
    await expect(prepareTrainingData({ ...base, data: '-', stdin: Readable.from([]) })).rejects.toThrow(/standard input was empty/);
    await expect(prepareTrainingData({ ...base, data: '-', stdin: Readable.from([Buffer.from([0x61, 0xff])]) }))
      .rejects.toThrow('stdin: invalid UTF-8 at byte offset 1 (byte 0xff)');
  });

  it("refuses '' (it used to mean the embedded default), a FIFO, a device, and a --val-data of stdin beside --data -", async () => {
    await expect(prepareTrainingData({ ...base, data: '' })).rejects.toThrow(CorpusError);
    await expect(prepareTrainingData({ ...base, data: '' })).rejects.toThrow(/--data '': empty, expected a file, a folder/);
    await expect(prepareTrainingData({ ...base, data: [aPath, ' '] })).rejects.toThrow(/--data ' ': empty/);
    if (process.platform !== 'win32') {
      const fifo = join(tmp, 'pipe.txt');
      execFileSync('mkfifo', [fifo]);
      await expect(prepareTrainingData({ ...base, data: fifo })).rejects.toThrow(`${fifo} is a FIFO (named pipe), expected a regular file`);
      await expect(prepareTrainingData({ ...base, data: '/dev/zero' })).rejects.toThrow('/dev/zero is a character device, expected a regular file');
      // A FIFO inside a folder is refused too (a .txt name does not make it a file).
      const folder = join(tmp, 'with-fifo');
      mkdirSync(folder);
      writeFileSync(join(folder, 'a.txt'), A);
      execFileSync('mkfifo', [join(folder, 'b.txt')]);
      await expect(prepareTrainingData({ ...base, data: folder })).rejects.toThrow(/b\.txt is a FIFO/);
    }
    await expect(prepareTrainingData({ ...base, data: '-', valData: '-', stdin: Readable.from([Buffer.from(A)]) }))
      .rejects.toThrow(/--val-data -: standard input is already read/);
  });

  it('word tokenizer: the vocabulary counted piece by piece is the one of the whole text', async () => {
    const d = await prepareTrainingData({ ...base, data: [aPath, bPath], tokenizer: 'word', vocabSize: 300 });
    const whole = WordTokenizer.fromText(A + B, { maxVocab: 300 });
    expect(d.tokenizer.toJSON()).toEqual(whole.toJSON());
  });

  it('a token cache whose body was altered is detected by its checksum and rebuilt, with a notice', async () => {
    const cacheDir = join(tmp, 'cache');
    const opts: TrainingDataOptions = { ...base, data: aPath, tokenizer: 'bpe', vocabSize: 300, cacheDir };
    const first = await prepareTrainingData(opts);
    const tokens = tokensOf(first);
    const [name] = readdirSync(cacheDir);
    const path = join(cacheDir, name);
    const good = readFileSync(path);
    const altered = Buffer.from(good);
    altered.writeUInt16LE((altered.readUInt16LE(200) + 1) % 300, 200); // still inside the vocabulary
    writeFileSync(path, altered);
    const notices: string[] = [];
    const second = await prepareTrainingData({ ...opts, resumedTokenizer: first.tokenizer, reporter: { notice: (l) => notices.push(l) } });
    expect(notices).toEqual([`token cache: ${path}: the token body does not match the checksum in its header (the file was altered or damaged); encoding the text again`]);
    expect(tokensOf(second)).toEqual(tokens);
    expect(readFileSync(path).equals(good)).toBe(true);
    // Read back unchanged next time, without a notice.
    notices.length = 0;
    const third = await prepareTrainingData({ ...opts, resumedTokenizer: first.tokenizer, reporter: { notice: (l) => notices.push(l) } });
    expect(notices).toEqual([]);
    expect(tokensOf(third)).toEqual(tokens);
  });

  it('a stream too large for memory is read by offset from its token file (the cache, or a temporary file)', async () => {
    const small = await prepareTrainingData({ ...base, data: [aPath, bPath], tokenizer: 'bpe', vocabSize: 300 });
    const large = { ...tuning, inMemoryTokenBytes: 1000 };
    const cached = await prepareTrainingData({ ...base, data: [aPath, bPath], tokenizer: 'bpe', vocabSize: 300, cacheDir: join(tmp, 'cache2'), tuning: large });
    expect(cached.train.constructor.name).toBe('FileTokenSource');
    expect(tokensOf(cached)).toEqual(tokensOf(small));
    cached.close();
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('handgrad-tokens-'));
    const temporary = await prepareTrainingData({ ...base, data: [aPath, bPath], tokenizer: 'char', tuning: large });
    expect(temporary.train.constructor.name).toBe('FileTokenSource');
    expect(tokensOf(temporary)).toEqual(Array.from(CharTokenizer.fromText(A + B).encode(A + B)));
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('handgrad-tokens-'))).toEqual(before); // unlinked, still open
    temporary.close();
  });

  it('TinyStories files: story by story, and BPE trained on a bounded sample says so', async () => {
    const stories = Array.from({ length: 400 }, (_, i) => `Story ${i}. Tom had a ${['red', 'big', 'blue'][i % 3]} ball and a dog.\n${END_OF_TEXT}\n`).join('');
    const s = file('stories.txt', stories);
    const full = await prepareTrainingData({ ...base, data: s, tokenizer: 'bpe', vocabSize: 300 });
    expect(full.tokenizer.toJSON()).toEqual(BpeTokenizer.train(stories, { vocabSize: 300 }).toJSON());
    expect(tokensOf(full)).toEqual(Array.from(encodeStories(splitStories(stories, 's'), full.tokenizer as BpeTokenizer)));
    const notices: string[] = [];
    const sampled = await prepareTrainingData({
      ...base, data: s, tokenizer: 'bpe', vocabSize: 300, bpeSampleBytes: 4000, reporter: { notice: (l) => notices.push(l) },
    });
    expect(notices).toEqual([expect.stringMatching(/^bpe: training the tokenizer on a 4\.00 kB sample of the 2\d\.\d kB corpus .*then encoding all of it$/)]);
    expect(sampled.tokenizer.toJSON()).not.toEqual(full.tokenizer.toJSON());
    const again = await prepareTrainingData({ ...base, data: s, tokenizer: 'bpe', vocabSize: 300, bpeSampleBytes: 4000 });
    expect(again.tokenizer.toJSON()).toEqual(sampled.tokenizer.toJSON());
    expect(tokensOf(again)).toEqual(Array.from(encodeStories(splitStories(stories, 's'), sampled.tokenizer as BpeTokenizer)));
    // With a token cache, the tokenizer trained on the sample is kept and reused by the next run.
    const cacheDir = join(tmp, 'cache-bpe');
    const first = await prepareTrainingData({ ...base, data: s, tokenizer: 'bpe', vocabSize: 300, bpeSampleBytes: 4000, cacheDir });
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    notices.length = 0;
    const reused = await prepareTrainingData({
      ...base, data: s, tokenizer: 'bpe', vocabSize: 300, bpeSampleBytes: 4000, cacheDir, reporter: { notice: (l) => notices.push(l) },
    });
    expect(notices).toEqual([expect.stringMatching(/^bpe: the tokenizer trained on a 4\.00 kB sample of this corpus before is reused/)]);
    expect(reused.tokenizer.toJSON()).toEqual(first.tokenizer.toJSON());
  });

  it('a resume is given the same text or refused', async () => {
    const d = await prepareTrainingData({ ...base, data: aPath });
    await expect(prepareTrainingData({ ...base, data: bPath, saved: d.state, resumedTokenizer: d.tokenizer }))
      .rejects.toThrow(TrainConfigError);
    await expect(prepareTrainingData({ ...base, data: bPath, saved: d.state, resumedTokenizer: d.tokenizer }))
      .rejects.toThrow(/is not the text the checkpoint was trained on/);
    const again = await prepareTrainingData({ ...base, data: aPath, saved: d.state, resumedTokenizer: d.tokenizer, tuning: { ...tuning, chunkBytes: 77 } });
    expect(again.state).toEqual(d.state);
    expect(existsSync(aPath)).toBe(true);
  });
});
