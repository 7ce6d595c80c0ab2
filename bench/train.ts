// Recurrent LM training throughput: tokens/s of whole training steps (forward + backward + grad
// clipping + Adam) of the rnn / lstm / gru models on random tokens (vocabulary 65), on the WASM
// backend, with the model's FLOP rate set against the GEMM kernel's own square-matrix GFLOP/s
// measured in the same process with the same thread count.
//
// Configs (the standard char-LM configs of ../shared/notes/toolchain.md), always 1 layer,
// a learned 64-dimensional embedding (not one-hot), BPTT window 64:
//   small:  hidden 128, batch 16        medium: hidden 256, batch 32
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
// (torch.set_num_threads) and reported at its best setting, with ours/PyTorch ratios. The Python
// is the first of $HANDGRAD_PYTHON (alone, when set), `python3`, `/usr/bin/python3` in which
// `import torch` works (a pyenv `python3` often lacks the distribution's python3-torch);
// otherwise the report says it was not available.
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
// A benchmark reports; it never asserts a speed.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Ops } from '../src/ops/types.js';
import { createWasmOps } from '../src/backends/wasm/index.js';
import { cpuModel } from '../src/backends/wasm/runtime.js';
import { RecurrentLM, type CellKind } from '../src/models/recurrent-lm.js';
import { TransformerLM } from '../src/models/transformer.js';
import type { SequenceModel, TokenBatch } from '../src/models/types.js';
import { zeroGrads } from '../src/layers/param.js';
import { Adam, type ParamRef } from '../src/train/optimizers.js';
import { clipGradNorm } from '../src/train/clip.js';
import { Rng } from '../src/util/rng.js';

export type TrainBenchModel = CellKind | 'transformer';
export const TRAIN_BENCH_MODELS: readonly TrainBenchModel[] = ['lstm', 'gru', 'rnn', 'transformer'];
export type TrainBenchConfig = 'small' | 'medium';
export const TRAIN_BENCH_CONFIGS: readonly TrainBenchConfig[] = ['small', 'medium'];

export const CONFIGS: Record<TrainBenchConfig, { hidden: number; batch: number; seq: number; embed: number; vocab: number; layers: number }> = {
  small: { hidden: 128, batch: 16, seq: 64, embed: 64, vocab: 65, layers: 1 },
  medium: { hidden: 256, batch: 32, seq: 64, embed: 64, vocab: 65, layers: 1 },
};

/** The one transformer config (see the top of this file). `seq` = the window = `context`. */
export const TRANSFORMER_CONFIG = {
  dModel: 128, heads: 4, layers: 4, context: 128, ffHidden: 512, batch: 32, seq: 128, vocab: 65,
} as const;
export type TransformerBenchConfig = typeof TRANSFORMER_CONFIG;

/** The batch and window of a model/config pair (the transformer has its own single config). */
function shape(model: TrainBenchModel, config: TrainBenchConfig): { batch: number; seq: number; vocab: number } {
  return model === 'transformer' ? TRANSFORMER_CONFIG : CONFIGS[config];
}

export interface TrainBenchOptions {
  model: TrainBenchModel;
  config: TrainBenchConfig;
  /** GEMM threads, the calling thread included (default: every core). */
  threads?: number;
  /** Timed training steps (default 30 small, 15 medium, 10 transformer), after 3 warm-up steps. */
  steps?: number;
  /** Run the PyTorch CPU peer when torch imports (default true). */
  peer?: boolean;
  /** PyTorch thread settings to try (default 1 and 2). */
  peerThreads?: number[];
  onProgress?: (line: string) => void;
}

/** The JSON line: what was asked for, the figures (null when not measured). */
export interface TrainBenchResult {
  model: TrainBenchModel;
  /** 'transformer' for the transformer's single config. */
  config: TrainBenchConfig | 'transformer';
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
}

/** Model FLOPs (matrix products only) per training token; see the top of this file. */
export function flopsPerToken(model: TrainBenchModel, c: { hidden: number; embed: number; vocab: number; layers: number } | TransformerBenchConfig): number {
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Tokens/s of full training steps of the model on `ops`, and the square GEMM's GFLOP/s (A·B,
 * n = 512) on the same ops. The two are measured in alternation (one training step, then one
 * GEMM rep of similar length, …) and each figure is the median of its reps, so a machine whose
 * load changes during the run (a shared CI box) shifts both alike and the ratio stays fair.
 */
