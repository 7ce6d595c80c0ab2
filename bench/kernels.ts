// GEMM kernel benchmark: GFLOP/s (2·m·n·k / seconds, median of timed reps after warm-up) of
// `ops.gemm` for each variant (nn, nt = A·Bᵀ, tn = Aᵀ·B), each kernel path this machine supports,
// and each thread count, next to peers measured in the same run:
//   reference   the plain-TypeScript reference backend in f32 (small products only: it is slow)
//   tfjs-wasm   @tensorflow/tfjs-backend-wasm 4.22, one thread, in this process (after our
//               backend has set V8's flags, so it gets revectorization too)
//   openblas    NumPy's BLAS (bench/peers/numpy_gemm.py) with OPENBLAS_NUM_THREADS = 1, 2, …
//
// V8's revectorize flag is process-wide and set before the first compile, so the kernel paths
// that run without it (relaxed4x8, simd4x8) are measured in a child process started with
// HANDGRAD_REVECTORIZE=0: this same file, run with the hidden `--child <json>` argument, prints
// its rows as one JSON line. A benchmark reports; it never asserts a speed.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ops, Tensor } from '../src/ops/types.js';
import { ReferenceOps } from '../src/backends/reference/index.js';
import { createWasmOps } from '../src/backends/wasm/index.js';
import { canRevectorize, cpuModel, KERNEL_PATHS, setWasmFlags, type KernelPath } from '../src/backends/wasm/runtime.js';

export type Variant = 'nn' | 'nt' | 'tn';
export const VARIANTS: readonly Variant[] = ['nn', 'nt', 'tn'];
export type Peer = 'reference' | 'tfjs-wasm' | 'openblas';

/** C[m×n] = op(A)[m×k] · op(B)[k×n]. */
export interface Shape { m: number; k: number; n: number }

/** One measurement. Exactly one of `path` (our WASM backend) and `peer` is set. */
export interface GemmRow {
  op: 'gemm';
  peer?: Peer;
  variant: Variant;
  m: number;
  n: number;
  k: number;
  threads: number;
  path?: KernelPath;
  gflops: number;
}

export interface Ratio {
  /** measured / baseline, or null when one of the two was not measured in this run. */
  value: number | null;
  /** The goal we work towards (reported, never asserted). */
  target: number;
  /** What was compared, with both figures. */
  detail: string;
}

export interface KernelBenchReport {
  op: 'gemm';
  machine: {
    cpu: string; cores: number; node: string; v8: string; platform: string; arch: string;
    revectorize: { on: boolean; why: string }; blas: string | null;
  };
  settings: { sizes: number[]; skinny: Shape[]; threads: number[]; variants: Variant[]; reps: number; quick: boolean; peers: boolean };
  rows: GemmRow[];
  ratios: {
    wasmVsOpenblas: Ratio;
    threads2VsThreads1: Ratio;
    skinnyVsSquare: Ratio;
    wasmVsTfjs: Ratio;
  };
  /** The best WASM figure for nn 512×512×512 on one thread (null when not measured). */
  gflops: number | null;
  notes: string[];
}

export interface KernelBenchOptions {
  /** Square sizes n (default 64, 128, 256, 512, 1024). */
  sizes?: number[];
  /** Also the skinny recurrent shapes 16×128·128×512 and 32×256·256×1024 (default: yes, unless quick). */
  skinny?: boolean;
  /** Thread counts (default 1, 2). */
  threads?: number[];
  /** Timed repetitions per measurement, median taken (default 7; quick 3). */
  reps?: number;
  variants?: Variant[];
  /** Kernel paths (default: every one this machine supports). */
  paths?: KernelPath[];
  /** Measure the peers (reference, tfjs-wasm, openblas); default yes. */
  peers?: boolean;
  /** Sizes 64 and 128, one thread, 3 short reps, no skinny shapes: a smoke test, not a measurement. */
  quick?: boolean;
  /** Progress lines (one per measurement) and notices. */
  onProgress?: (line: string) => void;
}

export const DEFAULT_SIZES = [64, 128, 256, 512, 1024];
export const SKINNY_SHAPES: readonly Shape[] = [{ m: 16, k: 128, n: 512 }, { m: 32, k: 256, n: 1024 }];
/** The reference backend only runs products of at most this many flops (a 256³ product). */
const REFERENCE_MAX_FLOPS = 2 * 256 ** 3;

