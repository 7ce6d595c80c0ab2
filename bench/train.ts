// Recurrent LM training throughput: tokens/s of whole training steps (forward + backward + grad
// clipping + Adam) of the rnn / lstm / gru models on random tokens (vocabulary 65), on the WASM
// backend, with the model's FLOP rate set against the GEMM kernel's own square-matrix GFLOP/s
// measured in the same process with the same thread count.
//
// Configs (the standard char-LM configs of ../shared/notes/toolchain.md), always 1 layer,
// a learned 64-dimensional embedding (not one-hot), BPTT window 64:
//   small:  hidden 128, batch 16        medium: hidden 256, batch 32
// and the seed notebooks' setting:
//   seed:   hidden 100, batch 1 (one sequence), BPTT 25, embedding 65 = the vocabulary (the
//           notebooks feed one-hot characters: a 65-wide embedding gives every contender the same
//           input-projection GEMM as their one-hot product)
// --hidden, --batch and --seq override a config's sizes for the recurrent models.
//
// Model FLOPs per token count the matrix products only: 2 flops per multiply-add, forward once
// and backward twice (the input gradient and the weight gradient each cost a forward's worth):
//   FLOPs/token = 6 · Σ_products (multiply-adds per token)
//   per layer:  I·gH (input projection) + H·gH (recurrent), g = 1 (rnn), 3 (gru), 4 (lstm)
//   head:       H·V
// The embedding lookup, the cells, softmax and Adam are not counted (they are the overhead the
// utilisation figure exposes). Utilisation = model GFLOP/s ÷ square GEMM GFLOP/s (n = 512, A·B),
// the two measured in alternation in the same process (see measureTraining).
//
// Peer: PyTorch on the CPU (torch.nn.LSTM/GRU/RNN, same sizes, Adam, clipping, fp32, tokens
// counted the same way: batch·BPTT per step over the median step time), run at 1 and 2 threads
// (torch.set_num_threads) and reported at its best setting, with ours/PyTorch ratios.
// For the LSTM also the seeds' own style (bench/peers/numpy_seed_lstm.py): NumPy, one-hot input,
// four gate matrices, a Python loop over the time steps with manual BPTT, Adam, clipping at 5, at
// the same sizes (a batch of one sequence with --config seed), at 1 and 2 OpenBLAS threads, best
// reported, with ours/NumPy and PyTorch/NumPy ratios.
// Both peers run at full strength (bench/peer-env.ts: without this environment's
// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE guards, and with glibc's MALLOC_TOP_PAD_ so that a step's
// freed temporaries are reused instead of faulted in again: 2–2.5× for PyTorch here) and the
// report names the kernel OpenBLAS chose and the malloc setting. The
// Python is the first of $HANDGRAD_PYTHON (alone, when set), `python3`, `/usr/bin/python3` in
// which `import torch` (`import numpy`) works; otherwise the report says the peer was not available.
//
// Transformer (`--model transformer`, `--config` ignored): the decoder-only TransformerLM of
// src/models/transformer.ts at d_model C = 128, 4 heads, N = 4 layers, context = window T = 128,
// SwiGLU hidden F = 512, pre-LayerNorm, learned positions, untied head, batch 32, vocab 65, Adam,
// clip 5; random windows (not stateful). FLOPs per token, 6 × multiply-adds as above:
//   per layer:  4·C² (Q, K, V, output projections) + 3·C·F (SwiGLU: gate, up, down)
//               + 2·T·C (attention: QKᵀ and P·V, each T·d per head per token, H·d = C)
//   head:       C·V
// The attention term is counted FULL (T×T scores), as both ours and the PyTorch peer compute them
// (the causal mask is applied after the full QKᵀ product); the causal-only count (half of it,
// (T+1)/2 instead of T keys on average) is reported alongside as `flopsPerTokenCausal`.
// Its peer is bench/peers/torch_transformer_train.py (the same decoder built by hand in PyTorch).
//
// Rounds (`--rounds N`, N ≥ 2; benchTrainRounds): paired and interleaved. On a shared machine the
// peers' speed moves by up to 2× from one minute to the next (PyTorch's LSTM read 15k–37k tokens/s
// in rounds a minute apart on a 2-core VM), so a ratio whose two sides were measured ~20 s apart
// flips between commands. So ours (a TrainingSession: model built and warmed up once) and every peer
// at every thread setting (a `--serve` process, bench/peer-server.ts and bench/peers/serve_steps.py)
// are started once, and each round gives each of them a short turn of K steps (about 1.5 s, sized
// from its warm-up step; --steps sets K), back to back, in an order rotated every round, with a
// pause after a multi-threaded peer's turn while its BLAS threads spin down. A round's figures are
// the medians of its steps; its ratios set ours against each peer's best thread setting of that
// round, so both sides of a ratio come from the same few seconds. The summary gives the per-round
// ratios, their median and range, and best ÷ best. `--rounds 1` is the single measurement above.
//
// memory-lm (`--model memory-lm`, `--config` ignored): src/models/memory-lm.ts at the config of the
// Alice run in docs/results.md (`handgrad train memory-lm --d-model 56 --batch 16 --seq 64`, the
// other options at their defaults): d_model C = 56, H = 4 heads of d = 14, N = 2 blocks, 3 memory
// levels (periods 1, 4, 16; delta rule, inner GD, normalised keys), SwiGLU F = 152 (the auto width
// of C = 56), batch 16, window T = 64, vocab 73 (Alice's characters: 122,528 parameters, as that
// run had), Adam, clip 5; random windows. FLOPs per token, 6 × multiply-adds as above:
//   per layer:  3·levels·C² (each level of each head projects to its own k, q [d] and v [d]:
//               H·levels·3·C·d) + C² (output projection) + 3·C·F (SwiGLU)
//               + 3·H·levels·d² (the memory recurrence: M·k and the outer-product write, M·q)
//   head:       C·V
// The recurrence is no GEMM, but it is the model's token mixer, counted as the transformer's
// attention is. No PyTorch peer: there is no standard PyTorch version of this model to compare with.
// A benchmark reports; it never asserts a speed.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Ops } from '../src/ops/types.js';
import { createWasmOps } from '../src/backends/wasm/index.js';
import { cpuModel } from '../src/backends/wasm/runtime.js';
import { RecurrentLM, type CellKind } from '../src/models/recurrent-lm.js';
import { TransformerLM } from '../src/models/transformer.js';
import { MemoryLM, MEMORY_LM_DEFAULTS } from '../src/models/memory-lm.js';
import type { SequenceModel, TokenBatch } from '../src/models/types.js';
import { zeroGrads } from '../src/layers/param.js';
import { Adam, type ParamRef } from '../src/train/optimizers.js';
import { clipGradNorm } from '../src/train/clip.js';
import { Rng } from '../src/util/rng.js';
import { describeBlasCore, describePeerMalloc, findPython, peerEnv, type BlasCore } from './peer-env.js';
import { startPeerServer, type PeerServer } from './peer-server.js';

