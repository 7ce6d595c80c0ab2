// `handgrad bench moe`: the Mixture-of-Experts transformer (src/models/moe-transformer.ts, kind
// 'moe') next to its dense twin at matched ACTIVE parameters (kind 'moe-dense': the same
// attention, embeddings and head, one feed-forward network as wide as the experts a token runs
// through), on random tokens, on the chosen backend (wasm on the CPU, or cuda).
//
// For each of the two models, in this order, on a backend of its own (so peak memory is its own):
//   training   2 warm-up steps, then timed steps (forward + backward + clip + AdamW) until --steps
//              or --time is reached (at least one): tokens/s = batch·seq·steps ÷ seconds.
//   model FLOP/s  tokens/s × model.flopsPerToken() (the model's own count of the multiply-adds
//              its training step runs per token, × 2; see the model file): TFLOP/s.
//   compute    expertMacs ÷ allExpertsMacs from model.stats() over the timed steps: the expert
//              multiply-adds the router actually sent tokens through, against the dense model
//              with the same TOTAL parameters (every expert on every token). The saving is
//              1 − that ratio, as measured (capacity dropping lowers it; top-k of E gives
//              1 − k/E when nothing is dropped). The source claims 87.5% for its configuration
//              (top-1 of 8); we report what we measure.
//   decode     batch 1 with the key/value cache (nextLogProbs one token at a time): 8 warm-up
//              tokens after a 1-token prompt, then the mean time per token over the next 64
//              (fewer when the context is shorter), greedy picks so no sampling cost is included.
//   memory     wasm: the WASM heap's high-water mark (its memory only grows), bytes; cuda:
//              ops.memory().peakBytes.
// A benchmark reports; it never asserts a speed.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuModel } from '../src/backends/wasm/runtime.js';
import { createOps, type BackendName } from '../src/backends/index.js';
import type { Ops, Tensor } from '../src/ops/types.js';
import { getModel } from '../src/models/registry.js';
import type { SequenceModel, TokenBatch } from '../src/models/types.js';
import { countParams, zeroGrads } from '../src/layers/param.js';
import { createOptimizer, type ParamRef } from '../src/train/optimizers.js';
import { clipGradNorm } from '../src/train/clip.js';
import type { MoeStats } from '../src/train/expert-load.js';
import { Rng } from '../src/util/rng.js';

export type MoeBenchConfig = 'standard' | 'small' | 'tiny';
export const MOE_BENCH_CONFIGS: readonly MoeBenchConfig[] = ['standard', 'small', 'tiny'];

export interface MoeShape {
  vocab: number; context: number; dModel: number; layers: number; heads: number;
  experts: number; topK: number; expertHidden: number; batch: number; seq: number;
}

/**
 * standard: the GPU config of issue #8. small: a CPU-sized one. tiny: a smoke test (seconds).
 * The window `seq` is the full context.
 */
export const MOE_CONFIGS: Record<MoeBenchConfig, MoeShape> = {
  standard: { vocab: 4096, context: 256, dModel: 512, layers: 8, heads: 8, experts: 8, topK: 2, expertHidden: 1024, batch: 32, seq: 256 },
  small: { vocab: 2048, context: 128, dModel: 128, layers: 4, heads: 4, experts: 8, topK: 2, expertHidden: 256, batch: 8, seq: 128 },
  tiny: { vocab: 64, context: 16, dModel: 16, layers: 1, heads: 2, experts: 4, topK: 2, expertHidden: 16, batch: 2, seq: 16 },
};

export interface MoeBenchOptions {
  config: MoeBenchConfig;
  backend?: BackendName;
  /** wasm: threads (default every core). */
  threads?: number;
  /** Timed training steps per model (default: as many as fit in timeMs). */
  steps?: number;
  /** Time budget of the timed training steps per model, ms (default 20 s standard, 5 s small, 0.2 s tiny). */
  timeMs?: number;
  /** Decode tokens timed (default 64). */
  decodeTokens?: number;
  /** Which models (default both). */
  models?: ('moe' | 'moe-dense')[];
  onProgress?: (line: string) => void;
}