interface Timing { reps: number; minRepSeconds: number; maxCellSeconds: number }

/** Internal plan, also what the child process receives. */
interface Plan {
  shapes: Shape[];
  threads: number[];
  variants: Variant[];
  paths: KernelPath[];
  timing: Timing;
}

const here = dirname(fileURLToPath(import.meta.url));

export async function benchKernels(opts: KernelBenchOptions = {}): Promise<KernelBenchReport> {
  const quick = !!opts.quick;
  const sizes = opts.sizes ?? (quick ? [64, 128] : DEFAULT_SIZES);
  const skinny = (opts.skinny ?? !quick) ? [...SKINNY_SHAPES] : [];
  const threads = opts.threads ?? (quick ? [1] : [1, 2]);
  const variants = opts.variants ?? [...VARIANTS];
  const reps = opts.reps ?? (quick ? 3 : 7);
  const peers = opts.peers ?? true;
  const progress = opts.onProgress ?? (() => {});
  const notes: string[] = [];
  const note = (line: string) => { notes.push(line); progress(line); };
  const plan: Plan = {
    shapes: [...sizes.map((s) => ({ m: s, k: s, n: s })), ...skinny],
    threads,
    variants,
    paths: opts.paths ?? [...KERNEL_PATHS],
    timing: quick ? { reps, minRepSeconds: 0.005, maxCellSeconds: 0.5 } : { reps, minRepSeconds: 0.03, maxCellSeconds: 3 },
  };

  const flags = setWasmFlags();
  const can = canRevectorize();
  const revecWhy = flags.revectorize ? can.why
    : process.env.HANDGRAD_REVECTORIZE === '0' && can.ok ? 'turned off by HANDGRAD_REVECTORIZE=0' : can.why;
  // This process runs revec4x16 when it revectorizes, the other paths when it does not; a
  // revectorizing process hands the other paths to a child that does not.
  const local = plan.paths.filter((p) => (p === 'revec4x16') === flags.revectorize);
  const inChild = flags.revectorize ? plan.paths.filter((p) => p !== 'revec4x16') : [];
  if (!flags.revectorize && plan.paths.includes('revec4x16')) note(`revec4x16 not measured: ${revecWhy}`);

  const rows: GemmRow[] = [];
  rows.push(...(await measurePaths({ ...plan, paths: local }, note, progress)));
  if (peers) {
    rows.push(...(await measureTfjs(plan, note, progress)));
    rows.push(...measureReference(plan, progress));
  }
  if (inChild.length > 0) {
    const child = await runChild({ ...plan, paths: inChild }, progress);
    rows.push(...child.rows);
    for (const n of child.notes) notes.push(n); // already shown through progress
  }
  let blas: string | null = null;
  if (peers) {
    const ob = await measureOpenblas(plan, note, progress);
    rows.push(...ob.rows);
    blas = ob.blas;
  }

  const ratios = computeRatios(rows);
  const best512 = bestWasm(rows, 'nn', { m: 512, k: 512, n: 512 }, 1);
  return {
    op: 'gemm',
    machine: {
      cpu: cpuModel(), cores: availableParallelism(), node: process.versions.node, v8: process.versions.v8,
      platform: process.platform, arch: process.arch, revectorize: { on: flags.revectorize, why: revecWhy }, blas,
    },
    settings: { sizes, skinny, threads, variants, reps, quick, peers },
    rows,
    ratios,
    gflops: best512 ? best512.gflops : null,
    notes,
  };
}

// ---- timing ------------------------------------------------------------------------------------