export type TrainBenchModel = CellKind | 'transformer' | 'memory-lm';
export const TRAIN_BENCH_MODELS: readonly TrainBenchModel[] = ['lstm', 'gru', 'rnn', 'transformer', 'memory-lm'];
export type TrainBenchConfig = 'small' | 'medium' | 'seed';
export const TRAIN_BENCH_CONFIGS: readonly TrainBenchConfig[] = ['small', 'medium', 'seed'];

/** The sizes of a recurrent model's benchmark. */
export interface RecurrentSizes { hidden: number; batch: number; seq: number; embed: number; vocab: number; layers: number }

export const CONFIGS: Record<TrainBenchConfig, RecurrentSizes> = {
  small: { hidden: 128, batch: 16, seq: 64, embed: 64, vocab: 65, layers: 1 },
  medium: { hidden: 256, batch: 32, seq: 64, embed: 64, vocab: 65, layers: 1 },
  seed: { hidden: 100, batch: 1, seq: 25, embed: 65, vocab: 65, layers: 1 },
};

/** The sizes the command line can override (--hidden, --batch, --seq). */
export type SizeOverrides = Partial<Pick<RecurrentSizes, 'hidden' | 'batch' | 'seq'>>;

/** A recurrent config's sizes with the overrides applied. */
export function recurrentSizes(config: TrainBenchConfig, overrides: SizeOverrides = {}): RecurrentSizes {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...CONFIGS[config], ...given };
}

/** The one transformer config (see the top of this file). `seq` = the window = `context`. */
export const TRANSFORMER_CONFIG = {
  dModel: 128, heads: 4, layers: 4, context: 128, ffHidden: 512, batch: 32, seq: 128, vocab: 65,
} as const;
export type TransformerBenchConfig = typeof TRANSFORMER_CONFIG;

/** memory-lm's one config: the Alice run of docs/results.md (see the top of this file). */
export const MEMORY_LM_CONFIG = {
  dModel: 56, heads: 4, layers: 2, levels: 3, periodBase: 4, ffHidden: 152, batch: 16, seq: 64, vocab: 73,
} as const;
export type MemoryLMBenchConfig = typeof MEMORY_LM_CONFIG;

/** The batch and window of a model/config pair (the transformer and memory-lm have one config each). */
function shape(model: TrainBenchModel, config: TrainBenchConfig | RecurrentSizes): { batch: number; seq: number; vocab: number } {
  return model === 'transformer' ? TRANSFORMER_CONFIG : model === 'memory-lm' ? MEMORY_LM_CONFIG
    : typeof config === 'string' ? CONFIGS[config] : config;
}

export interface TrainBenchOptions {
  model: TrainBenchModel;
  config: TrainBenchConfig;
  /** Recurrent models: sizes that replace the config's (--hidden, --batch, --seq). */
  sizes?: SizeOverrides;
  /** GEMM threads, the calling thread included (default: every core). */
  threads?: number;
  /** Timed training steps (default 30 small, 15 medium, 100 seed, 10 transformer and memory-lm), after 3 warm-up steps. */
  steps?: number;
  /** Run the peers (PyTorch CPU; for the LSTM also the NumPy seed-style one) where they import (default true). */
  peer?: boolean;
  /** Peer thread settings to try (default 1 and 2). */
  peerThreads?: number[];
  /** Which peers to run, where the model has them (default both; a test runs only the quick NumPy one). */
  peerKinds?: ('torch' | 'numpy')[];
  onProgress?: (line: string) => void;
}

/** The JSON line: what was asked for, the figures (null when not measured). */
export interface TrainBenchResult {
  model: TrainBenchModel;
  /** The model's name for the transformer's and memory-lm's single configs. */
  config: TrainBenchConfig | 'transformer' | 'memory-lm';
  /** Recurrent models: the sizes run (the config's, with --hidden/--batch/--seq applied); null otherwise. */
  sizes: RecurrentSizes | null;
  threads: number;
  tokensPerSec: number;
  modelGflops: number;
  gemmGflops: number;
  utilisation: number;
  flopsPerToken: number;
  /** Transformer only: FLOPs per token with attention counted causally (null otherwise). */
  flopsPerTokenCausal: number | null;
  /** Transformer only: utilisation with the causal count (null otherwise). */
  utilisationCausal: number | null;
  steps: number;
  kernelPath: string;
  cpu: string;
  /** PyTorch CPU peer: tokens/s at its best thread setting, or null with the reason in `peerNote`. */
  torchTokensPerSec: number | null;
  /** The thread count of that best PyTorch figure. */
  torchThreads: number | null;
  /** Every PyTorch run: its thread count and tokens/s. */
  torchRuns: { threads: number; tokensPerSec: number }[];
  /** ours / PyTorch at its best thread setting. */
  ratioVsTorchBest: number | null;
  /** ours / PyTorch at our thread count (null when that count was not run). */
  ratioVsTorchSameThreads: number | null;
  peerNote: string;
  /** The kernel OpenBLAS chose in the PyTorch peer (Debian's torch runs on OpenBLAS); null when not run. */
  torchBlasCore: BlasCore | null;
  /** LSTM only: the NumPy seed-style peer's tokens/s at its best thread setting, or null with the reason in `numpyNote`. */
  numpyTokensPerSec: number | null;
  numpyThreads: number | null;
  numpyRuns: { threads: number; tokensPerSec: number }[];
  /** ours / NumPy seed style at its best thread setting. */
  ratioVsNumpyBest: number | null;
  /** ours / NumPy seed style at our thread count (null when that count was not run). */
  ratioVsNumpySameThreads: number | null;
  /** PyTorch best / NumPy seed style best. */
  torchVsNumpy: number | null;
  numpyNote: string;
  numpyBlasCore: BlasCore | null;
}

