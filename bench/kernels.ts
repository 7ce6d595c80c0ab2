// GEMM kernel benchmark: GFLOP/s (2·m·n·k / seconds, best of timed reps after warm-up) of
// `ops.gemm` for each variant (nn, nt = A·Bᵀ, tn = Aᵀ·B), each kernel path this machine supports,
// and each thread count, next to peers measured in the same run:
//   reference   the plain-TypeScript reference backend in f32 (small products only: it is slow)
//   tfjs-wasm   @tensorflow/tfjs-backend-wasm 4.22, one thread, in this process (after our
//               backend has set V8's flags, so it gets revectorization too)
//   openblas    NumPy's BLAS (bench/peers/numpy_gemm.py) with OPENBLAS_NUM_THREADS = 1, 2, …, run
//               at full strength: without the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE guards of this
//               environment (bench/peer-env.ts), the kernel ("core") OpenBLAS chose in the report
//
// V8's revectorize flag is process-wide and set before the first compile, so the kernel paths
// that run without it (relaxed4x8, simd4x8) are measured in a child process started with
// HANDGRAD_REVECTORIZE=0: this same file, run with the hidden `--child <json>` argument, prints
// its rows as one JSON line. A benchmark reports; it never asserts a speed.
//
// The table's contenders run one after another, a minute or more apart; on a shared VM whose speed
// swings up to 2× from second to second, figures taken that far apart are not comparable. So the
// four headline ratios come from a PAIRED, INTERLEAVED phase after the table: for R rounds, each
// contender of a ratio (our best path at 512³ on 1 and 2 threads and on the skinny shapes, tfjs in
// this process, OpenBLAS 1 and 2 threads through persistent `numpy_gemm.py --serve` processes) is
// timed for a short window in turn, the order rotated each round, so all of them see the same
// weather. Each contender's figure is its best over the rounds; the median of the per-round ratios
// is reported next to the ratio of the bests.
//
// With the peers, the core's floating-point ceiling is timed too (bench/peak.ts: FMAs with no memory
// traffic at every vector width the CPU has, in the table phase; the 256-bit and the widest width also
// as contenders of every paired round), and the report gives each 1-thread GEMM figure as a share of
// two ceilings: the 256-bit one, the most a WASM kernel can reach (V8 revectorizes to AVX2, no wider),
// and the CPU's true peak (512-bit on an AVX-512 core, which OpenBLAS can use). A goal above 100% of
// the ceiling that applies is not a goal for this CPU.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ops, Tensor } from '../src/ops/types.js';
import { ReferenceOps } from '../src/backends/reference/index.js';
import { createWasmOps } from '../src/backends/wasm/index.js';
import { canRevectorize, cpuModel, KERNEL_PATHS, setWasmFlags, type KernelPath } from '../src/backends/wasm/runtime.js';
import { buildPeak, ceilings, runPeak, type PeakMeasurement, type PeakWidth } from './peak.js';
import { describeBlasCore, findPython, peerEnv, type BlasCore } from './peer-env.js';

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
  /**
   * 'paired': from the paired, interleaved phase (value = best / best over the rounds);
   * 'table': from the table's figures, measured one contender after another.
   */
  method: 'paired' | 'table';
  /** Paired only: the median of the per-round ratios (null when no round had both figures). */
  medianOfRounds?: number | null;
}

export type RatioKey = 'wasmVsOpenblas' | 'threads2VsThreads1' | 'skinnyVsSquare' | 'wasmVsTfjs';
export type Ratios = Record<RatioKey, Ratio>;

/** One contender of the paired phase. */
export interface PairedFigure {
  /** e.g. "revec4x16 1t nn 512×512·512×512", "openblas 2t nn 512×512·512×512". */
  label: string;
  path?: KernelPath;
  /** 'fma-peak': the core's FMA ceiling at one vector width (bench/peak.ts), not a GEMM: its m = n = k = 0. */
  peer?: Peer | 'fma-peak';
  variant: Variant;
  m: number;
  n: number;
  k: number;
  threads: number;
  /** Best over the rounds (null when no round measured it). */
  gflops: number | null;
  /** Median over the rounds. */
  median: number | null;
  /** One figure per round (null where that round could not measure it). */
  rounds: (number | null)[];
}

export interface PairedReport {
  method: 'paired';
  /** Rounds run. */
  rounds: number;
  /** Timing per contender per round, seconds (after a short warm-up), best rep taken. */
  windowSeconds: number;
  minRepSeconds: number;
  /** The order of the first round; round r starts r places further on. */
  order: string[];
  /** Our kernel path in the paired phase (revec4x16 when this process runs it). */
  path: KernelPath | null;
  figures: Record<string, PairedFigure>;
  /** Per-round ratios behind each headline ratio (null where a round lacked a figure). */
  roundRatios: Record<RatioKey, (number | null)[]>;
  /** The same four ratios from the table (one contender after another), for comparison. */
  fromTable: Ratios;
  seconds: number;
  /**
   * The machine's 1-minute load average when the phase began and ended (this benchmark itself
   * counts about 1; well above that, other work shared the cores and the 2-thread figures suffer).
   */
  loadAverage: { start: number; end: number };
}

