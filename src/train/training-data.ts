// The data a training run reads, prepared once before the loop, in a memory that does not grow
// with the corpus:
//
//   --data values → documents (src/data/corpus.ts resolves them; standard input is spooled to a
//   temporary file) → one streamed pass for the checks and the fingerprint (text-stream.ts) →
//   the tokenizer (the checkpoint's when resuming; else fitted to the text read in chunks: the
//   characters or words counted piece by piece, BPE trained on a bounded sample) → a token file
//   (token-file.ts; encoded once on worker threads, kept in the token cache by (tokenizer hash,
//   text hash) and checked against its body checksum when read back) → token sources for the
//   training tokens and the validation tokens (the held-out tail, or a separate corpus) → the
//   fingerprint a checkpoint saves, so that a resume can tell it is given the same text.
//
// Small token streams are held in memory; large ones are read by offset from their token file
// (src/data/token-source.ts), so a 1 GiB corpus trains in well under 1 GiB of memory.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  checkEnoughTokens, CorpusError, loadEmbeddedCorpus, resolveCorpusFiles, resolveDataInputs, type Corpus,
} from '../data/corpus.js';
import { BpeTokenizer, countPreTokens, DEFAULT_BPE_VOCAB, type BpeTokenizerJSON } from '../data/bpe-tokenizer.js';
import { addCodePoints, CharTokenizer } from '../data/char-tokenizer.js';
import { countWords, WordTokenizer } from '../data/word-tokenizer.js';
import { tokenizerHash, type Tokenizer, type TokenizerKind } from '../data/tokenizer.js';
import {
  corpusSha256, cutPieces, decodePiece, DEFAULT_CHUNK_BYTES, FileDocument, MemoryDocument, sampleDocuments, scanDocument,
  type TextDocument, type TextPiece,
} from '../data/text-stream.js';
import { IN_MEMORY_TOKEN_BYTES, openTokenFile, TokenFileError, TokenFileWriter } from '../data/token-file.js';
import { ArrayTokenSource, splitTail, type TokenSource } from '../data/token-source.js';
import { EncodePool } from '../data/encode-pool.js';
import { asConfig, TrainConfigError } from './config-error.js';
import { formatBytes } from '../util/bytes.js';
import { removeQuietly } from '../util/remove-quietly.js';
import { createHash } from 'node:crypto';

/**
 * BPE trains on at most this much text (a sample spread over the corpus when it is larger):
 * about a minute on the 2-core machine of docs/benchmarks.md ("Data path"). The whole corpus is
 * then encoded with the tokenizer it gives.
 */
export const DEFAULT_BPE_SAMPLE_BYTES = 100_000_000;
/** Below this much text, encoding stays on the calling thread (starting workers would cost more). */
export const WORKER_MIN_BYTES = 16 << 20;

/** Where a corpus name has a companion validation file in $HANDGRAD_DATA (src/data/corpus.ts aliases). */
export const VALIDATION_COMPANIONS: Readonly<Record<string, string>> = { tinystories: 'tinystories-valid' };

/** The steps of data preparation that can take a while on a large corpus. */
export type DataPhase = 'stdin' | 'scan' | 'vocabulary' | 'bpe' | 'encode' | 'check';

/** Where data preparation reports to; every method is optional (src/train/data-progress.ts draws it). */
export interface DataReporter {
  /** A line worth showing once: BPE trained on a sample, a token cache rebuilt, standard input read. */
  notice?(line: string): void;
  /** `done` of `total` bytes of a phase (total NaN when unknown: standard input). Called often: throttle. */
  progress?(phase: DataPhase, done: number, total: number): void;
  /** A phase finished after `ms`, having gone through `total` bytes. */
  phaseEnd?(phase: DataPhase, total: number, ms: number): void;
}

/** Sizes that tests and benchmarks turn down or up (defaults in text-stream.ts, token-file.ts, here). */
export interface DataTuning {
  /** Bytes read at a time. */
  chunkBytes?: number;
  /** Text per encoding job. */
  pieceBytes?: number;
  /** Files up to this size are read whole. */
  wholeFileBytes?: number;
  /** Token streams up to this many bytes stay in memory. */
  inMemoryTokenBytes?: number;
  /** Text below this size is encoded on the calling thread. */
  workerMinBytes?: number;
  /** Stretches a BPE sample is made of. */
  sampleWindows?: number;
}