/** Model FLOPs (matrix products only) per training token; see the top of this file. */
export function flopsPerToken(model: TrainBenchModel,
  c: { hidden: number; embed: number; vocab: number; layers: number } | TransformerBenchConfig | MemoryLMBenchConfig): number {
  if (model === 'memory-lm' || 'levels' in c) return memoryLmFlopsPerToken(c as MemoryLMBenchConfig);
  if (model === 'transformer' || 'dModel' in c) return transformerFlopsPerToken(c as TransformerBenchConfig);
  const g = model === 'lstm' ? 4 : model === 'gru' ? 3 : 1;
  let macs = c.hidden * c.vocab;
  for (let l = 0; l < c.layers; l++) macs += (l === 0 ? c.embed : c.hidden) * g * c.hidden + c.hidden * g * c.hidden;
  return 6 * macs;
}

/**
 * Transformer FLOPs per training token (fwd + bwd, 6 × multiply-adds): 4C² + 3CF + 2TC per layer
 * (attention full, T keys per query; `causal`: (T+1)/2 keys on average) plus the head C·V.
 */
export function transformerFlopsPerToken(c: TransformerBenchConfig, causal = false): number {
  const C = c.dModel, F = c.ffHidden, T = c.seq;
  const keys = causal ? (T + 1) / 2 : T;
  return 6 * (c.layers * (4 * C * C + 3 * C * F + 2 * keys * C) + C * c.vocab);
}

/**
 * memory-lm FLOPs per training token (fwd + bwd, 6 × multiply-adds): per layer 3·levels·C² (the
 * levels' k, v, q projections) + C² (output) + 3·C·F (SwiGLU) + 3·H·levels·d² (the recurrence),
 * plus the head C·V.
 */
export function memoryLmFlopsPerToken(c: MemoryLMBenchConfig): number {
  const C = c.dModel, d = C / c.heads;
  return 6 * (c.layers * (3 * c.levels * C * C + C * C + 3 * C * c.ffHidden + 3 * c.heads * c.levels * d * d) + C * c.vocab);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The benchmarked model of a model/config pair, initialised from `rng`. */
export function buildModel(ops: Ops, model: TrainBenchModel, config: TrainBenchConfig | RecurrentSizes, rng: Rng): SequenceModel {
  if (model === 'transformer') {
    const t = TRANSFORMER_CONFIG;
    return new TransformerLM(ops, {
      vocabSize: t.vocab, layers: t.layers, heads: t.heads, dModel: t.dModel, ffHidden: t.ffHidden, context: t.context,
      norm: 'layernorm', ffn: 'swiglu', positions: 'learned', tie: false,
    }, rng);
  }
  if (model === 'memory-lm') {
    const k = MEMORY_LM_CONFIG;
    return new MemoryLM(ops, {
      ...MEMORY_LM_DEFAULTS, vocabSize: k.vocab, layers: k.layers, heads: k.heads, dModel: k.dModel, ffHidden: k.ffHidden,
      levels: k.levels, periodBase: k.periodBase,
    }, rng);
  }
  const r = typeof config === 'string' ? CONFIGS[config] : config;
  return new RecurrentLM(ops, model, { vocabSize: r.vocab, hidden: r.hidden, layers: r.layers, embed: r.embed }, rng);
}

/**
 * A training run of the benchmarked model on `ops`, built and warmed up once, that times steps on
 * demand: `run(K)` gives K training-step times and K square-GEMM rep times (A·B, n = 512, same ops)
 * taken in alternation (see run). One measurement calls run once (measureTraining); the paired
 * rounds of `--rounds N` call it once per round, between the peers' turns.
 */
export interface TrainingSession {
  /** batch · window: the tokens of one step. */
  tokensPerStep: number;
  /** FLOPs of one square GEMM rep (2n³). */
  gemmFlops: number;
  /** The last warm-up step's time and one GEMM rep's, in seconds (to size a round). */
  warmupStepSeconds: number;
  warmupGemmSeconds: number;
  /** GEMM calls per timed GEMM rep (about one training step long). */
  gemmItersPerRep: number;
  run(steps: number): { stepSeconds: number[]; gemmSeconds: number[] };
}

/**
 * Builds the model (seeded 42), the optimizer, the batch and the GEMM operands, and warms up (3
 * training steps, 5 GEMMs). The steps of successive run() calls continue the same training run.
 */
export function startTrainingSession(ops: Ops, model: TrainBenchModel, config: TrainBenchConfig | RecurrentSizes): TrainingSession {
  const c = shape(model, config);
  const rng = new Rng(42);
  const m = buildModel(ops, model, config, rng);
  const refs: ParamRef[] = m.params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows }));
  const grads = m.params.map((p) => p.grad);
  const opt = new Adam(ops);
  const n = c.batch * c.seq;
  const batch: TokenBatch = { inputs: ops.ints(n), targets: ops.ints(n), batch: c.batch, time: c.seq };
  // A random token stream cut into consecutive windows, as the sequential batcher would hand out.
  const stream = Int32Array.from({ length: n * 8 + 1 }, () => rng.int(0, c.vocab));
  const step = (k: number) => {
    const off = (k % 8) * n;
    const inp = batch.inputs.data, tgt = batch.targets.data;
    for (let i = 0; i < n; i++) { inp[i] = stream[off + i]; tgt[i] = stream[off + i + 1]; }
    zeroGrads(ops, m.params);
    m.forwardBackward(batch, true);
    clipGradNorm(ops, grads, 5);
    opt.step(refs, 2e-3);
  };
  const N = 512;
  const A = ops.tensor(N * N), B = ops.tensor(N * N), C = ops.tensor(N * N);
  rng.fillNormal(A.data);
  rng.fillNormal(B.data);
  const gemm = () => ops.gemm(false, false, N, N, N, 1, A, B, 0, C);
  // Warm-up: JIT tiers, buffers, worker threads; and how long one of each takes.
  let stepSeconds = 0, gemmSeconds = 0;
  for (let k = 0; k < 3; k++) stepSeconds = time(() => step(k));
  for (let k = 0; k < 5; k++) gemmSeconds = time(gemm);
  const iters = Math.max(1, Math.round(stepSeconds / gemmSeconds));
  let next = 0; // the pair of steps the next timed step belongs to
  return {
    tokensPerStep: n, gemmFlops: 2 * N * N * N, warmupStepSeconds: stepSeconds, warmupGemmSeconds: gemmSeconds, gemmItersPerRep: iters,
    run(steps: number) {
      const stepTimes: number[] = [], gemmTimes: number[] = [];
      for (let i = 0; i < steps; i++, next++) {
        // The GEMM's 3 MiB of operands evict the model's weights, gradients and Adam moments from L2;
        // a training loop (and the peers, which time steps back to back) never runs a step on caches
        // flushed like that. So one untimed step re-warms them and the step after it is timed: at the
        // seed shape (1.2 MB of state) the first step after a GEMM rep took ~50% longer.
        step(2 * next);
        stepTimes.push(time(() => step(2 * next + 1)));
        gemmTimes.push(time(() => { for (let j = 0; j < iters; j++) gemm(); }) / iters);
      }
      return { stepSeconds: stepTimes, gemmSeconds: gemmTimes };
    },
  };
}

