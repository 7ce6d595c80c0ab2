// `handgrad bench quality`: model quality against PyTorch in the same time. For each model (rnn,
// lstm, gru, lstm-attention, transformer) ours trains with the library's `train()` for a wall-clock
// budget, then its PyTorch CPU peer (bench/peers/torch_char_lm.py: the same architecture, size and
// initialisation) trains for the same budget on exactly the same token ids — one after the other,
// never at the same time — and both are validated on the same held-out windows at the same cadence
// in *training time*. Reported per model: the best validation loss of each side (nats/char), its
// validation curve (time, loss), steps and tokens/s, and a sample from each side's best weights.
//
// The data: the corpus as `handgrad train --data` loads it (a Project Gutenberg header/licence cut
// off), the char tokenizer, and train()'s split: the last --val-fraction of the ids held out. The
// bench makes the same split itself, writes the train and validation ids to a temporary file for
// the peer, and checks afterwards that our run's checkpoint recorded the same tokenizer and token
// counts (and the peer echoes the counts and id sums it read).
//
// Validation in time, validation time excluded on both sides: train() validates every N steps,
// not every N seconds, and its clock counts its validations. So ours trains in legs: leg k is a
// train() call with a time limit that ends after k·--val-every of *training* time (its validation
// at the end is train()'s own, on the held-out windows); leg k+1 resumes that checkpoint exactly
// (weights, Adam moments, RNG, batcher position, carried state: train()'s resume is bit-exact on
// the same backend and threads) with the limit moved on by --val-every plus the time the
// validations took. The saves and resumes between legs are outside the clock. The peer pauses its clock while it validates (every
// --val-every of training time, and at the end). Curve times are training seconds.
//
// Parity: before it trains, the peer loads OUR best weights (model.safetensors) into its own model
// and validates them: the two losses of the same weights on the same windows agree to fp32 rounding
// only when the architectures really are the same (`parity` in the report).
//
// Samples: 400 characters from each side's best weights (the lowest validation loss on the curve),
// temperature 0.8, without a prime: as `handgrad sample` without --prime, the generation starts
// after a line break (the token is fed, not shown).
//
// Threads: ours --threads (default 2); the peer, unless --peer-threads fixes it, its best of 1 and
// --threads, chosen per model by a short trial of training steps before its clock starts (on a
// loaded machine 2 OpenMP threads can be several times slower than 1; the report names the choice).
//
// Settings: QUALITY_SETTINGS, explicit (batch, BPTT/window, lr, clip, every size) so the run does
// not depend on the trainer's defaults; --settings overrides them per model. Adam, constant lr, no
// warmup, seed 1 on both sides. Dropout: once our models take `dropout`, add `dropout: 0.2` to a
// model's modelOptions below; the peer reads the same key (see the peer's docstring for where it
// applies it).
// A benchmark reports; it never asserts a loss.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOps } from '../src/backends/index.js';
import type { Ops } from '../src/ops/types.js';
import { cpuModel } from '../src/backends/wasm/runtime.js';
import { train, type TrainReporter, type TrainSummary } from '../src/train/trainer.js';
import { BEST_DIR, loadCheckpoint, readCheckpoint, WEIGHTS_FILE } from '../src/train/checkpoint.js';
import { loadCorpus, splitTokens, type Corpus } from '../src/data/corpus.js';
import { buildTokenizer, type Tokenizer } from '../src/data/tokenizer.js';
import { getModel } from '../src/models/registry.js';
import { sampleTokens } from '../src/models/sample.js';
import { Rng } from '../src/util/rng.js';
import { describeBlasCore, describePeerMalloc, findPython, peerEnv, type BlasCore } from './peer-env.js';
import { linePlot, stackSvgs, type Series } from '../src/viz/svg.js';

export const QUALITY_MODELS = ['rnn', 'lstm', 'gru', 'lstm-attention', 'transformer'] as const;
export type QualityModel = (typeof QUALITY_MODELS)[number];

