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
//
// The parts live in bench/kernels/: types.ts (the report's shapes), measure.ts (timing and our
// kernel paths), peers.ts (reference, tfjs-wasm, NumPy/OpenBLAS), paired.ts (the paired rounds),
// ratios.ts (headline ratios and ceiling shares), report.ts (the readable report and the JSON file).
// This file keeps the entry points, and the child process (which runs this file, see runChild).
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canRevectorize, cpuModel, KERNEL_PATHS, setWasmFlags, type KernelPath } from '../src/backends/wasm/runtime.js';
import { buildPeak, runPeak, type PeakMeasurement } from './peak.js';
import type { BlasCore } from './peer-env.js';
import { measurePaths, round } from './kernels/measure.js';
import { measurePaired } from './kernels/paired.js';
import { collect, lastJsonLine, measureOpenblas, measureReference, measureTfjs } from './kernels/peers.js';
import { bestWasm, computeRatios, pairedRatios, peakReport } from './kernels/ratios.js';
import {
  DEFAULT_SIZES, SKINNY_SHAPES, VARIANTS, type GemmRow, type KernelBenchReport, type PairedReport, type Plan, type Variant,
} from './kernels/types.js';

export {
  DEFAULT_SIZES, SKINNY_SHAPES, VARIANTS,
  type GemmRow, type KernelBenchReport, type PairedFigure, type PairedReport, type Peer, type PeakReport, type PeakShares,
  type Ratio, type RatioKey, type Ratios, type Shape, type Variant,
} from './kernels/types.js';
export { measure } from './kernels/measure.js';
export { measureFor } from './kernels/paired.js';
export { computeRatios, pairedRatios, peakReport } from './kernels/ratios.js';
export { formatPeak, formatReport, writeReport } from './kernels/report.js';

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