export interface MoeModelResult {
  model: 'moe' | 'moe-dense';
  params: number;
  flopsPerToken: number;
  steps: number;
  tokensPerSec: number;
  modelTflops: number;
  decodeMsPerToken: number;
  decodeTokens: number;
  peakBytes: number;
  /** From stats() over the timed steps (null for a model without stats()). */
  expertMacs: number | null;
  allExpertsMacs: number | null;
  /** 100 × (1 − expertMacs ÷ allExpertsMacs). */
  computeSavingPct: number | null;
  /** Dropped ÷ routed (token, expert) assignments over the timed steps. */
  droppedFraction: number | null;
  /** cuda only: whether the GEMMs had bf16 copies (HANDGRAD_CUDA_BF16_WEIGHTS) and decode ran as graphs
   *  (HANDGRAD_CUDA_GRAPHS; with the graph counts over the decode). */
  cuda?: { bf16Copies: boolean; decodeGraphs: { replays: number; captures: number; eager: number } | null };
}

export interface MoeBenchResult {
  config: MoeBenchConfig;
  shape: MoeShape;
  backend: string;
  device: string;
  threads: number | null;
  /** The MoE model's headline figures, repeated at the top level for quick reading. */
  tokensPerSec: number | null;
  modelTflops: number | null;
  decodeMsPerToken: number | null;
  peakBytes: number | null;
  computeSavingPct: number | null;
  moe: MoeModelResult | null;
  dense: MoeModelResult | null;
}

interface MoeModel extends SequenceModel {
  flopsPerToken?(): number;
  stats?(): MoeStats;
  resetStats?(): void;
}

interface CudaLike extends Ops {
  profile?(): { op: string; calls: number; ms: number; bytes: number }[] | null;
  resetProfile?(): void;
  memory?(): { bytesInUse: number; peakBytes: number; totalDevice: number };
  synchronize?(): void;
  resetPeak?(): void;
}

/** The model config from the shape (only the keys the registered model knows are set). */
export function moeModelConfig(name: 'moe' | 'moe-dense', s: MoeShape): Record<string, unknown> {
  const spec = getModel(name);
  const want: Record<string, unknown> = {
    context: s.context, dModel: s.dModel, layers: s.layers, heads: s.heads, experts: s.experts, topK: s.topK, expertHidden: s.expertHidden,
  };
  const config: Record<string, unknown> = { ...spec.defaults };
  for (const [k, v] of Object.entries(want)) if (k in spec.defaults) config[k] = v;
  config.vocabSize = s.vocab;
  return config;
}

/** The peak memory of a backend: cuda's own counter, or the WASM heap's size (it only grows). */
export function peakBytes(ops: Ops): number {
  const c = ops as CudaLike;
  if (typeof c.memory === 'function') return c.memory().peakBytes;
  const heap = (ops as unknown as { heap?: { memory?: WebAssembly.Memory } }).heap;
  return heap?.memory ? heap.memory.buffer.byteLength : NaN;
}

const sync = (ops: Ops) => (ops as CudaLike).synchronize?.();

async function openBackend(backend: BackendName, threads?: number): Promise<Ops> {
  if (backend === 'reference') return createOps({ backend: 'reference', dtype: 'f64' });
  if (backend === 'wasm') return createOps({ backend: 'wasm', threads });
  return createOps({ backend } as Parameters<typeof createOps>[0]);
}