/**
 * Tokens/s of full training steps of the model on `ops`, and the square GEMM's GFLOP/s (A·B,
 * n = 512) on the same ops. The two are measured in alternation (one training step, then one
 * GEMM rep of similar length, …) and each figure is the median of its reps, so a machine whose
 * load changes during the run (a shared CI box) shifts both alike and the ratio stays fair. Each
 * timed step follows an untimed one, so it runs on caches a training step left, not a GEMM.
 */
export function measureTraining(ops: Ops, model: TrainBenchModel, config: TrainBenchConfig | RecurrentSizes, steps: number):
  { tokensPerSec: number; gemmGflops: number } {
  const session = startTrainingSession(ops, model, config);
  return sessionFigures(session, session.run(steps));
}

/** tokens/s (median step) and the square GEMM's GFLOP/s (median rep) of one run() of a session. */
function sessionFigures(s: TrainingSession, r: { stepSeconds: number[]; gemmSeconds: number[] }): { tokensPerSec: number; gemmGflops: number } {
  return { tokensPerSec: s.tokensPerStep / median(r.stepSeconds), gemmGflops: s.gemmFlops / median(r.gemmSeconds) / 1e9 };
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/** One peer's runs at each thread setting, the best of them, and what it ran on. */
interface PeerRuns {
  best: number | null;
  bestThreads: number | null;
  runs: { threads: number; tokensPerSec: number }[];
  note: string;
  blasCore: BlasCore | null;
}

/** Runs a training peer script at each thread setting; `note` names the version and interpreter or says why not. */
async function runPeerAtThreads(module: 'torch' | 'numpy', script: string, config: Record<string, unknown>, threadSettings: number[],
  progress: (l: string) => void, label: string): Promise<PeerRuns> {
  const out: PeerRuns = { best: null, bestThreads: null, runs: [], note: '', blasCore: null };
  const py = findPython(module);
  if (!py.python) return { ...out, note: py.note };
  const notes: string[] = [];
  let versionNote = '';
  for (const t of [...new Set(threadSettings)]) {
    progress(`${label} (${py.python}), ${t} thread(s)…`);
    const r = await trainPeer(py.python, module, script, { ...config, threads: t }, t);
    if (r.tokensPerSec === null) { notes.push(`${t} thread(s): ${r.note}`); continue; }
    out.runs.push({ threads: t, tokensPerSec: round(r.tokensPerSec) });
    if (out.best === null || r.tokensPerSec > out.best) { out.best = r.tokensPerSec; out.bestThreads = t; }
    versionNote = r.note;
    out.blasCore = r.blasCore;
  }
  out.note = [versionNote, ...notes].filter(Boolean).join('; ') || 'no run';
  return out;
}

/** What both a single measurement and the paired rounds need: the sizes, the FLOP counts, the peers to run. */
interface BenchPlan {
  threads: number;
  sizes: RecurrentSizes | null;
  /** The model/config pair the session builds. */
  config: TrainBenchConfig | RecurrentSizes;
  steps: number;
  flopsPerToken: number;
  flopsPerTokenCausal: number | null;
  peerThreads: number[];
  /** Each peer: the script to run (null with the reason in `note` when it is not run). */
  torch: PeerSpec;
  numpy: PeerSpec;
}

interface PeerSpec {
  run: { module: 'torch' | 'numpy'; script: string; config: Record<string, unknown>; label: string } | null;
  note: string;
}

function planBench(opts: TrainBenchOptions): BenchPlan {
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const tx = opts.model === 'transformer', mem = opts.model === 'memory-lm';
  const sizes = tx || mem ? null : recurrentSizes(opts.config, opts.sizes);
  const steps = opts.steps ?? (tx || mem ? 10 : opts.config === 'small' ? 30 : opts.config === 'seed' ? 100 : 15);
  const fpt = tx ? transformerFlopsPerToken(TRANSFORMER_CONFIG) : mem ? memoryLmFlopsPerToken(MEMORY_LM_CONFIG) : flopsPerToken(opts.model, sizes!);
  const why = opts.peer === false ? ' (--no-peer)' : '';
  let torch: PeerSpec = { run: null, note: `PyTorch peer not run${why}` };
  if (mem) {
    torch = { run: null, note: 'none for memory-lm (there is no standard PyTorch version of this model)' };
  } else if ((opts.peer ?? true) && (opts.peerKinds ?? ['torch']).includes('torch')) {
    torch = {
      run: {
        module: 'torch', script: tx ? 'torch_transformer_train.py' : 'torch_rnn_train.py', label: 'PyTorch CPU peer',
        config: tx ? { model: opts.model, ...TRANSFORMER_CONFIG, steps } : { model: opts.model, ...sizes, steps },
      },
      note: '',
    };
  }
  let numpy: PeerSpec = { run: null, note: `NumPy peer not run${why}` };
  if (opts.model !== 'lstm') {
    numpy = { run: null, note: `none for ${opts.model} (the seed-style NumPy peer is an LSTM)` };
  } else if ((opts.peer ?? true) && (opts.peerKinds ?? ['numpy']).includes('numpy')) {
    numpy = {
      run: {
        module: 'numpy', script: 'numpy_seed_lstm.py', label: 'NumPy seed-style peer',
        config: { hidden: sizes!.hidden, batch: sizes!.batch, seq: sizes!.seq, vocab: sizes!.vocab, steps },
      },
      note: '',
    };
  }
  return {
    threads, sizes, config: sizes ?? opts.config, steps, flopsPerToken: fpt,
    flopsPerTokenCausal: tx ? transformerFlopsPerToken(TRANSFORMER_CONFIG, true) : null,
    peerThreads: [...new Set(opts.peerThreads ?? [1, 2])], torch, numpy,
  };
}

/** The result object of one measurement (or one round) from ours and the peers' figures. */
function benchResult(opts: TrainBenchOptions, plan: BenchPlan, kernelPath: string, steps: number,
  ours: { tokensPerSec: number; gemmGflops: number }, torch: PeerRuns, numpy: PeerRuns): TrainBenchResult {
  const { tokensPerSec, gemmGflops } = ours;
  const tx = opts.model === 'transformer', mem = opts.model === 'memory-lm';
  const modelGflops = (tokensPerSec * plan.flopsPerToken) / 1e9;
  const fptCausal = plan.flopsPerTokenCausal;
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  const same = (p: PeerRuns) => {
    const run = p.runs.find((r) => r.threads === plan.threads);
    return run ? ratio(tokensPerSec, run.tokensPerSec) : null;
  };
  return {
    model: opts.model, config: tx || mem ? opts.model as 'transformer' | 'memory-lm' : opts.config, sizes: plan.sizes, threads: plan.threads,
    tokensPerSec: round(tokensPerSec), modelGflops: round(modelGflops), gemmGflops: round(gemmGflops),
    utilisation: Number((modelGflops / gemmGflops).toFixed(3)), flopsPerToken: plan.flopsPerToken,
    flopsPerTokenCausal: fptCausal,
    utilisationCausal: fptCausal === null ? null : Number(((tokensPerSec * fptCausal) / 1e9 / gemmGflops).toFixed(3)),
    steps,
    kernelPath, cpu: cpuModel(),
    torchTokensPerSec: torch.best === null ? null : round(torch.best), torchThreads: torch.bestThreads, torchRuns: torch.runs,
    ratioVsTorchBest: torch.best === null ? null : ratio(tokensPerSec, torch.best),
    ratioVsTorchSameThreads: same(torch),
    peerNote: torch.note, torchBlasCore: torch.blasCore,
    numpyTokensPerSec: numpy.best === null ? null : round(numpy.best), numpyThreads: numpy.bestThreads, numpyRuns: numpy.runs,
    ratioVsNumpyBest: numpy.best === null ? null : ratio(tokensPerSec, numpy.best),
    ratioVsNumpySameThreads: same(numpy),
    torchVsNumpy: torch.best === null || numpy.best === null ? null : ratio(torch.best, numpy.best),
    numpyNote: numpy.note, numpyBlasCore: numpy.blasCore,
  };
}

const notRun = (note: string): PeerRuns => ({ best: null, bestThreads: null, runs: [], note, blasCore: null });

export async function benchTrain(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  const plan = planBench(opts);
  const ops = await createWasmOps({ threads: plan.threads, onNotice: progress });
  let ours: { tokensPerSec: number; gemmGflops: number };
  try {
    progress(`measuring ${describeConfig(opts.model, opts.config, plan.sizes)}, vocab ${shape(opts.model, plan.config).vocab}, on ${ops.name}, ${plan.threads} thread(s), ${plan.steps} steps`);
    ours = measureTraining(ops, opts.model, plan.config, plan.steps);
  } finally {
    ops.dispose();
  }
  const peer = async (p: PeerSpec) => p.run
    ? runPeerAtThreads(p.run.module, p.run.script, p.run.config, plan.peerThreads, progress, p.run.label)
    : notRun(p.note);
  const torch = await peer(plan.torch);
  const numpy = await peer(plan.numpy);
  return benchResult(opts, plan, ops.name, plan.steps, ours, torch, numpy);
}

// ---- paired rounds: ours and every peer as persistent sessions, interleaved in short turns ----

/** Each contender's timed steps per round aim at about this many seconds (without --steps). */
export const ROUND_SECONDS = 1.5;

/**
 * Steps per round for a contender whose one timed step costs `stepSeconds` of wall time: enough for
 * about ROUND_SECONDS, at least 3 (a median), at most 5000; `given` (--steps) wins.
 */
export function stepsPerRound(stepSeconds: number, given?: number): number {
  if (given !== undefined) return given;
  return Math.min(5000, Math.max(3, Math.round(ROUND_SECONDS / Math.max(stepSeconds, 1e-6))));
}

/**
 * A Python peer with OpenBLAS (or torch's OpenMP) threads keeps them spinning for a while after its
 * last call before they sleep, taking a core from whoever runs next; the kernel bench measured a
 * 1-thread figure after a 2-thread OpenBLAS turn as bimodal with a 0.2 s pause and steady with 1 s
 * (bench/kernels/paired.ts). So a multi-threaded peer's turn is followed by this pause.
 */
const SPIN_DOWN_SECONDS = 1.0;

export interface TrainRoundsOptions extends TrainBenchOptions {
  /** Rounds (≥ 1); each: ours, then every peer at every thread setting, order rotated per round. */
  rounds: number;
  /** Pause after a multi-threaded peer's turn, in seconds (default SPIN_DOWN_SECONDS; a test sets 0). */
  spinDownSeconds?: number;
  /** Called with each round's result as it completes (1-based round number). */
  onRound?: (result: TrainBenchResult, round: number) => void;
}

export interface TrainRoundsReport { rounds: TrainBenchResult[]; summary: TrainRoundsSummary }

/** One contender of the paired rounds: ours (a TrainingSession) or a peer server at one thread count. */
interface Contender {
  key: string;
  steps: number;
  /** Seconds to pause after its turn. */
  settle: number;
  /** Its tokens/s this round, or null with the reason. */
  turn(): Promise<{ tokensPerSec: number; gemmGflops?: number } | { failed: string }>;
  peer: { kind: 'torch' | 'numpy'; threads: number; version: string; blasCore: BlasCore | null; dead: boolean } | null;
}

/**
 * `bench train --rounds N`: ours and every peer server are started once (model built, warmed up),
 * then N rounds, each a turn of every contender (ours: K steps alternated with square-GEMM reps as
 * in measureTraining; each peer: K steps), back to back, the order rotated each round. Each round's
 * figures are the medians of its steps; its ratios set ours against the peers' best thread setting
 * of that round. Every server is closed at the end, also on error.
 */
export async function benchTrainRounds(opts: TrainRoundsOptions): Promise<TrainRoundsReport> {
  if (!(opts.rounds >= 1)) throw new RangeError('benchTrainRounds: rounds must be at least 1');
  const progress = opts.onProgress ?? (() => {});
  const plan = planBench(opts);
  const ops = await createWasmOps({ threads: plan.threads, onNotice: progress });
  const servers: PeerServer[] = [];
  const results: TrainBenchResult[] = [];
  const stepsOf: Record<string, number> = {};
  try {
    progress(`paired rounds: ${describeConfig(opts.model, opts.config, plan.sizes)}, vocab ${shape(opts.model, plan.config).vocab}, ` +
      `on ${ops.name}, ${plan.threads} thread(s); warming up`);
    const session = startTrainingSession(ops, opts.model, plan.config);
    const oursWall = 2 * session.warmupStepSeconds + session.gemmItersPerRep * session.warmupGemmSeconds;
    const oursSteps = stepsPerRound(oursWall, opts.steps);
    const contenders: Contender[] = [{
      key: 'ours', steps: oursSteps, settle: 0, peer: null,
      turn: async () => sessionFigures(session, session.run(oursSteps)),
    }];
    const startNotes: Record<'torch' | 'numpy', string[]> = { torch: [], numpy: [] };
    for (const spec of [plan.torch, plan.numpy]) {
      if (!spec.run) continue;
      const run = spec.run;
      const config = { ...run.config };
      delete config.steps; // a server's turns are sized per request
      for (const t of plan.peerThreads) {
        progress(`starting the ${run.label} (${t} thread(s)): model, optimizer, 3 warm-up steps…`);
        const server = await startPeerServer({
          module: run.module, script: join(here, 'peers', run.script), args: [JSON.stringify({ ...config, threads: t })], threads: t,
        });
        if (typeof server === 'string') {
          startNotes[run.module].push(`${t} thread(s): ${server}`);
          if (server.startsWith('not available')) break; // no use trying the other thread counts
          continue;
        }
        servers.push(server);
        const ready = server.ready;
        const warm = Array.isArray(ready.warmupSeconds) ? (ready.warmupSeconds as number[]) : [];
        const tokensPerStep = Number(ready.tokensPerStep);
        const steps = stepsPerRound(warm.length ? warm[warm.length - 1] : 1, opts.steps);
        const version = run.module === 'torch' ? `torch ${String(ready.torch)}` : `NumPy ${String(ready.numpy)}`;
        const peer = {
          kind: run.module, threads: t, blasCore: (ready.blasCore as BlasCore | undefined) ?? null, dead: false,
          version: `${version} via ${server.python}, ${ready.dtype === 'float64' ? 'fp64' : 'fp32'}, ${describePeerMalloc()}`,
        };
        let id = 0;
        contenders.push({
          key: `${run.module}${t}t`, steps, settle: t > 1 ? opts.spinDownSeconds ?? SPIN_DOWN_SECONDS : 0, peer,
          turn: async () => {
            const reply = await server.ask({ id: ++id, steps }, 60 + 20 * steps * (warm.length ? Math.max(...warm) : 1));
            const times = reply?.times;
            if (Array.isArray(times) && times.length === steps && times.every((x) => typeof x === 'number' && x > 0)) {
              return { tokensPerSec: tokensPerStep / median(times as number[]) };
            }
            const died = server.failure();
            if (died) peer.dead = true;
            return { failed: died || (reply && typeof reply.error === 'string' ? reply.error : 'an unreadable reply') };
          },
        });
      }
    }
    for (const c of contenders) stepsOf[c.key] = c.steps;
    progress(`${opts.rounds} rounds of ${contenders.map((c) => `${c.key} ${c.steps} steps`).join(', ')}, back to back, order rotated each round`);
    for (let r = 0; r < opts.rounds; r++) {
      progress(`round ${r + 1} of ${opts.rounds}`);
      const shift = r % contenders.length;
      const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
      let ours: { tokensPerSec: number; gemmGflops: number } | null = null;
      const got: Record<'torch' | 'numpy', PeerRuns> = {
        torch: { best: null, bestThreads: null, runs: [], note: '', blasCore: null },
        numpy: { best: null, bestThreads: null, runs: [], note: '', blasCore: null },
      };
      const failures: Record<'torch' | 'numpy', string[]> = { torch: [], numpy: [] };
      for (const c of order) {
        if (c.peer?.dead) continue;
        const out = await c.turn();
        if ('failed' in out) {
          const p = c.peer!;
          const why = `${p.threads} thread(s) failed in round ${r + 1}: ${out.failed}`;
          if (p.dead) startNotes[p.kind].push(`${why}; left out from then on`); // in every later round's note too
          else failures[p.kind].push(why);
        } else if (c.peer === null) {
          ours = { tokensPerSec: out.tokensPerSec, gemmGflops: out.gemmGflops! };
        } else {
          const g = got[c.peer.kind];
          g.runs.push({ threads: c.peer.threads, tokensPerSec: round(out.tokensPerSec) });
          if (g.best === null || out.tokensPerSec > g.best) { g.best = out.tokensPerSec; g.bestThreads = c.peer.threads; }
          g.blasCore = c.peer.blasCore;
        }
        if (c.settle > 0) await sleep(c.settle * 1000);
      }
      const peerRuns = (kind: 'torch' | 'numpy', spec: PeerSpec): PeerRuns => {
        if (!spec.run) return notRun(spec.note);
        const g = got[kind];
        g.runs.sort((a, b) => a.threads - b.threads);
        const version = contenders.find((c) => c.peer?.kind === kind)?.peer?.version ?? '';
        g.note = [version, ...startNotes[kind], ...failures[kind]].filter(Boolean).join('; ') || 'no run';
        return g;
      };
      const result = benchResult(opts, plan, ops.name, oursSteps, ours!, peerRuns('torch', plan.torch), peerRuns('numpy', plan.numpy));
      results.push(result);
      opts.onRound?.(result, r + 1);
    }
  } finally {
    try {
      await Promise.all(servers.map((s) => s.close())); // first: a failing dispose() must not leave them running
    } finally {
      ops.dispose();
    }
  }
  return { rounds: results, summary: summariseRounds(results, stepsOf) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** The model and its sizes, for the progress line and the report. */
function describeConfig(model: TrainBenchModel, config: TrainBenchConfig | 'transformer' | 'memory-lm', sizes: RecurrentSizes | null): string {
  if (model === 'transformer') {
    const t = TRANSFORMER_CONFIG;
    return `transformer (d_model ${t.dModel}, ${t.heads} heads, ${t.layers} layers, window ${t.seq}, SwiGLU ${t.ffHidden}, batch ${t.batch})`;
  }
  if (model === 'memory-lm') {
    const k = MEMORY_LM_CONFIG, periods = Array.from({ length: k.levels }, (_, l) => k.periodBase ** l).join('/');
    return `memory-lm (d_model ${k.dModel}, ${k.heads} heads, ${k.layers} blocks, ${k.levels} levels every ${periods} tokens, ` +
      `SwiGLU ${k.ffHidden}, window ${k.seq}, batch ${k.batch}: the Alice config of docs/results.md)`;
  }
  const c = sizes ?? CONFIGS[config as TrainBenchConfig];
  const base = CONFIGS[config as TrainBenchConfig];
  const changed = base && (c.hidden !== base.hidden || c.batch !== base.batch || c.seq !== base.seq);
  return `${model} ${config}${changed ? ' with overrides' : ''} (hidden ${c.hidden}, batch ${c.batch}, BPTT ${c.seq}, embed ${c.embed})`;
}

/** Human-readable lines for the report (the JSON line is printed by the caller). */
export function formatTrainReport(r: TrainBenchResult): string[] {
  const what = r.model === 'transformer' ? 'GEMMs only, attention full T×T' : r.model === 'memory-lm' ? 'GEMMs and the memory recurrence' : 'GEMMs only';
  const num = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `${describeConfig(r.model, r.config, r.sizes)}: ${num(r.tokensPerSec)} tokens/s (forward + backward + clip + Adam), ${r.threads} thread(s), ${r.kernelPath}, ${r.cpu}`,
    `  model FLOP rate ${r.modelGflops} GFLOP/s (${(r.flopsPerToken / 1e6).toFixed(3)} MFLOP/token, ${what}) = ` +
      `${(100 * r.utilisation).toFixed(1)}% of the square GEMM's ${r.gemmGflops} GFLOP/s (n = 512, same process, same threads)`,
  ];
  if (r.flopsPerTokenCausal !== null && r.utilisationCausal !== null) {
    lines.push(`  with attention counted causally (${(r.flopsPerTokenCausal / 1e6).toFixed(3)} MFLOP/token): ${(100 * r.utilisationCausal).toFixed(1)}%`);
  }
  if (r.torchTokensPerSec !== null) {
    for (const run of r.torchRuns) {
      lines.push(`  PyTorch CPU peer, ${run.threads} thread(s): ${num(run.tokensPerSec)} tokens/s; ours/torch ${(r.tokensPerSec / run.tokensPerSec).toFixed(2)}`);
    }
    lines.push(`  PyTorch best: ${r.torchThreads} thread(s), ${num(r.torchTokensPerSec)} tokens/s (${r.peerNote}, OpenBLAS core ${describeBlasCore(r.torchBlasCore)}); ` +
      `ratio ours (${r.threads} thread(s)) / torch best ${r.ratioVsTorchBest!.toFixed(2)}` +
      (r.ratioVsTorchSameThreads !== null ? `, at the same thread count ${r.ratioVsTorchSameThreads.toFixed(2)}` : ''));
  } else {
    lines.push(`  PyTorch CPU peer: ${r.peerNote}`);
  }
  if (r.numpyTokensPerSec !== null) {
    for (const run of r.numpyRuns) {
      lines.push(`  NumPy seed-style peer, ${run.threads} thread(s): ${num(run.tokensPerSec)} tokens/s; ours/NumPy ${(r.tokensPerSec / run.tokensPerSec).toFixed(2)}`);
    }
    lines.push(`  NumPy seed-style best: ${r.numpyThreads} thread(s), ${num(r.numpyTokensPerSec)} tokens/s (${r.numpyNote}, OpenBLAS core ${describeBlasCore(r.numpyBlasCore)}); ` +
      `ratio ours (${r.threads} thread(s)) / NumPy best ${r.ratioVsNumpyBest!.toFixed(2)}` +
      (r.ratioVsNumpySameThreads !== null ? `, at the same thread count ${r.ratioVsNumpySameThreads.toFixed(2)}` : '') +
      (r.torchVsNumpy !== null ? `; torch best / NumPy best ${r.torchVsNumpy.toFixed(2)}` : ''));
  } else if (r.model === 'lstm') {
    lines.push(`  NumPy seed-style peer: ${r.numpyNote}`);
  }
  if (r.model === 'lstm' && (r.torchTokensPerSec !== null || r.numpyTokensPerSec !== null)) {
    const fig = (x: number | null) => (x === null ? 'n/a' : num(x));
    lines.push(`  tokens/s ours ${num(r.tokensPerSec)} vs PyTorch ${fig(r.torchTokensPerSec)} vs NumPy seed style ${fig(r.numpyTokensPerSec)}` +
      ` (ours/torch ${r.ratioVsTorchBest?.toFixed(2) ?? 'n/a'}, ours/NumPy ${r.ratioVsNumpyBest?.toFixed(2) ?? 'n/a'}, torch/NumPy ${r.torchVsNumpy?.toFixed(2) ?? 'n/a'}; peers at their best thread count)`);
  }
  return lines;
}

// ---- the summary over rounds ----------------------------------------------------------------

/** One figure over the rounds: each round's value, their median, and the best. */
export interface RoundFigures { rounds: number[]; median: number; best: number }

/**
 * What --rounds N reports: on a shared machine the peers' tokens/s move by up to 2× from one minute
 * to the next, more than ours, so one ratio says little. Each round (benchTrainRounds) times ours and
 * every peer in short turns back to back, within a few seconds; the per-round ratios, their median
 * and best ÷ best (which favours the noisier side) are the figures to quote. Null where a peer did
 * not run in every round.
 */
export interface TrainRoundsSummary {
  rounds: number;
  /** True for the paired, interleaved rounds of benchTrainRounds (every contender a persistent session). */
  paired: boolean;
  /** Paired rounds: each contender's timed steps per round ("ours", "torch1t", "numpy2t", …); null otherwise. */
  stepsPerRound: Record<string, number> | null;
  tokensPerSec: RoundFigures;
  utilisation: RoundFigures;
  torchTokensPerSec: RoundFigures | null;
  /** ours ÷ PyTorch at its best thread setting, per round; bestOverBest = best ours ÷ best PyTorch. */
  ratioVsTorchBest: (RoundFigures & { min: number; max: number; bestOverBest: number }) | null;
  numpyTokensPerSec: RoundFigures | null;
  ratioVsNumpyBest: (RoundFigures & { min: number; max: number; bestOverBest: number }) | null;
}

function figures(xs: number[]): RoundFigures {
  return { rounds: xs, median: Number(median(xs).toFixed(3)), best: Math.max(...xs) };
}

function ratioFigures(ours: number[], ratios: (number | null)[], peer: (number | null)[]) {
  if (ratios.some((r) => r === null) || peer.some((p) => p === null)) return null;
  const rs = ratios as number[];
  return { ...figures(rs), min: Math.min(...rs), max: Math.max(...rs),
    bestOverBest: Number((Math.max(...ours) / Math.max(...(peer as number[]))).toFixed(3)) };
}

/**
 * The summary over rounds; `stepsPerRound` (each contender's timed steps per round) marks the rounds
 * as paired, interleaved ones (benchTrainRounds).
 */
export function summariseRounds(results: TrainBenchResult[], stepsPerRound: Record<string, number> | null = null): TrainRoundsSummary {
  if (results.length === 0) throw new RangeError('summariseRounds: no rounds');
  const ours = results.map((r) => r.tokensPerSec);
  const torch = results.map((r) => r.torchTokensPerSec), numpy = results.map((r) => r.numpyTokensPerSec);
  return {
    rounds: results.length,
    paired: stepsPerRound !== null,
    stepsPerRound,
    tokensPerSec: figures(ours),
    utilisation: figures(results.map((r) => r.utilisation)),
    torchTokensPerSec: torch.every((t) => t !== null) ? figures(torch as number[]) : null,
    ratioVsTorchBest: ratioFigures(ours, results.map((r) => r.ratioVsTorchBest), torch),
    numpyTokensPerSec: numpy.every((t) => t !== null) ? figures(numpy as number[]) : null,
    ratioVsNumpyBest: ratioFigures(ours, results.map((r) => r.ratioVsNumpyBest), numpy),
  };
}

/** The lines printed after the rounds. */
export function formatRoundsSummary(s: TrainRoundsSummary): string[] {
  const num = (x: number) => x.toLocaleString('en-US');
  const list = (f: RoundFigures, fmt: (x: number) => string) => f.rounds.map(fmt).join(' · ');
  const lines: string[] = [];
  if (s.stepsPerRound) {
    lines.push(`${s.rounds} paired rounds, each: ${Object.entries(s.stepsPerRound).map(([k, n]) => `${k} ${n} steps`).join(', ')}, ` +
      'back to back (order rotated each round; every contender a process started once and warmed up)');
  }
  lines.push(`${s.rounds} rounds: ours ${list(s.tokensPerSec, num)} tokens/s (median ${num(s.tokensPerSec.median)}), ` +
    `utilisation ${list(s.utilisation, (x) => `${(100 * x).toFixed(1)}%`)}`);
  const peer = (name: string, t: RoundFigures | null, r: TrainRoundsSummary['ratioVsTorchBest']) => {
    if (!t || !r) return;
    lines.push(`  ${name} at its best thread setting: ${list(t, num)} tokens/s; ours ÷ it per round ${list(r, (x) => x.toFixed(2))}` +
      ` (median ${r.median.toFixed(2)}, range ${r.min.toFixed(2)}–${r.max.toFixed(2)}; best ÷ best ${r.bestOverBest.toFixed(2)})`);
  };
  peer('PyTorch', s.torchTokensPerSec, s.ratioVsTorchBest);
  peer('NumPy seed style', s.numpyTokensPerSec, s.ratioVsNumpyBest);
  return lines;
}

// ---- the Python peers -------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url));

/**
 * One run of a training peer script (bench/peers/*.py) at `threads` BLAS threads, in the peer
 * environment (bench/peer-env.ts: the OpenBLAS guards removed); its tokens/s, or null with the reason.
 */
async function trainPeer(python: string, module: 'torch' | 'numpy', script: string, config: Record<string, unknown>, threads: number):
  Promise<{ tokensPerSec: number | null; note: string; blasCore: BlasCore | null }> {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: string }>((resolve) => {
    let stdout = '', stderr = '';
    const child = spawn(python, [join(here, 'peers', script), JSON.stringify(config)], { env: peerEnv(threads), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (e) => resolve({ code: null, stdout, stderr, error: e.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  if (r.error) return { tokensPerSec: null, note: `not available (${python} could not start: ${r.error})`, blasCore: null };
  if (r.code === 3) return { tokensPerSec: null, note: `not available (${python} -c 'import ${module}' fails: it is not installed there)`, blasCore: null };
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(last) as { tokensPerSec: number; torch?: string; numpy?: string; dtype?: string; blasCore?: BlasCore };
    const version = module === 'torch' ? `torch ${out.torch}` : `NumPy ${out.numpy}`;
    return { tokensPerSec: out.tokensPerSec, note: `${version} via ${python}, ${out.dtype === 'float64' ? 'fp64' : 'fp32'}, ${describePeerMalloc()}`, blasCore: out.blasCore ?? null };
  } catch {
    const why = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
    return { tokensPerSec: null, note: `failed (${why})`, blasCore: null };
  }
}
