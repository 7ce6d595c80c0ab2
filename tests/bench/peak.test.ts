// The core's FMA ceilings (bench/peak.ts) and how `bench kernels` reads GEMM figures against them.
// Only plumbing and arithmetic are checked here: a speed is measured by the benchmark, never asserted.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildPeak, ceilings, runPeak, type PeakMeasurement } from '../../bench/peak.js';
import { formatPeak, peakReport, type GemmRow, type PairedFigure, type PairedReport } from '../../bench/kernels.js';

const hasCc = !spawnSync(process.env.CC || 'cc', ['--version']).error;
const x86 = process.arch === 'x64' || process.arch === 'ia32';
/** The CPU's flags from /proc/cpuinfo (x86 Linux), else null: what the program's detection is checked against. */
const cpuFlags = existsSync('/proc/cpuinfo')
  ? new Set((readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/))
  : null;
const flagsKnown = x86 && cpuFlags !== null && cpuFlags.size > 1;

describe('fma peak program', () => {
  it.skipIf(!hasCc)('builds with the system C compiler and reports a positive GFLOP/s at 128 bits and up', async () => {
    const built = buildPeak();
    expect('bin' in built, 'why' in built ? built.why : '').toBe(true);
    if (!('bin' in built)) return;
    expect(buildPeak()).toEqual(built); // cached: the same binary, no second build
    const p = await runPeak(built.bin, 0.02);
    expect(p).not.toBeNull();
    expect(p!.widths[0].bits).toBe(128);
    for (const w of p!.widths) expect(w.gflops, `${w.bits}-bit`).toBeGreaterThan(0.1);
    expect(p!.widths.map((w) => w.bits)).toEqual([...p!.widths.map((w) => w.bits)].sort((a, b) => a - b));
  });

  it.skipIf(!hasCc || !flagsKnown)('times every width the CPU has: 256 with AVX, 512 exactly where /proc/cpuinfo lists avx512f', async () => {
    const built = buildPeak();
    if (!('bin' in built)) throw new Error(built.why);
    const p = await runPeak(built.bin, 0.02);
    const avx512 = cpuFlags!.has('avx512f');
    const expected = [128, ...(cpuFlags!.has('avx') ? [256] : []), ...(avx512 ? [512] : [])];
    expect(p!.widths.map((w) => w.bits)).toEqual(expected);
    expect(p!.avx512f).toBe(avx512);
    // one width on request; a width the CPU lacks is a failure, not a figure under the wrong name
    const only = await runPeak(built.bin, 0.02, 256);
    expect(only?.widths.map((w) => w.bits)).toEqual(cpuFlags!.has('avx') ? [256] : undefined);
    const wide = await runPeak(built.bin, 0.02, 512);
    if (avx512) expect(wide?.widths.map((w) => w.bits)).toEqual([512]);
    else expect(wide).toBeNull();
  });

  it.skipIf(!hasCc)('rejects a bad window or width with a failure, not a figure', async () => {
    const built = buildPeak();
    if (!('bin' in built)) throw new Error(built.why);
    expect(await runPeak(built.bin, -1)).toBeNull();
    expect(await runPeak(built.bin, 0.01, 100)).toBeNull();
  });
});

describe('ceilings', () => {
  it('the WASM ceiling is the widest width up to 256 bits, the CPU peak the widest of all', () => {
    const w = (bits: number, gflops: number) => ({ bits, gflops });
    expect(ceilings([w(512, 200), w(128, 50), w(256, 100)])).toEqual({ wasm: w(256, 100), cpu: w(512, 200) });
    expect(ceilings([w(128, 50), w(256, 100)])).toEqual({ wasm: w(256, 100), cpu: w(256, 100) });
    expect(ceilings([w(128, 30)])).toEqual({ wasm: w(128, 30), cpu: w(128, 30) }); // NEON only
    expect(ceilings([])).toEqual({ wasm: null, cpu: null });
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
  const avx512: PeakMeasurement = { widths: [{ bits: 128, gflops: 45 }, { bits: 256, gflops: 90 }, { bits: 512, gflops: 180 }], avx512f: true };
  const avx2: PeakMeasurement = { widths: [{ bits: 128, gflops: 45 }, { bits: 256, gflops: 90 }], avx512f: false };

  it('gives the table figures as shares of the 256-bit ceiling and of the CPU peak, and flags a goal above the ceiling', () => {
    const p = peakReport(rows, null, avx512);
    expect(p.method).toBe('table');
    expect(p).toMatchObject({ gflops: 90, bits: 256, cpuGflops: 180, cpuBits: 512, avx512f: true });
    expect(p.widths.map((w) => w.bits)).toEqual([128, 256, 512]);
    expect(p.shares).toEqual({ wasm: 0.8, openblas: 0.9, tfjs: 0.511 });
    expect(p.cpuShares).toEqual({ wasm: 0.4, openblas: 0.45, tfjs: 0.256 });
    expect(p.tfjsGoalShare).toBe(1.022); // 2 × 46 > 90: no WASM GEMM on this core can be 2× tfjs
    const text = formatPeak(p).join('\n');
    expect(text).toContain('128-bit 45, 256-bit 90, 512-bit 180 GFLOP/s');
    expect(text).toMatch(/256-bit ceiling .*best WASM 80%, OpenBLAS 90%/);
    expect(text).toMatch(/true peak \(512-bit FMA\), 180 GFLOP\/s: best WASM 40%, OpenBLAS 45%/);
  });

  it('without AVX-512 the CPU peak is the 256-bit ceiling', () => {
    const p = peakReport(rows, null, avx2);
    expect(p).toMatchObject({ gflops: 90, cpuGflops: 90, bits: 256, cpuBits: 256 });
    expect(p.cpuShares).toEqual(p.shares);
    expect(formatPeak(p).join('\n')).toContain('the same 256-bit ceiling');
  });

  it('prefers the paired figures when the peaks ran in the rounds', () => {
    const fig = (gflops: number | null): PairedFigure =>
      ({ label: 'x', variant: 'nn', m: 512, n: 512, k: 512, threads: 1, gflops, median: gflops, rounds: [gflops] });
    const figures = { wasm1t: fig(60), openblas1t: fig(150), tfjs: fig(30), peak: fig(100), peakCpu: fig(200) };
    const p = peakReport(rows, { figures } as unknown as PairedReport, avx512);
    expect(p.method).toBe('paired');
    expect(p).toMatchObject({ gflops: 100, cpuGflops: 200 });
    expect(p.shares).toEqual({ wasm: 0.6, openblas: 1.5, tfjs: 0.3 });
    expect(p.cpuShares).toEqual({ wasm: 0.3, openblas: 0.75, tfjs: 0.15 });
    expect(p.tfjsGoalShare).toBe(0.6);
  });

  it('says why when the peak was not measured', () => {
    const p = peakReport(rows, null, null, 'no C compiler (cc)');
    expect(p.gflops).toBeNull();
    expect(p.cpuGflops).toBeNull();
    expect(p.tfjsGoalShare).toBeNull();
    expect(p.why).toMatch(/no C compiler/);
  });
});