/** One model's training settings, the same on both sides. */
export interface QualitySettings {
  /** Sequences per step. */
  batch: number;
  /** BPTT window (recurrent) or random window length (lstm-attention, transformer). */
  seq: number;
  lr: number;
  /** Global gradient-norm limit. */
  clip: number;
  /** Our registry's model options (src/models/*.ts); the peer gets the resolved config. */
  modelOptions: Record<string, unknown>;
}

/**
 * The settings per model. Recurrent: hidden 256, a 64-dimensional embedding, BPTT 64, batch 32.
 * lstm-attention: the same LSTM on random windows of 64 (its sampling window `context` = 64, the
 * trained length). Transformer: d_model 128, 4 heads, 4 pre-LN blocks, GELU FFN 512, learned
 * positions, windows of 128 = its context, lr 1e-3. Dropout (once ours has it): `dropout: 0.2` in
 * modelOptions, one line per model.
 */
export const QUALITY_SETTINGS: Record<QualityModel, QualitySettings> = {
  rnn: { batch: 32, seq: 64, lr: 2e-3, clip: 5, modelOptions: { hidden: 256, embed: 64, layers: 1 } },
  lstm: { batch: 32, seq: 64, lr: 3e-3, clip: 5, modelOptions: { hidden: 256, embed: 64, layers: 1 } },
  gru: { batch: 32, seq: 64, lr: 3e-3, clip: 5, modelOptions: { hidden: 256, embed: 64, layers: 1, gruVariant: 'pytorch' } },
  'lstm-attention': { batch: 32, seq: 64, lr: 3e-3, clip: 5, modelOptions: { hidden: 256, embed: 64, layers: 1, context: 64 } },
  transformer: {
    batch: 32, seq: 128, lr: 1e-3, clip: 5,
    modelOptions: { dModel: 128, heads: 4, layers: 4, ffn: 'gelu', ffHidden: 512, context: 128, norm: 'layernorm', positions: 'learned', tie: false },
  },
};

/** --settings: per model (or "*" for every model) any of the settings; modelOptions are merged key by key. */
export type SettingsOverrides = Partial<Record<QualityModel | '*', Partial<QualitySettings>>>;

const SETTING_KEYS = ['batch', 'seq', 'lr', 'clip', 'modelOptions'] as const;

/** Why `value` is not a SettingsOverrides (one line), or null when it is one. */
export function checkSettingsOverrides(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object {"<model>|*": {…}}';
  for (const [model, s] of Object.entries(value)) {
    if (model !== '*' && !(QUALITY_MODELS as readonly string[]).includes(model)) {
      return `unknown model '${model}' (expected ${QUALITY_MODELS.join(', ')} or *)`;
    }
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return `${model}: expected an object of settings`;
    for (const [k, v] of Object.entries(s)) {
      if (!(SETTING_KEYS as readonly string[]).includes(k)) return `${model}: unknown setting '${k}' (expected ${SETTING_KEYS.join(', ')})`;
      if (k === 'modelOptions' ? typeof v !== 'object' || v === null || Array.isArray(v) : typeof v !== 'number' || !(v >= 0)) {
        return `${model}.${k}: expected ${k === 'modelOptions' ? 'an object' : 'a number ≥ 0'}, got ${JSON.stringify(v)}`;
      }
    }
  }
  return null;
}

/** QUALITY_SETTINGS[model] with the overrides for "*" and then for the model applied. */
export function resolveSettings(model: QualityModel, overrides: SettingsOverrides = {}): QualitySettings {
  const base = QUALITY_SETTINGS[model];
  const all = overrides['*'] ?? {}, own = overrides[model] ?? {};
  return {
    ...base, ...all, ...own,
    modelOptions: { ...base.modelOptions, ...all.modelOptions, ...own.modelOptions },
  };
}

