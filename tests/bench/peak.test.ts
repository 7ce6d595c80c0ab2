// The core's FMA ceiling (bench/peak.ts) and how `bench kernels` reads GEMM figures against it.
// Only plumbing and arithmetic are checked here: a speed is measured by the benchmark, never asserted.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildPeak, runPeak } from '../../bench/peak.js';
import { peakReport, type GemmRow, type PairedFigure, type PairedReport } from '../../bench/kernels.js';

const hasCc = !spawnSync(process.env.CC || 'cc', ['--version']).error;

describe('fma peak program', () => {
  it.skipIf(!hasCc)('builds with the system C compiler and reports a positive GFLOP/s', async () => {
    const built = buildPeak();
    expect('bin' in built, 'why' in built ? built.why : '').toBe(true);
    if (!('bin' in built)) return;
    expect(buildPeak()).toEqual(built); // cached: the same binary, no second build
    const g = await runPeak(built.bin, 0.05);
    expect(g).not.toBeNull();
    expect(g!).toBeGreaterThan(0.1);
  });

  it.skipIf(!hasCc)('rejects a bad window with a failure, not a figure', async () => {
    const built = buildPeak();
    if (!('bin' in built)) throw new Error(built.why);
    expect(await runPeak(built.bin, -1)).toBeNull();
  });
});

describe('peakReport', () => {
  const sq = { variant: 'nn' as const, m: 512, n: 512, k: 512, threads: 1 };
  const rows: GemmRow[] = [
    { op: 'gemm', ...sq, path: 'revec4x16', gflops: 72 },
    { op: 'gemm', ...sq, path: 'simd4x8', gflops: 30 },
    { op: 'gemm', ...sq, peer: 'openblas', gflops: 81 },
    { op: 'gemm', ...sq, peer: 'tfjs-wasm', gflops: 46 },
  ];

  it('gives the table figures as shares of the peak and flags a goal above it', () => {
    const p = peakReport(rows, null, 90);
    expect(p.method).toBe('table');
    expect(p.gflops).toBe(90);
    expect(p.shares).toEqual({ wasm: 0.8, openblas: 0.9, tfjs: 0.511 });
    expect(p.tfjsGoalShare).toBe(1.022); // 2 × 46 > 90: no GEMM on this core can be 2× tfjs
  });

  it('prefers the paired figures when the peak ran in the rounds', () => {
    const fig = (gflops: number | null): PairedFigure =>
      ({ label: 'x', variant: 'nn', m: 512, n: 512, k: 512, threads: 1, gflops, median: gflops, rounds: [gflops] });
    const paired = { figures: { wasm1t: fig(60), openblas1t: fig(75), tfjs: fig(30), peak: fig(100) } } as unknown as PairedReport;
    const p = peakReport(rows, paired, 90);
    expect(p.method).toBe('paired');
    expect(p.gflops).toBe(100);
    expect(p.shares).toEqual({ wasm: 0.6, openblas: 0.75, tfjs: 0.3 });
    expect(p.tfjsGoalShare).toBe(0.6);
  });

  it('says why when the peak was not measured', () => {
    const p = peakReport(rows, null, null, 'no C compiler (cc)');
    expect(p.gflops).toBeNull();
    expect(p.tfjsGoalShare).toBeNull();
    expect(p.why).toMatch(/no C compiler/);
  });
});