export function measureTraining(ops: Ops, model: TrainBenchModel, config: TrainBenchConfig, steps: number):
  { tokensPerSec: number; gemmGflops: number } {
  const c = shape(model, config);
  const rng = new Rng(42);
  let m: SequenceModel;
  if (model === 'transformer') {
    const t = TRANSFORMER_CONFIG;
    m = new TransformerLM(ops, {
      vocabSize: t.vocab, layers: t.layers, heads: t.heads, dModel: t.dModel, ffHidden: t.ffHidden, context: t.context,
      norm: 'layernorm', ffn: 'swiglu', positions: 'learned', tie: false,
    }, rng);
  } else {
    const r = CONFIGS[config];
    m = new RecurrentLM(ops, model, { vocabSize: r.vocab, hidden: r.hidden, layers: r.layers, embed: r.embed }, rng);
  }
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
  const stepTimes: number[] = [], gemmTimes: number[] = [];
  for (let k = 0; k < steps; k++) {
    stepTimes.push(time(() => step(k)));
    gemmTimes.push(time(() => { for (let i = 0; i < iters; i++) gemm(); }) / iters);
  }
  return { tokensPerSec: n / median(stepTimes), gemmGflops: (2 * N * N * N) / median(gemmTimes) / 1e9 };
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

export async function benchTrain(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
  const tx = opts.model === 'transformer';
  const c = CONFIGS[opts.config];
  const steps = opts.steps ?? (tx ? 10 : opts.config === 'small' ? 30 : 15);
  const ops = await createWasmOps({ threads, onNotice: progress });
  let tokensPerSec: number, gemmGflops: number;
  try {
    const t = TRANSFORMER_CONFIG;
    progress(tx
      ? `measuring transformer (d_model ${t.dModel}, ${t.heads} heads, ${t.layers} layers, context/window ${t.seq}, SwiGLU ${t.ffHidden}, batch ${t.batch}, vocab ${t.vocab}) on ${ops.name}, ${threads} thread(s), ${steps} steps`
      : `measuring ${opts.model} ${opts.config} (hidden ${c.hidden}, batch ${c.batch}, BPTT ${c.seq}, embed ${c.embed}, vocab ${c.vocab}) on ${ops.name}, ${threads} thread(s), ${steps} steps`);
    ({ tokensPerSec, gemmGflops } = measureTraining(ops, opts.model, opts.config, steps));
  } finally {
    ops.dispose();
  }
  const fpt = tx ? transformerFlopsPerToken(TRANSFORMER_CONFIG) : flopsPerToken(opts.model, c);
  const fptCausal = tx ? transformerFlopsPerToken(TRANSFORMER_CONFIG, true) : null;
  const modelGflops = (tokensPerSec * fpt) / 1e9;
  let torchTokensPerSec: number | null = null, torchThreads: number | null = null;
  const torchRuns: { threads: number; tokensPerSec: number }[] = [];
  let peerNote = 'PyTorch peer not run (--no-peer)';
  if (opts.peer ?? true) {
    const py = findTorchPython();
    if (!py.python) {
      peerNote = py.note;
    } else {
      const notes: string[] = [];
      let versionNote = '';
      for (const t of [...new Set(opts.peerThreads ?? [1, 2])]) {
        progress(`PyTorch CPU peer (${py.python}), ${t} thread(s)…`);
        const r = await torchPeer(py.python, opts.model, opts.config, t, steps);
        if (r.tokensPerSec === null) { notes.push(`${t} thread(s): ${r.note}`); continue; }
        torchRuns.push({ threads: t, tokensPerSec: round(r.tokensPerSec) });
        if (torchTokensPerSec === null || r.tokensPerSec > torchTokensPerSec) { torchTokensPerSec = r.tokensPerSec; torchThreads = t; }
        versionNote = r.note;
      }
      peerNote = [versionNote, ...notes].filter(Boolean).join('; ') || 'no PyTorch run';
    }
  }
  const same = torchRuns.find((r) => r.threads === threads);
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  return {
    model: opts.model, config: tx ? 'transformer' : opts.config, threads,
    tokensPerSec: round(tokensPerSec), modelGflops: round(modelGflops), gemmGflops: round(gemmGflops),
    utilisation: Number((modelGflops / gemmGflops).toFixed(3)), flopsPerToken: fpt,
    flopsPerTokenCausal: fptCausal,
    utilisationCausal: fptCausal === null ? null : Number(((tokensPerSec * fptCausal) / 1e9 / gemmGflops).toFixed(3)),
    steps,
    kernelPath: ops.name, cpu: cpuModel(),
    torchTokensPerSec: torchTokensPerSec === null ? null : round(torchTokensPerSec), torchThreads, torchRuns,
    ratioVsTorchBest: torchTokensPerSec === null ? null : ratio(tokensPerSec, torchTokensPerSec),
    ratioVsTorchSameThreads: same ? ratio(tokensPerSec, same.tokensPerSec) : null,
    peerNote,
  };
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** Human-readable lines for the report (the JSON line is printed by the caller). */
export function formatTrainReport(r: TrainBenchResult): string[] {
  const name = r.model === 'transformer'
    ? `transformer (d_model ${TRANSFORMER_CONFIG.dModel}, ${TRANSFORMER_CONFIG.heads} heads, ${TRANSFORMER_CONFIG.layers} layers, window ${TRANSFORMER_CONFIG.seq}, SwiGLU ${TRANSFORMER_CONFIG.ffHidden}, batch ${TRANSFORMER_CONFIG.batch})`
    : `${r.model} ${r.config}`;
  const lines = [
    `${name}: ${r.tokensPerSec.toLocaleString('en-US')} tokens/s (forward + backward + clip + Adam), ${r.threads} thread(s), ${r.kernelPath}, ${r.cpu}`,
    `  model FLOP rate ${r.modelGflops} GFLOP/s (${(r.flopsPerToken / 1e6).toFixed(3)} MFLOP/token, GEMMs only${r.flopsPerTokenCausal !== null ? ', attention full T×T' : ''}) = ` +
      `${(100 * r.utilisation).toFixed(1)}% of the square GEMM's ${r.gemmGflops} GFLOP/s (n = 512, same process, same threads)`,
  ];
  if (r.flopsPerTokenCausal !== null && r.utilisationCausal !== null) {
    lines.push(`  with attention counted causally (${(r.flopsPerTokenCausal / 1e6).toFixed(3)} MFLOP/token): ${(100 * r.utilisationCausal).toFixed(1)}%`);
  }
  if (r.torchTokensPerSec !== null) {
    for (const run of r.torchRuns) {
      lines.push(`  PyTorch CPU peer, ${run.threads} thread(s): ${run.tokensPerSec.toLocaleString('en-US')} tokens/s; ours/torch ${(r.tokensPerSec / run.tokensPerSec).toFixed(2)}`);
    }
    lines.push(`  PyTorch best: ${r.torchThreads} thread(s), ${r.torchTokensPerSec.toLocaleString('en-US')} tokens/s (${r.peerNote}); ` +
      `ratio ours (${r.threads} thread(s)) / torch best ${r.ratioVsTorchBest!.toFixed(2)}` +
      (r.ratioVsTorchSameThreads !== null ? `, at the same thread count ${r.ratioVsTorchSameThreads.toFixed(2)}` : ''));
  } else {
    lines.push(`  PyTorch CPU peer: ${r.peerNote}`);
  }
  return lines;
}

// ---- the PyTorch peer --------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url));

let torchPython: { python: string | null; note: string } | undefined;

/**
 * The first Python in which `import torch` works: $HANDGRAD_PYTHON alone when set, else `python3`
 * then `/usr/bin/python3`. Cached for the process.
 */
export function findTorchPython(): { python: string | null; note: string } {
  if (torchPython) return torchPython;
  const override = process.env.HANDGRAD_PYTHON;
  const candidates = override ? [override] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return (torchPython = { python: py, note: '' });
    tried.push(r.error ? `${py}: ${r.error.message}` : `${py}: import torch fails`);
  }
  return (torchPython = { python: null, note: `not available (no Python with torch; tried ${tried.join(', ')}${override ? ' from HANDGRAD_PYTHON' : '; set HANDGRAD_PYTHON'})` });
}

async function torchPeer(python: string, model: TrainBenchModel, config: TrainBenchConfig, threads: number, steps: number):
  Promise<{ tokensPerSec: number | null; note: string }> {
  const script = join(here, 'peers', model === 'transformer' ? 'torch_transformer_train.py' : 'torch_rnn_train.py');
  const args = JSON.stringify(model === 'transformer' ? { model, ...TRANSFORMER_CONFIG, threads, steps } : { model, ...CONFIGS[config], threads, steps });
  const t = String(threads);
  const env = { ...process.env, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t };
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: string }>((resolve) => {
    let stdout = '', stderr = '';
    const child = spawn(python, [script, args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', (e) => resolve({ code: null, stdout, stderr, error: e.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  if (r.error) return { tokensPerSec: null, note: `not available (${python} could not start: ${r.error})` };
  if (r.code === 3) return { tokensPerSec: null, note: `not available (${python} -c 'import torch' fails: PyTorch is not installed there)` };
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(last) as { tokensPerSec: number; torch: string; threads: number };
    return { tokensPerSec: out.tokensPerSec, note: `torch ${out.torch} via ${python}, fp32` };
  } catch {
    const why = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
    return { tokensPerSec: null, note: `failed (${why})` };
  }
}