function seconds(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

/**
 * GFLOP/s of `run` (which does `flops` floating-point operations): warm up (the first call of a
 * fresh WASM instance runs in the baseline tier), size each rep to at least minRepSeconds, then
 * take the median of the reps (fewer when a product is so slow that they would pass maxCellSeconds,
 * but never fewer than 3 unless asked).
 */
export function measure(run: () => void, flops: number, t: Timing): number {
  let last = seconds(run);
  let warm = last, calls = 1;
  while (calls < 2 || (warm < 0.1 * t.maxCellSeconds && last < 0.25 * t.maxCellSeconds && calls < 50)) {
    last = seconds(run);
    warm += last;
    calls++;
  }
  const iters = Math.max(1, Math.ceil(t.minRepSeconds / Math.max(last, 1e-7)));
  const affordable = Math.floor(t.maxCellSeconds / (iters * last));
  const reps = Math.max(Math.min(t.reps, 3), Math.min(t.reps, affordable));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    times.push(seconds(() => { for (let i = 0; i < iters; i++) run(); }) / iters);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return flops / median / 1e9;
}

function round(g: number): number {
  return Number(g.toPrecision(g >= 100 ? 4 : 3));
}

function shapeText(s: Shape): string {
  return `${s.m}×${s.k}·${s.k}×${s.n}`;
}

function fillRandom(data: Float32Array | Float64Array, seed: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
}

/** Times ops.gemm for one variant and shape. */
function timeGemm(ops: Ops, variant: Variant, s: Shape, t: Timing): number {
  const mark = ops.mark();
  try {
    const A: Tensor = ops.tensor(s.m * s.k), B: Tensor = ops.tensor(s.k * s.n), C: Tensor = ops.tensor(s.m * s.n);
    fillRandom(A.data, 1);
    fillRandom(B.data, 2);
    const ta = variant === 'tn', tb = variant === 'nt';
    return measure(() => ops.gemm(ta, tb, s.m, s.n, s.k, 1, A, B, 0, C), 2 * s.m * s.n * s.k, t);
  } finally {
    ops.release(mark);
  }
}

/**
 * Before the first figure of a fresh backend: run every variant for a while, so that the JS
 * around the kernels is optimised and worker threads are awake (the first figure otherwise
 * comes out low).
 */
function warmUp(ops: Ops, plan: Plan): void {
  // the biggest shape up to 256³ (big enough to wake the workers, small enough to repeat)
  const work = (x: Shape) => x.m * x.n * x.k;
  const small = plan.shapes.filter((x) => work(x) <= 256 ** 3);
  const s = small.length > 0 ? small.reduce((a, b) => (work(a) >= work(b) ? a : b))
    : plan.shapes.reduce((a, b) => (work(a) <= work(b) ? a : b));
  const until = performance.now() + 100 * plan.timing.maxCellSeconds; // 50 ms quick, 300 ms otherwise
  const mark = ops.mark();
  try {
    const A = ops.tensor(s.m * s.k), B = ops.tensor(s.k * s.n), C = ops.tensor(s.m * s.n);
    do {
      for (const v of plan.variants) ops.gemm(v === 'tn', v === 'nt', s.m, s.n, s.k, 1, A, B, 0, C);
    } while (performance.now() < until);
  } finally {
    ops.release(mark);
  }
}

// ---- our kernel paths ----------------------------------------------------------------------------

async function measurePaths(plan: Plan, note: (l: string) => void, progress: (l: string) => void): Promise<GemmRow[]> {
  const rows: GemmRow[] = [];
  for (const path of plan.paths) {
    for (const threads of plan.threads) {
      let ops;
      try {
        ops = await createWasmOps({ path, threads, onNotice: note });
      } catch (e) {
        note(`${path} not measured: ${(e as Error).message}`);
        break;
      }
      try {
        if (ops.threads !== threads) note(`${path}: asked for ${threads} threads, the GEMM engine runs ${ops.threads}; rows say ${threads}`);
        warmUp(ops, plan);
        for (const s of plan.shapes) {
          for (const variant of plan.variants) {
            const gflops = round(timeGemm(ops, variant, s, plan.timing));
            rows.push({ op: 'gemm', variant, m: s.m, n: s.n, k: s.k, threads, path, gflops });
            progress(`gemm ${path} ${threads}t ${variant} ${shapeText(s)}: ${gflops} GFLOP/s`);
          }
        }
      } finally {
        ops.dispose();
      }
    }
  }
  return rows;
}

// ---- peers ---------------------------------------------------------------------------------------

function measureReference(plan: Plan, progress: (l: string) => void): GemmRow[] {
  const ops = new ReferenceOps('f32');
  const rows: GemmRow[] = [];
  for (const s of plan.shapes) {
    if (2 * s.m * s.n * s.k > REFERENCE_MAX_FLOPS) continue;
    for (const variant of plan.variants) {
      const gflops = round(timeGemm(ops, variant, s, plan.timing));
      rows.push({ op: 'gemm', peer: 'reference', variant, m: s.m, n: s.n, k: s.k, threads: 1, gflops });
      progress(`gemm reference 1t ${variant} ${shapeText(s)}: ${gflops} GFLOP/s`);
    }
  }
  return rows;
}

async function measureTfjs(plan: Plan, note: (l: string) => void, progress: (l: string) => void): Promise<GemmRow[]> {
  type Tf = typeof import('@tensorflow/tfjs-core');
  let tf: Tf;
  try {
    tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
    wasm.setWasmPaths(dist.endsWith(sep) ? dist : dist + sep);
    wasm.setThreadsCount(1);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
    await tf.ready();
  } catch (e) {
    note(`tfjs peer: @tensorflow/tfjs-backend-wasm could not start (${(e as Error).message.split('\n')[0]})`);
    return [];
  }
  const rows: GemmRow[] = [];
  for (const s of plan.shapes) {
    for (const variant of plan.variants) {
      const ta = variant === 'tn', tb = variant === 'nt';
      const a = tf.randomUniform(ta ? [s.k, s.m] : [s.m, s.k], -1, 1, 'float32');
      const b = tf.randomUniform(tb ? [s.n, s.k] : [s.k, s.n], -1, 1, 'float32');
      const gflops = round(measure(() => {
        const c = tf.matMul(a, b, ta, tb);
        c.dataSync();
        c.dispose();
      }, 2 * s.m * s.n * s.k, plan.timing));
      a.dispose();
      b.dispose();
      rows.push({ op: 'gemm', peer: 'tfjs-wasm', variant, m: s.m, n: s.n, k: s.k, threads: 1, gflops });
      progress(`gemm tfjs-wasm 1t ${variant} ${shapeText(s)}: ${gflops} GFLOP/s`);
    }
  }
  return rows;
}

/** Runs a command and gives back its stdout; its stderr lines go to `onLine`. */
function collect(cmd: string, args: string[], env: NodeJS.ProcessEnv, onLine: (l: string) => void):
  Promise<{ code: number | null; stdout: string; error?: Error }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', errBuf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      errBuf += d;
      const lines = errBuf.split('\n');
      errBuf = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onLine(l);
    });
    child.on('error', (error) => done({ code: null, stdout, error }));
    child.on('close', (code) => {
      if (errBuf.trim()) onLine(errBuf);
      done({ code, stdout });
    });
  });
}