export interface TrainingDataOptions {
  /** --data: a value or several (file, folder, name, '-'), a loaded corpus, or absent for the embedded default. */
  data?: string | readonly string[] | Corpus;
  /** --val-data; absent: the companion of a named corpus (VALIDATION_COMPANIONS); null: the held-out tail. */
  valData?: string | null;
  valFraction: number;
  batch: number;
  seq: number;
  tokenizer: TokenizerKind;
  /** word: the vocabulary cap; bpe: the vocabulary size. */
  vocabSize?: number;
  /** A resumed run's tokenizer, used as it is. */
  resumedTokenizer?: Tokenizer;
  /** A resumed run's saved fingerprint: the text given must be the same. */
  saved?: TrainingDataState | null;
  /** The token cache folder; null: none (token streams in memory, or in a temporary file when large). */
  cacheDir: string | null;
  /** Threads that encode (default: every core). */
  threads?: number;
  /** BPE trains on at most this many bytes (default DEFAULT_BPE_SAMPLE_BYTES). */
  bpeSampleBytes?: number;
  reporter?: DataReporter;
  /** Standard input, for --data - (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  tuning?: DataTuning;
}

/** What state.json keeps as `training.data`: the corpus and a fingerprint of its text. */
export interface TrainingDataState {
  /** The --data value(s) when given (a resume reads the same corpus), else null. */
  arg: string | string[] | null;
  name: string;
  /** The file, or the first of several (then listed in `sources`). */
  source: string;
  sources?: string[];
  tokens: number;
  trainTokens: number;
  valTokens: number;
  /** SHA-256 of the text (one file: of its text; several: of their SHA-256s, one a line). */
  sha256: string;
  /** A separate validation corpus, when one was used (its --val-data value, source and fingerprint). */
  val?: { arg: string; source: string; sha256: string } | null;
}

export interface TrainingData {
  /** The corpus's short name and where it came from (for reports and messages). */
  name: string;
  source: string;
  tokenizer: Tokenizer;
  train: TokenSource;
  /** Empty without validation. */
  val: TokenSource;
  /** The validation corpus's --val-data value when one was used. */
  valArg: string | null;
  state: TrainingDataState;
  /** Closes the token files read by offset. */
  close(): void;
}

/** The companion validation corpus of a named corpus (tinystories → tinystories-valid), when it resolves. */
export function companionValidation(data: string): string | null {
  const name = VALIDATION_COMPANIONS[data];
  if (!name) return null;
  try { return resolveCorpusFiles(name) !== null ? name : null; } catch (e) {
    if (e instanceof CorpusError) return null;
    throw e;
  }
}

interface OpenedCorpus {
  name: string;
  source: string;
  sources: string[];
  docs: TextDocument[];
  arg: string | string[] | null;
  stdin: boolean;
}

interface CorpusScan {
  sha256: string;
  bytes: number;
  /** Per document: its fingerprint, and whether it is in TinyStories format. */
  documents: { sha256: string; stories: boolean }[];
}

type Tokens = Uint16Array | Uint32Array;

/** Prepares the training and validation tokens (see the top of this file). */
export async function prepareTrainingData(o: TrainingDataOptions): Promise<TrainingData> {
  const reporter = o.reporter ?? {};
  const tuning = o.tuning ?? {};
  const temporary: string[] = []; // folders removed at the end (standard input spooled)
  const closers: (() => void)[] = [];
  let pool: EncodePool | null = null;
  const phase = <T>(name: DataPhase, total: number, fn: (progress: (done: number) => void) => T): T => {
    const t0 = performance.now();
    const out = fn((done) => reporter.progress?.(name, done, total));
    reporter.phaseEnd?.(name, total, performance.now() - t0);
    return out;
  };
  const phaseAsync = async <T>(name: DataPhase, total: number, fn: (progress: (done: number) => void) => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn((done) => reporter.progress?.(name, done, total));
    reporter.phaseEnd?.(name, total, performance.now() - t0);
    return out;
  };
  const scan = (c: OpenedCorpus): CorpusScan => {
    const total = c.docs.reduce((s, d) => s + d.rawBytes, 0);
    return phase('scan', total, (progress) => {
      let before = 0;
      const scans = c.docs.map((d) => {
        const s = scanDocument(d, tuning.chunkBytes, (done) => progress(before + done));
        before += d.rawBytes;
        return s;
      });
      return { sha256: corpusSha256(scans.map((x) => x.sha256)), bytes: scans.reduce((n, x) => n + x.bytes, 0), documents: scans };
    });
  };

  try {
    // ---- the texts and their fingerprints ----
    const corpus = await openCorpus(o.data, '--data', o, tuning, temporary, reporter);
    const corpusScan = scan(corpus);
    if (o.saved && o.saved.sha256 !== corpusScan.sha256) {
      throw new TrainConfigError(`--resume: the corpus ${corpus.source} is not the text the checkpoint was trained on ` +
        `(${o.saved.source}); give the same --data`);
    }
    const valArg = o.valData === null ? null
      : o.valData ?? (typeof o.data === 'string' ? companionValidation(o.data) : null);
    let val: OpenedCorpus | null = null;
    let valScan: CorpusScan | null = null;
    if (valArg !== null) {
      if (valArg === '-' && corpus.stdin) throw new CorpusError('--val-data -: standard input is already read for --data; give a file');
      val = await openCorpus(valArg, '--val-data', o, tuning, temporary, reporter);
      const shared = val.sources.find((s) => corpus.sources.includes(s) && s !== 'stdin');
      if (shared !== undefined) {
        throw new TrainConfigError(`--val-data ${valArg}: is the training corpus itself (${shared}); give another file`);
      }
      valScan = scan(val);
    }
    if (o.saved && (o.saved.val?.sha256 ?? null) !== (valScan?.sha256 ?? null)) {
      throw new TrainConfigError(`--resume: the validation corpus ${val?.source ?? '(none)'} is not the one the checkpoint ` +
        `validated on (${o.saved.val?.source ?? 'the held-out tail'}); give the same --val-data`);
    }

    // ---- the tokenizer ----
    const tokenizer = o.resumedTokenizer ?? fitTokenizer(corpus, corpusScan, o, tuning, reporter, phase);

    // ---- the token streams ----
    const bpt = tokenizer.vocabSize <= 65536 ? 2 : 4;
    const threads = Math.max(1, o.threads ?? availableParallelism());
    const workerMin = tuning.workerMinBytes ?? WORKER_MIN_BYTES;
    const getPool = async (bytes: number): Promise<EncodePool> => {
      if (pool) return pool;
      const p = await EncodePool.create(tokenizer, bpt, bytes >= workerMin ? threads : 1);
      if (bytes >= workerMin) pool = p; // a one-thread pool holds nothing worth keeping
      return p;
    };
    const tokenize = async (c: OpenedCorpus, s: CorpusScan): Promise<TokenSource> => {
      const r = await tokenizeCorpus(c, s, tokenizer, bpt, o.cacheDir, tuning, reporter, getPool, phaseAsync);
      closers.push(r.close);
      return r.source;
    };
    const all = await tokenize(corpus, corpusScan);
    const valAll = val ? await tokenize(val, valScan!) : null;

    // ---- the split and its checks ----
    const split = valAll ? { train: all, val: valAll } : splitTail(all, o.valFraction);
    checkEnoughTokens(split.train, o.batch, o.seq, 'training split', corpus.source);
    if (split.val.length > 0 && val) {
      checkEnoughTokens(split.val, o.batch, o.seq, 'validation corpus', val.source, 'use a longer --val-data or a smaller --batch/--seq');
    } else if (split.val.length > 0) {
      checkEnoughTokens(split.val, o.batch, o.seq, `validation split (the last ${o.valFraction} of the corpus)`, corpus.source,
        'use a larger --val-fraction, a smaller --batch/--seq, or --val-fraction 0 for no validation');
    }
    const state: TrainingDataState = {
      arg: corpus.arg, name: corpus.name, source: corpus.source, ...(corpus.sources.length > 1 ? { sources: corpus.sources } : {}),
      tokens: all.length, trainTokens: split.train.length, valTokens: split.val.length, sha256: corpusScan.sha256,
      val: val ? { arg: valArg!, source: val.source, sha256: valScan!.sha256 } : null,
    };
    return {
      name: corpus.name, source: corpus.source, tokenizer, train: split.train, val: split.val, valArg, state,
      close: () => { for (const c of closers.splice(0)) c(); },
    };
  } catch (e) {
    for (const c of closers.splice(0)) c();
    throw e;
  } finally {
    await (pool as EncodePool | null)?.close();
    for (const dir of temporary) removeQuietly(dir); // never in place of the error or the result above
  }
}

/** The documents a --data (or --val-data) value names, standard input spooled to a temporary file. */
async function openCorpus(data: TrainingDataOptions['data'], flag: string, o: TrainingDataOptions, tuning: DataTuning,
  temporary: string[], reporter: DataReporter): Promise<OpenedCorpus> {
  if (typeof data === 'object' && !Array.isArray(data)) {
    const c = data as Corpus;
    return { name: c.name, source: c.source, sources: [c.source], docs: [new MemoryDocument(c.text, c.source)], arg: null, stdin: false };
  }
  const resolved = resolveDataInputs(data as string | readonly string[] | undefined, { flag });
  const docs: TextDocument[] = [];
  const sources: string[] = [];
  for (const input of resolved.inputs) {
    if (input.kind === 'embedded') {
      const c = loadEmbeddedCorpus();
      docs.push(new MemoryDocument(c.text, c.source));
      sources.push(c.source);
    } else if (input.kind === 'file') {
      docs.push(new FileDocument(input.path, { wholeFileBytes: tuning.wholeFileBytes }));
      sources.push(input.path);
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'handgrad-stdin-'));
      temporary.push(dir);
      const path = join(dir, 'stdin.txt');
      const bytes = await spool(o.stdin ?? process.stdin, path, reporter);
      if (bytes === 0) throw new CorpusError(`${flag} -: standard input was empty, expected UTF-8 text`);
      // Said once, by the run that will need it again (a resume is given it again, and knows).
      if (!o.saved) reporter.notice?.(`read ${formatBytes(bytes)} from standard input (a resumed run needs the same text piped in again)`);
      docs.push(new FileDocument(path, { wholeFileBytes: tuning.wholeFileBytes, label: 'stdin' }));
      sources.push('stdin');
    }
  }
  const arg = data === undefined ? null : typeof data === 'string' ? data : [...(data as readonly string[])];
  const source = sources.length === 1 ? sources[0] : `${sources[0]} (+${sources.length - 1} more)`;
  return { name: resolved.name, source, sources, docs, arg, stdin: resolved.inputs.some((i) => i.kind === 'stdin') };
}