export interface QualityOptions {
  /** A --data value (path or $HANDGRAD_DATA corpus name) or a loaded corpus; default 'alice'. */
  data?: string | Corpus;
  models?: readonly QualityModel[];
  /** Training time per model and side, ms (default 5 min). */
  timeMs?: number;
  /** Our wasm threads (default 2). */
  threads?: number;
  /** torch.set_num_threads of the peer; default: its best of 1 and `threads`, by a short trial per model. */
  peerThreads?: number;
  /** Validation cadence in training time, ms (default 10 s). */
  valEveryMs?: number;
  valFraction?: number;
  valBatches?: number;
  settings?: SettingsOverrides;
  /** Characters sampled from each side (default 400; 0: none). */
  sampleChars?: number;
  temperature?: number;
  seed?: number;
  /** false: ours only. */
  peer?: boolean;
  /** Write the JSON report to this file (e.g. docs/quality-alice.json). */
  out?: string | null;
  command?: string;
  onProgress?: (line: string) => void;
}

export interface CurvePoint {
  /** Training time at the validated step, s. */
  seconds: number;
  step: number;
  valLoss: number;
}

/** One side's result for one model. */
export interface QualitySide {
  params: number;
  steps: number;
  /** Training time, s (validation excluded on both sides). */
  seconds: number;
  /** Training tokens per second of time in training steps. */
  tokensPerSec: number;
  /** Mean training loss of the last ≤ 50 steps. */
  trainLoss: number | null;
  bestValLoss: number | null;
  /** Training time of the best validation, s. */
  bestAtSeconds: number | null;
  finalValLoss: number | null;
  curve: CurvePoint[];
  /** Sampled from the best weights; '' when none was asked for. */
  sample: string;
}

export interface PeerSide extends QualitySide {
  torch: string;
  /** torch.set_num_threads of the run. */
  threads: number;
  /** The trial that chose it (tokens/s at each choice), [] when there was one choice. */
  threadTrials: { threads: number; tokensPerSec: number }[];
  blasCore: BlasCore | null;
  /** What the peer read from the token files: must equal the report's counts. */
  trainTokens: number;
  valTokens: number;
}

export interface QualityRow {
  model: QualityModel;
  settings: QualitySettings;
  /** The model config ours was built with (registry defaults filled in); the peer builds the same. */
  modelConfig: Record<string, unknown>;
  ours: QualitySide;
  peer: PeerSide | null;
  /** Why there is no peer result, or the peer's version and interpreter. */
  peerNote: string;
  /** Our best weights validated by ours and by the peer's model (null: no peer). */
  parity: { ours: number; peer: number | null };
  /** ours.bestValLoss − peer.bestValLoss (≤ 0: ours at least as good); null without both. */
  bestValDelta: number | null;
  loadBefore: number;
  loadAfter: number;
}

export interface QualityReport {
  date: string;
  cpu: string;
  node: string;
  backend: string;
  threads: number;
  /** The peer's thread counts: one, or the choices its trial picks the fastest of. */
  peerThreadChoices: number[];
  python: string | null;
  corpus: string;
  corpusSource: string;
  corpusChars: number;
  vocabSize: number;
  trainTokens: number;
  valTokens: number;
  valFraction: number;
  valBatches: number;
  timeSeconds: number;
  valEverySeconds: number;
  temperature: number;
  sampleChars: number;
  seed: number;
  command: string;
  loadBefore: number;
  loadAfter: number;
  rows: QualityRow[];
}

const here = dirname(fileURLToPath(import.meta.url));
export const PEER_SCRIPT = join(here, 'peers', 'torch_char_lm.py');

/** Token ids as little-endian int32, the peer's input format. */
export function writeIds(file: string, ids: ArrayLike<number>): void {
  const buf = Buffer.alloc(ids.length * 4);
  for (let i = 0; i < ids.length; i++) buf.writeInt32LE(ids[i], i * 4);
  writeFileSync(file, buf);
}

/** The peer's config file (see torch_char_lm.py). */
export interface PeerConfig {
  model: QualityModel;
  modelConfig: Record<string, unknown>;
  batch: number;
  seq: number;
  lr: number;
  clip: number;
  seed: number;
  threadChoices: number[];
  timeSec: number;
  valEverySec: number;
  valBatches: number;
  trainIds: string;
  valIds: string;
  sampleChars: number;
  sampleSeed: number;
  temperature: number;
  promptId: number;
  parityWeights: string | null;
  parityOnly?: boolean;
}