/** Runs one model through the measurements described at the top of this file. */
async function benchModel(name: 'moe' | 'moe-dense', o: Required<Pick<MoeBenchOptions, 'config'>> & MoeBenchOptions, shape: MoeShape): Promise<{ r: MoeModelResult; opsName: string }> {
  const progress = o.onProgress ?? (() => {});
  const ops = await openBackend(o.backend ?? 'wasm', o.threads);
  // The addon's peak counter is per process: start it afresh so each model's peak is its own.
  (ops as CudaLike).resetPeak?.();
  try {
    const rng = new Rng(1234);
    const model = getModel(name).create(ops, moeModelConfig(name, shape), rng.fork()) as MoeModel;
    const params = model.params;
    const refs: ParamRef[] = params.map((p) => ({ value: p.value, grad: p.grad, rows: p.rows }));
    const grads: Tensor[] = params.map((p) => p.grad);
    const optimizer = createOptimizer(ops, { kind: 'adamw', weightDecay: 0.1 });
    const { batch: B, seq: T, vocab: V } = shape;
    const tb: TokenBatch = { inputs: ops.ints(B * T), targets: ops.ints(B * T), batch: B, time: T };
    const data = rng.fork();
    const fill = () => {
      const inp = tb.inputs.data, tgt = tb.targets.data;
      for (let i = 0; i < B * T; i++) { inp[i] = data.int(0, V); tgt[i] = data.int(0, V); }
    };
    const step = () => {
      zeroGrads(ops, params);
      const loss = model.forwardBackward(tb, true);
      clipGradNorm(ops, grads, 1);
      optimizer.step(refs, 1e-4);
      return loss;
    };
    progress(`${name}: ${countParams(params).toLocaleString('en-US')} parameters on ${ops.name}; warming up`);
    for (let i = 0; i < 2; i++) { fill(); step(); }
    sync(ops);
    model.resetStats?.();
    (ops as CudaLike).resetProfile?.();
    const budget = o.timeMs ?? (o.config === 'standard' ? 20_000 : o.config === 'small' ? 5_000 : 200);
    let steps = 0, ms = 0;
    while (steps < 1 || (o.steps !== undefined ? steps < o.steps : ms < budget)) {
      fill(); // random tokens: not timed
      const t0 = performance.now();
      const loss = step();
      sync(ops);
      ms += performance.now() - t0;
      steps++;
      if (!Number.isFinite(loss)) throw new Error(`bench moe: ${name} loss became ${loss} at timed step ${steps}`);
    }
    const stats = model.stats?.() ?? null;
    const tokensPerSec = (steps * B * T) / (ms / 1000);
    const flopsPerToken = model.flopsPerToken?.() ?? NaN;
    let routed = 0, dropped = 0;
    for (const l of stats?.layers ?? []) { for (const r of l.routedPerExpert) routed += r; dropped += l.dropped; }
    progress(`${name}: ${steps} timed steps, ${Math.round(tokensPerSec)} tokens/s; decoding`);

    printProfile(ops, `${name}: training, ${steps} steps`, steps);
    // Decode at batch 1 with the KV cache: 1-token prompt, warm-up, then timed tokens, greedy.
    const W = 8;
    const n = Math.max(1, Math.min(o.decodeTokens ?? 64, shape.context - W - 2));
    model.resetSampling();
    let logp = model.nextLogProbs([data.int(0, V)]);
    const next = [0];
    const argmax = (a: Float64Array) => { let b = 0; for (let j = 1; j < a.length; j++) if (a[j] > a[b]) b = j; return b; };
    for (let i = 0; i < W; i++) { next[0] = argmax(logp); logp = model.nextLogProbs(next); }
    sync(ops);
    (ops as CudaLike).resetProfile?.();
    const d0 = performance.now();
    for (let i = 0; i < n; i++) { next[0] = argmax(logp); logp = model.nextLogProbs(next); }
    sync(ops);
    const decodeMsPerToken = (performance.now() - d0) / n;
    printProfile(ops, `${name}: decoding, ${n} tokens`, n);
    const expertMacs = stats ? stats.expertMacs : null, allExpertsMacs = stats ? stats.allExpertsMacs : null;
    const cu = ops as unknown as { bf16?: unknown; graphs?: { counts: { replays: number; captures: number; eager: number } } | null };
    const cuda = 'bf16' in ops ? { bf16Copies: cu.bf16 != null, decodeGraphs: cu.graphs ? { ...cu.graphs.counts } : null } : undefined;
    return {
      opsName: ops.name,
      r: {
        model: name, params: countParams(params), flopsPerToken, steps, tokensPerSec,
        modelTflops: (tokensPerSec * flopsPerToken) / 1e12, decodeMsPerToken, decodeTokens: n, peakBytes: peakBytes(ops),
        expertMacs, allExpertsMacs,
        computeSavingPct: expertMacs !== null && allExpertsMacs ? 100 * (1 - expertMacs / allExpertsMacs) : null,
        droppedFraction: stats && routed > 0 ? dropped / routed : null,
        ...(cuda ? { cuda } : {}),
      },
    };
  } finally {
    ops.dispose();
  }
}

