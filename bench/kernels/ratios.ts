// The GEMM kernel benchmark's headline ratios (from the table or from the paired rounds) and the
// 1-thread figures as shares of the core's FMA ceilings (bench/kernels.ts).
import type { KernelPath } from '../../src/backends/wasm/runtime.js';
import { ceilings, type PeakMeasurement } from '../peak.js';
import { median, round, shapeText } from './measure.js';
import {
  SKINNY_SHAPES, SQ512, type GemmRow, type PairedReport, type PeakReport, type PeakShares, type Peer, type Ratio, type RatioKey,
  type Ratios, type Shape, type Variant,
} from './types.js';

function sameShape(r: GemmRow, s: Shape): boolean {
  return r.m === s.m && r.n === s.n && r.k === s.k;
}

export function bestWasm(rows: GemmRow[], variant: Variant, s: Shape, threads: number, path?: KernelPath): GemmRow | null {
  let best: GemmRow | null = null;
  for (const r of rows) {
    if (r.path && (!path || r.path === path) && r.variant === variant && r.threads === threads && sameShape(r, s)) {
      if (!best || r.gflops > best.gflops) best = r;
    }
  }
  return best;
}

export function peerRow(rows: GemmRow[], peer: Peer, variant: Variant, s: Shape, threads: number): GemmRow | null {
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