function lastJsonLine<T>(stdout: string): T | null {
  const line = stdout.trim().split('\n').pop();
  if (!line) return null;
  try { return JSON.parse(line) as T; } catch { return null; }
}

async function measureOpenblas(plan: Plan, note: (l: string) => void, progress: (l: string) => void):
  Promise<{ rows: GemmRow[]; blas: string | null }> {
  const script = join(here, 'peers', 'numpy_gemm.py');
  const rows: GemmRow[] = [];
  let blas: string | null = null;
  for (const threads of plan.threads) {
    const t = String(threads);
    const env = { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
    const config = JSON.stringify({ shapes: plan.shapes, variants: plan.variants, threads, timing: plan.timing });
    const stderr: string[] = [];
    const r = await collect('python3', [script, config], env, (l) => {
      if (l.startsWith('gemm ')) progress(l); else stderr.push(l);
    });
    const out = lastJsonLine<{ blas: string; rows: GemmRow[] }>(r.stdout);
    if (r.error || r.code === 3 || !out) {
      // exit code 3: numpy_gemm.py could not import numpy
      note(r.error || r.code === 3 ? 'openblas peer: python3 with numpy not found'
        : `openblas peer: numpy_gemm.py failed (exit ${r.code}${stderr.length ? `: ${stderr[stderr.length - 1]}` : ''})`);
      return { rows, blas };
    }
    blas = out.blas;
    if (!/openblas/i.test(out.blas)) note(`openblas peer: NumPy here uses ${out.blas}, not OpenBLAS; rows are labelled openblas`);
    rows.push(...out.rows);
  }
  return { rows, blas };
}

// ---- the child process for the paths that run without revectorization -------------------------

async function runChild(plan: Plan, progress: (l: string) => void): Promise<{ rows: GemmRow[]; notes: string[] }> {
  const tsx = import.meta.resolve('tsx');
  const env = { ...process.env, HANDGRAD_REVECTORIZE: '0' };
  const r = await collect(process.execPath, ['--import', tsx, fileURLToPath(import.meta.url), '--child', JSON.stringify(plan)], env, progress);
  const out = lastJsonLine<{ rows: GemmRow[]; notes: string[] }>(r.stdout);
  if (r.error || r.code !== 0 || !out) {
    const why = r.error ? r.error.message : `exit ${r.code}`;
    progress(`child process for ${plan.paths.join(', ')} failed (${why})`);
    return { rows: [], notes: [`${plan.paths.join(', ')} not measured: the child process failed (${why})`] };
  }
  return out;
}

async function childMain(planJson: string): Promise<void> {
  const plan = JSON.parse(planJson) as Plan;
  const notes: string[] = [];
  const progress = (l: string) => process.stderr.write(l + '\n');
  const rows = await measurePaths(plan, (l) => { notes.push(l); progress(l); }, progress);
  process.stdout.write(JSON.stringify({ rows, notes }) + '\n');
}

// ---- ratios and the table ------------------------------------------------------------------------

function sameShape(r: GemmRow, s: Shape): boolean {
  return r.m === s.m && r.n === s.n && r.k === s.k;
}

function bestWasm(rows: GemmRow[], variant: Variant, s: Shape, threads: number, path?: KernelPath): GemmRow | null {
  let best: GemmRow | null = null;
  for (const r of rows) {
    if (r.path && (!path || r.path === path) && r.variant === variant && r.threads === threads && sameShape(r, s)) {
      if (!best || r.gflops > best.gflops) best = r;
    }
  }
  return best;
}

function peerRow(rows: GemmRow[], peer: Peer, variant: Variant, s: Shape, threads: number): GemmRow | null {
  return rows.find((r) => r.peer === peer && r.variant === variant && r.threads === threads && sameShape(r, s)) ?? null;
}

function ratio(a: GemmRow | null, b: GemmRow | null, target: number, what: string, aName: string, bName: string): Ratio {
  if (!a || !b) return { value: null, target, detail: `${what}: not measured in this run` };
  return { value: Number((a.gflops / b.gflops).toFixed(2)), target, detail: `${what}: ${aName} ${a.gflops} / ${bName} ${b.gflops} GFLOP/s` };
}

export function computeRatios(rows: GemmRow[]): KernelBenchReport['ratios'] {
  const sq512: Shape = { m: 512, k: 512, n: 512 };
  const w1 = bestWasm(rows, 'nn', sq512, 1);
  const w1Name = w1 ? `${w1.path} 1t` : '';
  const w2 = w1 ? bestWasm(rows, 'nn', sq512, 2, w1.path) : null;
  let skinny: Ratio = { value: null, target: 0.75, detail: 'worst skinny shape vs 512³, best WASM path, nn, 1 thread: not measured in this run' };
  for (const s of SKINNY_SHAPES) {
    const r = ratio(bestWasm(rows, 'nn', s, 1), w1, 0.75, `worst skinny shape vs 512³, best WASM path, nn, 1 thread`,
      shapeText(s), '512³');
    if (r.value !== null && (skinny.value === null || r.value < skinny.value)) skinny = r;
  }
  return {
    wasmVsOpenblas: ratio(w1, peerRow(rows, 'openblas', 'nn', sq512, 1), 0.9, 'best WASM vs OpenBLAS, nn 512³, 1 thread', w1Name, 'openblas'),
    threads2VsThreads1: ratio(w2, w1, 1.8, '2 threads vs 1, nn 512³', w2 ? `${w2.path} 2t` : '', w1Name),
    skinnyVsSquare: skinny,
    wasmVsTfjs: ratio(w1, peerRow(rows, 'tfjs-wasm', 'nn', sq512, 1), 2, 'best WASM vs tfjs-wasm, nn 512³, 1 thread', w1Name, 'tfjs-wasm'),
  };
}

function fmt(g: number | undefined): string {
  if (g === undefined) return '-';
  return g >= 1 ? g.toFixed(1) : g.toPrecision(2);
}

/** The report as a readable table (one row per shape and variant, one column per path/peer and thread count) and the ratios. */
export function formatReport(rep: KernelBenchReport): string[] {
  const colKey = (r: GemmRow) => (r.path ? `${r.path} ${r.threads}t` : r.peer === 'openblas' ? `openblas ${r.threads}t` : `${r.peer}`);
  const order = (r: GemmRow) => (r.path ? KERNEL_PATHS.indexOf(r.path) * 100 : r.peer === 'reference' ? 1000 : r.peer === 'tfjs-wasm' ? 2000 : 3000) + r.threads;
  const cols = [...new Map([...rep.rows].sort((a, b) => order(a) - order(b)).map((r) => [colKey(r), true])).keys()];
  const lines: string[] = [];
  const m = rep.machine;
  lines.push(`GEMM GFLOP/s (2mnk / median time), ${m.cpu}, ${m.cores} cores, Node ${m.node}, revectorize ${m.revectorize.on ? 'on' : 'off'}${m.blas ? `, NumPy BLAS ${m.blas}` : ''}`);
  const rowsByKey = new Map<string, Map<string, number>>();
  const keys: string[] = [];
  for (const r of rep.rows) {
    const key = `${r.variant} ${shapeText(r)}`;
    if (!rowsByKey.has(key)) { rowsByKey.set(key, new Map()); keys.push(key); }
    rowsByKey.get(key)!.set(colKey(r), r.gflops);
  }
  // shapes in plan order, variants nn/nt/tn within a shape
  const shapeOrder = [...rep.settings.sizes.map((s) => ({ m: s, k: s, n: s })), ...rep.settings.skinny].map(shapeText);
  keys.sort((a, b) => {
    const [va, sa] = a.split(' '), [vb, sb] = b.split(' ');
    return shapeOrder.indexOf(sa) - shapeOrder.indexOf(sb) || VARIANTS.indexOf(va as Variant) - VARIANTS.indexOf(vb as Variant);
  });
  const w0 = Math.max(20, ...keys.map((k) => k.length));
  const widths = cols.map((c) => Math.max(c.length, 7));
  lines.push([''.padEnd(w0), ...cols.map((c, i) => c.padStart(widths[i]))].join('  '));
  for (const key of keys) {
    const vals = rowsByKey.get(key)!;
    lines.push([key.padEnd(w0), ...cols.map((c, i) => fmt(vals.get(c)).padStart(widths[i]))].join('  '));
  }
  lines.push('');
  lines.push('ratios (measured in this run; targets are goals, not assertions):');
  const names: [keyof KernelBenchReport['ratios'], string][] = [
    ['wasmVsOpenblas', 'best WASM / OpenBLAS, 512³, 1 thread'],
    ['threads2VsThreads1', '2 threads / 1 thread, 512³'],
    ['skinnyVsSquare', 'skinny / square 512³ (worst)'],
    ['wasmVsTfjs', 'best WASM / tfjs-wasm, 512³'],
  ];
  for (const [k, label] of names) {
    const r = rep.ratios[k];
    const v = r.value === null ? '  n/a' : r.value.toFixed(2).padStart(5);
    const mark = r.value === null ? '' : r.value >= r.target ? ' (met)' : ' (below)';
    lines.push(`  ${label.padEnd(38)} ${v}  ${`target ≥ ${r.target}${mark}`.padEnd(22)} ${r.detail.replace(/^[^:]*: /, '')}`);
  }
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return lines;
}

/** Writes the report as pretty JSON, creating the folder. */
export function writeReport(rep: KernelBenchReport, file: string): string {
  const abs = resolve(file);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, JSON.stringify(rep, null, 2) + '\n');
  return abs;
}

// Run as a script only as the child process of benchKernels (hidden `--child <plan json>`).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i < 0 || !process.argv[i + 1]) {
    process.stderr.write('bench/kernels.ts is a library; run `handgrad bench kernels` (or `npm run bench`)\n');
    process.exitCode = 2;
  } else {
    childMain(process.argv[i + 1]).catch((e: Error) => {
      process.stderr.write(`bench child: ${e.message}\n`);
      process.exitCode = 1;
    });
  }
}