/** What the peer prints (one JSON line per config file). */
export interface PeerOutput {
  torch: string;
  threads: number;
  threadTrials?: { threads: number; tokensPerSec: number }[];
  blasCore: BlasCore | null;
  trainTokens: number;
  valTokens: number;
  trainIdSum: number;
  valIdSum: number;
  params: number;
  parityValLoss: number | null;
  steps?: number;
  seconds?: number;
  tokensPerSec?: number;
  trainLoss?: number | null;
  curve?: CurvePoint[];
  bestValLoss?: number | null;
  finalValLoss?: number | null;
  sampleIds?: number[];
}

/**
 * Runs the peer on config files (one JSON output line each, in order) in the peer environment
 * (bench/peer-env.ts) with `threads` BLAS/OpenMP threads (the most it may use); its stderr lines
 * go to `onLine`. Rejects with one line on failure.
 */
export function runPeer(python: string, configFiles: string[], threads: number, onLine: (line: string) => void = () => {}): Promise<PeerOutput[]> {
  return new Promise((resolve, reject) => {
    let stdout = '', errTail = '', partial = '';
    const child = spawn(python, [PEER_SCRIPT, ...configFiles], { env: peerEnv(threads), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) { if (l.trim()) { onLine(l); errTail = l; } }
    });
    child.on('error', (e) => reject(new Error(`${python} could not start: ${e.message}`)));
    child.on('close', (code) => {
      if (partial.trim()) errTail = partial.trim();
      if (code === 3) return reject(new Error(`${python}: import torch fails (not installed there)`));
      const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
      if (code !== 0 || lines.length !== configFiles.length) {
        return reject(new Error(`the PyTorch peer failed (exit ${code}): ${errTail || 'no output'}`));
      }
      resolve(lines.map((l) => JSON.parse(l) as PeerOutput));
    });
  });
}

/** The token a sample starts from: a line break, as `handgrad sample` without --prime (else token 0). */
export function unprimedStart(tok: Tokenizer): number {
  return tok.covers('\n') ? tok.encode('\n')[0] : 0;
}

const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const sumIds = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; };

/** Best (lowest) point of a curve, or null. */
function bestOf(curve: CurvePoint[]): CurvePoint | null {
  return curve.reduce<CurvePoint | null>((b, p) => (b === null || p.valLoss < b.valLoss ? p : b), null);
}

