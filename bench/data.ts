// `handgrad bench data`: the data path of training (src/train/training-data.ts) on a corpus of
// any size, generated here and deleted afterwards.
//
//   corpus     TinyStories-like text of --size bytes (default 1 GiB): stories of 4–12 sentences
//              drawn with a seeded Rng from the sentences of the shared TinyStories slices
//              ($HANDGRAD_DATA; else the embedded Moby Dick), each story followed by a line
//              <|endoftext|>, written in 8 MB blocks.
//   scan       the streamed checks (strict UTF-8, no NUL) and fingerprint (SHA-256): MB/s.
//   bpe        the tokenizer (vocabulary 4096) trained on the bounded sample (--bpe-sample,
//              default as `train`): seconds and sample size.
//   encode     the whole corpus encoded into a token file, story by story, on 1 thread and on 2
//              (two separate token caches, so neither reads the other's): MB of text per second,
//              and whether the two token files are byte for byte the same (they must be).
//   windows    random windows of 129 tokens (batch 16 × seq 128 + 1) read by offset from the
//              token file, as the random batcher does: windows/s and MB/s of token bytes.
//   memory     peak resident set size of the process (process.resourceUsage().maxRSS), which
//              holds everything above: the goal is under 1 GiB for any corpus size.
// A benchmark reports; it never asserts a speed.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DATA_ENV, loadEmbeddedCorpus } from '../src/data/corpus.js';
import { END_OF_TEXT } from '../src/data/bpe-tokenizer.js';
import { createBatcher } from '../src/data/batcher.js';
import { ReferenceOps } from '../src/backends/reference/index.js';
import { prepareTrainingData, type DataPhase, type TrainingData } from '../src/train/training-data.js';
import { formatBytes } from '../src/util/bytes.js';
import { Rng } from '../src/util/rng.js';

export interface DataBenchOptions {
  /** Corpus bytes (default 1 GiB). */
  sizeBytes?: number;
  /** BPE sample bytes (default as `train`). */
  bpeSampleBytes?: number;
  /** Where the corpus and the token files go (default the system's temporary folder). */
  dir?: string;
  /** Keep the generated corpus at this path (e.g. to train on it); default: deleted. */
  keepCorpus?: string;
  /** Use this file (in the released TinyStories format or any text) instead of generating one; never deleted. */
  corpus?: string;
  /** Random windows read (default 20000). */
  windows?: number;
  seed?: number;
  onProgress?: (line: string) => void;
}

export interface DataBenchResult {
  cpu: string;
  cores: number;
  /** 1-minute load average when the bench started, and when it ended. */
  loadAverage: [number, number];
  corpusBytes: number;
  corpusSource: string;
  generateSeconds: number;
  scanMBps: number;
  scanCpuSeconds: number;
  bpe: { sampleBytes: number; seconds: number; cpuSeconds: number; vocabSize: number };
  /** Per thread count: wall seconds, MB of text per wall second, CPU-seconds of the process (all threads). */
  encode: { threads: number; seconds: number; mbPerSec: number; cpuSeconds: number; tokens: number }[];
  tokenFilesIdentical: boolean;
  tokenFileBytes: number;
  windows: { count: number; seconds: number; windowsPerSec: number; mbPerSec: number };
  peakRssBytes: number;
}

const GIB = 2 ** 30;

/** The sentences stories are made of: the TinyStories slices when there, else Moby Dick. */
function sentenceSource(): { sentences: string[]; source: string } {
  const dir = process.env[DATA_ENV];
  const files = dir ? ['tinystories_train_slice.txt', 'tinystories_train_more.txt'].map((f) => join(dir, f)).filter((f) => existsSync(f)) : [];
  const text = files.length > 0 ? files.map((f) => readFileSync(f, 'utf8')).join('\n') : loadEmbeddedCorpus().text;
  const sentences = [...new Set(text.replaceAll(END_OF_TEXT, '\n').split(/(?<=[.!?])\s+/).map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length >= 8 && s.length <= 300))];
  return { sentences, source: files.length > 0 ? 'sentences of the TinyStories slices' : 'sentences of Moby Dick (embedded)' };
}

