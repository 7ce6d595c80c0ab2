// The GEMM kernel benchmark's report shapes and its internal plan (bench/kernels.ts runs it).
import type { KernelPath } from '../../src/backends/wasm/runtime.js';
import type { PeakWidth } from '../peak.js';
import type { BlasCore } from '../peer-env.js';

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

export const DEFAULT_SIZES = [64, 128, 256, 512, 1024];
export const SKINNY_SHAPES: readonly Shape[] = [{ m: 16, k: 128, n: 512 }, { m: 32, k: 256, n: 1024 }];
/** The square 512³ product behind the headline ratios and the ceiling shares. */
export const SQ512: Shape = { m: 512, k: 512, n: 512 };

export interface Timing { reps: number; minRepSeconds: number; maxCellSeconds: number }

/** Internal plan, also what the child process receives. */
export interface Plan {
  shapes: Shape[];
  threads: number[];
  variants: Variant[];
  paths: KernelPath[];
  timing: Timing;
}