export async function benchQuality(opts: QualityOptions = {}): Promise<QualityReport> {
  const progress = opts.onProgress ?? (() => {});
  const models = opts.models ?? QUALITY_MODELS;
  const timeMs = opts.timeMs ?? 5 * 60_000;
  const threads = opts.threads ?? 2;
  const peerThreadChoices = opts.peerThreads !== undefined ? [opts.peerThreads] : [...new Set([1, threads])];
  const peerThreadsText = peerThreadChoices.length > 1 ? `best of ${peerThreadChoices.join(' and ')} thread(s)` : `${peerThreadChoices[0]} thread(s)`;
  const valEveryMs = opts.valEveryMs ?? 10_000;
  const valFraction = opts.valFraction ?? 0.1;
  const valBatches = opts.valBatches ?? 50;
  const sampleChars = opts.sampleChars ?? 400;
  const temperature = opts.temperature ?? 0.8;
  const seed = opts.seed ?? 1;
  const sampleSeed = 7;
  const loadBefore = loadavg()[0];

  // ---- the data, as train() will see it ----
  const corpus = typeof opts.data === 'object' ? opts.data : loadCorpus(opts.data ?? 'alice');
  const tokenizer = buildTokenizer(corpus.text, { kind: 'char' });
  const split = splitTokens(tokenizer.encode(corpus.text), valFraction);
  const promptId = unprimedStart(tokenizer);

  const py = opts.peer === false ? { python: null, note: 'not run (--no-peer)' } : findPython('torch');
  const tmp = mkdtempSync(join(tmpdir(), 'handgrad-quality-'));
  const trainIds = join(tmp, 'train.i32'), valIds = join(tmp, 'val.i32');
  writeIds(trainIds, split.train);
  writeIds(valIds, split.val);
  const ops = await createOps({ backend: 'wasm', threads });
  const rows: QualityRow[] = [];
  const makeReport = (rowsSoFar: QualityRow[]): QualityReport => ({
    date: isoNow(), cpu: cpuModel(), node: process.versions.node, backend: ops.name, threads, peerThreadChoices, python: py.python,
    corpus: corpus.name, corpusSource: corpus.source, corpusChars: corpus.text.length, vocabSize: tokenizer.vocabSize,
    trainTokens: split.train.length, valTokens: split.val.length, valFraction, valBatches,
    timeSeconds: timeMs / 1000, valEverySeconds: valEveryMs / 1000, temperature, sampleChars, seed,
    command: opts.command ?? 'npx handgrad bench quality', loadBefore, loadAfter: loadavg()[0], rows: rowsSoFar,
  });
  try {
    for (const model of models) {
      const s = resolveSettings(model, opts.settings);
      const rowLoadBefore = loadavg()[0];
      const sizes = Object.entries(s.modelOptions).map(([k, v]) => `${k} ${v}`).join(', ');
      progress(`${model}: ours, ${secs(timeMs / 1000)} s (batch ${s.batch}, window ${s.seq}, lr ${s.lr}, clip ${s.clip}, ${sizes})`);
      const ours = await trainOurs(model, s, {
        ops, threads, corpus, tokenizer, split, timeMs, valEveryMs, valFraction, valBatches, seed, sampleChars, temperature, sampleSeed, promptId,
        dir: join(tmp, `ours-${model}`), progress,
      });
      progress(`${model}: ours best val ${fmt(ours.side.bestValLoss)} at ${optSecs(ours.side.bestAtSeconds)} s, ${ours.side.steps} steps, ` +
        `${Math.round(ours.side.tokensPerSec)} tokens/s`);
      let peer: PeerSide | null = null, peerNote = py.note, parityPeer: number | null = null;
      if (py.python) {
        progress(`${model}: PyTorch peer (${py.python}, ${peerThreadsText}), ${secs(timeMs / 1000)} s`);
        const cfg: PeerConfig = {
          model, modelConfig: ours.modelConfig, batch: s.batch, seq: s.seq, lr: s.lr, clip: s.clip, seed, threadChoices: peerThreadChoices,
          timeSec: timeMs / 1000, valEverySec: valEveryMs / 1000, valBatches, trainIds, valIds,
          sampleChars, sampleSeed, temperature, promptId, parityWeights: ours.bestWeights,
        };
        const cfgFile = join(tmp, `peer-${model}.json`);
        writeFileSync(cfgFile, JSON.stringify(cfg));
        try {
          const [out] = await runPeer(py.python, [cfgFile], Math.max(...peerThreadChoices), (l) => progress(`  peer: ${l}`));
          if (out.trainTokens !== split.train.length || out.valTokens !== split.val.length ||
            out.trainIdSum !== sumIds(split.train) || out.valIdSum !== sumIds(split.val)) {
            throw new Error(`the peer read other token ids (${out.trainTokens}/${out.valTokens} tokens) than ours (${split.train.length}/${split.val.length})`);
          }
          const curve = out.curve ?? [];
          const best = bestOf(curve);
          peer = {
            params: out.params, steps: out.steps ?? 0, seconds: out.seconds ?? 0, tokensPerSec: out.tokensPerSec ?? 0,
            trainLoss: out.trainLoss ?? null, bestValLoss: best?.valLoss ?? null, bestAtSeconds: best?.seconds ?? null,
            finalValLoss: out.finalValLoss ?? null, curve, sample: tokenizer.decode(out.sampleIds ?? []),
            torch: out.torch, threads: out.threads, threadTrials: out.threadTrials ?? [], blasCore: out.blasCore, trainTokens: out.trainTokens, valTokens: out.valTokens,
          };
          parityPeer = out.parityValLoss;
          peerNote = `torch ${out.torch} via ${py.python}, ${out.threads} thread(s), fp32, ${describePeerMalloc()}; BLAS ${describeBlasCore(out.blasCore)}`;
          progress(`${model}: peer best val ${fmt(peer.bestValLoss)} at ${optSecs(peer.bestAtSeconds)} s, ${peer.steps} steps, ` +
            `${Math.round(peer.tokensPerSec)} tokens/s; parity ${fmt(parityPeer, 5)} (ours ${fmt(ours.parityLoss, 5)})`);
        } catch (e) {
          peerNote = (e as Error).message;
          progress(`${model}: ${peerNote}`);
        }
      }
      rmSync(join(tmp, `ours-${model}`), { recursive: true, force: true });
      rows.push({
        model, settings: s, modelConfig: ours.modelConfig, ours: ours.side, peer, peerNote,
        parity: { ours: ours.parityLoss, peer: parityPeer },
        bestValDelta: peer?.bestValLoss != null && ours.side.bestValLoss !== null ? ours.side.bestValLoss - peer.bestValLoss : null,
        loadBefore: rowLoadBefore, loadAfter: loadavg()[0],
      });
      // After every model, so a run cut off later keeps the models it finished.
      if (opts.out && rows.length < models.length) writeReport(makeReport(rows), opts.out);
    }
  } finally {
    ops.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  const report = makeReport(rows);
  if (opts.out) progress(`wrote ${writeReport(report, opts.out)}`);
  return report;
}

/** Writes the report as indented JSON, creating the folder; returns the file. */
function writeReport(report: QualityReport, file: string): string {
  mkdirSync(dirname(file) || '.', { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

interface OursContext {
  ops: Ops;
  /** The wasm threads of `ops` (each leg opens its own backend with as many). */
  threads: number;
  corpus: Corpus;
  tokenizer: Tokenizer;
  split: { train: Int32Array; val: Int32Array };
  timeMs: number;
  valEveryMs: number;
  valFraction: number;
  valBatches: number;
  seed: number;
  sampleChars: number;
  temperature: number;
  sampleSeed: number;
  promptId: number;
  dir: string;
  progress: (line: string) => void;
}

/**
 * Trains ours in legs of --val-every training time, each a train() call that resumes the previous
 * leg's checkpoint exactly and ends with train()'s own validation (see the top of this file);
 * samples from best/, the weights of the lowest validation loss.
 */
async function trainOurs(model: QualityModel, s: QualitySettings, c: OursContext):
  Promise<{ side: QualitySide; modelConfig: Record<string, unknown>; bestWeights: string; parityLoss: number }> {
  const spec = getModel(model);
  let trainedMs = 0;        // training time so far: the run's clock less the validations
  let clockAtLegStart = 0;  // the run's clock (train()'s elapsedMs, validations included) where a leg starts
  let lastStepClock = 0;
  let nextNote = 60_000;
  const reporter: TrainReporter = {
    step: (i) => {
      lastStepClock = i.elapsedMs;
      const t = trainedMs + i.elapsedMs - clockAtLegStart;
      if (t >= nextNote) {
        c.progress(`  ours: step ${i.step}, ${(t / 1000).toFixed(0)} s, loss ${i.loss.toFixed(3)}, ${Math.round(i.tokensPerSec)} tokens/s`);
        nextNote += 60_000;
      }
    },
  };
  const curve: CurvePoint[] = [];
  let summary: TrainSummary | null = null;
  for (let leg = 1; ; leg++) {
    const target = Math.min(leg * c.valEveryMs, c.timeMs);
    // A step longer than --val-every can carry a leg past the next target too: no empty leg for it.
    if (target <= trainedMs) {
      if (target >= c.timeMs) break;
      continue;
    }
    const timeMs = clockAtLegStart + (target - trainedMs);
    // Each leg on a backend of its own, disposed when the leg ends: a WASM heap never shrinks, so
    // legs sharing one backend kept every leg's model, optimizer and activations (the transformer's
    // 20 legs ran out of the 4 GiB WebAssembly can address). Same backend and threads every leg, so
    // the resume stays exact.
    const legBackend = { backend: 'wasm' as const, threads: c.threads };
    summary = await train(leg === 1 ? {
      model, modelOptions: s.modelOptions, data: c.corpus, tokenizer: 'char', timeMs,
      batch: s.batch, seq: s.seq, lr: s.lr, optimizer: 'adam', weightDecay: 0, schedule: 'constant', warmup: 0, clip: s.clip, seed: c.seed,
      valEvery: 0, valFraction: c.valFraction, valBatches: c.valBatches, valData: null,
      sampler: spec.stateful ? 'sequential' : 'random', out: c.dir, ...legBackend, reporter,
    } : { model, resume: c.dir, data: c.corpus, timeMs, ...legBackend, reporter });
    // The leg stopped at the first check of its clock at or past the limit: after a last step that
    // ended past it, or after the bookkeeping that follows a step (metrics, progress) crossed it.
    trainedMs += Math.max(lastStepClock, timeMs) - clockAtLegStart;
    clockAtLegStart = (readCheckpoint(c.dir).state.training as { elapsedMs: number }).elapsedMs;
    curve.push({ seconds: round3(trainedMs / 1000), step: summary.steps, valLoss: summary.valLoss! });
    if (target >= c.timeMs) break;
  }
  if (summary === null) throw new Error(`${model}: no training leg ran`); // the first leg always runs
  const best = loadCheckpoint(join(c.dir, BEST_DIR), c.ops);
  const training = best.files!.state.training as { data?: { trainTokens?: number; valTokens?: number } };
  // The peer trains on the bench's own split: it must be the one train() made.
  if (JSON.stringify(best.tokenizer.toJSON()) !== JSON.stringify(c.tokenizer.toJSON()) ||
    training.data?.trainTokens !== c.split.train.length || training.data?.valTokens !== c.split.val.length) {
    throw new Error(`${model}: train() split the data differently from the bench (${training.data?.trainTokens}/${training.data?.valTokens} tokens, ` +
      `bench ${c.split.train.length}/${c.split.val.length}); the peer would not see the same ids`);
  }
  const bestPoint = bestOf(curve)!;
  let sample = '';
  if (c.sampleChars > 0) {
    const ids = sampleTokens(best.model, [c.promptId], { length: c.sampleChars, temperature: c.temperature, rng: new Rng(c.sampleSeed) });
    sample = c.tokenizer.decode(ids);
  }
  // The best weights, for the peer's parity check (the run folder is removed after the peer).
  const weights = join(dirname(c.dir), `ours-${model}-best.safetensors`);
  writeFileSync(weights, readFileSync(join(best.files!.dir, WEIGHTS_FILE)));
  return {
    side: {
      params: summary.params, steps: summary.steps, seconds: round3(trainedMs / 1000), tokensPerSec: summary.tokensPerSec,
      trainLoss: Number.isFinite(summary.trainLoss) ? summary.trainLoss : null,
      bestValLoss: bestPoint.valLoss, bestAtSeconds: bestPoint.seconds, finalValLoss: summary.valLoss, curve, sample,
    },
    modelConfig: best.files!.state.config,
    bestWeights: weights,
    parityLoss: bestPoint.valLoss,
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
/** Seconds as the report prints them: whole seconds, tenths below 10 s. */
const secs = (x: number) => (Math.abs(x) < 10 ? x.toFixed(1) : x.toFixed(0));
const optSecs = (x: number | null | undefined) => (x === null || x === undefined ? '—' : secs(x));
const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

/** The human-readable report. */
/**
 * The validation curves as one SVG, a chart per model (ours and the peer, nats/char against
 * training seconds), for docs next to the JSON report.
 */
export function qualityCurvesSvg(r: QualityReport): string {
  const charts = r.rows.map((x) => {
    const series: Series[] = [{ name: `ours (best ${fmt(x.ours.bestValLoss)})`, points: x.ours.curve.map((p) => [p.seconds, p.valLoss]), markers: true }];
    if (x.peer) series.push({ name: `PyTorch (best ${fmt(x.peer.bestValLoss)})`, points: x.peer.curve.map((p) => [p.seconds, p.valLoss]), markers: true });
    return linePlot({ title: `${x.model}: validation loss on ${r.corpus}'s held-out tail`, xLabel: 'training seconds', yLabel: 'nats/char', series });
  });
  return stackSvgs(charts);
}

export function formatQualityReport(r: QualityReport): string[] {
  const lines = [
    `quality on ${r.corpus} (${r.corpusChars.toLocaleString('en-US')} chars, vocab ${r.vocabSize}; train ${r.trainTokens.toLocaleString('en-US')} / ` +
      `validation ${r.valTokens.toLocaleString('en-US')} tokens, the last ${r.valFraction}), ${r.timeSeconds} s of training per model and side, ` +
      `validation every ${r.valEverySeconds} s of training time`,
    `${r.cpu}, Node ${r.node}, ${r.backend} ${r.threads} thread(s); PyTorch peer ${r.peerThreadChoices.length > 1 ? `best of ${r.peerThreadChoices.join(' and ')} thread(s) per model` : `${r.peerThreadChoices[0]} thread(s)`} (${r.python ?? 'no python with torch'}); ` +
      `load ${r.loadBefore.toFixed(2)} → ${r.loadAfter.toFixed(2)}`,
    '',
    `${'model'.padEnd(15)} ${'params'.padStart(9)} | ${'ours best'.padStart(9)} ${'at s'.padStart(5)} ${'steps'.padStart(6)} ${'tok/s'.padStart(7)} | ` +
      `${'torch best'.padStart(10)} ${'at s'.padStart(5)} ${'steps'.padStart(6)} ${'tok/s'.padStart(7)} ${'thr'.padStart(3)} | ${'Δ best'.padStart(7)} | parity ours / torch`,
  ];
  for (const x of r.rows) {
    const p = x.peer;
    lines.push(`${x.model.padEnd(15)} ${String(x.ours.params).padStart(9)} | ${fmt(x.ours.bestValLoss).padStart(9)} ${optSecs(x.ours.bestAtSeconds).padStart(5)} ` +
      `${String(x.ours.steps).padStart(6)} ${String(Math.round(x.ours.tokensPerSec)).padStart(7)} | ` +
      `${fmt(p?.bestValLoss).padStart(10)} ${optSecs(p?.bestAtSeconds).padStart(5)} ${String(p?.steps ?? '—').padStart(6)} ` +
      `${(p ? String(Math.round(p.tokensPerSec)) : '—').padStart(7)} ${String(p?.threads ?? '—').padStart(3)} | ${(x.bestValDelta === null ? '—' : (x.bestValDelta > 0 ? '+' : '') + x.bestValDelta.toFixed(3)).padStart(7)} | ` +
      `${fmt(x.parity.ours, 5)} / ${fmt(x.parity.peer, 5)}${p && p.params !== x.ours.params ? `  (peer params ${p.params})` : ''}`);
  }
  lines.push('', 'validation curves (training s: nats/char):');
  const curve = (c: CurvePoint[]) => c.map((q) => `${secs(q.seconds)}:${q.valLoss.toFixed(3)}`).join(' ');
  for (const x of r.rows) {
    lines.push(`  ${x.model} ours  ${curve(x.ours.curve)}`);
    lines.push(`  ${x.model} torch ${x.peer ? curve(x.peer.curve) : x.peerNote}`);
  }
  if (r.sampleChars > 0) {
    for (const x of r.rows) {
      lines.push('', `${x.model}, ours (best weights, temperature ${r.temperature}, unprimed):`, x.ours.sample);
      if (x.peer) lines.push('', `${x.model}, PyTorch (best weights, temperature ${r.temperature}, unprimed):`, x.peer.sample);
    }
  }
  const notes = [...new Set(r.rows.map((x) => x.peerNote))];
  lines.push('', `peer: ${notes.join('; ')}`);
  return lines;
}