/** Copies a stream into a new file in chunks; its byte count. */
async function spool(stream: NodeJS.ReadableStream, path: string, reporter: DataReporter): Promise<number> {
  const fd = openSync(path, 'wx');
  let bytes = 0;
  const t0 = performance.now();
  try {
    for await (const chunk of stream) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
      for (let done = 0; done < b.length;) done += writeSync(fd, b, done, b.length - done);
      bytes += b.length;
      reporter.progress?.('stdin', bytes, NaN);
    }
  } finally {
    closeSync(fd);
  }
  reporter.phaseEnd?.('stdin', bytes, performance.now() - t0);
  return bytes;
}

/** A tokenizer fitted to the corpus, read in pieces: every character or word counted; BPE on a bounded sample. */
function fitTokenizer(c: OpenedCorpus, s: CorpusScan, o: TrainingDataOptions, tuning: DataTuning, reporter: DataReporter,
  phase: <T>(name: DataPhase, total: number, fn: (progress: (done: number) => void) => T) => T): Tokenizer {
  const chunkBytes = tuning.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const pieces = function* (): Generator<Uint8Array> {
    for (let i = 0; i < c.docs.length; i++) {
      for (const p of cutPieces(c.docs[i].chunks(chunkBytes), { pieceBytes: tuning.pieceBytes ?? chunkBytes, stories: false })) yield p.bytes;
    }
  };
  if (o.tokenizer === 'char') {
    return phase('vocabulary', s.bytes, (progress) => {
      const seen = new Set<number>();
      let done = 0;
      for (const d of c.docs) for (const chunk of d.chunks(chunkBytes)) { addCodePoints(decodePiece(chunk), seen); progress(done += chunk.length); }
      return CharTokenizer.fromCodePoints(seen);
    });
  }
  if (o.tokenizer === 'word') {
    asConfig(() => WordTokenizer.fromCounts(new Map(), { maxVocab: o.vocabSize })); // a bad --vocab-size fails before the work
    return phase('vocabulary', s.bytes, (progress) => {
      const counts = new Map<string, number>();
      let done = 0;
      for (const p of pieces()) { countWords(decodePiece(p), counts); progress(done += p.length); }
      return WordTokenizer.fromCounts(counts, { maxVocab: o.vocabSize });
    });
  }
  if (o.tokenizer !== 'bpe') throw new TrainConfigError(`unknown tokenizer '${o.tokenizer as string}'`);
  asConfig(() => BpeTokenizer.fromCounts(new Map(), { vocabSize: o.vocabSize }));
  const sampleBytes = o.bpeSampleBytes ?? DEFAULT_BPE_SAMPLE_BYTES;
  const total = c.docs.reduce((n, d) => n + d.rawBytes, 0);
  const windows = tuning.sampleWindows ?? 32;
  // A tokenizer trained on a sample (a large corpus) is kept beside the token files and reused:
  // training it again would give the same merges, in a good part of a minute.
  const kept = total > sampleBytes && o.cacheDir !== null
    ? join(o.cacheDir, `${s.sha256.slice(0, 16)}-bpe-${o.vocabSize ?? DEFAULT_BPE_VOCAB}-${sampleBytes}-${windows}.json`) : null;
  if (kept !== null && existsSync(kept)) {
    try {
      const tok = BpeTokenizer.fromJSON(JSON.parse(readFileSync(kept, 'utf8')) as BpeTokenizerJSON);
      reporter.notice?.(`bpe: the tokenizer trained on a ${formatBytes(sampleBytes)} sample of this corpus before is reused (${kept})`);
      return tok;
    } catch {
      // unreadable or altered (its hash is checked): trained again below, and rewritten
    }
  }
  if (total > sampleBytes) {
    reporter.notice?.(`bpe: training the tokenizer on a ${formatBytes(sampleBytes)} sample of the ${formatBytes(total)} corpus ` +
      `(${windows} stretches spread over it; --bpe-sample to change), then encoding all of it`);
  }
  const tok = phase('bpe', Math.min(total, sampleBytes), (progress) => {
    const counts = new Map<string, number>();
    let done = 0;
    for (const p of sampleDocuments(c.docs, sampleBytes, { windows, chunkBytes, stories: s.documents.map((d) => d.stories) })) {
      countPreTokens(decodePiece(p), counts);
      progress(done += p.length);
    }
    return BpeTokenizer.fromCounts(counts, { vocabSize: o.vocabSize });
  });
  if (kept !== null) {
    try {
      mkdirSync(o.cacheDir!, { recursive: true });
      const tmp = `${kept}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify(tok.toJSON()));
      renameSync(tmp, kept);
    } catch { /* a cache that cannot be written only costs the next run time */ }
  }
  return tok;
}

interface Spill { dir: string; path: string; writer: TokenFileWriter }

/** A corpus's tokens: from the token cache when there, else encoded (into the cache, memory, or a temporary file). */
async function tokenizeCorpus(c: OpenedCorpus, s: CorpusScan, tok: Tokenizer, bpt: 2 | 4, cacheDir: string | null, tuning: DataTuning,
  reporter: DataReporter, getPool: (bytes: number) => Promise<EncodePool>,
  phaseAsync: <T>(name: DataPhase, total: number, fn: (progress: (done: number) => void) => Promise<T>) => Promise<T>,
): Promise<{ source: TokenSource; close: () => void }> {
  const header = { vocabSize: tok.vocabSize, hash: tokenizerHash(tok) };
  const inMemoryBytes = tuning.inMemoryTokenBytes ?? IN_MEMORY_TOKEN_BYTES;
  // Tokens ≤ bytes (every id covers at least one), +1 per document (its last story's end-of-text token).
  const large = (s.bytes + c.docs.length) * bpt > inMemoryBytes;
  const open = (path: string, checkBody: boolean) => {
    const t0 = performance.now();
    let total = 0;
    const f = openTokenFile(path, header, {
      inMemoryBytes, checkBody, onBytes: (done, all) => { total = all; reporter.progress?.('check', done, all); },
    });
    if (checkBody) reporter.phaseEnd?.('check', total, performance.now() - t0);
    return f;
  };

  // The cache: every BPE stream (as before), and any stream too large for memory.
  let file = cacheDir !== null && (tok.kind === 'bpe' || large) ? join(cacheDir, `${header.hash.slice(0, 16)}-${s.sha256.slice(0, 16)}.tokens`) : null;
  if (file !== null && existsSync(file)) {
    try {
      return open(file, true);
    } catch (e) {
      if (!(e instanceof TokenFileError)) throw e;
      reporter.notice?.(`token cache: ${e.message}; encoding the text again`);
    }
  }
  let writer: TokenFileWriter | null = null;
  if (file !== null) {
    try {
      mkdirSync(cacheDir!, { recursive: true });
      writer = new TokenFileWriter(file, header);
    } catch {
      file = null; // a cache that cannot be written (read-only folder) only costs the next run time
    }
  }
  // Without the cache: in memory, moved to a temporary file once it outgrows inMemoryBytes.
  const kept: Tokens[] = [];
  const st: { keptBytes: number; spill: Spill | null } = { keptBytes: 0, spill: null };
  const sink = (t: Tokens): void => {
    if (writer) { writer.write(t); return; }
    if (st.spill) { st.spill.writer.write(t); return; }
    kept.push(t);
    st.keptBytes += t.byteLength;
    if (st.keptBytes > inMemoryBytes) {
      const dir = mkdtempSync(join(tmpdir(), 'handgrad-tokens-'));
      const path = join(dir, 'tokens');
      st.spill = { dir, path, writer: new TokenFileWriter(path, header) };
      for (const k of kept.splice(0)) st.spill.writer.write(k);
    }
  };
  try {
    const pool = await getPool(s.bytes);
    await phaseAsync('encode', s.bytes, async (progress) => {
      let done = 0;
      for (let i = 0; i < c.docs.length; i++) {
        const doc = c.docs[i], stories = tok.kind === 'bpe' && s.documents[i].stories;
        // Hashed again as it is encoded: a file changed since it was scanned must not be cached under the old fingerprint.
        const hash = createHash('sha256');
        const pieces = function* (): Generator<TextPiece> {
          for (const p of cutPieces(doc.chunks(tuning.chunkBytes), { pieceBytes: tuning.pieceBytes ?? 4 << 20, stories })) {
            hash.update(p.bytes);
            yield p;
          }
        };
        await pool.encode(pieces(), stories, sink, (bytes) => progress(done += bytes));
        if (hash.digest('hex') !== s.documents[i].sha256) throw new CorpusError(`${doc.source}: the text changed while it was read; run again`);
      }
    });
  } catch (e) {
    // Clean-up that cannot fail: the error to report is e (util/remove-quietly.ts).
    writer?.abort();
    if (st.spill) { st.spill.writer.abort(); removeQuietly(st.spill.dir); }
    throw e;
  }
  if (writer && file !== null) {
    writer.finish();
    return open(file, false);
  }
  if (st.spill) {
    const sp = st.spill;
    sp.writer.finish();
    const f = open(sp.path, false);
    // The open file stays readable after its name is gone (POSIX); elsewhere it is removed on close.
    try {
      rmSync(sp.dir, { recursive: true, force: true });
      return f;
    } catch {
      return { source: f.source, close: () => { f.close(); rmSync(sp.dir, { recursive: true, force: true }); } };
    }
  }
  const all = bpt === 2 ? new Uint16Array(st.keptBytes / 2) : new Uint32Array(st.keptBytes / 4);
  let at = 0;
  for (const k of kept) { all.set(k, at); at += k.length; }
  return { source: new ArrayTokenSource(all), close: () => {} };
}