/** Writes `bytes` (rounded up to whole stories) of generated stories to `path`. */
function writeCorpus(path: string, bytes: number, sentences: readonly string[], rng: Rng, onBlock: (done: number) => void): number {
  const fd = openSync(path, 'wx');
  let written = 0;
  try {
    while (written < bytes) {
      const parts: string[] = [];
      let block = 0;
      while (block < 8e6 && written + block < bytes) {
        const n = rng.int(4, 13);
        let story = '';
        for (let i = 0; i < n; i++) story += (i > 0 ? (rng.int(0, 4) === 0 ? '\n' : ' ') : '') + sentences[rng.int(0, sentences.length)];
        story += `\n${END_OF_TEXT}\n`;
        parts.push(story);
        block += Buffer.byteLength(story);
      }
      const buf = Buffer.from(parts.join(''), 'utf8');
      for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done);
      written += buf.length;
      onBlock(written);
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export async function benchData(opts: DataBenchOptions = {}): Promise<DataBenchResult> {
  const say = opts.onProgress ?? (() => {});
  const size = opts.sizeBytes ?? GIB;
  const loadStart = loadavg()[0];
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'handgrad-bench-data-'));
  const corpus = opts.corpus ?? opts.keepCorpus ?? join(dir, 'corpus.txt');
  try {
    // ---- the corpus ----
    let t = performance.now();
    let corpusBytes: number, source: string;
    if (opts.corpus === undefined) {
      const s = sentenceSource();
      source = s.source;
      say(`writing a ${formatBytes(size)} corpus of stories made of ${s.sentences.length} ${source} to ${corpus}`);
      corpusBytes = writeCorpus(corpus, size, s.sentences, new Rng(opts.seed ?? 1), () => {});
    } else {
      corpusBytes = statSync(opts.corpus).size;
      source = opts.corpus;
    }
    const generateSeconds = (performance.now() - t) / 1000;

    // ---- scan, BPE and encoding on 1 thread, through the training data path ----
    // Wall time per phase, and the CPU time of the process (every thread) from a phase's first progress call to its end.
    const phases = new Map<DataPhase, { bytes: number; ms: number; cpuSeconds: number }>();
    let started: { phase: DataPhase; cpu: number } | null = null;
    const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
    const reporter = {
      notice: (l: string) => say(l),
      progress: (p: DataPhase) => { if (started?.phase !== p) started = { phase: p, cpu: cpuNow() }; },
      phaseEnd: (p: DataPhase, bytes: number, ms: number) => {
        const cpuSeconds = started?.phase === p ? cpuNow() - started.cpu : NaN;
        started = null;
        phases.set(p, { bytes, ms, cpuSeconds });
        say(`  ${p}: ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${cpuSeconds.toFixed(1)} CPU-seconds)`);
      },
    };
    const prepare = (threads: number, tokenizer?: TrainingData['tokenizer']) => prepareTrainingData({
      data: corpus, valData: null, valFraction: 0.01, batch: 16, seq: 128, tokenizer: 'bpe', vocabSize: 4096, resumedTokenizer: tokenizer,
      cacheDir: join(dir, `cache-${threads}`), threads, bpeSampleBytes: opts.bpeSampleBytes, reporter,
    });
    const encode: DataBenchResult['encode'] = [];
    say('1 thread:');
    const one = await prepare(1);
    const scan = phases.get('scan')!, bpe = phases.get('bpe')!, enc1 = phases.get('encode')!;
    encode.push({ threads: 1, seconds: enc1.ms / 1000, mbPerSec: enc1.bytes / 1e6 / (enc1.ms / 1000), cpuSeconds: enc1.cpuSeconds, tokens: one.state.tokens });
    one.close();
    say('2 threads:');
    const two = await prepare(2, one.tokenizer);
    const enc2 = phases.get('encode')!;
    encode.push({ threads: 2, seconds: enc2.ms / 1000, mbPerSec: enc2.bytes / 1e6 / (enc2.ms / 1000), cpuSeconds: enc2.cpuSeconds, tokens: two.state.tokens });

    // ---- the two token files: the same bytes ----
    const fileOf = (threads: number) => { const d = join(dir, `cache-${threads}`); return join(d, readdirOne(d)); };
    const [h1, h2] = await Promise.all([sha256File(fileOf(1)), sha256File(fileOf(2))]);
    const tokenFileBytes = statSync(fileOf(2)).size;

    // ---- random windows read by offset ----
    const count = opts.windows ?? 20_000;
    const batcher = createBatcher('random', new ReferenceOps('f64'), two.train, 16, 128, new Rng(2));
    t = performance.now();
    for (let i = 0; i < count / 16; i++) batcher.next();
    const windowSeconds = (performance.now() - t) / 1000;
    const bpt = 2;
    two.close();

    return {
      cpu: cpus()[0]?.model?.trim() || 'unknown', cores: cpus().length, loadAverage: [loadStart, loadavg()[0]],
      corpusBytes, corpusSource: source, generateSeconds,
      scanMBps: scan.bytes / 1e6 / (scan.ms / 1000), scanCpuSeconds: scan.cpuSeconds,
      bpe: { sampleBytes: bpe.bytes, seconds: bpe.ms / 1000, cpuSeconds: bpe.cpuSeconds, vocabSize: one.tokenizer.vocabSize },
      encode, tokenFilesIdentical: h1 === h2, tokenFileBytes,
      windows: { count, seconds: windowSeconds, windowsPerSec: count / windowSeconds, mbPerSec: (count * 129 * bpt) / 1e6 / windowSeconds },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one token file in a cache folder. */
function readdirOne(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.tokens'));
  if (files.length !== 1) throw new Error(`${dir}: expected one token file, found ${files.length}`);
  return files[0];
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

export function formatDataReport(r: DataBenchResult): string[] {
  const mb = (x: number) => x.toFixed(1);
  return [
    `bench data: ${formatBytes(r.corpusBytes)} corpus (${r.corpusSource}${r.generateSeconds > 0.01 ? `, written in ${r.generateSeconds.toFixed(1)} s` : ''}); ` +
      `${r.cpu}, ${r.cores} cores, load average ${r.loadAverage[0].toFixed(2)} → ${r.loadAverage[1].toFixed(2)}`,
    '',
    '| step | wall | CPU-seconds (all threads) |',
    '|---|---:|---:|',
    `| scan (strict UTF-8 checks + SHA-256) | ${mb(r.scanMBps)} MB/s | ${r.scanCpuSeconds.toFixed(1)} |`,
    `| BPE training, vocabulary ${r.bpe.vocabSize}, on a ${formatBytes(r.bpe.sampleBytes)} sample | ${r.bpe.seconds.toFixed(1)} s | ${r.bpe.cpuSeconds.toFixed(1)} |`,
    ...r.encode.map((e) => `| encode, ${e.threads} thread${e.threads > 1 ? 's' : ''} (${e.tokens.toLocaleString('en-US')} tokens) | ` +
      `${mb(e.mbPerSec)} MB/s (${e.seconds.toFixed(1)} s) | ${e.cpuSeconds.toFixed(1)} (${mb(r.corpusBytes / 1e6 / e.cpuSeconds)} MB per CPU-second) |`),
    `| token files of 1 and 2 threads identical | ${r.tokenFilesIdentical ? 'yes' : 'NO'} (${formatBytes(r.tokenFileBytes)}) | |`,
    `| random windows (16 × 129 tokens) read by offset | ${Math.round(r.windows.windowsPerSec).toLocaleString('en-US')} windows/s, ${mb(r.windows.mbPerSec)} MB/s | |`,
    `| peak RSS (maxRSS) | ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB | |`,
  ];
}