/** Shares of a ceiling (null where not measured): our best 1-thread GEMM at nn 512³, OpenBLAS 1t, tfjs-wasm. */
export interface PeakShares { wasm: number | null; openblas: number | null; tfjs: number | null }

/** The core's FMA ceilings and the 1-thread figures as shares of them (bench/peak.ts). */
export interface PeakReport {
  /** What was timed: single-precision FMAs, one thread, no memory traffic, at each vector width. */
  what: string;
  /** Every vector width timed in the table phase (128, 256 and, with AVX-512F, 512 bits on x86). */
  widths: PeakWidth[];
  /** Whether the CPU has AVX-512F (null where the peak did not run). */
  avx512f: boolean | null;
  /**
   * The WASM ceiling: the FMA figure at 256 bits (the widest V8's revectorizer reaches; less where the
   * CPU has less). Over the paired rounds when they ran (then paired with the shares), else the table phase's.
   */
  gflops: number | null;
  /** Its vector width. */
  bits: number | null;
  /** The CPU's true peak: the FMA figure at its widest vector width (the same as `gflops` without AVX-512). */
  cpuGflops: number | null;
  cpuBits: number | null;
  method: 'paired' | 'table';
  /** Shares of the WASM (256-bit) ceiling. */
  shares: PeakShares;
  /** Shares of the CPU's true peak. */
  cpuShares: PeakShares;
  /** The "≥ 2× tfjs-wasm" goal as a share of the WASM ceiling: above 1, no WASM GEMM on this core can meet it. */
  tfjsGoalShare: number | null;
  /** Why it was not measured, when it was not. */
  why?: string;
}

export interface KernelBenchReport {
  op: 'gemm';
  machine: {
    cpu: string; cores: number; node: string; v8: string; platform: string; arch: string;
    revectorize: { on: boolean; why: string }; blas: string | null;
    /** The kernel OpenBLAS chose for this CPU in the NumPy peer (its core name; null without the peer). */
    blasCore: BlasCore | null;
    /** The Python the NumPy peer ran in (null without the peer). */
    python: string | null;
  };
  settings: {
    sizes: number[]; skinny: Shape[]; threads: number[]; variants: Variant[]; reps: number; quick: boolean; peers: boolean; rounds: number;
  };
  rows: GemmRow[];
  /** The headline ratios: from the paired phase when it ran (method 'paired'), else from the table. */
  ratios: Ratios;
  /** The paired, interleaved phase (null with --quick or rounds 0). */
  paired: PairedReport | null;
  /** The core's FMA ceiling (measured with the peers; null with --no-peers). */
  peak: PeakReport | null;
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
  /** Timed repetitions per measurement, best taken (default 11; quick 3). */
  reps?: number;
  variants?: Variant[];
  /** Kernel paths (default: every one this machine supports). */
  paths?: KernelPath[];
  /** Measure the peers (reference, tfjs-wasm, openblas); default yes. */
  peers?: boolean;
  /** Sizes 64 and 128, one thread, 3 short reps, no skinny shapes, no paired phase: a smoke test, not a measurement. */
  quick?: boolean;
  /**
   * Rounds of the paired, interleaved phase behind the headline ratios (default 8; 0 leaves it
   * out; quick: 0). Without peers it pairs only our own contenders (2 threads vs 1, skinny vs square).
   */
  rounds?: number;
  /** Timing per contender per round in the paired phase, seconds (default 0.25). */
  pairedWindowSeconds?: number;
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
  const reps = opts.reps ?? (quick ? 3 : 11);
  const peers = opts.peers ?? true;
  const rounds = Math.max(0, Math.floor(opts.rounds ?? (quick ? 0 : 8)));
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
  let blas: string | null = null, blasCore: BlasCore | null = null, python: string | null = null;
  let peakBin: string | null = null, tablePeak: PeakMeasurement | null = null, peakWhy: string | undefined;
  if (peers) {
    const ob = await measureOpenblas(plan, note, progress);
    rows.push(...ob.rows);
    ({ blas, blasCore, python } = ob);
    const built = buildPeak();
    if ('bin' in built) {
      peakBin = built.bin;
      tablePeak = await runPeak(peakBin, quick ? 0.1 : 1);
      if (tablePeak === null) peakWhy = `${peakBin} failed`;
      else {
        progress(`fma peak 1t (no memory traffic): ${tablePeak.widths.map((w) => `${w.bits}-bit ${round(w.gflops)}`).join(', ')} GFLOP/s`
          + ` (AVX-512F ${tablePeak.avx512f ? 'yes' : 'no'})`);
      }
    } else peakWhy = built.why;
    if (peakWhy) note(`fma peak not measured: ${peakWhy}`);
  }