/** With HANDGRAD_CUDA_PROFILE=1 on the CUDA backend: where the time went, per step or token (stderr). */
function printProfile(ops: Ops, what: string, per: number): void {
  const rows = (ops as CudaLike).profile?.();
  if (!rows) return;
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const lines = [`profile (${what}; ms per ${what.includes('decod') ? 'token' : 'step'}, each op synchronised): total ${(total / per).toFixed(3)}`];
  for (const r of rows.slice(0, 40)) {
    lines.push(`  ${r.op.padEnd(40)} ${(r.ms / per).toFixed(3).padStart(9)} ms  ${(r.calls / per).toFixed(1).padStart(7)} calls` +
      (r.bytes ? `  ${(r.bytes / per / 1024).toFixed(1)} KiB` : ''));
  }
  process.stderr.write(lines.join('\n') + '\n');
}

export async function benchMoe(opts: MoeBenchOptions): Promise<MoeBenchResult> {
  const shape = MOE_CONFIGS[opts.config];
  const models = opts.models ?? ['moe', 'moe-dense'];
  let moe: MoeModelResult | null = null, dense: MoeModelResult | null = null, backendName: string = opts.backend ?? 'wasm';
  for (const m of models) {
    const { r, opsName } = await benchModel(m, opts, shape);
    backendName = opsName;
    if (m === 'moe') moe = r; else dense = r;
  }
  const isCuda = (opts.backend as string) === 'cuda';
  return {
    config: opts.config, shape, backend: backendName, device: isCuda ? backendName.replace(/^cuda-/, '') : cpuModel(),
    threads: isCuda || opts.backend === 'reference' ? null : opts.threads ?? availableParallelism(),
    tokensPerSec: moe?.tokensPerSec ?? null, modelTflops: moe?.modelTflops ?? null, decodeMsPerToken: moe?.decodeMsPerToken ?? null,
    peakBytes: moe?.peakBytes ?? null, computeSavingPct: moe?.computeSavingPct ?? null,
    moe, dense,
  };
}

const fmt = (v: number | null, digits = 3) => (v === null || !Number.isFinite(v) ? '–' : v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(digits));
const mib = (b: number | null) => (b === null || !Number.isFinite(b) ? '–' : `${(b / 2 ** 20).toFixed(1)} MiB`);

/** The human-readable report: one row per model. */
export function formatMoeReport(r: MoeBenchResult): string[] {
  const s = r.shape;
  const lines = [
    `bench moe (${r.config}): vocab ${s.vocab}, context ${s.context}, d ${s.dModel}, ${s.layers} layers, ${s.heads} heads, ` +
      `${s.experts} experts top-${s.topK}, expert hidden ${s.expertHidden}, batch ${s.batch} × ${s.seq}; ${r.backend} on ${r.device}`,
    '',
    '| model | params | train tokens/s | model TFLOP/s | decode ms/token (batch 1, KV cache) | peak memory | expert MACs / all-experts MACs | compute saved | dropped |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const m of [r.moe, r.dense]) {
    if (!m) continue;
    const ratio = m.expertMacs !== null && m.allExpertsMacs ? `${fmt(m.expertMacs / m.allExpertsMacs, 4)}` : '–';
    lines.push(`| ${m.model} | ${m.params.toLocaleString('en-US')} | ${fmt(m.tokensPerSec)} | ${fmt(m.modelTflops, 3)} | ${fmt(m.decodeMsPerToken)} | ` +
      `${mib(m.peakBytes)} | ${ratio} | ${m.computeSavingPct === null ? '–' : m.computeSavingPct.toFixed(1) + '%'} | ` +
      `${m.droppedFraction === null ? '–' : (100 * m.droppedFraction).toFixed(2) + '%'} |`);
  }
  return lines;
}