  const tableRatios = computeRatios(rows);
  let paired: PairedReport | null = null;
  if (rounds > 0) {
    paired = await measurePaired({
      rounds, windowSeconds: opts.pairedWindowSeconds ?? 0.25, minRepSeconds: 0.03,
      local, tableRows: rows, twoThreads: threads.includes(2), skinny: skinny.length > 0, peers,
      peak: tablePeak === null || peakBin === null ? null : { bin: peakBin, widths: tablePeak.widths },
    }, tableRatios, note, progress);
  }
  const ratios = paired ? pairedRatios(paired) : tableRatios;
  const best512 = bestWasm(rows, 'nn', { m: 512, k: 512, n: 512 }, 1);
  return {
    op: 'gemm',
    machine: {
      cpu: cpuModel(), cores: availableParallelism(), node: process.versions.node, v8: process.versions.v8,
      platform: process.platform, arch: process.arch, revectorize: { on: flags.revectorize, why: revecWhy }, blas, blasCore, python,
    },
    settings: { sizes, skinny, threads, variants, reps, quick, peers, rounds },
    rows,
    ratios,
    paired,
    peak: peers ? peakReport(rows, paired, tablePeak, peakWhy) : null,
    gflops: best512 ? best512.gflops : paired?.figures.wasm1t?.gflops ?? null,
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
 * take the BEST rep (fewer reps when a product is so slow that they would pass maxCellSeconds,
 * but never fewer than 3 unless asked). Best-of rather than median because this machine is a
 * shared 2-vCPU VM: other tenants only ever add time, so the fastest rep is the closest to what
 * the kernel does; every contender (ours, tfjs, OpenBLAS) is timed the same way.
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
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    best = Math.min(best, seconds(() => { for (let i = 0; i < iters; i++) run(); }) / iters);
  }
  return flops / best / 1e9;
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

type Tf = typeof import('@tensorflow/tfjs-core');
let tfjsStarted: Promise<Tf | string> | null = null;

/** tfjs-core on the wasm backend with one thread, started once per process; a string says why not. */
function startTfjs(): Promise<Tf | string> {
  tfjsStarted ??= (async () => {
    try {
      const tf = await import('@tensorflow/tfjs-core');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
      wasm.setWasmPaths(dist.endsWith(sep) ? dist : dist + sep);
      wasm.setThreadsCount(1);
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
      await tf.ready();
      return tf;
    } catch (e) {
      return `tfjs peer: @tensorflow/tfjs-backend-wasm could not start (${(e as Error).message.split('\n')[0]})`;
    }
  })();
  return tfjsStarted;
}

async function measureTfjs(plan: Plan, note: (l: string) => void, progress: (l: string) => void): Promise<GemmRow[]> {
  const tf = await startTfjs();
  if (typeof tf === 'string') {
    note(tf);
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
  Promise<{ rows: GemmRow[]; blas: string | null; blasCore: BlasCore | null; python: string | null }> {
  const script = join(here, 'peers', 'numpy_gemm.py');
  const rows: GemmRow[] = [];
  let blas: string | null = null, blasCore: BlasCore | null = null;
  const py = findPython('numpy');
  if (!py.python) {
    note(`openblas peer: ${py.note}`);
    return { rows, blas, blasCore, python: null };
  }
  for (const threads of plan.threads) {
    const config = JSON.stringify({ shapes: plan.shapes, variants: plan.variants, threads, timing: plan.timing });
    const stderr: string[] = [];
    const r = await collect(py.python, [script, config], peerEnv(threads), (l) => {
      if (l.startsWith('gemm ')) progress(l); else stderr.push(l);
    });
    const out = lastJsonLine<{ blas: string; blasCore?: BlasCore; rows: GemmRow[] }>(r.stdout);
    if (r.error || r.code === 3 || !out) {
      // exit code 3: numpy_gemm.py could not import numpy
      note(r.error || r.code === 3 ? `openblas peer: ${py.python} with numpy could not run numpy_gemm.py`
        : `openblas peer: numpy_gemm.py failed (exit ${r.code}${stderr.length ? `: ${stderr[stderr.length - 1]}` : ''})`);
      return { rows, blas, blasCore, python: py.python };
    }
    if (blas === null) {
      progress(`openblas peer: NumPy via ${py.python}, ${out.blas}, OpenBLAS core ${describeBlasCore(out.blasCore)}`);
    }
    blas = out.blas;
    blasCore = out.blasCore ?? null;
    if (!/openblas/i.test(out.blas)) note(`openblas peer: NumPy here uses ${out.blas}, not OpenBLAS; rows are labelled openblas`);
    rows.push(...out.rows);
  }
  return { rows, blas, blasCore, python: py.python };
}

// ---- the paired, interleaved phase ---------------------------------------------------------------

interface PairedPlan {
  rounds: number;
  windowSeconds: number;
  minRepSeconds: number;
  /** The kernel paths this process runs. */
  local: KernelPath[];
  tableRows: GemmRow[];
  twoThreads: boolean;
  skinny: boolean;
  peers: boolean;
  /**
   * The built FMA-peak program (bench/peak.ts) and the widths its table run measured: the WASM
   * ceiling's width and, when wider, the CPU's widest are timed as contenders; null: left out.
   */
  peak: { bin: string; widths: PeakWidth[] } | null;
}

const SQ512: Shape = { m: 512, k: 512, n: 512 };

/**
 * Best-rep GFLOP/s of `run` over about `window` seconds of timing: a warm-up of at least two calls
 * and a tenth of the window, reps of at least minRep seconds, at least 3 reps. The same procedure as
 * `measure_for` in bench/peers/numpy_gemm.py, so both sides of a paired ratio are timed alike.
 */
export function measureFor(run: () => void, flops: number, window: number, minRep: number): number {
  const start = performance.now();
  run();
  let calls = 1, last = 0;
  for (;;) {
    const t0 = performance.now();
    run();
    const t1 = performance.now();
    last = (t1 - t0) / 1000;
    calls++;
    if (calls >= 2 && (t1 - start) / 1000 >= 0.1 * window) break;
  }
  const iters = Math.max(1, Math.ceil(minRep / Math.max(last, 1e-7)));
  let best = Infinity, reps = 0;
  const timed = performance.now();
  while (reps < 3 || (performance.now() - timed) / 1000 < window) {
    best = Math.min(best, seconds(() => { for (let i = 0; i < iters; i++) run(); }) / iters);
    reps++;
  }
  return flops / best / 1e9;
}

/** A persistent `numpy_gemm.py --serve` process (one per OpenBLAS thread count). */
interface NumpyServer {
  blas: string;
  /** One request, one reply; null when the server died or did not answer in time. */
  ask(req: Record<string, unknown>, timeoutSeconds: number): Promise<Record<string, unknown> | null>;
  close(): void;
}

/**
 * Starts `numpy_gemm.py --serve` with OPENBLAS_NUM_THREADS = threads (and the OpenBLAS guards
 * removed, bench/peer-env.ts); a string says why it could not.
 */
function startNumpyServer(threads: number): Promise<NumpyServer | string> {
  const script = join(here, 'peers', 'numpy_gemm.py');
  const py = findPython('numpy');
  if (!py.python) return Promise.resolve(`openblas server: ${py.note}`);
  const python = py.python;
  const child = spawn(python, [script, '--serve'], { env: peerEnv(threads), stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let buf = '', lastErr = '', ended = false, exitCode: number | null = null, spawnError = '';
  const end = () => { ended = true; for (const w of waiting.splice(0)) w(null); };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line); else lines.push(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    const l = d.trim().split('\n').pop();
    if (l) lastErr = l;
  });
  child.stdin.on('error', () => {}); // EPIPE when it has died: the pending ask gets null from 'close'
  child.on('error', (e) => { spawnError = e.message; end(); });
  child.on('close', (code) => { exitCode = code; end(); });
  const nextLine = (timeoutSeconds: number) => new Promise<string | null>((done) => {
    if (lines.length > 0) return done(lines.shift()!);
    if (ended) return done(null);
    const timer = setTimeout(() => {
      const i = waiting.indexOf(settle);
      if (i >= 0) waiting.splice(i, 1);
      child.kill();
      done(null);
    }, timeoutSeconds * 1000);
    const settle = (line: string | null) => { clearTimeout(timer); done(line); };
    waiting.push(settle);
  });
  const parse = (line: string | null): Record<string, unknown> | null => {
    if (line === null) return null;
    try { return JSON.parse(line) as Record<string, unknown>; } catch { return null; }
  };
  return nextLine(60).then((line) => {
    const ready = parse(line);
    if (!ready || ready.ready !== true) {
      child.kill();
      if (spawnError) return `openblas server ${threads}t: ${python} could not start (${spawnError})`;
      if (exitCode === 3) return `openblas server: ${python} with numpy not found`;
      return `openblas server ${threads}t: numpy_gemm.py --serve failed (${exitCode === null ? 'no answer' : `exit ${exitCode}`}${lastErr ? `: ${lastErr}` : ''})`;
    }
    return {
      blas: String(ready.blas),
      ask: async (req, timeoutSeconds) => {
        if (ended) return null;
        child.stdin.write(JSON.stringify(req) + '\n');
        return parse(await nextLine(timeoutSeconds));
      },
      close: () => { if (!ended) child.stdin.end(); },
    };
  });
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

interface Contender {
  key: string;
  figure: PairedFigure;
  measure: () => number | null | Promise<number | null>;
  /** Idle seconds after it, so that its helper threads stop spinning before the next contender. */
  settle: number;
}

/**
 * The paired, interleaved phase: R rounds, in each every contender timed for windowSeconds in
 * turn (round r starts r places further along the list). Our contenders run on two WasmOps
 * instances made once (1 and 2 threads: the 2-thread one keeps its worker); tfjs runs in this
 * process; OpenBLAS runs in two persistent servers. Null when none of our paths runs here.
 */
async function measurePaired(pp: PairedPlan, fromTable: Ratios, note: (l: string) => void, progress: (l: string) => void):
  Promise<PairedReport | null> {
  const started = performance.now();
  const loadStart = loadavg()[0];
  // revec4x16 when this process runs it, else the local path with the best table figure at nn 512³ 1t
  let path: KernelPath | null = pp.local.includes('revec4x16') ? 'revec4x16' : null;
  if (!path && pp.local.length > 0) {
    const ranked = pp.local.map((p) => ({ p, g: bestWasm(pp.tableRows, 'nn', SQ512, 1, p)?.gflops ?? -1 }));
    path = ranked.reduce((a, b) => (b.g > a.g ? b : a)).p;
  }
  if (!path) {
    note('paired phase left out: this process runs none of the kernel paths asked for');
    return null;
  }
  const window = pp.windowSeconds, minRep = pp.minRepSeconds;
  const contenders: Contender[] = [];
  const figure = (label: string, s: Shape, threads: number, who: { path?: KernelPath; peer?: Peer }): PairedFigure =>
    ({ label, ...who, variant: 'nn', m: s.m, n: s.n, k: s.k, threads, gflops: null, median: null, rounds: [] });
  const cleanup: (() => void)[] = [];
  try {
    // ours: 1 thread (512³ and the skinny shapes) and 2 threads (512³)
    const instances: { threads: number; ops: Ops }[] = [];
    for (const threads of pp.twoThreads ? [1, 2] : [1]) {
      try {
        const ops = await createWasmOps({ path, threads, onNotice: note });
        cleanup.push(() => ops.dispose());
        if (ops.threads !== threads) note(`paired ${path}: asked for ${threads} threads, the GEMM engine runs ${ops.threads}`);
        instances.push({ threads, ops });
      } catch (e) {
        note(`paired ${path} ${threads}t not measured: ${(e as Error).message}`);
      }
    }
    for (const { threads, ops } of instances) {
      const shapes = threads === 1 && pp.skinny ? [SQ512, ...SKINNY_SHAPES] : [SQ512];
      const mark = ops.mark();
      cleanup.push(() => ops.release(mark));
      for (const s of shapes) {
        const A = ops.tensor(s.m * s.k), B = ops.tensor(s.k * s.n), C = ops.tensor(s.m * s.n);
        fillRandom(A.data, 1);
        fillRandom(B.data, 2);
        const run = () => ops.gemm(false, false, s.m, s.n, s.k, 1, A, B, 0, C);
        // a fresh instance: let the JS around the kernels optimise and the worker start
        const until = performance.now() + 300;
        do run(); while (performance.now() < until);
        const sq = s === SQ512;
        contenders.push({
          key: sq ? `wasm${threads}t` : `skinny${s.m}x${s.k}x${s.n}`,
          figure: figure(`${path} ${threads}t nn ${shapeText(s)}`, s, threads, { path }),
          measure: () => measureFor(run, 2 * s.m * s.n * s.k, window, minRep),
          settle: 0,
        });
      }
    }
    if (pp.peers) {
      const tf = await startTfjs();
      if (typeof tf === 'string') note(`paired: ${tf}`);
      else {
        const a = tf.randomUniform([512, 512], -1, 1, 'float32'), b = tf.randomUniform([512, 512], -1, 1, 'float32');
        cleanup.push(() => { a.dispose(); b.dispose(); });
        contenders.push({
          key: 'tfjs',
          figure: figure(`tfjs-wasm 1t nn ${shapeText(SQ512)}`, SQ512, 1, { peer: 'tfjs-wasm' }),
          measure: () => measureFor(() => {
            const c = tf.matMul(a, b);
            c.dataSync();
            c.dispose();
          }, 2 * 512 ** 3, window, minRep),
          settle: 0,
        });
      }
      for (const threads of pp.twoThreads ? [1, 2] : [1]) {
        const server = await startNumpyServer(threads);
        if (typeof server === 'string') {
          note(`paired: ${server}`);
          if (/not found|not available|could not start/.test(server)) break;
          continue;
        }
        cleanup.push(() => server.close());
        let id = 0;
        contenders.push({
          key: `openblas${threads}t`,
          figure: figure(`openblas ${threads}t nn ${shapeText(SQ512)}`, SQ512, threads, { peer: 'openblas' }),
          measure: async () => {
            const reply = await server.ask({ id: ++id, ...SQ512, variant: 'nn', seconds: window, minRepSeconds: minRep }, 30 + 20 * window);
            if (!reply || typeof reply.gflops !== 'number') {
              progress(`paired openblas ${threads}t: ${reply ? String(reply.error) : 'no answer'}`);
              return null;
            }
            return reply.gflops;
          },
          // OpenBLAS's worker thread keeps spinning after a call before it sleeps (~2^28 cycles
          // by default), stealing the core from whoever is timed next: with a 0.2 s pause our
          // 1-thread figure after it was bimodal (~42 or ~74 GFLOP/s), with 1 s it was steady.
          settle: threads > 1 ? 1.0 : 0,
        });
      }
    }
    if (pp.peak) {
      const { bin } = pp.peak;
      const { wasm, cpu } = ceilings(pp.peak.widths);
      // 'peak': the WASM ceiling (256-bit); 'peakCpu': the CPU's widest, when wider (512-bit with AVX-512F)
      for (const [key, w] of [['peak', wasm], ['peakCpu', cpu && cpu.bits !== wasm?.bits ? cpu : null]] as const) {
        if (!w) continue;
        const bits = w.bits;
        contenders.push({
          key,
          figure: { label: `fma-peak 1t (${bits}-bit FMA)`, peer: 'fma-peak', variant: 'nn', m: 0, n: 0, k: 0, threads: 1, gflops: null, median: null, rounds: [] },
          measure: async () => (await runPeak(bin, window, bits))?.widths[0]?.gflops ?? null,
          settle: 0,
        });
      }
    }

    progress(`paired phase: ${pp.rounds} rounds of ${contenders.map((c) => c.figure.label).join(', ')}, ~${window} s each`);
    for (let r = 0; r < pp.rounds; r++) {
      const shift = r % contenders.length;
      const order = [...contenders.slice(shift), ...contenders.slice(0, shift)];
      for (const c of order) {
        let g: number | null;
        try { g = await c.measure(); } catch (e) {
          progress(`paired ${c.figure.label}: ${(e as Error).message}`);
          g = null;
        }
        c.figure.rounds.push(g === null ? null : round(g));
        if (c.settle > 0) await sleep(c.settle * 1000);
      }
      progress(`paired round ${r + 1}/${pp.rounds}: ${contenders.map((c) => `${c.key} ${fmt(c.figure.rounds[r] ?? undefined)}`).join(', ')}`);
    }
  } finally {
    for (const f of cleanup.reverse()) {
      try { f(); } catch { /* best effort */ }
    }
  }

  const figures: Record<string, PairedFigure> = {};
  for (const c of contenders) {
    const got = c.figure.rounds.filter((g): g is number => g !== null);
    c.figure.gflops = got.length ? Math.max(...got) : null;
    const med = median(got);
    c.figure.median = med === null ? null : round(med);
    figures[c.key] = c.figure;
  }
  const per = (a: string, b: string) => Array.from({ length: pp.rounds }, (_, r) => {
    const x = figures[a]?.rounds[r], y = figures[b]?.rounds[r];
    return x == null || y == null ? null : Number((x / y).toFixed(3));
  });
  const skinnyKeys = Object.keys(figures).filter((k) => k.startsWith('skinny'));
  const skinnyPer = Array.from({ length: pp.rounds }, (_, r) => {
    const vals = skinnyKeys.map((k) => per(k, 'wasm1t')[r]);
    return vals.length === 0 || vals.some((v) => v === null) ? null : Math.min(...(vals as number[]));
  });
  return {
    method: 'paired',
    rounds: pp.rounds,
    windowSeconds: window,
    minRepSeconds: minRep,
    order: contenders.map((c) => c.key),
    path,
    figures,
    roundRatios: {
      wasmVsOpenblas: per('wasm1t', 'openblas1t'),
      threads2VsThreads1: per('wasm2t', 'wasm1t'),
      skinnyVsSquare: skinnyPer,
      wasmVsTfjs: per('wasm1t', 'tfjs'),
    },
    fromTable,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
    loadAverage: { start: Number(loadStart.toFixed(2)), end: Number(loadavg()[0].toFixed(2)) },
  };
}

/**
 * The core's FMA ceilings — the 256-bit one a WASM kernel can reach and the CPU's true peak at its
 * widest vector width — and the 1-thread GEMM figures as shares of both: from the paired rounds when
 * the peaks were among their contenders (all figures then saw the same weather), else from the table
 * phase. `table`: the peak program's table-phase run (every width), null when it did not run.
 */
export function peakReport(rows: GemmRow[], paired: PairedReport | null, table: PeakMeasurement | null, why?: string): PeakReport {
  const what = 'single-precision FMA, 1 thread, no memory traffic (bench/peers/peak_fma.c)';
  const share = (g: number | null | undefined, peak: number | null) => (g == null || !peak ? null : Number((g / peak).toFixed(3)));
  const sharesOf = (peak: number | null, g: { wasm?: number | null; openblas?: number | null; tfjs?: number | null }): PeakShares =>
    ({ wasm: share(g.wasm, peak), openblas: share(g.openblas, peak), tfjs: share(g.tfjs, peak) });
  const widths = table?.widths.map((w) => ({ bits: w.bits, gflops: round(w.gflops) })) ?? [];
  const { wasm: wasmWidth, cpu: cpuWidth } = ceilings(widths);
  const none: PeakShares = { wasm: null, openblas: null, tfjs: null };
  if (!wasmWidth || !cpuWidth) {
    return {
      what, widths, avx512f: table ? table.avx512f : null, gflops: null, bits: null, cpuGflops: null, cpuBits: null,
      method: 'table', shares: none, cpuShares: none, tfjsGoalShare: null, why,
    };
  }
  const f = paired?.figures;
  const base = { what, widths, avx512f: table!.avx512f, bits: wasmWidth.bits, cpuBits: cpuWidth.bits };
  if (f?.peak?.gflops) {
    const peak = f.peak.gflops;
    // the widest width was a contender only when it is wider than the WASM ceiling's
    const cpuPeak = cpuWidth.bits === wasmWidth.bits ? peak : f.peakCpu?.gflops ?? null;
    const g = { wasm: f.wasm1t?.gflops, openblas: f.openblas1t?.gflops, tfjs: f.tfjs?.gflops };
    return {
      ...base, gflops: peak, cpuGflops: cpuPeak, method: 'paired',
      shares: sharesOf(peak, g), cpuShares: sharesOf(cpuPeak, g),
      tfjsGoalShare: share(f.tfjs?.gflops == null ? null : 2 * f.tfjs.gflops, peak),
    };
  }
  const tfjs = peerRow(rows, 'tfjs-wasm', 'nn', SQ512, 1)?.gflops;
  const g = { wasm: bestWasm(rows, 'nn', SQ512, 1)?.gflops, openblas: peerRow(rows, 'openblas', 'nn', SQ512, 1)?.gflops, tfjs };
  return {
    ...base, gflops: wasmWidth.gflops, cpuGflops: cpuWidth.gflops, method: 'table',
    shares: sharesOf(wasmWidth.gflops, g), cpuShares: sharesOf(cpuWidth.gflops, g),
    tfjsGoalShare: share(tfjs == null ? null : 2 * tfjs, wasmWidth.gflops),
  };
}

/** The headline ratios from the paired figures (best / best), each with the median of its per-round ratios. */
export function pairedRatios(p: PairedReport): Ratios {
  const f = p.figures;
  const one = (key: RatioKey, a: string, b: string, what: string): Ratio => {
    const fa = f[a], fb = f[b];
    const target = p.fromTable[key].target;
    if (!fa?.gflops || !fb?.gflops) return p.fromTable[key]; // not paired: the table's figure (or n/a)
    const perRound = p.roundRatios[key].filter((v): v is number => v !== null);
    const med = median(perRound);
    const medianOfRounds = med === null ? null : Number(med.toFixed(2));
    return {
      value: Number((fa.gflops / fb.gflops).toFixed(2)), target, method: 'paired', medianOfRounds,
      detail: `${what}: ${fa.label.split(' nn ')[0]} ${fa.gflops} / ${fb.label.split(' nn ')[0]} ${fb.gflops} GFLOP/s`
        + ` (best of ${p.rounds} paired rounds; median of per-round ratios ${medianOfRounds ?? 'n/a'})`,
    };
  };
  // the worst skinny shape, by best / best
  let skinny: Ratio = p.fromTable.skinnyVsSquare;
  for (const s of SKINNY_SHAPES) {
    const key = `skinny${s.m}x${s.k}x${s.n}`;
    const fs = f[key], w1 = f.wasm1t;
    if (!fs?.gflops || !w1?.gflops) continue;
    const value = Number((fs.gflops / w1.gflops).toFixed(2));
    if (skinny.method === 'paired' && skinny.value !== null && skinny.value <= value) continue;
    const med = median(p.roundRatios.skinnyVsSquare.filter((v): v is number => v !== null));
    const medianOfRounds = med === null ? null : Number(med.toFixed(2));
    skinny = {
      value, target: 0.75, method: 'paired', medianOfRounds,
      detail: `worst skinny shape vs 512³, ${p.path}, nn, 1 thread: ${shapeText(s)} ${fs.gflops} / 512³ ${w1.gflops} GFLOP/s`
        + ` (best of ${p.rounds} paired rounds; median of per-round ratios, worst shape each round, ${medianOfRounds ?? 'n/a'})`,
    };
  }
  return {
    wasmVsOpenblas: one('wasmVsOpenblas', 'wasm1t', 'openblas1t', 'best WASM vs OpenBLAS, nn 512³, 1 thread'),
    threads2VsThreads1: one('threads2VsThreads1', 'wasm2t', 'wasm1t', '2 threads vs 1, nn 512³'),
    skinnyVsSquare: skinny,
    wasmVsTfjs: one('wasmVsTfjs', 'wasm1t', 'tfjs', 'best WASM vs tfjs-wasm, nn 512³, 1 thread'),
  };
}

// ---- the child process for the paths that run without revectorization -------------------------

async function runChild(plan: Plan, progress: (l: string) => void): Promise<{ rows: GemmRow[]; notes: string[] }> {
  // This file is TypeScript run through tsx in a checkout, compiled JavaScript in the npm package.
  const self = fileURLToPath(import.meta.url);
  const loader = self.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  const env = { ...process.env, HANDGRAD_REVECTORIZE: '0' };
  const r = await collect(process.execPath, [...loader, self, '--child', JSON.stringify(plan)], env, progress);
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
  if (!a || !b) return { value: null, target, detail: `${what}: not measured in this run`, method: 'table' };
  return {
    value: Number((a.gflops / b.gflops).toFixed(2)), target, detail: `${what}: ${aName} ${a.gflops} / ${bName} ${b.gflops} GFLOP/s`, method: 'table',
  };
}

/** The four headline ratios from the table's rows (one contender after another). */
export function computeRatios(rows: GemmRow[]): Ratios {
  const sq512: Shape = { m: 512, k: 512, n: 512 };
  const w1 = bestWasm(rows, 'nn', sq512, 1);
  const w1Name = w1 ? `${w1.path} 1t` : '';
  const w2 = w1 ? bestWasm(rows, 'nn', sq512, 2, w1.path) : null;
  let skinny: Ratio = {
    value: null, target: 0.75, detail: 'worst skinny shape vs 512³, best WASM path, nn, 1 thread: not measured in this run', method: 'table',
  };
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
  lines.push(`GEMM GFLOP/s (2mnk / best of ${rep.settings.reps} timed reps), ${m.cpu}, ${m.cores} cores, Node ${m.node}, revectorize ${m.revectorize.on ? 'on' : 'off'}`
    + (m.blas ? `, NumPy BLAS ${m.blas} via ${m.python}, OpenBLAS core ${describeBlasCore(m.blasCore)}` : ''));
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
  const p = rep.paired;
  if (p) {
    lines.push('');
    lines.push(`paired, interleaved over ${p.rounds} rounds (${p.path}; each contender ~${p.windowSeconds} s a round, best rep; order rotated each round; ${p.seconds} s;`
      + ` load average ${p.loadAverage.start.toFixed(2)} → ${p.loadAverage.end.toFixed(2)} on ${m.cores} cores):`);
    const figs = Object.values(p.figures);
    const wl = Math.max(9, ...figs.map((x) => x.label.length));
    lines.push(`  ${'contender'.padEnd(wl)}   best  median  per round`);
    for (const x of figs) {
      lines.push(`  ${x.label.padEnd(wl)} ${fmt(x.gflops ?? undefined).padStart(6)}  ${fmt(x.median ?? undefined).padStart(6)}  ${x.rounds.map((g) => fmt(g ?? undefined)).join(' ')}`);
    }
  }
  lines.push('');
  lines.push(p ? `ratios (paired, interleaved over ${p.rounds} rounds: best / best, and the median of the per-round ratios; targets are goals, not assertions):`
    : 'ratios (from the table; targets are goals, not assertions):');
  const names: [RatioKey, string][] = [
    ['wasmVsOpenblas', 'best WASM / OpenBLAS, 512³, 1 thread'],
    ['threads2VsThreads1', '2 threads / 1 thread, 512³'],
    ['skinnyVsSquare', 'skinny / square 512³ (worst)'],
    ['wasmVsTfjs', 'best WASM / tfjs-wasm, 512³'],
  ];
  for (const [k, label] of names) {
    const r = rep.ratios[k];
    const v = r.value === null ? '  n/a' : r.value.toFixed(2).padStart(5);
    const mark = r.value === null ? '' : r.value >= r.target ? ' (met)' : ' (below)';
    const med = p ? (r.method === 'paired' ? `median ${r.medianOfRounds?.toFixed(2) ?? 'n/a'}` : 'table').padEnd(13) : '';
    const detail = r.detail.replace(/^[^:]*: /, '').replace(/ \(best of \d+ paired rounds;.*\)$/, '');
    lines.push(`  ${label.padEnd(38)} ${v}  ${med}${`target ≥ ${r.target}${mark}`.padEnd(22)} ${detail}`);
  }
  if (p) {
    const t = p.fromTable;
    const v = (r: Ratio) => (r.value === null ? 'n/a' : r.value.toFixed(2));
    lines.push(`  from the table instead (one contender after another, not paired): WASM/OpenBLAS ${v(t.wasmVsOpenblas)}, 2t/1t ${v(t.threads2VsThreads1)}, skinny/square ${v(t.skinnyVsSquare)}, WASM/tfjs ${v(t.wasmVsTfjs)}`);
  }
  lines.push(...formatPeak(rep.peak));
  for (const n of rep.notes) lines.push(`note: ${n}`);
  return lines;
}

/** The ceiling lines of the report: every width timed, then the shares of the WASM ceiling and of the CPU's peak. */
export function formatPeak(pk: PeakReport | null): string[] {
  if (!pk) return [];
  if (!pk.gflops) return pk.why ? [] : ['core ceiling: not measured']; // the reason is among the notes
  const pct = (x: number | null) => (x === null ? 'n/a' : `${Math.round(100 * x)}%`);
  const shares = (s: PeakShares) => `best WASM ${pct(s.wasm)}, OpenBLAS ${pct(s.openblas)}, tfjs-wasm ${pct(s.tfjs)}`;
  const lines = [
    `core ceilings: ${pk.what}: ${pk.widths.map((w) => `${w.bits}-bit ${w.gflops}`).join(', ')} GFLOP/s (table phase; AVX-512F ${pk.avx512f ? 'yes' : 'no'})`,
    `  shares at nn 512³, 1 thread (${pk.method}) of the ${pk.bits}-bit ceiling a WASM kernel can reach (V8 revectorizes to AVX2, no wider),`
      + ` ${pk.gflops} GFLOP/s: ${shares(pk.shares)}; the ≥ 2× tfjs-wasm goal is ${pct(pk.tfjsGoalShare)} of it`
      + (pk.tfjsGoalShare !== null && pk.tfjsGoalShare > 1 ? ' (above the ceiling: no WASM GEMM can meet it on this core)' : ''),
  ];
  if (pk.cpuBits !== pk.bits) {
    lines.push(`  of the CPU's true peak (${pk.cpuBits}-bit FMA), ${pk.cpuGflops ?? 'n/a'} GFLOP/s: ${shares(pk.cpuShares)}`);
  } else {
    lines.push(`  the CPU's true peak is the same ${pk.bits}-bit ceiling (no wider FMA on this CPU)`);
  }
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
